"""The certificate PDF, built with fpdf2 from a record (certificates.services) and its digest.

fpdf2 is pure Python (no system libraries), embeds only the glyphs used from the bundled DejaVu
fonts (so any language of an SMS or email prints), and can attach files: the canonical record
travels inside the PDF as `record.json`, so whoever holds the PDF can recompute the digest.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos

FONT_DIR: Final = Path(__file__).resolve().parent / "fonts"
FONT: Final = "DejaVu"
RECORD_FILENAME: Final = "record.json"
EVENT_COLUMNS: Final = ("Date (UTC)", "Event", "Provider", "Detail")

# fontTools reports every table it subsets at INFO: one certificate would add a dozen log lines.
logging.getLogger("fontTools").setLevel(logging.WARNING)


def _shown_date(value: str | None) -> str:
    if not value:
        return "-"
    return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S UTC")


def _printable(text: str) -> str:
    # Tabs and carriage returns have no glyph; line feeds are kept as line breaks.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")


class _CertificatePdf(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 5, f"Page {self.page_no()}/{{nb}}", align="C")


def certificate_pdf(*, record: dict[str, Any], record_text: str, digest: str) -> bytes:
    message = record["message"]
    content = message["content"]
    pdf = _CertificatePdf(format="A4")
    pdf.set_title(f"Certificate of message {message['id']}")
    pdf.set_creator("campaign-platform")
    pdf.set_creation_date(datetime.fromisoformat(record["issuedAt"].replace("Z", "+00:00")))
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font(FONT, "B", 12)
        pdf.cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def field(label: str, value: Any) -> None:
        pdf.set_font(FONT, "B", 9)
        pdf.cell(42, 5.5, label)
        pdf.set_font(FONT, "", 9)
        pdf.multi_cell(0, 5.5, _printable(str(value)) or "-", new_x=XPos.LMARGIN, new_y=YPos.NEXT,
                       wrapmode=WrapMode.CHAR)  # fmt: skip

    pdf.set_font(FONT, "B", 16)
    channel = "email" if message["channel"] == "mailing" else "SMS"
    pdf.cell(0, 10, f"Certificate of a certified {channel}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(
        0, 5,
        "This document certifies the content of the message below and every event recorded for it. "
        f"The SHA-256 digest is computed over the attached file {RECORD_FILENAME} (the canonical record, "
        "UTF-8 JSON); recompute it to check this copy.",
        new_x=XPos.LMARGIN, new_y=YPos.NEXT,
    )  # fmt: skip

    heading("Certificate")
    field("Issued", _shown_date(record["issuedAt"]))
    field("SHA-256 digest", digest)

    heading("Message")
    field("Account", f"{record['account']['name']} (id {record['account']['id']})")
    field("Message id", message["id"])
    field("Channel", message["channel"])
    sender = message["from"]
    field("Sender", sender["address"] + (f" ({sender['name']})" if sender.get("name") else ""))
    if sender.get("replyTo"):
        field("Reply to", sender["replyTo"])
    field("Recipient", message["to"])
    field("Campaign / sending", f"{message['campaignId']} / {message['sendingId']}")
    field("Accepted", _shown_date(message["createdAt"]))
    field("Sent", _shown_date(message["sentAt"]))
    field("Final status", f"{message['status']} at {_shown_date(message['finalAt'])}")
    if message["errorReason"]:
        field("Reason", message["errorReason"])
    if message["provider"]:
        field("Provider", f"{message['provider']} {message['providerMessageId']}".strip())

    heading("Content")
    if "subject" in content:
        field("Subject", content["subject"])
    if "encoding" in content:
        field("Encoding / parts", f"{content['encoding'] or '-'} / {content['parts']}")
    for attachment in content.get("attachments", []):
        field("Attachment", f"{attachment['name']} ({attachment['contentType']}, {attachment['size']} bytes, "
                            f"SHA-256 {attachment['sha256']})")  # fmt: skip
    pdf.set_font(FONT, "", 9)
    pdf.set_fill_color(245, 245, 245)
    pdf.multi_cell(0, 5, _printable(content["body"]), fill=True, padding=2, new_x=XPos.LMARGIN, new_y=YPos.NEXT,
                   wrapmode=WrapMode.CHAR)  # fmt: skip

    heading(f"Events ({len(record['events'])})")
    if record["events"]:
        pdf.set_font(FONT, "", 8)
        with pdf.table(col_widths=(46, 28, 24, 92), text_align="LEFT", wrapmode=WrapMode.CHAR) as table:
            table.row(EVENT_COLUMNS)
            for event in record["events"]:
                table.row((_shown_date(event["date"]), event["type"], event["provider"] or "-", event["detail"]))
    else:
        field("", "No events were recorded.")

    pdf.embed_file(bytes=record_text.encode("utf-8"), basename=RECORD_FILENAME, mime_type="application/json",
                   desc="Canonical record hashed with SHA-256")  # fmt: skip
    return bytes(pdf.output())
