"""Public pages behind short or signed links (no login, no CDN), and the staff short-link list.

- `/<code>`: a short link. URL links answer 302 to their target and count the click; landing
  links serve the recipient's landing page (an `opened` event per view).
- `/t/o/<token>.gif`: the email open pixel; `/t/c/<token>`: a tracked click (302).
- `/u/<token>`: unsubscribe. GET asks, POST unsubscribes; RFC 8058 one-click POSTs
  (`List-Unsubscribe=One-Click`) come from mail providers without cookies or CSRF tokens, and the
  signed token is what authorises the request, so the view is CSRF-exempt.
- `/uploads/<folder>/<sha256>.<ext>`: images stored by `POST /images/generate`.
A tampered or unknown token answers 404, never 500.
"""

from __future__ import annotations

import html
import re
from typing import Final
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_safe

from config.web_paging import keyset_page
from messaging.models import Message
from tracking import services
from tracking.links import click_token_read, open_token_read
from tracking.models import ShortLinkKind
from tracking.selectors import landing_page_get, message_exists, short_link_get, short_links_for_account
from tracking.texts import page_language, page_texts

# The smallest transparent GIF (43 bytes).
PIXEL_GIF: Final = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
_UPLOAD_NAME = re.compile(r"[0-9a-f]{64}\.(jpg|png)")
_UPLOAD_FOLDER = re.compile(r"[a-z2-7]{16}")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_CONTENT_TYPES: Final = {"jpg": "image/jpeg", "png": "image/png"}


def _user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


# ---------------------------------------------------------------------------------------------
# Short links and landing pages


@never_cache
@require_safe
def short_link_view(request: HttpRequest, code: str) -> HttpResponse:
    link = short_link_get(code=code)
    if link is None:
        raise Http404("No such link.")
    # Link checkers and previewers send HEAD: answered, never counted as a click or an open.
    counted = request.method == "GET"
    if link.kind == ShortLinkKind.URL:
        if counted:
            services.short_link_click(link=link)
        response = HttpResponseRedirect(link.long_url)
        response["Referrer-Policy"] = "no-referrer"
        return response
    page = landing_page_get(link=link)
    if page is None:
        raise Http404("No such page.")
    if counted:
        services.short_link_click(link=link)
        services.message_opened(public_id=page.message.public_id, user_agent=_user_agent(request))
    texts = page_texts(page.account.language)
    footer = (
        f'<form method="post" action="{html.escape(page.unsubscribe_url)}" '
        'style="margin:2rem 0 1rem;text-align:center;font:14px system-ui,sans-serif">'
        f'<button type="submit" style="background:none;border:0;color:#555;text-decoration:underline;'
        f'cursor:pointer;font:inherit">{html.escape(texts["landing_unsubscribe"])}</button></form>'
    )
    ends = list(_BODY_END.finditer(page.html))
    body = page.html[: ends[-1].start()] + footer + page.html[ends[-1].start() :] if ends else page.html + footer
    response = HttpResponse(body, content_type="text/html; charset=utf-8")
    # The template is the customer's HTML: no script runs, and the page gets an opaque origin so it
    # can never act as the platform (cookies, same-origin requests).
    response["Content-Security-Policy"] = (
        "sandbox allow-forms allow-popups allow-popups-to-escape-sandbox; default-src 'none'; "
        "img-src * data:; style-src * 'unsafe-inline'; font-src * data:; media-src *; "
        f"form-action {_origin(settings.PUBLIC_URL)}; frame-ancestors 'none'; base-uri 'none'"
    )
    response["Referrer-Policy"] = "no-referrer"
    return response


# ---------------------------------------------------------------------------------------------
# Email tracking


@never_cache
@require_GET
def open_pixel_view(request: HttpRequest, token: str) -> HttpResponse:
    public_id = open_token_read(token)
    if public_id is None or not message_exists(public_id=public_id):
        raise Http404("No such message.")
    services.message_opened(public_id=public_id, user_agent=_user_agent(request))
    return HttpResponse(PIXEL_GIF, content_type="image/gif")


@never_cache
@require_GET
def click_view(request: HttpRequest, token: str) -> HttpResponse:
    found = click_token_read(token)
    if found is None or not message_exists(public_id=found[0]):
        raise Http404("No such link.")
    public_id, url = found
    services.message_clicked(public_id=public_id, url=url, user_agent=_user_agent(request))
    response = HttpResponseRedirect(url)
    response["Referrer-Policy"] = "no-referrer"
    return response


# ---------------------------------------------------------------------------------------------
# Unsubscribe


def _masked(recipient: str) -> str:
    """Enough of the address for the recipient to recognise it, not enough to harvest it."""
    if "@" in recipient:
        local, _, domain = recipient.partition("@")
        return f"{local[:1]}***@{domain}"
    return "*" * max(0, len(recipient) - 4) + recipient[-4:]


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe_view(request: HttpRequest, token: str) -> HttpResponse:
    message: Message | None = services.unsubscribe_message(token)
    if message is None:
        raise Http404("No such message.")
    if request.method == "POST":
        services.message_unsubscribe(message=message, user_agent=_user_agent(request))
    texts = page_texts(message.account.language)
    words = {"account": message.account.name, "recipient": _masked(message.recipient)}
    context = {
        "language": page_language(message.account.language),
        "texts": texts,
        "done": request.method == "POST",
        "question": texts["question"].format(**words),
        "confirmation": texts["done"].format(**words),
    }
    return render(request, "tracking/unsubscribe.html", context)


# ---------------------------------------------------------------------------------------------
# Uploaded images


@require_GET
def upload_view(request: HttpRequest, folder: str, name: str) -> HttpResponse:
    match = _UPLOAD_NAME.fullmatch(name)
    path = f"{services.UPLOADS_DIR}/{folder}/{name}"
    if match is None or not _UPLOAD_FOLDER.fullmatch(folder) or not default_storage.exists(path):
        raise Http404("No such image.")
    response = FileResponse(default_storage.open(path, "rb"), content_type=_CONTENT_TYPES[match.group(1)])
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "public, max-age=31536000, immutable"  # named by content: never changes
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# ---------------------------------------------------------------------------------------------
# Staff: the account's short links


@login_required
@require_GET
def short_link_list_view(request: HttpRequest) -> HttpResponse:
    account = getattr(request.user, "account", None)
    if account is None:
        raise Http404("This user belongs to no account.")
    page = keyset_page(request, short_links_for_account(account=account), descending=True, size=50)
    rows = [(link, services.short_url(link.code)) for link in page.items]
    return render(request, "tracking/short_link_list.html", {"page": page, "rows": rows})
