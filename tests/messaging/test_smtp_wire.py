"""The smtp provider's lean path for plain SMTP (messaging.providers.smtp_wire): the MIME it writes
must read back like Django's, over a pipelining server and over one that is not."""

import base64

import pytest

from messaging.providers.base import OutboundMessage
from messaging.providers.smtp import SmtpProvider
from tests.fakes.smtp_sink import SmtpSink

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture(params=[True, False], ids=["pipelining", "no-pipelining"])
def sink(request):
    with SmtpSink(pipelining=request.param) as server:
        yield server


@pytest.fixture
def provider(sink) -> SmtpProvider:
    return SmtpProvider(
        {"backend": SMTP_BACKEND, "connection": {"host": sink.host, "port": sink.port, "timeout": 5}, "connections": 1}
    )


def email(number: int = 1, recipient: str = "ana@example.com", body: str = "<p>Hola</p>", **options) -> OutboundMessage:
    return OutboundMessage(
        message_id=number,
        public_id=f"W{number:011d}",
        channel="mailing",
        sender="news@acme.test",
        recipient=recipient,
        subject=options.pop("subject", "Spring offers"),
        body=body,
        options=options,
    )


def test_the_plain_smtp_backend_takes_the_lean_path_and_other_backends_do_not(provider, sink, monkeypatch):
    built = []
    monkeypatch.setattr(SmtpProvider, "build_email", lambda *args, **kwargs: built.append(args) or None)
    assert provider.send(email()) == "W00000000001@acme.test"
    assert built == [] and len(sink.messages) == 1


def test_a_text_body_goes_with_the_html_as_multipart_alternative(provider, sink):
    provider.send(email(body="<p>Hello <b>Ana</b></p>", text_body="Hello Ana, in plain text"))
    parsed = sink.messages[0].message
    assert parsed.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.get_body(("plain",)).get_content().strip() == "Hello Ana, in plain text"
    assert parsed.get_body(("html",)).get_content().strip() == "<p>Hello <b>Ana</b></p>"


def test_html_without_a_text_body_gets_one_derived_from_it(provider, sink):
    provider.send(email(body="<h1>Offers</h1><p>Up to 50%&nbsp;off</p>"))
    plain = sink.messages[0].message.get_body(("plain",)).get_content()
    assert plain.split() == ["Offers", "Up", "to", "50%", "off"]


def test_a_plain_text_only_email_is_a_single_part(provider, sink):
    provider.send(email(body="Just text, no markup"))
    parsed = sink.messages[0].message
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().strip() == "Just text, no markup"


def test_non_ascii_subject_name_and_body_and_very_long_lines_read_back_intact(provider, sink):
    long_line = "<p>" + "Años de ofertas € " * 120 + "</p>"
    provider.send(email(body=long_line, subject="Ofertas de primavera: ñandú €", from_name="Acmé Noticias"))
    parsed = sink.messages[0].message
    assert parsed["Subject"] == "Ofertas de primavera: ñandú €"
    [sender] = parsed["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Acmé Noticias", "news@acme.test")
    assert parsed.get_body(("html",)).get_content().strip() == long_line
    raw_lines = sink.messages[0].content.split(b"\r\n")
    assert max(len(line) for line in raw_lines) <= 78


def test_lines_starting_with_a_dot_survive_the_smtp_transparency_rule(provider, sink):
    text = "first\n.second starts with a dot\n..third with two\n."
    provider.send(email(body=text))
    # The sink keeps the wire's CRLF line ends.
    assert sink.messages[0].message.get_content().replace("\r\n", "\n").rstrip("\n") == text


def test_marketing_headers_reply_to_cc_and_bcc_only_in_the_envelope(provider, sink):
    provider.send(
        email(
            reply_to=["Support <support@acme.test>"],
            cc=["Jefa <boss@example.com>"],
            bcc=["audit@acme.test"],
            headers={
                "List-Unsubscribe": "<https://acme.test/u/abc>, <mailto:unsub@acme.test>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
    )
    [received] = sink.messages
    parsed = received.message
    assert parsed["List-Unsubscribe"] == "<https://acme.test/u/abc>, <mailto:unsub@acme.test>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Reply-To"] == "Support <support@acme.test>"
    assert parsed["Cc"] == "Jefa <boss@example.com>"
    assert parsed["Bcc"] is None and b"audit@acme.test" not in received.content
    assert set(received.rcpt_tos) == {"ana@example.com", "boss@example.com", "audit@acme.test"}
    assert received.mail_from == "news@acme.test"
    assert parsed["Message-ID"] == "<W00000000001@acme.test>"
    assert parsed["Date"] is not None and parsed["MIME-Version"] == "1.0"


def test_attachments_make_a_mixed_email_around_the_alternative(provider, sink):
    pdf = bytes(range(256)) * 40
    provider.send(
        email(
            text_body="See attached",
            attachments=[
                {"name": "offer.pdf", "content": base64.b64encode(pdf).decode(), "content_type": "application/pdf"},
                {"name": "niño.txt", "content": base64.b64encode("¡hola!".encode()).decode()},
            ],
        )
    )
    parsed = sink.messages[0].message
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed.get_body(("plain",)).get_content().strip() == "See attached"
    first, second = parsed.iter_attachments()
    assert (first.get_filename(), first.get_content_type(), first.get_content()) == (
        "offer.pdf",
        "application/pdf",
        pdf,
    )
    assert second.get_filename() == "niño.txt"
    assert second.get_content_type() == "text/plain"
    assert second.get_payload(decode=True) == "¡hola!".encode()


def test_a_header_value_with_a_line_break_is_refused_and_nothing_is_sent(provider, sink):
    [bad, good] = provider.send_batch(
        [email(1, subject="Hello\r\nBcc: victim@example.com"), email(2, headers={"X-Campaign": "spring"})]
    )
    assert bad.error.permanent is True and bad.error.code == "bad_header"
    assert good.accepted
    assert len(sink.messages) == 1 and sink.messages[0].message["X-Campaign"] == "spring"


def test_one_refused_cc_still_delivers_to_the_others(provider, sink):
    sink.refuse("gone@example.com", "550 5.1.1 No such user")
    [result] = provider.send_batch([email(cc=["gone@example.com", "boss@example.com"])])
    assert result.accepted
    assert set(sink.messages[0].rcpt_tos) == {"ana@example.com", "boss@example.com"}


def test_a_refusal_leaves_the_connection_usable_for_the_next_email(provider, sink):
    sink.refuse("gone@example.com", "550 5.1.1 No such user")
    sink.fail_data_next("451 4.3.0 Try later")
    results = provider.send_batch([email(1, "gone@example.com"), email(2, "a@example.com"), email(3, "b@example.com")])
    assert [(r.accepted, r.error and r.error.code) for r in results] == [(False, "550"), (False, "451"), (True, None)]
    assert [m.rcpt_tos for m in sink.messages] == [("b@example.com",)]
    assert sink.sessions == 1
