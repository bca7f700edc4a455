"""Request limits first, then provider webhooks skip the browser middleware.

A provider posting to /webhooks/ has no session, no CSRF token, no signed-in user, no flash
messages and no frames to guard against: its requests are authenticated by their signatures
(messaging.webhooks). Running sessions, CSRF, authentication, messages and clickjacking middleware
on each of them cost about a quarter of a webhook request's CPU (measured: ~89 -> ~64 µs per
request through the WSGI handler). This middleware sits right after SecurityMiddleware (so SSL
redirects and HSTS still apply) and calls the webhook view directly; every other path goes on
through the whole stack. Errors still become responses: Django wraps each middleware so that an
exception (an unknown path's Http404 included) is answered like any other.
"""

from collections.abc import Callable
from io import BytesIO

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse
from django.urls import resolve

from config.api import json_error_response

WEBHOOKS_PREFIX = "/webhooks/"


class WebhookShortcutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(WEBHOOKS_PREFIX):
            return self.get_response(request)
        match = resolve(request.path_info)
        request.resolver_match = match
        response = match.func(request, *match.args, **match.kwargs)
        # What CommonMiddleware would add: keep-alive clients need the length of the (empty) body.
        if not response.streaming and "Content-Length" not in response:
            response.headers["Content-Length"] = str(len(response.content))
        return response


# ---------------------------------------------------------------------------------------------
# Request limits


class RequestLimitsMiddleware:
    """Refuses abusive requests before any other work, first in MIDDLEWARE.

    - More than REQUEST_MAX_HEADERS headers, or more than REQUEST_MAX_HEADER_BYTES of header values,
      answer 431 (only counting and `len`, nothing decoded).
    - Under /api/, a body over its limit answers 413 before a byte of it is read: API_MAX_BODY_BYTES, or
      API_MAX_ATTACHMENTS_BODY_BYTES for the endpoints whose bodies carry files (POST /mailing with
      attachments, /images/generate). A declared Content-Length over the limit is refused at once; a body
      without one (chunked: the server sets `wsgi.input_terminated`, or passes Transfer-Encoding) is read
      up to one byte past the limit and then either refused or kept as the request's body, so Django, which
      would otherwise read nothing of it, reads it like any other.

    Answers under /api/ use the API's envelope; elsewhere a plain text answer. Non-API bodies keep Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE (file uploads stream to disk and have their own limits).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        headers = [key for key in meta if key.startswith("HTTP_")]
        header_bytes = sum(len(meta[key]) for key in headers if isinstance(meta[key], str))
        if len(headers) > settings.REQUEST_MAX_HEADERS or header_bytes > settings.REQUEST_MAX_HEADER_BYTES:
            return _refusal(request, 431)
        if request.path_info.startswith(API_PREFIX):
            refusal = _api_body_check(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)


API_PREFIX = "/api/"
# Endpoints whose bodies carry files (base64): (method, path).
ATTACHMENT_ENDPOINTS = frozenset({("POST", "/api/rest/mailing"), ("POST", "/api/rest/images/generate")})
_READ_CHUNK = 64 * 1024


def api_body_limit(request: HttpRequest) -> int:
    if (request.method, request.path_info.rstrip("/")) in ATTACHMENT_ENDPOINTS:
        return settings.API_MAX_ATTACHMENTS_BODY_BYTES
    return settings.API_MAX_BODY_BYTES


def _api_body_check(request: HttpRequest) -> HttpResponse | None:
    limit = api_body_limit(request)
    declared = request.META.get("CONTENT_LENGTH")
    if declared:
        try:
            length = int(declared)
        except ValueError:
            return _refusal(request, 400)
        if length < 0:
            return _refusal(request, 400)
        return _refusal(request, 413) if length > limit else None
    if not _has_unsized_body(request):
        return None
    stream = request.META["wsgi.input"]
    body = bytearray()
    while len(body) <= limit:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - len(body)))
        if not chunk:
            break
        body += chunk
    if len(body) > limit:
        return _refusal(request, 413)
    # Django sized the request's stream from the (absent) Content-Length, i.e. empty: give it the body read.
    request.META["CONTENT_LENGTH"] = str(len(body))
    request._stream = LimitedStream(BytesIO(bytes(body)), len(body))
    return None


def _has_unsized_body(request: HttpRequest) -> bool:
    meta = request.META
    return "wsgi.input" in meta and (
        bool(meta.get("wsgi.input_terminated")) or "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
    )


_PLAIN = {400: "Bad request", 413: "Request body too large", 431: "Request header fields too large"}


def _refusal(request: HttpRequest, status: int) -> HttpResponse:
    if request.path_info.startswith(API_PREFIX):
        return json_error_response(status)
    return HttpResponse(_PLAIN[status], content_type="text/plain; charset=utf-8", status=status)


# ---------------------------------------------------------------------------------------------
# Content-Security-Policy

# Every script is a static file (no inline script or handler anywhere in templates/ and static/); styles
# keep 'unsafe-inline' for the style attributes of charts and progress bars, which run no code. Frames
# are the platform's own sandboxed previews; nothing frames the staff pages.
STAFF_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    """Sends STAFF_CSP with every HTML page that has no policy of its own: stored HTML (content.previews),
    public forms and landing pages set their stricter sandbox policies themselves and keep them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response and response.get("Content-Type", "").startswith("text/html"):
            response["Content-Security-Policy"] = STAFF_CSP
        return response
