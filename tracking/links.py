"""Email open and click tracking (the open pixel and the click redirect links), and the signed
unsubscribe link of every message.

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

import base64
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


@lru_cache(maxsize=16)
def _prepared_mac(key_material: str) -> hmac.HMAC:
    # An HMAC keyed once per (salt, secret) and copied for each signature: django.core.signing
    # derives the key again (one SHA-256) for every signature, which was most of the cost of
    # tracking an email's links.
    return hmac.new(hashlib.sha256(key_material.encode()).digest(), digestmod=hashlib.sha256)


def _signature(mac: hmac.HMAC, value: str) -> str:
    mac = mac.copy()
    mac.update(value.encode())
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def _open_signer() -> signing.Signer:
    return signing.Signer(salt=_OPEN_SALT, sep=".")


def open_url(public_id: str) -> str:
    # The same token as `_open_signer().sign(public_id)` (Django derives its key as SHA-256 of
    # salt + "signer" + secret), made with the key derived once; read back with the Signer.
    mac = _prepared_mac(f"{_OPEN_SALT}signer{settings.SECRET_KEY}")
    return f"{settings.PUBLIC_URL}{OPEN_PATH}{public_id}.{_signature(mac, public_id)}{PIXEL_SUFFIX}"


def open_token_read(token: str) -> str | None:
    """The message public id inside an open-pixel token (with or without `.gif`), else None.
    Tokens signed with a key of SECRET_KEY_FALLBACKS still work while keys rotate."""
    if token.endswith(PIXEL_SUFFIX):
        token = token[: -len(PIXEL_SUFFIX)]
    try:
        return _open_signer().unsign(token)
    except signing.BadSignature:
        return None


def _click_mac(secret: str) -> hmac.HMAC:
    return _prepared_mac(f"{_CLICK_SALT}:{secret}")


def _click_signature(value: str, secret: str) -> str:
    return _signature(_click_mac(secret), value)


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def click_url(public_id: str, url: str) -> str:
    """`{PUBLIC_URL}/t/c/<public id>.<URL in base64url>.<HMAC-SHA256>`."""
    value = f"{public_id}.{_b64(url)}"
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
    return _is_trackable(url, own=settings.PUBLIC_URL.rstrip("/"))


def _is_trackable(url: str, *, own: str) -> bool:
    if not url or len(url) > MAX_URL_LENGTH or "{" in url or _SPACE.search(url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    return not (url == own or url.startswith(own + "/"))


def links_track(markup: str, *, public_id: str) -> str:
    """`markup` with every trackable `<a href>` pointing at its click redirect."""
    # Everything that does not depend on the link is resolved once per email. The token after the
    # prefix is base64url, "." and base64url: nothing in it needs HTML escaping.
    own = settings.PUBLIC_URL.rstrip("/")
    value_prefix = f"{public_id}."
    href_prefix = html.escape(f"{settings.PUBLIC_URL}{CLICK_PATH}{value_prefix}")
    mac = _click_mac(settings.SECRET_KEY)

    def rewrite(match: re.Match[str]) -> str:
        raw = match[match.lastindex or 0]  # the one quoting alternative that matched
        target = (html.unescape(raw) if "&" in raw else raw).strip()
        if not _is_trackable(target, own=own):
            return match[0]
        encoded = _b64(target)
        return f'{match[1]}"{href_prefix}{encoded}.{_signature(mac, value_prefix + encoded)}"'

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


# ---------------------------------------------------------------------------------------------
# Unsubscribe links


UNSUBSCRIBE_PATH: Final = "/u/"
_UNSUBSCRIBE_SALT: Final = "campaigns.unsubscribe"  # kept: links already sent stay valid


def unsubscribe_signer() -> signing.Signer:
    return signing.Signer(salt=_UNSUBSCRIBE_SALT, sep=".")


def unsubscribe_url(public_id: str, *, signer: signing.Signer | None = None) -> str:
    """`{PUBLIC_URL}/u/<public id>.<signature>`: the message's own unsubscribe link.

    The token is the message's public id signed with django.core.signing (SECRET_KEY, salted), so
    nobody can forge the link of another recipient; the page that reads it (tracking.views) calls
    `unsubscribe_token_read()` and finds account, contact and channel through the message.
    """
    return f"{settings.PUBLIC_URL}{UNSUBSCRIBE_PATH}{(signer or unsubscribe_signer()).sign(public_id)}"


def unsubscribe_token_read(token: str) -> str | None:
    """The message public id inside a valid unsubscribe token, else None."""
    try:
        return unsubscribe_signer().unsign(token)
    except signing.BadSignature:
        return None
