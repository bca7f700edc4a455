import ipaddress
import zoneinfo
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value} is not a known time zone.")


def validate_ip_networks(value: list) -> None:
    if not isinstance(value, list):
        raise ValidationError("The IP allowlist must be a list of addresses or CIDR ranges.")
    for item in value:
        try:
            ipaddress.ip_network(str(item), strict=False)
        except ValueError as exc:
            raise ValidationError(f"{item} is not an IP address or CIDR range.") from exc


class Account(models.Model):
    """The tenant: every business object belongs to exactly one account."""

    name = models.CharField(max_length=150, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    language = models.CharField(max_length=8, default="en")
    country = models.CharField(max_length=2, default="ES", help_text="Two-letter ISO country code.")
    currency = models.CharField(max_length=3, default="EUR")
    balance = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    # Every event of the account's messages is POSTed here, signed with webhook_secret (HMAC-SHA256).
    event_notification_url = models.URLField(max_length=2000, blank=True, default="")
    webhook_secret = models.CharField(max_length=64, blank=True, default="")
    email_validation_price = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Price of one address checked by an email validation job; empty: the platform's "
        "EMAIL_VALIDATION_PRICE.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # The conditional debit already refuses to overdraw; this makes any other writer fail too.
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="account_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who signs in to the web UI and/or calls the API for one account.

    Operators (superusers) may have no account; every API user has one.
    """

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="users", null=True, blank=True)

    def __str__(self) -> str:
        return self.username


class ApiCredential(models.Model):
    """A user's API password, distinct from the login password, stored only as an HMAC-SHA256."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="api_credential")
    password_hmac = models.CharField(max_length=64, help_text="HMAC-SHA256 of the API password (hex).")
    allowed_ips = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_ip_networks],
        help_text="Single IPs or CIDR ranges allowed to call the API; empty allows any address.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    rotated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"API credential of {self.user}"

    def allows_ip(self, ip: str) -> bool:
        if not self.allowed_ips:
            return True
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(str(net), strict=False) for net in self.allowed_ips)


class VerifiedSender(models.Model):
    """An email address the account may send from or use as reply-to."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="verified_senders")
    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "email"], name="uniq_verified_sender")]
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class LedgerReason(models.TextChoices):
    OPENING = "opening", "Opening balance"
    TOP_UP = "top_up", "Top-up"
    CORRECTION = "correction", "Correction"
    SENDING = "sending", "Messages accepted"
    SENDING_REFUND = "sending_refund", "Scheduled messages cancelled"
    VALIDATION_HOLD = "validation_hold", "Email validation hold"
    VALIDATION_RELEASE = "validation_release", "Email validation release"


class BalanceEntry(models.Model):
    """One movement of an account's balance: positive amounts are credits, negative ones debits.

    Written only by accounts.services.balance_credit/balance_debit, in the same transaction as the
    UPDATE of `Account.balance` (the cached running total), so the entries of an account always add
    up to its balance and `balance_after` is the total right after this entry. Append-only.

    Sendings and validation jobs are referenced by id, not by foreign key: the money record must
    outlive a deleted job, and accounts cannot depend on the apps that depend on it.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="balance_entries", db_index=False)
    amount = models.DecimalField(max_digits=14, decimal_places=4)
    balance_after = models.DecimalField(max_digits=14, decimal_places=4)
    reason = models.CharField(max_length=24, choices=LedgerReason.choices)
    sending_id = models.BigIntegerField(null=True, blank=True)
    validation_id = models.BigIntegerField(null=True, blank=True)
    note = models.CharField(max_length=255, blank=True, default="")
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", help_text="The operator, if any."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "-id"], name="balance_entry_account_idx")]
        constraints = [models.CheckConstraint(condition=~models.Q(amount=0), name="balance_entry_amount_not_zero")]
        verbose_name = "balance entry"
        verbose_name_plural = "balance entries"

    def __str__(self) -> str:
        return f"{self.account}: {self.amount:+f}"

    @property
    def is_credit(self) -> bool:
        return self.amount > 0
