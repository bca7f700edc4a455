import hashlib
import hmac
import secrets
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import connection, transaction

from accounts.models import (
    Account,
    ApiCredential,
    BalanceEntry,
    LedgerReason,
    User,
    VerifiedSender,
    validate_ip_networks,
)
from config import outbound


def api_password_hmac(password: str) -> str:
    key = settings.API_PASSWORD_HMAC_KEY.encode()
    return hmac.new(key, password.encode(), hashlib.sha256).hexdigest()


def api_password_matches(*, credential: ApiCredential, password: str) -> bool:
    return hmac.compare_digest(credential.password_hmac, api_password_hmac(password))


def api_password_generate() -> str:
    # 24 random bytes = 192 bits, URL-safe so it survives Basic auth and shell quoting.
    return secrets.token_urlsafe(24)


@transaction.atomic
def api_credential_set(*, user: User, password: str | None = None) -> str:
    """Create or rotate the user's API password; returns the clear password, shown only once."""
    clear = password or api_password_generate()
    ApiCredential.objects.update_or_create(user=user, defaults={"password_hmac": api_password_hmac(clear)})
    return clear


def api_credential_set_allowed_ips(*, user: User, allowed_ips: list[str]) -> ApiCredential:
    validate_ip_networks(allowed_ips)
    credential = ApiCredential.objects.get(user=user)
    credential.allowed_ips = [str(item).strip() for item in allowed_ips if str(item).strip()]
    credential.save(update_fields=["allowed_ips", "rotated_at"])
    return credential


def verified_sender_email_clean(email: str) -> str:
    """A sender address as stored: trimmed and lower-case, so the send-time check is an exact match."""
    value = str(email or "").strip().lower()
    try:
        validate_email(value)
    except ValidationError as exc:
        raise ValidationError(f"{email!r} is not a valid email address.") from exc
    return value


def verified_sender_add(*, account: Account, email: str) -> VerifiedSender:
    sender, _ = VerifiedSender.objects.get_or_create(account=account, email=verified_sender_email_clean(email))
    return sender


@transaction.atomic
def api_user_provision(
    *,
    username: str,
    api_password: str | None,
    login_password: str | None = None,
    account_name: str | None = None,
    balance: Decimal | None = None,
    senders: list[str] | None = None,
    email: str = "",
) -> tuple[User, str]:
    """Create or update an account, its user, API password and verified senders in one go.

    Used by the `create_api_user` command and the demo set-up, so scripted deployments get the
    same objects as the admin creates. Without `account_name` an existing user keeps its account
    (re-running a provisioning script must not move it); a new user gets one named after it.
    """
    existing = User.objects.select_related("account").filter(username=username).first()
    if account_name is None and existing is not None and existing.account is not None:
        account = existing.account
    else:
        account, _ = Account.objects.get_or_create(name=account_name or username)
    if balance is not None:
        balance_set(account_id=account.pk, balance=balance, note="Set by provisioning")
        account.refresh_from_db(fields=["balance"])
    user, created = User.objects.get_or_create(username=username, defaults={"account": account, "email": email})
    user.account = account
    if email:
        user.email = email
    if login_password:
        user.set_password(login_password)
    elif created:
        user.set_unusable_password()
    user.save()
    clear = api_credential_set(user=user, password=api_password)
    for sender in senders or []:
        verified_sender_add(account=account, email=sender)
    return user, clear


# ---------------------------------------------------------------------------------------------
# Web sign-in lockout, account settings (the staff web UI's writes)

LOGIN_FAILURE_WINDOW_DEFAULT = 900  # seconds a failure is remembered (and a lockout lasts)
LOGIN_MAX_FAILURES_PER_USER_DEFAULT = 5
LOGIN_MAX_FAILURES_PER_IP_DEFAULT = 20


def _login_limits() -> tuple[int, int, int]:
    return (
        int(getattr(settings, "LOGIN_FAILURE_WINDOW", LOGIN_FAILURE_WINDOW_DEFAULT)),
        int(getattr(settings, "LOGIN_MAX_FAILURES_PER_USER", LOGIN_MAX_FAILURES_PER_USER_DEFAULT)),
        int(getattr(settings, "LOGIN_MAX_FAILURES_PER_IP", LOGIN_MAX_FAILURES_PER_IP_DEFAULT)),
    )


def _login_failure_keys(*, username: str, ip: str) -> tuple[str, str]:
    # Hashed: usernames are user input and cache keys must stay short and printable.
    user_key = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return f"login:fail:user:{user_key}", f"login:fail:ip:{ip}"


def login_lockout_seconds(*, username: str, ip: str) -> int:
    """0 when a sign-in may be tried, else the lockout's length in seconds: too many recent
    failures for this username (from any address) or from this address (for any username)."""
    window, per_user, per_ip = _login_limits()
    user_key, ip_key = _login_failure_keys(username=username, ip=ip)
    counts = cache.get_many([user_key, ip_key])
    if counts.get(user_key, 0) >= per_user or counts.get(ip_key, 0) >= per_ip:
        return window
    return 0


def login_failure_record(*, username: str, ip: str) -> None:
    window, _per_user, _per_ip = _login_limits()
    for key in _login_failure_keys(username=username, ip=ip):
        if not cache.add(key, 1, window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, window)


def login_success_record(*, username: str) -> None:
    """A correct password clears the username's counter (the address's counter keeps running, so
    one valid account cannot be used to reset a password-guessing run against others)."""
    user_key, _ip_key = _login_failure_keys(username=username, ip="")
    cache.delete(user_key)


def event_notification_url_clean(url: str) -> str:
    """The account's event notification URL stripped, or ValidationError saying what is wrong: not an
    http(s) URL, or one the outbound-URL guard refuses (a loopback, private... address)."""
    url = url.strip()
    if not url:
        return ""
    URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL.")(url)
    if reason := outbound.url_refusal(url=url):
        raise ValidationError(f"This URL cannot be called: {reason}.", code="outbound_refused")
    return url


def account_notifications_set(*, account: Account, event_notification_url: str) -> Account:
    """Set (or clear with "") the URL every event of the account is POSTed to. A URL without a
    webhook secret would go out unsigned, so the first URL also gets a secret."""
    account.event_notification_url = event_notification_url_clean(event_notification_url)
    fields = ["event_notification_url"]
    if account.event_notification_url and not account.webhook_secret:
        account.webhook_secret = webhook_secret_generate()
        fields.append("webhook_secret")
    account.save(update_fields=fields)
    return account


def webhook_secret_generate() -> str:
    return secrets.token_hex(32)  # 64 hex characters, the column's width


def account_webhook_secret_rotate(*, account: Account) -> str:
    """A new HMAC key for the account's event notifications; returns it (shown once)."""
    account.webhook_secret = webhook_secret_generate()
    account.save(update_fields=["webhook_secret"])
    return account.webhook_secret


def verified_sender_remove(*, account: Account, sender_id: int) -> bool:
    deleted, _ = VerifiedSender.objects.filter(account=account, pk=sender_id).delete()
    return bool(deleted)


# ---------------------------------------------------------------------------------------------
# Balance ledger: the only writers of Account.balance


# One UPDATE ... RETURNING each: PostgreSQL re-checks the WHERE on the latest row version after
# waiting for a concurrent writer's lock, so two debits can never both spend the same credit, and the
# running total comes back without a second query.
_DEBIT_SQL = (
    'UPDATE "accounts_account" SET "balance" = "balance" - %s WHERE "id" = %s AND "balance" >= %s RETURNING "balance"'
)
_CREDIT_SQL = 'UPDATE "accounts_account" SET "balance" = "balance" + %s WHERE "id" = %s RETURNING "balance"'


def _balance_update(sql: str, params: list) -> Decimal | None:
    """The new balance, or None when no row matched (not enough balance, or no such account)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else row[0]


def balance_debit(
    *,
    account_id: int,
    amount: Decimal,
    reason: str = LedgerReason.SENDING,
    sending_id: int | None = None,
    validation_id: int | None = None,
    note: str = "",
    created_by: User | None = None,
) -> bool:
    """Take `amount` from the balance if it is all there, with its ledger entry in the same
    transaction; False, changing nothing, when it is not. Zero or less is a no-op (True)."""
    if amount <= 0:
        return True
    with transaction.atomic(savepoint=False):
        after = _balance_update(_DEBIT_SQL, [amount, account_id, amount])
        if after is None:
            return False
        BalanceEntry.objects.create(
            account_id=account_id,
            amount=-amount,
            balance_after=after,
            reason=reason,
            sending_id=sending_id,
            validation_id=validation_id,
            note=note,
            created_by=created_by,
        )
    return True


def balance_credit(
    *,
    account_id: int,
    amount: Decimal,
    reason: str,
    sending_id: int | None = None,
    validation_id: int | None = None,
    note: str = "",
    created_by: User | None = None,
) -> BalanceEntry | None:
    """Add `amount` to the balance with its ledger entry; None (nothing written) for zero or less."""
    if amount <= 0:
        return None
    with transaction.atomic(savepoint=False):
        after = _balance_update(_CREDIT_SQL, [amount, account_id])
        if after is None:
            raise Account.DoesNotExist(f"Account {account_id} does not exist.")
        return BalanceEntry.objects.create(
            account_id=account_id,
            amount=amount,
            balance_after=after,
            reason=reason,
            sending_id=sending_id,
            validation_id=validation_id,
            note=note,
            created_by=created_by,
        )


def balance_top_up(*, account: Account, amount: Decimal, created_by: User | None, note: str = "") -> BalanceEntry:
    """An operator's credit (the admin's "Top up balance" form)."""
    if amount <= 0:
        raise ValidationError("A top-up must be more than zero.")
    entry = balance_credit(
        account_id=account.pk, amount=amount, reason=LedgerReason.TOP_UP, note=note, created_by=created_by
    )
    assert entry is not None  # amount > 0
    return entry


@transaction.atomic
def balance_set(*, account_id: int, balance: Decimal, note: str = "", created_by: User | None = None) -> None:
    """Bring the balance to `balance` with one correction entry (provisioning scripts, the demo)."""
    current = Account.objects.select_for_update().values_list("balance", flat=True).get(pk=account_id)
    difference = balance - current
    if difference > 0:
        balance_credit(
            account_id=account_id,
            amount=difference,
            reason=LedgerReason.CORRECTION,
            note=note,
            created_by=created_by,
        )
    elif difference < 0:
        balance_debit(
            account_id=account_id,
            amount=-difference,
            reason=LedgerReason.CORRECTION,
            note=note,
            created_by=created_by,
        )
