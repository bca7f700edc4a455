"""Request rules every channel shares (the pipeline's "validate" step): dates, notification URLs,
campaign name and tags, `sub`, availableTimes, templates and their placeholders, one-time codes.

Each refusal is a `SendError` naming its domain field (campaigns.errors), raised before anything is
written. The channel modules (campaigns.sending.channels.*) add their own rules on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from accounts.models import Account
from campaigns.errors import Reason, SendError
from campaigns.sending.request import Target
from config import outbound
from config.api import ERRORS
from content.email import form_ids_of
from messaging.models import MessageStatus
from messaging.rendering import CompiledTemplate, UnknownFilter, compile_template
from messaging.scheduling import AvailableTimesError, available_times_validate, message_initial_state
from otp.services import OTP_OPTION, OtpConfig, OtpError, otp_config_clean, otp_issue_for_send, otp_option_seal

MAX_TAGS: Final = 50
MAX_URL_LENGTH: Final = 2000
SUPPORTED_RESERVED: Final = frozenset({"UNSUB_URL"})
OTP_RESERVED: Final = frozenset({"OTP_CODE"})  # POST /sms message and POST /mailing body only


def invalid(description: str, *, field: str | None) -> SendError:
    """A malformed field (422): `field` is its domain name (see campaigns.errors)."""
    return SendError(422, description, field=field)


def expiry_check(*, schedule_at: datetime | None, expires_at: datetime | None, now: datetime) -> None:
    if expires_at is None:
        return
    if expires_at <= now:
        raise SendError(119, "Invalid expiration date: it has already passed.", field="expires_at")
    if schedule_at is not None and expires_at <= schedule_at:
        raise SendError(119, "Invalid expiration date: it must be after the scheduleDate.", field="expires_at")


_url_validator = URLValidator(schemes=["http", "https"])


def _url_valid(value: Any) -> bool:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_URL_LENGTH:
        return False
    try:
        _url_validator(value.strip())
    except ValidationError:
        return False
    if reason := outbound.url_refusal(url=value.strip()):  # the outbound-URL guard's accept-time check
        raise SendError(109, f"Notification URL incorrect: {reason}.", field="notification_url")
    return True


def notification_urls_clean(raw: Any, *, recipients: int) -> list[str]:
    """One notification URL per recipient ("" for none): a string applies to all, an array must
    have as many items as recipients (109 otherwise, or for a URL that is not http(s))."""
    if raw is None or raw == "":
        return [""] * recipients
    if isinstance(raw, list):
        if len(raw) != recipients:
            raise SendError(
                109,
                "Notification URL incorrect: notificationUrl must have one URL per recipient.",
                field="notification_url",
            )
        if not all(_url_valid(url) for url in raw):
            raise SendError(109, field="notification_url")
        return [url.strip() for url in raw]
    if not _url_valid(raw):
        raise SendError(109, field="notification_url")
    return [raw.strip()] * recipients


def campaign_name_clean(name: Any, tags: Any) -> tuple[str | None, list[str]]:
    """(campaignName, tags): an empty name, or tags without a name, is 126."""
    if tags is not None and not isinstance(tags, list):
        raise invalid("The tags must be an array.", field="tags")
    clean_tags: list[str] = []
    for index, tag in enumerate(tags or []):
        if isinstance(tag, bool) or not isinstance(tag, str | int) or not str(tag).strip():
            raise invalid(f"The tags.{index} must be a non-empty string.", field="tags")
        if len(str(tag).strip()) > 100:
            raise invalid(f"The tags.{index} may not be greater than 100 characters.", field="tags")
        if str(tag).strip() not in clean_tags:
            clean_tags.append(str(tag).strip())
    if len(clean_tags) > MAX_TAGS:
        raise invalid(f"The tags may not have more than {MAX_TAGS} items.", field="tags")
    if name is None:
        if clean_tags:
            raise SendError(
                126, "Empty campaign name: campaignName is required when tags are given.", field="campaign_name"
            )
        return None, []
    if isinstance(name, bool) or not isinstance(name, str | int) or not str(name).strip():
        raise SendError(126, field="campaign_name")
    text = str(name).strip()
    if len(text) > 255:
        raise invalid("The campaignName may not be greater than 255 characters.", field="campaign_name")
    return text, clean_tags


def sub_clean(raw: Any, *, recipients: int) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or len(raw) != recipients:
        raise invalid("The sub must be an array with one object per recipient.", field="sub")
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise invalid(f"The sub.{index} must be an object.", field="sub")
        for key, value in item.items():
            if value is not None and not isinstance(value, str | int | float | bool):
                raise invalid(f"The sub.{index}.{key} must be a string or a number.", field="sub")
    return raw


def available_times_clean(raw: Any) -> list[dict[str, Any]]:
    """`availableTimes` checked with the dispatcher's own parser (messaging.scheduling), so what is
    accepted here is exactly what the release schedule understands; the spec's 183-196 otherwise.
    Stored as given on the sending."""
    try:
        available_times_validate(raw)
    except AvailableTimesError as exc:
        description = f"{ERRORS[exc.code][1]}: {exc}" if exc.code != 422 else str(exc)
        raise SendError(exc.code, description, field="available_times", reason=Reason.BAD_SEND_TIME) from exc
    return list(raw or [])


def template_compile(text: str, *, field: str, supported: frozenset[str] = SUPPORTED_RESERVED) -> CompiledTemplate:
    try:
        template = compile_template(text)
    except UnknownFilter as exc:
        raise invalid(f"The {field} has an unknown filter: {exc}", field=field) from exc
    unsupported = sorted(name for name in template.reserved if name not in supported and not name.startswith("FORM_"))
    if "OTP_CODE" in unsupported:
        raise invalid(
            f"The {field} cannot use {{OTP_CODE}} here: one-time codes go in the message of POST /sms "
            "or the body of POST /mailing.",
            field=field,
        )
    if unsupported:
        raise invalid(f"The {field} uses {{{unsupported[0]}}}, which this platform does not support yet.", field=field)
    return template


def form_links_check(*, account: Account, templates: Sequence[CompiledTemplate]) -> tuple[int, ...]:
    """The form ids the templates' {FORM_<id>} name (422 when one is not a form of the account)."""
    from content.selectors import form_ids_unknown

    form_ids = tuple(sorted({form_id for template in templates for form_id in form_ids_of(template)}))
    unknown = form_ids_unknown(account=account, form_ids=form_ids)
    if unknown:
        raise invalid(f"The message uses {{FORM_{unknown[0]}}}, but form {unknown[0]} does not exist.", field="message")
    return form_ids


def message_status(
    *, schedule_at: datetime | None, expires_at: datetime | None = None, windows: list | None, now: datetime
) -> tuple[str, datetime]:
    """(initial status, due_at) of a message: queued now, or scheduled (scheduleDate, availableTimes)."""
    return message_initial_state(now=now, scheduled_at=schedule_at, expires_at=expires_at, available_times=windows)


# ---------------------------------------------------------------------------------------------
# One-time codes ({OTP_CODE}, otp.services)


def otp_config_clean_for(*, template: CompiledTemplate, raw: Any, status: str) -> OtpConfig | None:
    """The otpConfig of a text with {OTP_CODE} (None without one: otpConfig is then ignored)."""
    if "OTP_CODE" not in template.reserved:
        return None
    if status == MessageStatus.SCHEDULED:
        raise invalid(
            "A message with {OTP_CODE} is sent at once: a code expires within minutes, so it cannot wait for a "
            "scheduleDate or availableTimes.",
            field="schedule_at",
        )
    try:
        return otp_config_clean(raw, prefix="otpConfig.")
    except OtpError as exc:
        raise invalid(exc.description, field="otp_config") from exc


def otp_codes_issue(*, account: Account, targets: list[Target], config: OtpConfig) -> None:
    """One code per target still accepted, sealed into its `otp`. Inside the send's transaction,
    so a send refused later leaves no code behind."""
    for target in targets:
        if target.error is not None or target.otp is None or target.skip is not None:
            continue
        try:
            code = otp_issue_for_send(account=account, recipient=target.key, config=config)
        except OtpError as exc:
            target.error = SendError(exc.code, exc.description, field="recipients", retry_after=exc.retry_after)
            continue
        target.otp = otp_option_seal(code=code, offsets=target.otp)


def with_otp(options: dict[str, Any], target: Target) -> dict[str, Any]:
    return {**options, OTP_OPTION: target.otp} if target.otp else options
