"""Fixtures for email validation: a DNS server on 127.0.0.1 answering from a dict, a notification
receiver, and the spec's samples."""

import json
import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from tests.fakes.receiver import Receiver as BaseReceiver

# Zone used by most tests: name -> {record type: [rdata text]}. A name missing from the dict is
# NXDOMAIN; a name present without records of the asked type answers NOERROR with no answer.
ZONE: dict[str, dict[str, list[str]]] = {
    "acme-mail.com": {"MX": ["10 mx1.acme-mail.com.", "20 mx2.acme-mail.com."]},
    "example.com": {"MX": ["10 mx.example.com."]},
    "a-only.com": {"A": ["192.0.2.10"]},
    "aaaa-only.com": {"AAAA": ["2001:db8::10"]},
    "null-mx.com": {"MX": ["0 ."], "A": ["192.0.2.20"]},
    "no-mail.com": {"TXT": ['"v=spf1 -all"']},
    "mailinator.com": {"MX": ["10 mail.mailinator.com."]},
    "eu.mailinator.com": {"MX": ["10 mail.mailinator.com."]},
    "broken-dns.com": {"SERVFAIL": []},
}

# The spec's samples (section "Validation list" .. "Notification examples").
SAMPLE_VALIDATION_KEYS = [
    "id",
    "status",
    "total",
    "processed",
    "valid",
    "estimatedCost",
    "cost",
    "currency",
    "createdAt",
    "updatedAt",
    "finishedAt",
    "resultUrl",
]
SAMPLE_NOTIFICATION_KEYS = [*SAMPLE_VALIDATION_KEYS, "error"]
SAMPLE_PAGINATION_KEYS = ["total", "count", "per_page", "current_page", "total_pages", "links"]
SAMPLE_CSV = """email;result
valid@example.com;deliverable
notvalid@example.com;undeliverable
unknown@example.com;risky
"""


class StubDns:
    """A UDP DNS server on 127.0.0.1 (a free port) that answers from `zone` and counts queries."""

    def __init__(self, zone: dict[str, dict[str, list[str]]]):
        self.zone = zone
        self.queries: list[tuple[str, str]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                self.sock.sendto(self.answer(wire), peer)
            except OSError:
                return

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True).lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        records = self.zone.get(name)
        if records is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif "SERVFAIL" in records:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif records.get(rdtype):
            response.answer.append(dns.rrset.from_text_list(question.name, 300, "IN", rdtype, records[rdtype]))
        return response.to_wire()

    def queried(self, name: str) -> int:
        return sum(1 for queried_name, _ in self.queries if queried_name == name)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def point_dns_at(settings, port: int) -> None:
    settings.EMAIL_VALIDATION_DNS_NAMESERVERS = ["127.0.0.1"]
    settings.EMAIL_VALIDATION_DNS_PORT = port
    settings.EMAIL_VALIDATION_DNS_TIMEOUT = 0.3
    settings.EMAIL_VALIDATION_DNS_LIFETIME = 0.6


@pytest.fixture
def dns_server(settings):
    """The checks' resolver points at a StubDns serving ZONE."""
    server = StubDns(ZONE)
    point_dns_at(settings, server.port)
    yield server
    server.close()


@pytest.fixture
def silent_dns(settings):
    """A nameserver that never answers: every query times out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    point_dns_at(settings, sock.getsockname()[1])
    yield sock
    sock.close()


@pytest.fixture
def closed_dns(settings):
    """A port nothing listens on: every query is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    point_dns_at(settings, port)
    return port


class Receiver(BaseReceiver):
    """A customer's notificationUrl on 127.0.0.1: records requests, answers scripted codes."""

    @property
    def url(self) -> str:
        return f"{super().url}/notificationUrl"

    def bodies(self) -> list[dict]:
        return [json.loads(request["body"]) for request in self.requests]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _no_queue(monkeypatch):
    """Tasks are run by the tests themselves; a job created in a test is never sent to a broker."""
    import validation.services as services

    queued: list[int] = []
    monkeypatch.setattr(services, "async_task", lambda name, validation_id, **kwargs: queued.append(validation_id))
    return queued
