"""Short links, tracking events, unsubscribes and image uploads (landing SMS: campaigns.sending.channels.landing).

Decisions where the spec is silent:
- Short codes are 8 characters: a digit, then 7 of [0-9A-Za-z] (about 3.5e13 codes, drawn with
  `secrets`). The leading digit keeps every code apart from the site's own paths (/contacts,
  /settings...), so codes can live at the root of PUBLIC_URL (or of SHORT_URL_BASE).
- Shortening the same URL twice in an account answers the same short link; clicks are counted on
  the link (the staff page lists them).
- Literal http(s) links written in an SMS message (`/sms`, `/landingsms`, group sends) are
  replaced with their short link when that makes the text shorter, once per send, so every SMS
  of the sending carries the same short link and pays for fewer characters. Links built from
  variables (`https://x.test/{id}`) are left alone; use `{url|shorten}` for those. The filter has
  no account, so its links are platform links (not listed on an account's page).
- An unsubscribe is recorded once per message (`unsubscribed`, or `unsubscribed_landing` for a
  landing message); a repeated one still makes sure the recipient is on the blacklist.
- Images: JPEG or PNG only, checked by decoding them with Pillow (the declared extension must
  match the real format), at most 5 MB decoded and 20 megapixels each, at most 20 per request.
  They are stored as sent, named by their SHA-256 in a folder per account.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import re
import secrets
import string
import warnings
from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Account
from campaigns.models import Channel
from campaigns.sending.channels import BLACKLIST_TYPE_OF_CHANNEL
from messaging.events import events_record
from messaging.models import EventType, Message
from messaging.providers.base import DeliveryEvent
from tracking.links import unsubscribe_token_read
from tracking.models import ShortLink, ShortLinkKind

PROVIDER: Final = "tracking"  # DeliveryEvent.provider of every event recorded here
CODE_LENGTH: Final = 8
_CODE_TAIL: Final = string.digits + string.ascii_letters
MAX_URL_LENGTH: Final = 2000
MAX_SHORTEN_URLS: Final = 1000
MAX_IMAGES: Final = 20
MAX_IMAGE_BYTES: Final = 5 * 1024 * 1024
MAX_IMAGE_PIXELS: Final = 20_000_000
IMAGE_FORMATS: Final = {"jpg": "JPEG", "png": "PNG"}
UPLOADS_DIR: Final = "uploads"

_url_validator = URLValidator(schemes=["http", "https"])
# A literal link in an SMS: up to whitespace or a placeholder brace; trailing punctuation is prose.
_SMS_LINK = re.compile(r"https?://[^\s{}<>\"']+")
_TRAILING_PUNCTUATION = ".,;:!?)]'\""
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


# ---------------------------------------------------------------------------------------------
# Short links


def short_base() -> str:
    return (getattr(settings, "SHORT_URL_BASE", "") or settings.PUBLIC_URL).rstrip("/")


def short_url(code: str) -> str:
    return f"{short_base()}/{code}"


def code_generate() -> str:
    return secrets.choice(string.digits) + "".join(secrets.choice(_CODE_TAIL) for _ in range(CODE_LENGTH - 1))


def url_valid(value: Any) -> bool:
    """An absolute http(s) URL of at most 2,000 characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_URL_LENGTH or value != value.strip():
        return False
    if _CONTROL_CHARACTER.search(value):  # URLValidator lets NUL through; PostgreSQL text cannot hold it
        return False
    try:
        _url_validator(value)
    except ValidationError:
        return False
    return True


def _url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def short_link_for_url(*, account: Account | None, url: str) -> ShortLink:
    """The account's short link to `url`, created on first use. Safe against concurrent callers
    (the unique (account, url) index decides) and against a code collision (a new code is drawn)."""
    if not url_valid(url):
        raise ValidationError("The URL must be an absolute http or https URL.")
    digest = _url_hash(url)
    existing = ShortLink.objects.filter(account=account, kind=ShortLinkKind.URL, url_hash=digest)
    for _attempt in range(5):
        link = existing.first()
        if link is not None:
            return link
        try:
            with transaction.atomic():
                return ShortLink.objects.create(
                    account=account, kind=ShortLinkKind.URL, long_url=url, url_hash=digest, code=code_generate()
                )
        except IntegrityError:
            continue  # the same URL created meanwhile (found above next time) or a code collision
    raise RuntimeError("Could not allocate a short code")


@dataclass(frozen=True)
class ShortenResult:
    long_url: Any
    short_url: str | None

    @property
    def error(self) -> bool:
        return self.short_url is None


def urls_shorten(*, account: Account, urls: list[Any]) -> list[ShortenResult]:
    """One result per item, in order: its short URL, or an error for anything but an http(s) URL."""
    results = []
    for url in urls:
        if url_valid(url):
            results.append(ShortenResult(url, short_url(short_link_for_url(account=account, url=url).code)))
        else:
            results.append(ShortenResult(url, None))
    return results


# {long URL: short URL} of committed platform links, so a group send that shortens the same URL
# for every recipient reads the database once per process, not once per recipient.
_filter_cache: dict[str, str] = {}
_FILTER_CACHE_SIZE: Final = 10_000


def filter_shorten(url: str) -> str:
    """The `{url|shorten}` filter (registered in TrackingConfig.ready): a platform short link."""
    if not url_valid(url):
        return url
    cached = _filter_cache.get(url)
    if cached is not None:
        return cached
    short = short_url(short_link_for_url(account=None, url=url).code)

    def remember() -> None:
        if len(_filter_cache) >= _FILTER_CACHE_SIZE:
            _filter_cache.clear()
        _filter_cache[url] = short

    # Only once committed: a link created in a transaction that rolls back must not be handed out.
    transaction.on_commit(remember)
    return short


def sms_links_shorten(*, account: Account, text: str) -> str:
    """`text` with each literal http(s) link replaced by its short link when that is shorter."""
    base = short_base()
    shortened: dict[str, str] = {}

    def replace(match: re.Match[str]) -> str:
        end = match.end()
        if end < len(text) and text[end] == "{":
            return match.group(0)  # personalised link: the rest comes from a variable
        url = match.group(0).rstrip(_TRAILING_PUNCTUATION)
        tail = match.group(0)[len(url) :]
        if url.startswith(base + "/") or not url_valid(url):
            return match.group(0)
        if url not in shortened:
            candidate = short_url("0" * CODE_LENGTH)
            shortened[url] = (
                short_url(short_link_for_url(account=account, url=url).code) if len(candidate) < len(url) else url
            )
        return shortened[url] + tail

    return _SMS_LINK.sub(replace, text)


def short_link_click(*, link: ShortLink) -> None:
    now = timezone.now()
    ShortLink.objects.filter(pk=link.pk).update(clicks=F("clicks") + 1, last_clicked_at=now)


# ---------------------------------------------------------------------------------------------
# Tracking events (open pixel, click redirect, landing page views)


def _event(
    *, type: str, public_id: str, user_agent: str, url: str = "", extra: dict | None = None, key: str | None = None
) -> DeliveryEvent:
    return DeliveryEvent(
        type=type,
        occurred_at=timezone.now(),
        provider=PROVIDER,
        provider_event_id=key,
        message_public_id=public_id,
        url=url,
        user_agent=user_agent[:500],
        extra=extra or {},
    )


def message_opened(*, public_id: str, user_agent: str) -> None:
    """An `opened` event (each open counts; `opened_unique` only the message's first)."""
    events_record(events=[_event(type=EventType.OPENED, public_id=public_id, user_agent=user_agent)])


def message_clicked(*, public_id: str, url: str, user_agent: str) -> None:
    """A `clicked` event with the spec's extra `{"url": ...}`."""
    events_record(
        events=[_event(type=EventType.CLICKED, public_id=public_id, user_agent=user_agent, url=url, extra={"url": url})]
    )


# ---------------------------------------------------------------------------------------------
# Unsubscribe


def unsubscribe_message(token: str) -> Message | None:
    """The message behind an unsubscribe token, or None for a tampered or unknown one."""
    public_id = unsubscribe_token_read(token)
    if public_id is None:
        return None
    return Message.objects.select_related("account", "sending").filter(public_id=public_id).first()


def message_unsubscribe(*, message: Message, user_agent: str) -> None:
    """Record the recipient's unsubscribe (once per message; the event puts them on the channel's
    blacklist and is notified); a repeat only makes sure they are still blacklisted."""
    event_type = EventType.UNSUBSCRIBED_LANDING if message.channel == Channel.LANDING else EventType.UNSUBSCRIBED
    with transaction.atomic():
        stored = events_record(
            events=[
                _event(
                    type=event_type,
                    public_id=message.public_id,
                    user_agent=user_agent,
                    key=f"unsubscribe:{message.public_id}",
                )
            ]
        )
        blacklist_type = BLACKLIST_TYPE_OF_CHANNEL.get(message.channel)
        if not stored and blacklist_type is not None:
            from contacts.services import blacklist_add

            blacklist_add(account=message.account, type=blacklist_type, recipient=message.recipient)
        from compliance.consent import consent_withdraw_for_message

        consent_withdraw_for_message(
            account=message.account, contact_id=message.contact_id, message_channel=message.channel,
            source="unsubscribe", note=f"Unsubscribe page of message {message.public_id}",
        )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Images


@dataclass(frozen=True)
class ImageResult:
    external_id: Any
    image_url: str | None

    @property
    def error(self) -> bool:
        return self.image_url is None


def uploads_folder(account: Account) -> str:
    """A stable folder name per account that does not reveal or enumerate account ids."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"uploads:{account.pk}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:16]


def image_decode(*, raw: Any, extension: Any) -> bytes | None:
    """The image bytes when `raw` is base64 of a real, sane image of the declared format, else None."""
    if not isinstance(raw, str) or not isinstance(extension, str) or extension not in IMAGE_FORMATS:
        return None
    compact = "".join(raw.split())
    if compact.startswith("data:") and "," in compact:
        compact = compact.split(",", 1)[1]  # a data: URL, as browsers produce them
    if len(compact) > (MAX_IMAGE_BYTES * 4) // 3 + 4:
        return None
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not data or len(data) > MAX_IMAGE_BYTES or not _image_sane(data, IMAGE_FORMATS[extension]):
        return None
    return data


def _image_sane(data: bytes, image_format: str) -> bool:
    from PIL import Image

    with warnings.catch_warnings():
        # Pillow warns from MAX_IMAGE_PIXELS and raises from twice that: treat both as refusals.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[image_format]) as image:
                # The header's size is known before any pixel is decoded: refuse bombs here.
                if image.width * image.height > MAX_IMAGE_PIXELS or image.width < 1 or image.height < 1:
                    return False
                image.verify()
            with Image.open(io.BytesIO(data), formats=[image_format]) as image:
                image.load()  # a truncated or corrupt file fails here
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
            return False
    return True


def image_store(*, account: Account, data: bytes, extension: str) -> str:
    """Store the image (named by its SHA-256, so a repeat upload is one file) and return its URL."""
    name = f"{UPLOADS_DIR}/{uploads_folder(account)}/{hashlib.sha256(data).hexdigest()}.{extension}"
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(data))
    return f"{settings.PUBLIC_URL}/{name}"


def images_generate(*, account: Account, items: list[Any]) -> list[ImageResult]:
    """One result per item, in order: its public URL, or an error for a missing externalId, an
    extension other than jpg / png, bad base64 or anything that is not a real image of that type."""
    results = []
    for item in items:
        external_id = item.get("externalId") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(external_id, str | int) or isinstance(external_id, bool):
            results.append(ImageResult(external_id, None))
            continue
        extension = item.get("extension")
        extension = extension.strip().lower() if isinstance(extension, str) else extension
        extension = "jpg" if extension == "jpeg" else extension
        data = image_decode(raw=item.get("base64"), extension=extension)
        results.append(
            ImageResult(
                external_id, None if data is None else image_store(account=account, data=data, extension=extension)
            )
        )
    return results
