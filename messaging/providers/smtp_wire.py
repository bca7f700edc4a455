"""The lean path of the smtp provider for plain SMTP (Django's SMTP EmailBackend): MIME written
straight to bytes and an SMTP transaction pipelined when the server offers PIPELINING.

Why not Django's EmailMultiAlternatives: building and flattening one through `email`'s compat32
generator (header folding, Header objects, per-part policies) costs about 2 ms of CPU per email,
several times what the SMTP conversation costs; django-post-office pays the same, so the framework
path cannot be "2x post-office". Here an email is a few string joins plus C-coded
quoted-printable/base64, about a tenth of that.

Why pipelining (RFC 2920): smtplib waits for the answer to MAIL, to each RCPT and to DATA before
sending the next command, four round trips per email on a kept-alive connection. Pipelined,
MAIL + RCPT... + DATA go in one write and the content in a second: two round trips.

What is kept from the framework path: the connection itself is opened by Django's backend (host,
port, TLS/SSL, certificates, login, timeout from the route or the EMAIL_* settings), the same
exceptions (smtplib's) come out of a failed send, and the same message structure goes out:
multipart/mixed [multipart/alternative [text/plain, text/html], attachments...], Message-ID,
From with its display name, To, Cc (Bcc only in the envelope), Reply-To, Date, and the route's
extra headers (List-Unsubscribe, List-Unsubscribe-Post). Anything this writer does not cover (an
address that is not ASCII, which needs SMTPUTF8 or IDNA) goes through Django's path.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
import secrets
import smtplib
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from urllib.parse import quote

# Longest header value written as is; longer or non-ASCII values are folded as encoded words.
_PLAIN_HEADER_MAX = 900
_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
_LINE_LONGER_THAN_998 = re.compile(r"[^\n]{999}")


class UnsupportedEmail(Exception):
    """This email needs Django's email framework (e.g. a non-ASCII address)."""


class BadHeader(ValueError):
    """A header value holding a line break: refused, as Django's BadHeaderError would."""


def envelope_address(value: str) -> str:
    """The bare address of 'Name <a@b>' or 'a@b', ASCII only."""
    if not value.isascii():
        raise UnsupportedEmail("non-ASCII address")
    if "<" not in value:
        address = value.strip()
    else:
        address = parseaddr(value)[1]
    if not address or "\r" in address or "\n" in address:
        raise BadHeader(f"bad address {value!r}")
    return address


def header_address(value: str) -> str:
    """An address for a header: as given when plain ASCII, else re-formatted with an encoded name."""
    if "\r" in value or "\n" in value:
        raise BadHeader("line break in an address")
    if value.isascii():
        return value.strip()
    name, address = parseaddr(value)
    if not address.isascii():
        raise UnsupportedEmail("non-ASCII address")
    return formataddr((name, address), charset="utf-8")


def header_value(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise BadHeader("line break in a header value")
    if value.isascii() and len(value) <= _PLAIN_HEADER_MAX:
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


def _text_part(content_type: str, text: str) -> bytes:
    """A text part: 7bit when it is ASCII with short lines (nothing to encode), else
    quoted-printable (C-coded), always with CRLF line ends."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and not _LINE_LONGER_THAN_998.search(text):
        encoding, body = "7bit", text.encode("ascii")
    else:
        encoding, body = "quoted-printable", binascii.b2a_qp(text.encode("utf-8"), istext=True)
    if not body.endswith(b"\n"):
        body += b"\n"
    head = f'Content-Type: {content_type}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'
    return head.encode() + body.replace(b"\n", b"\r\n")


def _attachment_part(attachment: dict) -> bytes:
    name = str(attachment.get("name") or "attachment")
    if "\r" in name or "\n" in name:
        raise BadHeader("line break in an attachment name")
    content_type = attachment.get("content_type") or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if "\r" in content_type or "\n" in content_type:
        raise BadHeader("line break in an attachment type")
    if name.isascii() and '"' not in name and "\\" not in name:
        disposition = f'attachment; filename="{name}"'
    else:
        disposition = f"attachment; filename*=utf-8''{quote(name, safe='')}"
    # Re-wrapped at 76 columns (base64.encodebytes) whatever the line length it came in with.
    data = base64.encodebytes(base64.b64decode(attachment["content"]))
    head = (
        f"Content-Type: {content_type}\r\nContent-Disposition: {disposition}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return head.encode() + data.replace(b"\n", b"\r\n")


def _multipart(subtype: str, parts: list[bytes]) -> tuple[str, bytes]:
    """(Content-Type header value, body). The boundary starts with "=_", which quoted-printable
    never writes, and carries 128 random bits against the 7bit parts."""
    boundary = f"=_{secrets.token_hex(16)}"
    delimiter = f"--{boundary}\r\n".encode()
    body = b"".join(delimiter + part for part in parts) + f"--{boundary}--\r\n".encode()
    # Folded before the boundary, so the header line stays within 78 characters.
    return f'multipart/{subtype};\r\n boundary="{boundary}"', body


def build_mime(
    *,
    sender: str,
    from_name: str,
    recipient: str,
    cc: list[str],
    reply_to: list[str],
    subject: str,
    text: str,
    html: str,
    headers: dict[str, str],
    message_id: str,
    attachments: list[dict],
) -> bytes:
    """The email as bytes with CRLF line ends, ready for DATA (before dot-stuffing)."""
    if html and html != text:
        alternatives = [_text_part("text/plain", text), _text_part("text/html", html)]
        content_type, body = _multipart("alternative", alternatives)
        body_head = f"Content-Type: {content_type}\r\n".encode()
    else:
        part = _text_part("text/plain", text)
        body_head, _, body = part.partition(b"\r\n\r\n")
        body_head += b"\r\n"
    if attachments:
        parts = [body_head + b"\r\n" + body, *(_attachment_part(a) for a in attachments)]
        content_type, body = _multipart("mixed", parts)
        body_head = f"Content-Type: {content_type}\r\n".encode()
    from_header = formataddr((from_name, sender), charset="utf-8") if from_name else sender
    lines = [
        f"From: {header_address(from_header)}",
        f"To: {header_address(recipient)}",
    ]
    if cc:
        lines.append(f"Cc: {', '.join(header_address(a) for a in cc)}")
    if reply_to:
        lines.append(f"Reply-To: {', '.join(header_address(a) for a in reply_to)}")
    lines += [
        f"Subject: {header_value(subject)}",
        f"Date: {formatdate()}",
        f"Message-ID: {header_value(message_id)}",
        "MIME-Version: 1.0",
    ]
    for name, value in headers.items():
        if not name or not name.isascii() or ":" in name or any(c.isspace() for c in name):
            raise BadHeader(f"bad header name {name!r}")
        lines.append(f"{name}: {header_value(value)}")
    return ("\r\n".join(lines) + "\r\n").encode() + body_head + b"\r\n" + body


def smtp_send(client: smtplib.SMTP, sender: str, recipients: list[str], data: bytes) -> None:
    """Send one email over an open smtplib connection; raises what smtplib.sendmail raises
    (SMTPRecipientsRefused when every recipient is refused, SMTPSenderRefused, SMTPDataError,
    SMTPServerDisconnected / OSError when the connection breaks). Pipelined when the server
    offers it; some recipients refused means sent to the others, as sendmail does."""
    # Django's backend greets the server only when it starts TLS or logs in: greet now, so the
    # first email of a connection already knows whether it may pipeline.
    client.ehlo_or_helo_if_needed()
    if not client.does_esmtp or not client.has_extn("pipelining"):
        client.sendmail(sender, recipients, data)
        return
    commands = [f"MAIL FROM:<{sender}>\r\n", *(f"RCPT TO:<{r}>\r\n" for r in recipients), "DATA\r\n"]
    client.send("".join(commands).encode("ascii"))
    mail_code, mail_reply = client.getreply()
    refused: dict[str, tuple[int, bytes]] = {}
    for recipient in recipients:
        code, reply = client.getreply()
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    data_code, data_reply = client.getreply()
    if data_code != 354:
        if data_code == 250:  # a server that ignored our DATA, never the case in practice
            raise smtplib.SMTPDataError(data_code, data_reply)
        _reset_quietly(client)
        if mail_code != 250:
            raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
        if len(refused) == len(recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        raise smtplib.SMTPDataError(data_code, data_reply)
    if mail_code != 250 or len(refused) == len(recipients):
        # DATA was accepted although nothing can be delivered: end it empty, then report.
        client.send(b".\r\n")
        client.getreply()
        _reset_quietly(client)
        if mail_code != 250:
            raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
        raise smtplib.SMTPRecipientsRefused(refused)
    stuffed = _LEADING_DOT.sub(b"..", data)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    client.send(stuffed + b".\r\n")
    code, reply = client.getreply()
    if code != 250:
        _reset_quietly(client)
        raise smtplib.SMTPDataError(code, reply)


def _reset_quietly(client: smtplib.SMTP) -> None:
    try:
        client.rset()
    except smtplib.SMTPServerDisconnected:
        pass
