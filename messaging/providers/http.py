"""Shared HTTP plumbing for providers that call an HTTP API per message.

- One keep-alive pool per route and worker: `HttpRoute(key=...)` reuses the `requests.Session`
  cached for that key in this process (a forked worker builds its own; sockets are never shared
  across processes). The pool holds `pool_size` connections so a batch can keep requests in flight.
- Timeouts: `connect_timeout` and `read_timeout` (seconds), both always set.
- `classify(status)`: 2xx none; 401 / 403 a route fault (wrong credentials or permissions: the
  route's fault, not the message's, so transient, and the queue recovers once the route is fixed);
  408, 429 and 5xx transient; any other 4xx permanent (the message is rejected).
- Failures before the request went out (DNS, refused, connect timeout) are transient with code
  `connection`: nothing was sent. A failure after the request was written (read timeout, connection
  dropped) raises `MaybeSent`: the provider may have taken it, so the provider asks `lookup()` and,
  failing that, the dispatcher reconciles instead of resending (code `maybe_sent`).
- `error_from(response)` builds the ProviderError; a provider passes `describe` to read its own
  error body (its `raise_for_response` hook).

Twilio SMS and the HTTP gateway still carry their own copies of these rules; moving them here is a
separate step (only `twilio_voice` uses this module today).
"""

from __future__ import annotations

import enum
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from messaging.providers.base import ProviderError

MAYBE_SENT: Final = "maybe_sent"
CONNECTION: Final = "connection"
ROUTE_FAULT_CODE: Final = "route_fault"


class ErrorClass(enum.Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    ROUTE_FAULT = "route_fault"  # transient: fixing the route's settings recovers the queue


def classify(status: int) -> ErrorClass | None:
    """What an HTTP status means for the message (None: success)."""
    if 200 <= status < 300:
        return None
    if status in (401, 403):
        return ErrorClass.ROUTE_FAULT
    if status in (408, 429) or status >= 500:
        return ErrorClass.TRANSIENT
    if 400 <= status < 500:
        return ErrorClass.PERMANENT
    return ErrorClass.TRANSIENT  # 1xx / 3xx where a JSON answer was expected: try again later


class MaybeSent(ProviderError):
    """The request was written but no answer came: the provider may have taken the message."""

    def __init__(self, reason: str):
        super().__init__(reason, permanent=False, code=MAYBE_SENT)


def error_from(
    response: requests.Response, *, describe: Callable[[requests.Response], tuple[str, str]] | None = None
) -> ProviderError:
    """A ProviderError for a non-2xx answer; `describe(response)` -> (reason, code) reads the
    provider's error body (default: the HTTP status line)."""
    kind = classify(response.status_code) or ErrorClass.TRANSIENT
    reason, code = describe(response) if describe else (f"HTTP {response.status_code} {response.reason}", "")
    return ProviderError(reason, permanent=kind is ErrorClass.PERMANENT, code=code or str(response.status_code))


def never_connected(exc: BaseException) -> bool:
    """Whether the request certainly never left: the connection itself failed. Walks the causes
    (requests wraps urllib3's MaxRetryError, whose `reason` is the connect error)."""
    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectTimeoutError | NewConnectionError | requests.ConnectTimeout):
            return True
        if isinstance(current, BaseException):
            pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None), *current.args])
    return False


_pools: dict[tuple[int, str], requests.Session] = {}
_pools_lock = threading.Lock()


def _session(key: str, pool_size: int) -> requests.Session:
    pool_key = (os.getpid(), key)
    session = _pools.get(pool_key)
    if session is None:
        with _pools_lock:
            session = _pools.get(pool_key)
            if session is None:
                session = requests.Session()
                adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                _pools[pool_key] = session
    return session


def pools_close() -> None:
    """Close this process's pools (tests, shutdown)."""
    with _pools_lock:
        for (pid, _key), session in list(_pools.items()):
            if pid == os.getpid():
                session.close()
        _pools.clear()


class HttpRoute:
    """HTTP access to one provider route: base URL, credentials, timeouts, pooled connections."""

    def __init__(
        self,
        *,
        key: str,
        base_url: str,
        auth: tuple[str, str] | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        pool_size: int = 8,
        name: str = "provider",
    ):
        self.key = key
        self.base_url = base_url.rstrip("/")
        self._auth = auth
        self.timeout = (connect_timeout, read_timeout)
        self.pool_size = pool_size
        self.name = name

    def __repr__(self) -> str:
        # Never the credentials: routes end up in logs and tracebacks.
        return f"HttpRoute(name={self.name!r}, base_url={self.base_url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        data: Mapping[str, Any] | list[tuple[str, str]] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """The response, whatever its status; ProviderError(code=connection) when the request never
        left, MaybeSent when it left and no answer came."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        try:
            return _session(self.key, self.pool_size).request(
                method, url, data=data, params=params, headers=headers, auth=self._auth, timeout=self.timeout
            )
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
            raise ProviderError(
                f"{self.name}: bad API URL ({type(exc).__name__})", permanent=False, code=CONNECTION
            ) from exc
        except requests.RequestException as exc:
            if never_connected(exc):
                raise ProviderError(
                    f"{self.name} unreachable: {type(exc).__name__}", permanent=False, code=CONNECTION
                ) from exc
            raise MaybeSent(
                f"No answer from {self.name} ({type(exc).__name__}); it may have taken the message"
            ) from exc
