"""The outbound-URL guard (config/outbound.py): what it refuses, the allowed path, DNS resolved once,
redirects, timeouts, the size cap, TLS to the original name, pooled connections.

Only loopback is ever contacted: the servers here listen on 127.0.0.1, refused addresses are refused
before any connection (literal addresses need no DNS; "localhost" resolves from /etc/hosts), and names
that must resolve somewhere are answered by a stand-in for socket.getaddrinfo.
"""

import datetime
import re
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from config import outbound
from config.outbound import OutboundError, OutboundRefused, OutboundTooLarge
from tests.config.test_settings import run_python
from tests.fakes.origin import Origin


@pytest.fixture
def origin():
    server = Origin()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _fresh_pools():
    yield
    outbound.pools_clear()


@pytest.fixture
def nothing_allowed(settings):
    # tests/conftest.py allows 127.0.0.1 for the fake receivers; the refusals are proven without it.
    settings.OUTBOUND_ALLOWED_HOSTS = []


@pytest.fixture
def fake_dns(monkeypatch):
    """Names answered without DNS: {name: [addresses]}; every lookup is counted."""
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        addresses = answers[host]
        if callable(addresses):
            addresses = addresses()
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]

    monkeypatch.setattr(outbound.socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


# Accept-time refusals (no DNS) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is loopback"),
        ("http://127.1:8000/", "127.0.0.1 is loopback"),
        ("http://2130706433/", "127.0.0.1 is loopback"),
        ("http://0x7f.0.0.1/", "127.0.0.1 is loopback"),
        ("http://[::1]/", "::1 is loopback"),
        ("http://10.1.2.3/", "10.1.2.3 is private"),
        ("http://172.16.0.1/", "172.16.0.1 is private"),
        ("http://192.168.1.1/", "192.168.1.1 is private"),
        ("http://[fd12:3456::1]/", "fd12:3456::1 is private"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local"),
        ("http://[fe80::1]/", "fe80::1 is link-local"),
        ("http://[::ffff:127.0.0.1]/", "embeds 127.0.0.1: the address 127.0.0.1 is loopback"),
        ("http://[::ffff:10.0.0.1]/", "embeds 10.0.0.1: the address 10.0.0.1 is private"),
        ("http://[64:ff9b::a9fe:a9fe]/", "embeds 169.254.169.254"),
        ("http://[2002:c0a8:101::1]/", "embeds 192.168.1.1"),
        ("http://100.64.0.1/", "100.64.0.1 is shared address space (CGNAT)"),
        ("http://224.0.0.251/", "224.0.0.251 is multicast"),
        ("http://[ff02::1]/", "ff02::1 is multicast"),
        ("http://0.0.0.0/", "0.0.0.0 is unspecified"),
        ("http://[::]/", ":: is unspecified"),
        ("http://[fec0::1]/", "fec0::1 is site-local"),
        ("http://localhost:8000/", "localhost is a loopback name"),
        ("http://api.localhost/", "api.localhost is a loopback name"),
        ("ftp://example.com/file", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://example.com/", "only http and https"),
        ("http:///path", "no host"),
        ("http://example.com:99999/", "malformed"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("", "empty"),
    ],
)
def test_refused_urls_are_refused_at_accept_time_with_the_reason(nothing_allowed, url, reason):
    assert reason in outbound.url_refusal(url=url)
    with pytest.raises(OutboundRefused) as refused:
        outbound.url_check(url=url)
    assert refused.value.reason == outbound.url_refusal(url=url)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/notify?s=%s",
        "http://93.184.216.34/x",
        "https://[2606:2800:220:1::]/",
        "http://hooks.acme.test/",
    ],
)
def test_public_urls_and_names_pass_the_accept_time_check(nothing_allowed, url):
    assert outbound.url_refusal(url=url) is None


def test_allowed_hosts_setting_lets_named_internal_hosts_and_networks_through(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["receiver.internal", "10.0.0.5", "192.168.7.0/24"]

    assert outbound.url_refusal(url="https://Receiver.Internal./events") is None
    assert outbound.url_refusal(url="http://10.0.0.5:8080/") is None
    assert outbound.url_refusal(url="http://192.168.7.200/") is None
    assert "10.0.0.6 is private" in outbound.url_refusal(url="http://10.0.0.6/")
    assert "loopback" in outbound.url_refusal(url="http://127.0.0.1/")


def test_allowed_hosts_come_from_the_environment_as_a_comma_separated_list():
    code = "from config import settings as s; print(s.OUTBOUND_ALLOWED_HOSTS)"
    result = run_python(["-c", code], {"OUTBOUND_ALLOWED_HOSTS": "receiver.internal,10.0.0.5"})

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['receiver.internal', '10.0.0.5']"


# Call-time refusals: nothing is sent -----------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "localhost", "127.1"])
def test_loopback_is_refused_at_call_time_and_the_server_hears_nothing(nothing_allowed, origin, host):
    with pytest.raises(OutboundRefused, match="loopback"):
        outbound.get(f"{origin.url(host)}/secret")
    with pytest.raises(OutboundRefused):
        outbound.post(f"{origin.url(host)}/secret", body=b"x=1")

    assert origin.requests == []


@pytest.mark.parametrize("url", ["http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/"])
def test_private_and_metadata_addresses_are_refused_before_any_connection(nothing_allowed, monkeypatch, url):
    connects = []
    monkeypatch.setattr(outbound, "_pool", lambda *args: connects.append(args))

    with pytest.raises(OutboundRefused):
        outbound.head(url)
    assert connects == []


def test_a_name_that_resolves_to_loopback_is_refused_naming_the_address(nothing_allowed, origin):
    with pytest.raises(
        OutboundRefused, match=re.escape("localhost resolves to 127.0.0.1: the address 127.0.0.1 is loopback")
    ):
        outbound.get(origin.url("localhost"))
    assert origin.requests == []


def test_a_name_with_one_private_answer_among_public_ones_is_refused(nothing_allowed, fake_dns, monkeypatch):
    answers, _lookups = fake_dns
    answers["mixed.example"] = ["93.184.216.34", "10.0.0.8"]
    connects = []
    monkeypatch.setattr(outbound, "_pool", lambda *args: connects.append(args))

    with pytest.raises(
        OutboundRefused, match=re.escape("mixed.example resolves to 10.0.0.8: the address 10.0.0.8 is private")
    ):
        outbound.get("http://mixed.example/")
    assert connects == []


def test_an_unresolvable_name_is_an_error_not_a_refusal(nothing_allowed, fake_dns):
    answers, _lookups = fake_dns
    answers["gone.example"] = []

    with pytest.raises(OutboundError, match=re.escape("gone.example resolves to no address")) as caught:
        outbound.get("http://gone.example/")
    assert not isinstance(caught.value, OutboundRefused)


# The allowed path ------------------------------------------------------------------------------


def test_an_allowed_address_is_called_with_its_host_header_and_user_agent(settings, origin):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]

    response = outbound.get(f"{origin.url()}/ping?a=1")

    assert response.status == 200 and response.body == b"hello"
    [seen] = origin.requests
    assert seen["path"] == "/ping?a=1"
    assert seen["headers"]["Host"] == f"127.0.0.1:{origin.port}"
    assert seen["headers"]["User-Agent"] == outbound.USER_AGENT
    assert seen["headers"]["Accept-Encoding"] == "identity"


def test_an_allowed_name_resolves_once_and_the_request_goes_to_that_address(settings, origin, fake_dns):
    answers, lookups = fake_dns
    # A rebinding DNS: the first answer is the receiver, every later one a metadata address.
    given = iter([["127.0.0.1"]])
    answers["receiver.internal"] = lambda: next(given, ["169.254.169.254"])
    settings.OUTBOUND_ALLOWED_HOSTS = ["receiver.internal"]

    response = outbound.post(
        f"http://receiver.internal:{origin.port}/events", body=b"id=1", headers={"Content-Type": "text/plain"}
    )

    assert response.status == 200
    assert lookups == ["receiver.internal"]
    [seen] = origin.requests
    assert seen["headers"]["Host"] == f"receiver.internal:{origin.port}"
    assert seen["body"] == b"id=1" and seen["headers"]["Content-Type"] == "text/plain"


def test_a_rebinding_name_is_checked_on_the_answer_it_is_connected_with(settings, fake_dns, monkeypatch):
    answers, lookups = fake_dns
    # Public at accept time (no DNS then), a metadata address when the call resolves it.
    answers["rebind.example"] = ["169.254.169.254"]
    settings.OUTBOUND_ALLOWED_HOSTS = []
    connects = []
    monkeypatch.setattr(outbound, "_pool", lambda *args: connects.append(args))

    assert outbound.url_refusal(url="http://rebind.example/") is None
    with pytest.raises(OutboundRefused, match=re.escape("rebind.example resolves to 169.254.169.254")):
        outbound.get("http://rebind.example/")
    assert lookups == ["rebind.example"] and connects == []


def test_url_credentials_become_basic_auth(settings, origin):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]

    outbound.get(f"http://hook%40user:p%3Ass@127.0.0.1:{origin.port}/")

    assert origin.requests[0]["headers"]["Authorization"] == "Basic aG9va0B1c2VyOnA6c3M="


def test_a_receiver_is_called_over_one_kept_alive_connection(settings, origin):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]

    for _ in range(3):
        assert outbound.get(f"{origin.url()}/n").status == 200

    assert len({seen["client_port"] for seen in origin.requests}) == 1


# Redirects -------------------------------------------------------------------------------------


def redirecting(status: int, location: str):
    def answer(handler):
        if handler.path.startswith("/start"):
            handler.reply(status, b"moved", {"Location": location})
        else:
            handler.reply(200, b"landed")

    return answer


def test_redirects_are_not_followed_unless_asked(settings, origin):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    origin.answer = redirecting(302, "/next")

    response = outbound.get(f"{origin.url()}/start")

    assert response.status == 302 and response.headers["Location"] == "/next"
    assert [seen["path"] for seen in origin.requests] == ["/start"]


def test_a_followed_redirect_is_checked_like_the_first_url(settings, origin):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    origin.answer = redirecting(302, "http://169.254.169.254/latest/meta-data/")

    with pytest.raises(OutboundRefused, match=re.escape("169.254.169.254 is link-local")):
        outbound.get(f"{origin.url()}/start", max_redirects=3)
    assert [seen["path"] for seen in origin.requests] == ["/start"]


def test_a_redirect_from_an_allowed_name_to_a_loopback_name_is_refused(settings, origin, fake_dns):
    answers, _lookups = fake_dns
    answers["receiver.internal"] = ["127.0.0.1"]
    # The name is allowed, not its address: another name resolving there is still refused.
    settings.OUTBOUND_ALLOWED_HOSTS = ["receiver.internal"]
    origin.answer = redirecting(307, f"http://localhost:{origin.port}/next")

    with pytest.raises(OutboundRefused, match=re.escape("localhost resolves to 127.0.0.1")):
        outbound.post(f"http://receiver.internal:{origin.port}/start", body=b"a=1", max_redirects=3)
    assert len(origin.requests) == 1


def test_a_302_after_post_is_followed_with_get_and_a_307_keeps_the_post(settings, origin):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    origin.answer = redirecting(302, "/next")
    response = outbound.post(
        f"{origin.url()}/start", body=b"a=1", headers={"Content-Type": "text/plain"}, max_redirects=1
    )
    assert response.status == 200 and response.body == b"landed"
    assert response.url == f"http://127.0.0.1:{origin.port}/next"
    assert [(seen["method"], seen["body"]) for seen in origin.requests] == [("POST", b"a=1"), ("GET", b"")]
    assert "Content-Type" not in origin.requests[1]["headers"]

    origin.requests.clear()
    origin.answer = redirecting(307, "/next")
    outbound.post(f"{origin.url()}/start", body=b"a=1", max_redirects=1)
    assert [(seen["method"], seen["body"]) for seen in origin.requests] == [("POST", b"a=1"), ("POST", b"a=1")]


def test_redirect_hops_stop_at_the_limit(settings, origin):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    origin.answer = lambda handler: handler.reply(302, b"", {"Location": "/start-again"})

    response = outbound.get(f"{origin.url()}/start", max_redirects=2)

    assert response.status == 302
    assert len(origin.requests) == 3


# Timeouts and the size cap ---------------------------------------------------------------------


def test_an_answer_over_the_size_cap_is_cut_and_refused(settings, origin):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.OUTBOUND_MAX_RESPONSE_BYTES = 1000
    origin.answer = lambda handler: handler.reply(200, b"x" * 5000)

    with pytest.raises(OutboundTooLarge, match="longer than 1000 bytes"):
        outbound.get(origin.url())
    assert outbound.get(origin.url(), max_bytes=5000).body == b"x" * 5000


def test_an_endless_answer_stops_at_the_cap(settings, origin):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]

    def endless(handler):
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        chunk = b"y" * 16384
        try:
            while True:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            handler.close_connection = True

    origin.answer = endless

    with pytest.raises(OutboundTooLarge):
        outbound.get(origin.url(), max_bytes=100_000)


def test_a_silent_server_times_out_on_the_read_timeout(settings, origin):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.OUTBOUND_READ_TIMEOUT = 0.2
    release = threading.Event()
    origin.answer = lambda handler: (release.wait(5), handler.reply(200))

    with pytest.raises(OutboundError, match=re.escape("did not answer within 0.2 s")):
        outbound.get(origin.url())
    release.set()


def test_a_closed_port_is_a_connection_error(settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]

    with pytest.raises(OutboundError, match=re.escape("could not connect to 127.0.0.1:9")):
        outbound.get("http://127.0.0.1:9/")


def test_head_returns_the_headers_without_reading_a_body(settings, origin):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]

    def audio(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "audio/mpeg")
        handler.send_header("Content-Length", "123456")
        handler.end_headers()

    origin.answer = audio

    response = outbound.head(f"{origin.url()}/prompt.mp3")

    assert response.status == 200 and response.headers["content-type"] == "audio/mpeg" and response.body == b""
    assert origin.requests[0]["method"] == "HEAD"


# TLS to the original name ----------------------------------------------------------------------


def certificate_for(name: str, directory) -> tuple[str, str]:
    """A self-signed certificate for `name` (its own CA): (cert path, key path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def tls_origin(tmp_path):
    """An https server on 127.0.0.1 with a certificate for receiver.internal; records the SNI names."""
    cert, key = certificate_for("receiver.internal", tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []
    context.sni_callback = lambda _socket, name, _context: names.append(name)
    server = Origin(tls=context)
    server.sni_names = names
    server.ca = cert
    yield server
    server.close()


def test_https_goes_to_the_resolved_address_with_the_name_as_sni_and_verified(settings, tls_origin, fake_dns):
    answers, lookups = fake_dns
    answers["receiver.internal"] = ["127.0.0.1"]
    settings.OUTBOUND_ALLOWED_HOSTS = ["receiver.internal"]
    settings.OUTBOUND_CA_BUNDLE = tls_origin.ca

    response = outbound.get(f"{tls_origin.url('receiver.internal', 'https')}/secure")

    assert response.status == 200 and response.body == b"hello"
    assert tls_origin.sni_names == ["receiver.internal"]
    assert tls_origin.requests[0]["headers"]["Host"] == f"receiver.internal:{tls_origin.port}"
    assert lookups == ["receiver.internal"]


def test_https_refuses_a_certificate_for_another_name(settings, tls_origin, fake_dns):
    answers, _lookups = fake_dns
    answers["impostor.internal"] = ["127.0.0.1"]
    settings.OUTBOUND_ALLOWED_HOSTS = ["impostor.internal"]
    settings.OUTBOUND_CA_BUNDLE = tls_origin.ca

    with pytest.raises(OutboundError, match=re.escape("TLS with impostor.internal")):
        outbound.get(tls_origin.url("impostor.internal", "https"))
    assert tls_origin.requests == []


def test_https_refuses_a_certificate_no_trusted_ca_signed(settings, tls_origin, fake_dns):
    answers, _lookups = fake_dns
    answers["receiver.internal"] = ["127.0.0.1"]
    settings.OUTBOUND_ALLOWED_HOSTS = ["receiver.internal"]  # default bundle: certifi's public CAs

    with pytest.raises(OutboundError, match=re.escape("TLS with receiver.internal")):
        outbound.get(tls_origin.url("receiver.internal", "https"))
    assert tls_origin.requests == []


@pytest.mark.parametrize(
    "address", ["192.0.0.8", "192.0.2.10", "198.18.0.1", "240.0.0.1", "255.255.255.255", "[2001:db8::1]", "[100::1]"]
)
def test_documentation_benchmark_and_other_special_blocks_are_refused_too(nothing_allowed, address):
    assert outbound.url_refusal(url=f"http://{address}/")
