"""Email open and click tracking: the open pixel and the click redirect links.

`email_tracking_apply()` is called by the email HTML preparation (content.email) for every
message, API or group send, so it does no database work: each link carries a token signed with
SECRET_KEY (HMAC-SHA256, its own salt) that binds the message's public id to the target
URL (`<public id>.<URL in base64url>.<HMAC>`). The click page (tracking.views) only redirects
to the URL inside a valid token, and checks that the message exists; an attacker cannot make a
token for another URL, so there is no open redirect, and nothing is taken from the query string.
The same links serve landing pages.

Links that are not rewritten: anything but http(s) (mailto:, tel:, #anchors), links to the
platform itself (unsubscribe, forms, web view: they record their own events) and links still
holding an unrendered `{placeholder}`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
from functools import lru_cache
from typing import Final
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare

OPEN_PATH: Final = "/t/o/"
CLICK_PATH: Final = "/t/c/"
PIXEL_SUFFIX: Final = ".gif"
_OPEN_SALT: Final = "tracking.open"
_CLICK_SALT: Final = "tracking.click"
MAX_URL_LENGTH: Final = 2000

_ANCHOR_HREF = re.compile(
    r"""(<a\b[^>]*?\shref\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""",
    re.IGNORECASE,
)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_SPACE = re.compile(r"\s")


def _open_signer() -> signing.Signer:
    return signing.Signer(salt=_OPEN_SALT, sep=".")


def open_url(public_id: str) -> str:
    return f"{settings.PUBLIC_URL}{OPEN_PATH}{_open_signer().sign(public_id)}{PIXEL_SUFFIX}"


def open_token_read(token: str) -> str | None:
    """The message public id inside an open-pixel token (with or without `.gif`), else None."""
    if token.endswith(PIXEL_SUFFIX):
        token = token[: -len(PIXEL_SUFFIX)]
    try:
        return _open_signer().unsign(token)
    except signing.BadSignature:
        return None


@lru_cache(maxsize=8)
def _click_mac(secret: str) -> hmac.HMAC:
    # The key is derived once per secret, where django.core.signing derives it again for every
    # signature: that derivation was half the cost of tracking an email's links.
    return hmac.new(hashlib.sha256(f"{_CLICK_SALT}:{secret}".encode()).digest(), digestmod=hashlib.sha256)


def _click_signature(value: str, secret: str) -> str:
    mac = _click_mac(secret).copy()
    mac.update(value.encode())
    return signing.b64_encode(mac.digest()).decode()


def click_url(public_id: str, url: str) -> str:
    """`{PUBLIC_URL}/t/c/<public id>.<URL in base64url>.<HMAC-SHA256>`."""
    value = f"{public_id}.{signing.b64_encode(url.encode()).decode()}"
    return f"{settings.PUBLIC_URL}{CLICK_PATH}{value}.{_click_signature(value, settings.SECRET_KEY)}"


def click_token_read(token: str) -> tuple[str, str] | None:
    """(message public id, target URL) inside a click token, else None. Tokens signed with a key of
    SECRET_KEY_FALLBACKS still work while keys rotate."""
    value, _, signature = token.rpartition(".")
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if not value or not any(constant_time_compare(signature, _click_signature(value, key)) for key in secrets):
        return None
    public_id, _, encoded = value.partition(".")
    try:
        url = signing.b64_decode(encoded.encode()).decode()
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    if not public_id or not is_trackable(url):
        return None
    return public_id, url


def is_trackable(url: str) -> bool:
    """An absolute http(s) URL outside the platform, with no unrendered placeholder."""
    if not url or len(url) > MAX_URL_LENGTH or "{" in url or _SPACE.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    own = settings.PUBLIC_URL.rstrip("/")
    return not (url == own or url.startswith(own + "/"))


def links_track(markup: str, *, public_id: str) -> str:
    """`markup` with every trackable `<a href>` pointing at its click redirect."""

    def rewrite(match: re.Match[str]) -> str:
        raw = next(group for group in match.groups()[1:] if group is not None)
        target = html.unescape(raw).strip()
        if not is_trackable(target):
            return match.group(0)
        return f'{match.group(1)}"{html.escape(click_url(public_id, target))}"'

    return _ANCHOR_HREF.sub(rewrite, markup)


def pixel_add(markup: str, *, public_id: str) -> str:
    """`markup` with the 1x1 open pixel just before `</body>` (appended when there is none)."""
    pixel = (
        f'<img src="{html.escape(open_url(public_id))}" width="1" height="1" alt="" '
        'style="display:block;border:0;width:1px;height:1px;overflow:hidden">'
    )
    ends = list(_BODY_END.finditer(markup))
    if not ends:
        return markup + pixel
    position = ends[-1].start()
    return markup[:position] + pixel + markup[position:]


def email_tracking_apply(html_body: str, *, public_id: str, track_opens: bool, track_clicks: bool) -> str:
    """The email's HTML with its links rewritten to the click redirect (`track_clicks`) and the
    open pixel added (`track_opens`)."""
    if track_clicks:
        html_body = links_track(html_body, public_id=public_id)
    if track_opens:
        html_body = pixel_add(html_body, public_id=public_id)
    return html_body
