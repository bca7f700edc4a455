"""Stored HTML (templates, form previews, the web view of a sent email) served so that it cannot
run script as the platform's origin.

Every such response carries `Content-Security-Policy: sandbox` (the browser gives the document a
unique opaque origin with scripts, forms, popups and plugins disabled, even when it is opened
directly rather than in the staff pages' `<iframe sandbox>`), `default-src 'none'` with only
images, styles and fonts allowed, `frame-ancestors 'self'` so only the platform's own pages may
frame it, and nosniff / no-referrer.
"""

from typing import Final

from django.http import HttpResponse

SANDBOX_CSP: Final = (
    "sandbox; default-src 'none'; img-src * data:; style-src * 'unsafe-inline'; font-src * data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def sandboxed_html_response(html: str, *, status: int = 200) -> HttpResponse:
    response = HttpResponse(html, content_type="text/html; charset=utf-8", status=status)
    sandboxed(response)
    return response


def sandboxed(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = SANDBOX_CSP
    response["X-Frame-Options"] = "SAMEORIGIN"  # the staff pages frame it; the middleware's DENY would not
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response
