import hashlib
import hmac
import secrets
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import Account, ApiCredential, User, VerifiedSender, validate_ip_networks


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
        account.balance = balance
        account.save(update_fields=["balance"])
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
