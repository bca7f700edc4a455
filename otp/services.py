"""One-time codes: generation (`/otp/generate`, and sends whose text has {OTP_CODE}) and checks
(`/otp/check`). The API, the sending engine and the admin all call these functions.

Rules:
- Codes come from `secrets`: digits, or upper-case letters and digits when `alpha`. Only an
  HMAC-SHA256 of the code (keyed by settings.OTP_HMAC_KEY and bound to the account, recipient and
  appId) is stored; checks compare hashes with `hmac.compare_digest`.
- An account's recipient+appId has at most one pending code (a partial unique index). A new code
  replaces the pending one, unless `rejectIfPendingCode` and that code can still be checked.
- A check counts one attempt under a row lock, so concurrent checks of one code are serialised
  and only one can answer `Valid`; a valid code is used up (single-use).
- Generation is rate-limited per recipient of an account and per account (settings.OTP_MAX_*),
  with counters in the Django cache, and answers 429 beyond the limits.

Decisions where the spec is silent:
- `/otp/generate` only creates and returns the code: its parameters have no message, sender or
  channel, and its response carries the code for the caller to deliver. Sending it is what
  `/sms` and `/mailing` with {OTP_CODE} and otpConfig do (`otp_issue_for_send`).
- Check order: a code whose attempts are used up answers `Maximum attempts reached` without
  counting; otherwise the attempt is counted, then a code older than maxSecondsValidity answers
  `Expired` (the spec's sample shows attempts 1 on an expired code), then the code is compared.
  A code is valid up to and including maxSecondsValidity seconds after generation.
- `rejectIfPendingCode` with a checkable pending code answers 422 "The recipient already has a
  pending code." An expired or attempts-exhausted code is not pending and is replaced.
- The check response's `otp.data.code` is the code the caller sent (the real one is not kept).
- A check for a recipient+appId with no pending code (never generated, already used, or
  replaced) answers exactly like a wrong code: `Invalid code` with an `otp` built like a
  default code (3 attempts, 60 seconds) whose attempts and dates are kept in the cache, so
  repeated checks progress as they would on a real code; the same hash and compare run.
- `code` and `recipient` may be JSON numbers as well as strings (clients often send digits).
- Rate-limit counters count each generation request that passed validation, issued or not.

Codes in sends ({OTP_CODE} in an SMS message or an email body):
- The stored message body never holds the clear code: it holds the code masked ("*" as many as
  the code's length, so the body's length and SMS parts are those of the sent text), and the
  message's options hold the code encrypted (Fernet, key derived from settings.OTP_HMAC_KEY)
  with where it goes (`OTP_OPTION`). The dispatcher puts the code back only in what it hands the
  provider (`otp_outbound`) and drops the encrypted code once the message has left the outbox
  (`otp_seals_discard`), so neither GET /sms/<id>, the UI, certificates nor a database dump show it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.models import Account
from config.parsing import parse_boolean, parse_int
from contacts.normalize import InvalidRecipient, normalise_email, normalise_phone
from otp.models import OtpCode, OtpSource, OtpStatus

logger = logging.getLogger(__name__)

LENGTH_RANGE: Final = (3, 10)
MAX_ATTEMPTS_RANGE: Final = (1, 10)
MAX_SECONDS_VALIDITY_RANGE: Final = (30, 600)
APP_ID_MAX_LENGTH: Final = 255
CODE_MAX_LENGTH: Final = 255
DIGITS: Final = string.digits
ALPHANUMERICS: Final = string.ascii_uppercase + string.digits

REASON_VALID: Final = "Valid"
REASON_INVALID_CODE: Final = "Invalid code"
REASON_MAX_ATTEMPTS: Final = "Maximum attempts reached"
REASON_EXPIRED: Final = "Expired"

INVALID_RECIPIENT: Final = "The recipient field must be a valid phone or email."
PENDING_CODE_EXISTS: Final = "The recipient already has a pending code."

# How long a decoy (a check without a pending code) remembers its attempts.
DECOY_TTL_SECONDS: Final = 3600
_GENERATE_RETRIES: Final = 3


class OtpError(Exception):
    """A refused request: `code` is the API error code (422, or 429 for rate limits)."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None):
        self.code = code
        self.description = description
        self.retry_after = retry_after
        super().__init__(description)


class OtpRateLimited(OtpError):
    def __init__(self, description: str, *, retry_after: int):
        super().__init__(429, description, retry_after=retry_after)


class OtpPendingCode(OtpError):
    def __init__(self) -> None:
        super().__init__(422, PENDING_CODE_EXISTS)


def _invalid(description: str) -> OtpError:
    return OtpError(422, description)


# ---------------------------------------------------------------------------------------------
# Parameters (shared by /otp/generate and otpConfig of /sms and /mailing)


@dataclass(frozen=True)
class OtpConfig:
    alpha: bool = False
    length: int = 4
    max_attempts: int = 3
    max_seconds_validity: int = 60
    app_id: str = ""
    reject_if_pending_code: bool = False


def _boolean(data: Mapping[str, Any], key: str, label: str, default: bool) -> bool:
    value = data.get(key)
    if value is None:
        return default
    if (parsed := parse_boolean(value)) is None:
        raise _invalid(f"The {label} field must be true or false.")
    return parsed


def _integer_between(data: Mapping[str, Any], key: str, label: str, default: int, bounds: tuple[int, int]) -> int:
    value = data.get(key)
    if value is None:
        return default
    parsed = parse_int(value)
    if parsed is None:
        raise _invalid(f"The {label} must be an integer.")
    low, high = bounds
    if not low <= parsed <= high:
        raise _invalid(f"The {label} must be between {low} and {high}.")
    return parsed


def _app_id(value: Any, label: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _invalid(f"The {label} must be a string.")
    if len(value) > APP_ID_MAX_LENGTH:
        raise _invalid(f"The {label} may not be greater than {APP_ID_MAX_LENGTH} characters.")
    if "\x00" in value:  # PostgreSQL cannot store it: refused rather than a database error
        raise _invalid(f"The {label} may not contain a NUL character.")
    return value


def otp_config_clean(raw: Any, *, prefix: str = "") -> OtpConfig:
    """The spec's OTP parameters, with their defaults and ranges, from a JSON object.

    `prefix` names the object in messages: "otpConfig." for sends ("The otpConfig.length must be
    between 3 and 10."), "" for the /otp/generate body.
    """
    if raw is None:
        return OtpConfig()
    if not isinstance(raw, Mapping):
        raise _invalid(f"The {prefix.rstrip('.') or 'body'} must be an object.")
    return OtpConfig(
        alpha=_boolean(raw, "alpha", f"{prefix}alpha", False),
        length=_integer_between(raw, "length", f"{prefix}length", 4, LENGTH_RANGE),
        max_attempts=_integer_between(raw, "maxAttempts", f"{prefix}maxAttempts", 3, MAX_ATTEMPTS_RANGE),
        max_seconds_validity=_integer_between(
            raw, "maxSecondsValidity", f"{prefix}maxSecondsValidity", 60, MAX_SECONDS_VALIDITY_RANGE
        ),
        app_id=_app_id(raw.get("appId"), f"{prefix}appId"),
        reject_if_pending_code=_boolean(raw, "rejectIfPendingCode", f"{prefix}rejectIfPendingCode", False),
    )


def otp_recipient_normalise(raw: Any) -> str:
    """A phone in international digits (`34666555444`) or a lower-cased email."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise _invalid("The recipient field is required.")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise _invalid("The recipient must be a string.")
    text = str(raw).strip()
    try:
        return normalise_email(text) if "@" in text else normalise_phone(text, None)
    except InvalidRecipient as exc:
        raise _invalid(INVALID_RECIPIENT) from exc


def _submitted_code(raw: Any) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise _invalid("The code field is required.")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise _invalid("The code must be a string.")
    code = str(raw).strip()
    if len(code) > CODE_MAX_LENGTH:
        raise _invalid(f"The code may not be greater than {CODE_MAX_LENGTH} characters.")
    return code


# ---------------------------------------------------------------------------------------------
# Codes and hashes


def code_generate(*, alpha: bool, length: int) -> str:
    alphabet = ALPHANUMERICS if alpha else DIGITS
    return "".join(secrets.choice(alphabet) for _ in range(length))


def code_hash(*, account_id: int, recipient: str, app_id: str, code: str) -> str:
    # Binding the hash to its row's identity makes a hash useless anywhere else, and equal
    # codes of different recipients have different hashes.
    message = "\x1f".join((str(account_id), recipient, app_id, code))
    return salted_hmac("otp.code_hash", message, secret=settings.OTP_HMAC_KEY, algorithm="sha256").hexdigest()


def _code_matches(otp: OtpCode, code: str, *, case_sensitive: bool) -> bool:
    # Generated codes are upper-case, so a case-insensitive check upper-cases the attempt.
    candidate = code if case_sensitive else code.upper()
    expected = code_hash(account_id=otp.account_id, recipient=otp.recipient, app_id=otp.app_id, code=candidate)
    return hmac.compare_digest(expected, otp.code_hash)


# ---------------------------------------------------------------------------------------------
# Rate limits


def _cache_increment(key: str, timeout: int) -> int:
    """Atomically adds one to a counter that starts at 1 and lives `timeout` seconds."""
    if cache.add(key, 1, timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout)
        return 1


def _window_count(key: str, *, window: int, now: datetime) -> tuple[int, int]:
    """Counts one hit in the fixed window containing `now`: (hits so far, seconds left)."""
    start = int(now.timestamp()) // window * window
    hits = _cache_increment(f"{key}:{start}", window + 1)
    return hits, max(1, start + window - int(now.timestamp()))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _generation_rate_check(*, account: Account, recipient: str, now: datetime) -> None:
    limit, window = settings.OTP_MAX_CODES_PER_ACCOUNT, settings.OTP_ACCOUNT_WINDOW_SECONDS
    hits, left = _window_count(f"otp:gen:account:{account.pk}", window=window, now=now)
    if hits > limit:
        raise OtpRateLimited(
            f"Too many requests: the account may generate {limit} codes every {window} seconds. "
            f"Try again in {left} seconds.",
            retry_after=left,
        )
    limit, window = settings.OTP_MAX_CODES_PER_RECIPIENT, settings.OTP_RECIPIENT_WINDOW_SECONDS
    hits, left = _window_count(f"otp:gen:recipient:{account.pk}:{_digest(recipient)}", window=window, now=now)
    if hits > limit:
        raise OtpRateLimited(
            f"Too many requests: a recipient may receive {limit} codes every {window} seconds. "
            f"Try again in {left} seconds.",
            retry_after=left,
        )


# ---------------------------------------------------------------------------------------------
# Generate


@dataclass(frozen=True)
class IssuedOtp:
    otp: OtpCode
    code: str  # the clear code, for the response or the message; never stored


def otp_generate(
    *,
    account: Account,
    recipient: Any,
    config: OtpConfig | Mapping[str, Any] | None,
    source: str = OtpSource.API,
    now: datetime | None = None,
) -> IssuedOtp:
    """A new code for `recipient`, replacing its pending one (same account and appId).

    `config` may be the raw JSON object (the /otp/generate body): it is cleaned after the
    recipient, so a bad recipient is the first error reported, as the spec's sample shows.
    """
    now = now or timezone.now()
    recipient = otp_recipient_normalise(recipient)
    if not isinstance(config, OtpConfig):
        config = otp_config_clean(config)
    _generation_rate_check(account=account, recipient=recipient, now=now)
    code = code_generate(alpha=config.alpha, length=config.length)
    for attempt in range(_GENERATE_RETRIES):
        try:
            with transaction.atomic():
                return IssuedOtp(otp=_otp_replace(account, recipient, config, code, source, now), code=code)
        except IntegrityError:
            # A concurrent generation created the pending code first; the next round sees it.
            if attempt == _GENERATE_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _recipient_lock(account: Account, recipient: str, app_id: str) -> None:
    """Serialises generations for one recipient+appId until the transaction ends.

    Row locks cannot do it: there may be no pending row to lock yet, and a waiter on a row that
    gets replaced finds nothing pending and collides with the new row. Other databases
    serialise write transactions anyway; the IntegrityError retry covers what is left.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.sha256(f"otp\x1f{account.pk}\x1f{recipient}\x1f{app_id}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest[:8], "big", signed=True)])


def _otp_replace(account: Account, recipient: str, config: OtpConfig, code: str, source: str, now: datetime) -> OtpCode:
    _recipient_lock(account, recipient, config.app_id)
    pending = (
        OtpCode.objects.select_for_update()
        .filter(account=account, recipient=recipient, app_id=config.app_id, status=OtpStatus.PENDING)
        .first()
    )
    if pending is not None:
        if config.reject_if_pending_code and pending.is_live(now):
            raise OtpPendingCode()
        pending.status = OtpStatus.REPLACED
        pending.updated_at = now
        pending.save(update_fields=["status", "updated_at"])
    return OtpCode.objects.create(
        account=account,
        recipient=recipient,
        app_id=config.app_id,
        code_hash=code_hash(account_id=account.pk, recipient=recipient, app_id=config.app_id, code=code),
        alpha=config.alpha,
        length=config.length,
        max_attempts=config.max_attempts,
        max_seconds_validity=config.max_seconds_validity,
        source=source,
        created_at=now,
        updated_at=now,
        expires_at=now + timedelta(seconds=config.max_seconds_validity),
    )


def otp_issue_for_send(*, account: Account, recipient: str, config: OtpConfig, now: datetime | None = None) -> str:
    """The clear code to render as {OTP_CODE} in one recipient's SMS or email.

    Call it inside the send's transaction, so a refused send leaves no code behind. Raises
    OtpRateLimited (429) or OtpPendingCode (422) for this recipient; OtpError otherwise.
    """
    return otp_generate(account=account, recipient=recipient, config=config, source=OtpSource.SENDING, now=now).code


# ---------------------------------------------------------------------------------------------
# Check


@dataclass(frozen=True)
class OtpCheckResult:
    valid: bool
    reason: str
    otp: OtpCode  # unsaved for a decoy
    code: str  # as the caller sent it


def _case_sensitive(raw: Any) -> bool:
    return _boolean({"caseSensitive": raw}, "caseSensitive", "caseSensitive", False)


def otp_check(
    *,
    account: Account,
    recipient: Any,
    code: Any,
    app_id: Any = None,
    case_sensitive: Any = None,
    now: datetime | None = None,
) -> OtpCheckResult:
    """Checks `code` against the pending code of recipient+appId, counting one attempt."""
    now = now or timezone.now()
    recipient = otp_recipient_normalise(recipient)
    code = _submitted_code(code)
    app_id = _app_id(app_id, "appId")
    case_sensitive = _case_sensitive(case_sensitive)
    with transaction.atomic():
        # FOR UPDATE serialises concurrent checks of one code; a waiting check re-reads the row
        # after the first commits and no longer finds it pending once it has been used.
        otp = (
            OtpCode.objects.select_for_update()
            .filter(account=account, recipient=recipient, app_id=app_id, status=OtpStatus.PENDING)
            .first()
        )
        if otp is None:
            return _decoy_check(account=account, recipient=recipient, app_id=app_id, code=code, now=now)
        reason = _verdict(otp, code, case_sensitive=case_sensitive, now=now)
        if reason != REASON_MAX_ATTEMPTS:
            if reason == REASON_VALID:
                otp.status = OtpStatus.VERIFIED
                otp.verified_at = now
            otp.save(update_fields=["attempts", "updated_at", "status", "verified_at"])
    return OtpCheckResult(valid=reason == REASON_VALID, reason=reason, otp=otp, code=code)


def _verdict(otp: OtpCode, code: str, *, case_sensitive: bool, now: datetime) -> str:
    """The spec's reason for this attempt; counts it on `otp` (unsaved) unless none are left."""
    if otp.attempts_exhausted():
        return REASON_MAX_ATTEMPTS
    otp.attempts += 1
    otp.updated_at = now
    # Compared before the clock check so every counted attempt costs the same work.
    matches = _code_matches(otp, code, case_sensitive=case_sensitive)
    if otp.is_expired(now):
        return REASON_EXPIRED
    return REASON_VALID if matches else REASON_INVALID_CODE


def _decoy_check(*, account: Account, recipient: str, app_id: str, code: str, now: datetime) -> OtpCheckResult:
    """Answers a check without a pending code like a wrong code on a default one, so the answer
    never tells whether a code exists. The decoy's dates and attempts live in the cache (its
    attempts counted atomically, like a real code's); it is never valid: its hash is random."""
    key = f"otp:decoy:{account.pk}:{_digest(recipient + chr(31) + app_id)}"
    cache.add(f"{key}:created", now, DECOY_TTL_SECONDS)
    created_at = cache.get(f"{key}:created") or now
    defaults = OtpConfig()
    hits = _cache_increment(f"{key}:attempts", DECOY_TTL_SECONDS)
    decoy = OtpCode(
        account=account,
        recipient=recipient,
        app_id=app_id,
        code_hash=secrets.token_hex(32),
        alpha=defaults.alpha,
        length=defaults.length,
        # _verdict counts this check, so it starts from the attempts before it.
        attempts=min(hits - 1, defaults.max_attempts),
        max_attempts=defaults.max_attempts,
        max_seconds_validity=defaults.max_seconds_validity,
        created_at=created_at,
        updated_at=cache.get(f"{key}:updated") or created_at,
        expires_at=created_at + timedelta(seconds=defaults.max_seconds_validity),
    )
    reason = _verdict(decoy, code, case_sensitive=True, now=now)
    if reason == REASON_VALID:  # a 2**-256 chance, but the decoy must never pass
        reason = REASON_INVALID_CODE
    if reason != REASON_MAX_ATTEMPTS:
        cache.set(f"{key}:updated", now, DECOY_TTL_SECONDS)
    return OtpCheckResult(valid=False, reason=reason, otp=decoy, code=code)


# ---------------------------------------------------------------------------------------------
# Housekeeping


def otp_codes_purge(*, now: datetime | None = None) -> int:
    """Deletes codes that expired more than settings.OTP_RETENTION_SECONDS ago (idempotent)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.OTP_RETENTION_SECONDS)
    deleted, _ = OtpCode.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


# ---------------------------------------------------------------------------------------------
# Codes inside sent messages

# Rendered in place of {OTP_CODE}, then found and masked. Private-use characters that no SMS
# translation table, CSS inliner or text conversion touches; the braces make click tracking
# leave a link holding the code alone (it skips URLs with unrendered placeholders), so the code
# is still there to put back.
OTP_SENTINEL: Final = "\ue000{OTP_CODE}\ue001"
OTP_MASK_CHARACTER: Final = "*"
# Message.options key: {"sealed": Fernet token, "length": n, "<text>": [offsets]} where <text> is
# "body" or another text option of the message ("text_body", the plain-text alternative).
OTP_OPTION: Final = "otp"


def _fernet() -> Fernet:
    key = salted_hmac("otp.seal", "fernet-key", secret=settings.OTP_HMAC_KEY, algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(key))


def otp_text_mask(text: str, *, length: int) -> tuple[str, list[int]]:
    """`text` rendered with OTP_SENTINEL for {OTP_CODE} -> (the text with each occurrence masked
    by `length` OTP_MASK_CHARACTERs, the offsets of the masks in it)."""
    pieces = text.split(OTP_SENTINEL)
    offsets, position = [], 0
    for piece in pieces[:-1]:
        position += len(piece)
        offsets.append(position)
        position += length
    return (OTP_MASK_CHARACTER * length).join(pieces), offsets


def otp_option_seal(*, code: str, offsets: Mapping[str, list[int]]) -> dict[str, Any]:
    """Message.options[OTP_OPTION]: the code encrypted, and where its masks are in each text."""
    return {"sealed": _fernet().encrypt(code.encode()).decode(), "length": len(code), **offsets}


def _unmask(text: str, code: str, offsets: list[int]) -> str:
    for offset in offsets:
        text = text[:offset] + code + text[offset + len(code) :]
    return text


def otp_outbound(body: str, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(body, options) as a provider must get them: the clear code in place of its masks, and no
    OTP_OPTION. A message without one is returned unchanged."""
    option = options.get(OTP_OPTION)
    if not option:
        return body, options
    rest = {key: value for key, value in options.items() if key != OTP_OPTION}
    try:
        code = _fernet().decrypt(option["sealed"].encode()).decode()
    except (InvalidToken, KeyError, AttributeError):
        # OTP_HMAC_KEY changed since the message was accepted: the code cannot be recovered, and
        # the code itself can no longer be checked either (its hash used the old key).
        logger.error("A message's one-time code cannot be decrypted; it is sent masked")
        return body, rest
    for name, offsets in option.items():
        if name == "body":
            body = _unmask(body, code, offsets)
        elif isinstance(rest.get(name), str) and isinstance(offsets, list):
            rest[name] = _unmask(rest[name], code, offsets)
    return body, rest


def otp_seals_discard(*, message_ids: Sequence[int]) -> int:
    """Drop the encrypted code of messages that have left the outbox (sent, rejected, expired,
    unknown): it is never needed again. Returns how many messages held one."""
    from messaging.models import Message  # messaging.dispatch imports this module

    if not message_ids:
        return 0
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Message._meta.db_table} SET options = options - %s "  # noqa: S608
                "WHERE id = ANY(%s) AND options ? %s",
                [OTP_OPTION, list(message_ids), OTP_OPTION],
            )
            return cursor.rowcount
    count = 0
    held = Message.objects.filter(pk__in=list(message_ids), options__has_key=OTP_OPTION)
    for message in held.only("pk", "options"):
        message.options.pop(OTP_OPTION, None)
        message.save(update_fields=["options"])
        count += 1
    return count
