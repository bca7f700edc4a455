"""The one way the server makes an HTTP request on a customer's behalf (notification URLs, the
account's event URL, and later audio URLs and media fetches): a guard against server-side request
forgery. Provider modules (messaging/providers/) call operator-configured gateways and are exempt.

Rules:
- http and https only, a host required; credentials in the URL (`user:pass@`) become Basic auth.
- The host is resolved once (socket.getaddrinfo); every address it resolves to must be public, and
  the connection is made to the first of them, so a DNS answer that changes between the check and the
  connection (DNS rebinding) cannot steer the request. There is no fallback to the next address
  when the first does not answer (a failed attempt, retried by the caller like any other). The
  request still carries the original Host header, and https sends the original name as SNI and
  verifies the certificate against it.
- Refused addresses: loopback, private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10),
  multicast, reserved, unspecified, shared (CGNAT 100.64/10), 192.0.0.0/24, IPv6 site-local, and
  anything else Python's `ipaddress` does not call global. IPv6 addresses that embed an IPv4 address (IPv4-mapped
  ::ffff:a.b.c.d, 6to4, Teredo, NAT64 64:ff9b::/96) are judged by the IPv4 address they carry.
- `OUTBOUND_ALLOWED_HOSTS` (operator setting) lists host names, addresses or networks that skip the
  address rules, for on-premise receivers: a listed name may resolve to anything; a listed address
  or network is allowed whichever name resolved to it (a customer could type the address anyway).
- Redirects are not followed unless the caller asks (`max_redirects`); each hop is checked again like
  the first URL, and Authorization is dropped when a hop changes host.
- Connect and read timeouts (`OUTBOUND_CONNECT_TIMEOUT`, `OUTBOUND_READ_TIMEOUT`); the whole answer
  must arrive within their sum. The body is streamed and reading stops past `OUTBOUND_MAX_RESPONSE_BYTES`
  (the request then fails): nobody can make a worker hold a huge or never-ending answer. No
  Accept-Encoding is offered, so the cap counts what is kept in memory.
- One keep-alive connection pool per (scheme, host name, address, port), shared by threads: the
  notification workers reuse connections to a receiver batch after batch.

`url_refusal(url=...)` is the accept-time check (API, staff settings, admin). It never resolves DNS:
resolving at accept time would not protect anything (the answer can change before the call, which is
checked anyway), would make a send of 10,000 per-recipient URLs wait on DNS, and would refuse sends
during a resolver outage. It refuses what is certain without DNS: the scheme, literal addresses in every
notation getaddrinfo accepts (`127.1`, `2130706433`, `0x7f.0.0.1`, `[::ffff:127.0.0.1]`) and the names
RFC 6761 reserves for loopback (`localhost`, `*.localhost`). A name that resolves to a refused address
later is refused at call time (OutboundRefused), which callers record as a failed attempt.
"""

import base64
import functools
import ipaddress
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException
from typing import Final
from urllib.parse import unquote, urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES: Final = frozenset({"http", "https"})
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
USER_AGENT: Final = "campaign-platform/1.0"
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
# Names RFC 6761 reserves for loopback: refused without asking DNS.
LOOPBACK_NAME_ADDRESSES: Final = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
MAX_POOLS: Final = 256
POOL_MAXSIZE: Final = 16  # connections kept per pool: the notification workers' thread count
_READ_CHUNK: Final = 64 * 1024

_UNSAFE_CHARACTER = re.compile(r"[\x00-\x20\x7f]")
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IETF protocol assignments: not globally reachable (RFC 6890), though Python before 3.12.4 calls most global.
_PROTOCOL_ASSIGNMENTS = ipaddress.ip_network("192.0.0.0/24")


class OutboundError(Exception):
    """The request failed: connection, TLS, timeout, an oversized answer. `reason` says why in plain words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutboundRefused(OutboundError):
    """The URL may not be called (scheme, host or the address it resolves to); nothing was sent."""


class OutboundTooLarge(OutboundError):
    """The answer's body was longer than the cap; reading stopped there."""


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    status: int
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    body: bytes
    url: str  # the URL that answered (the last hop when redirects were followed)


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str  # lower-case, no brackets, no trailing dot; IDNA (ASCII) for names
    port: int
    path: str  # path and query, as sent in the request line
    host_header: str
    authorization: str | None


# Accept-time check ------------------------------------------------------------------------------


def url_refusal(*, url: str) -> str | None:
    """Why `url` may not be called, in plain words, or None. Decides without DNS (see the module
    docstring); the call itself checks the resolved addresses again."""
    try:
        target = _target(url)
    except OutboundRefused as exc:
        return exc.reason
    if _name_allowed(target.host):
        return None
    literal = _literal_address(target.host)
    if literal is not None:
        return _address_refusal(literal)
    if target.host == "localhost" or target.host.endswith(".localhost"):
        if any(_address_refusal(address) for address in LOOPBACK_NAME_ADDRESSES):
            return f"{target.host} is a loopback name"
    return None


def url_check(*, url: str) -> None:
    """url_refusal that raises OutboundRefused."""
    if reason := url_refusal(url=url):
        raise OutboundRefused(reason)


# Requests ---------------------------------------------------------------------------------------


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    max_redirects: int = 0,
    max_bytes: int | None = None,
) -> OutboundResponse:
    """Make one request through the guard. Raises OutboundRefused before anything is sent to a
    refused address (first URL or any redirect hop), OutboundError when the request fails. Any status
    is returned as is, a redirect too once `max_redirects` hops have been followed."""
    method = method.upper()
    limit = settings.OUTBOUND_MAX_RESPONSE_BYTES if max_bytes is None else max_bytes
    sent_headers = {"User-Agent": USER_AGENT, **(headers or {})}
    target = _target(url)
    hops = 0
    while True:
        response = _send(method, target, body=body, headers=sent_headers, max_bytes=limit)
        location = response.headers.get("Location")
        if response.status not in REDIRECT_STATUSES or not location or hops >= max_redirects:
            return response
        hops += 1
        next_url = urljoin(url, location)
        next_target = _target(next_url)
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            # What browsers (and requests) do: the body is not sent again.
            method = "HEAD" if method == "HEAD" else "GET"
            body = None
            sent_headers = _without(sent_headers, "content-type", "content-length")
        if next_target.host != target.host:
            sent_headers = _without(sent_headers, "authorization")
        url, target = next_url, next_target


def _without(headers: dict[str, str], *names: str) -> dict[str, str]:
    return {key: value for key, value in headers.items() if key.lower() not in names}


def get(url: str, **options) -> OutboundResponse:
    return request("GET", url, **options)


def head(url: str, **options) -> OutboundResponse:
    return request("HEAD", url, **options)


def post(url: str, *, body: bytes, headers: Mapping[str, str] | None = None, **options) -> OutboundResponse:
    return request("POST", url, body=body, headers=headers, **options)


def _send(
    method: str, target: _Target, *, body: bytes | None, headers: dict[str, str], max_bytes: int
) -> OutboundResponse:
    address = _resolve(target)
    pool = _pool(target, address)
    request_headers = {**_without(headers, "host", "accept-encoding"), "Host": target.host_header}
    request_headers["Accept-Encoding"] = "identity"
    if target.authorization and not any(k.lower() == "authorization" for k in headers):
        request_headers["Authorization"] = target.authorization
    connect, read = settings.OUTBOUND_CONNECT_TIMEOUT, settings.OUTBOUND_READ_TIMEOUT
    deadline = time.monotonic() + connect + read
    label = f"{target.host}:{target.port}"
    try:
        response = pool.urlopen(
            method,
            target.path,
            body=body,
            headers=request_headers,
            retries=False,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            release_conn=False,
            timeout=urllib3.Timeout(connect=connect, read=read),
        )
    except NewConnectionError as exc:
        raise OutboundError(f"could not connect to {label} ({address}): {_cause(exc)}") from exc
    except ConnectTimeoutError as exc:
        raise OutboundError(f"connecting to {label} ({address}) timed out after {connect:g} s") from exc
    except ReadTimeoutError as exc:
        raise OutboundError(f"{label} did not answer within {read:g} s") from exc
    except SSLError as exc:
        raise OutboundError(f"TLS with {label} failed: {_cause(exc)}") from exc
    except (HTTPError, HTTPException, OSError, ValueError) as exc:
        raise OutboundError(f"the request to {label} failed: {_cause(exc)}") from exc
    try:
        payload = _read_capped(response, method=method, max_bytes=max_bytes, deadline=deadline, label=label)
    except BaseException:
        response.close()  # a half-read connection is never reused
        response.release_conn()
        raise
    response.release_conn()
    url = f"{target.scheme}://{target.host_header}{target.path}"
    return OutboundResponse(status=response.status, headers=response.headers, body=payload, url=url)


def _read_capped(response, *, method: str, max_bytes: int, deadline: float, label: str) -> bytes:
    if method == "HEAD":
        return b""
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := response.read(_READ_CHUNK, decode_content=False):
            size += len(chunk)
            if size > max_bytes:
                raise OutboundTooLarge(f"the answer of {label} is longer than {max_bytes} bytes")
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise OutboundError(f"the answer of {label} took longer than the timeouts allow")
    except ReadTimeoutError as exc:
        raise OutboundError(f"{label} stopped sending its answer for {settings.OUTBOUND_READ_TIMEOUT:g} s") from exc
    except (ProtocolError, HTTPError, HTTPException, OSError) as exc:
        raise OutboundError(f"reading the answer of {label} failed: {_cause(exc)}") from exc
    return b"".join(chunks)


def _cause(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("<") and ">: " in text:  # urllib3 prefixes the connection object's repr
        text = text.split(">: ", 1)[1]
    return text[:300]


# URL parsing ------------------------------------------------------------------------------------


def _target(url: str) -> _Target:
    if not isinstance(url, str) or not url:
        raise OutboundRefused("the URL is empty")
    if _UNSAFE_CHARACTER.search(url.strip()):
        raise OutboundRefused("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"the URL is malformed ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise OutboundRefused("only http and https URLs can be called")
    raw_host = (parts.hostname or "").rstrip(".")
    if not raw_host:
        raise OutboundRefused("the URL has no host")
    if _literal_address(raw_host) is not None:
        host = raw_host
    else:
        try:
            host = raw_host.encode("idna").decode("ascii").lower()
        except UnicodeError as exc:
            raise OutboundRefused(f"the host {raw_host!r} is not a valid name") from exc
        if not _HOST_NAME.fullmatch(host):
            raise OutboundRefused(f"the host {raw_host!r} is not a valid name")
    port = port or DEFAULT_PORTS[scheme]
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode()
    return _Target(scheme, host, port, path, host_header, authorization)


def _literal_address(host: str) -> IPAddress | None:
    """The address `host` spells, in any notation getaddrinfo would take as an address rather than
    a name (inet_aton's shorthand: 127.1, 2130706433, 0x7f.0.0.1)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


# Address rules ----------------------------------------------------------------------------------


def _address_refusal(address: IPAddress) -> str | None:
    if _address_allowed(address):
        return None
    if address.version == 6:
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = _address_refusal(embedded)
            return f"the address {address} embeds {embedded}: {reason}" if reason else None
        if address.is_site_local:
            return f"the address {address} is site-local"
    if address.is_unspecified:
        return f"the address {address} is unspecified"
    if address.is_loopback:
        return f"the address {address} is loopback"
    if address.is_link_local:
        return f"the address {address} is link-local"
    if address.is_multicast:
        return f"the address {address} is multicast"
    if address in _SHARED:
        return f"the address {address} is shared address space (CGNAT)"
    if address.is_private:
        return f"the address {address} is private"
    if address in _PROTOCOL_ASSIGNMENTS:
        return f"the address {address} is reserved for protocol assignments"
    if address.is_reserved:
        return f"the address {address} is reserved"
    if not address.is_global:
        return f"the address {address} is not public"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's address (obfuscated in the packet, clear here)
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _allowed_entries() -> tuple[frozenset[str], tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]]:
    return _allowed_entries_parse(tuple(settings.OUTBOUND_ALLOWED_HOSTS))


@functools.lru_cache(maxsize=8)
def _allowed_entries_parse(
    entries: tuple[str, ...],
) -> tuple[frozenset[str], tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]]:
    names: set[str] = set()
    networks = []
    for raw in entries:
        entry = raw.strip().lower().rstrip(".")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
        except ValueError:
            names.add(entry.encode("idna").decode("ascii"))
    return frozenset(names), tuple(networks)


def _name_allowed(host: str) -> bool:
    return host in _allowed_entries()[0]


def _address_allowed(address: IPAddress) -> bool:
    return any(address.version == network.version and address in network for network in _allowed_entries()[1])


def _resolve(target: _Target) -> str:
    """The address to connect to: the host resolved once, every answer checked."""
    literal = _literal_address(target.host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError) as exc:
            raise OutboundError(f"the host {target.host} could not be resolved: {exc}") from exc
        addresses = []
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise OutboundError(f"the host {target.host} resolves to no address")
    if not _name_allowed(target.host):
        for address in addresses:
            if reason := _address_refusal(address):
                shown = reason if literal is not None else f"{target.host} resolves to {address}: {reason}"
                raise OutboundRefused(shown)
    return str(addresses[0])


# Connection pools -------------------------------------------------------------------------------

_pools: OrderedDict[tuple[str, str, str, int], urllib3.HTTPConnectionPool] = OrderedDict()
_pools_lock = threading.Lock()


def _pool(target: _Target, address: str) -> urllib3.HTTPConnectionPool:
    key = (target.scheme, target.host, address, target.port)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None:
            _pools.move_to_end(key)
            return pool
        pool = _pool_new(target, address)
        _pools[key] = pool
        evicted = _pools.popitem(last=False)[1] if len(_pools) > MAX_POOLS else None
    if evicted is not None:
        evicted.close()
    return pool


def _pool_new(target: _Target, address: str) -> urllib3.HTTPConnectionPool:
    if target.scheme == "http":
        return urllib3.HTTPConnectionPool(address, target.port, maxsize=POOL_MAXSIZE, block=False, retries=False)
    # Connect to the resolved address, but speak TLS to the name: SNI and certificate checks use it.
    name = None if _literal_address(target.host) is not None else target.host
    return urllib3.HTTPSConnectionPool(
        address,
        target.port,
        maxsize=POOL_MAXSIZE,
        block=False,
        retries=False,
        cert_reqs="CERT_REQUIRED",
        ca_certs=settings.OUTBOUND_CA_BUNDLE or certifi.where(),
        server_hostname=name,
        assert_hostname=name,
    )


def pools_clear() -> None:
    """Close every kept connection (tests; a settings change of the CA bundle)."""
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()
