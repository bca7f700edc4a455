"""Compliance data: consent per contact and channel (current state + append-only history), each account's
compliance settings, its quiet hours and frequency caps, the per-country rules (shipped as data), the
marketing touches frequency caps count, and the history of settings changes.

Only marketing messages are subject to consent, quiet hours, caps and holdout; blacklists (contacts app)
apply to both purposes.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from accounts.models import Account
from compliance.protocol import Purpose
from contacts.models import Contact


class ConsentChannel(models.TextChoices):
    SMS = "sms", "SMS"
    MAILING = "mailing", "Email"
    VOICE = "voice", "Voice"
    WHATSAPP = "whatsapp", "WhatsApp"


class ConsentStatus(models.TextChoices):
    OPTED_IN = "opted_in", "Opted in"
    OPTED_OUT = "opted_out", "Opted out"
    UNKNOWN = "unknown", "Unknown"


class ConsentSource(models.TextChoices):
    IMPORT = "import", "Import column"
    API = "api", "API"
    FORM = "form", "Form submission"
    STAFF = "staff", "Staff edit"
    KEYWORD = "keyword", "Keyword reply"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe page"
    ADMIN = "admin", "Admin"


class ContactConsent(models.Model):
    """The current consent of one contact on one channel: what the consent rule reads (one indexed
    lookup per batch of candidates). No row means `unknown`."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=10, choices=ConsentChannel.choices)
    status = models.CharField(max_length=10, choices=ConsentStatus.choices)
    source = models.CharField(max_length=12, choices=ConsentSource.choices)
    changed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "channel"], name="uniq_consent_contact_channel")]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.channel}: {self.status}"


class ConsentEvent(models.Model):
    """Append-only history of consent changes, shown on the contact page and exportable."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_events")
    channel = models.CharField(max_length=10, choices=ConsentChannel.choices)
    status = models.CharField(max_length=10, choices=ConsentStatus.choices)
    source = models.CharField(max_length=12, choices=ConsentSource.choices)
    note = models.CharField(max_length=255, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["contact", "created_at"], name="consent_event_contact")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.channel} → {self.status} ({self.source})"


class UnsubscribePolicy(models.TextChoices):
    WARN = "warn", "Warn (compose page and pre-send check)"
    APPEND = "append", "Append the STOP instruction"
    REFUSE = "refuse", "Refuse the send"


def default_opt_in_countries() -> list[str]:
    return ["IE"]


class ComplianceSettings(models.Model):
    """One row per account (created on first use with these defaults)."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="compliance")
    default_purpose = models.CharField(
        max_length=13,
        choices=[(p.value, p.value) for p in Purpose],
        default=Purpose.MARKETING,
        help_text="Purpose of API sends that do not say otherwise; marketing is the safe choice.",
    )
    holdout_percent = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("20"))],
        help_text="Share of contacts (0-20 %) that receives no marketing, for measuring lift.",
    )
    holdout_key = models.CharField(max_length=64, help_text="Key of the holdout hash; changing it reshuffles.")
    stop_code = models.CharField(max_length=20, blank=True, default="", help_text="The code in 'STOP au <code>'.")
    opt_in_countries = models.JSONField(
        default=default_opt_in_countries,
        blank=True,
        help_text="Countries where marketing needs explicit opt-in (the spec: Ireland).",
    )
    unsubscribe_policy = models.CharField(
        max_length=6, choices=UnsubscribePolicy.choices, default=UnsubscribePolicy.WARN
    )
    stop_instruction = models.CharField(
        max_length=60,
        default="Reply STOP to opt out.",
        help_text="Appended to a marketing SMS without an unsubscribe option when the policy is 'append'.",
    )
    keyword_confirmation = models.BooleanField(default=False, help_text="Reply once to STOP / START keywords.")
    stop_confirmation_text = models.CharField(max_length=160, blank=True, default="")
    start_confirmation_text = models.CharField(max_length=160, blank=True, default="")
    help_text = models.CharField(max_length=320, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Compliance of {self.account}"


class QuietHours(models.Model):
    """An account's own quiet hours: no marketing between `start` and `end` local time (the window may
    cross midnight) on the given weekdays (0 = Monday), in the listed countries (none: every country)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="quiet_hours")
    start = models.TimeField()
    end = models.TimeField()
    weekdays = models.JSONField(default=list, blank=True, help_text="0 = Monday … 6 = Sunday; empty: every day.")
    countries = models.JSONField(default=list, blank=True, help_text="ISO codes; empty: every country.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


class FrequencyCap(models.Model):
    """At most `max_messages` marketing messages per contact per `period_days`, on one channel or any."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="frequency_caps")
    channel = models.CharField(max_length=20, blank=True, default="", help_text="A channel, or empty: any channel.")
    max_messages = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    period_days = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(366)])
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"≤ {self.max_messages} per {self.period_days} d on {self.channel or 'any channel'}"


class CountryRule(models.Model):
    """A country's rules for marketing, as data (a new country is a row, not code).

    `allowed_windows` maps a weekday ("0" = Monday … "6") to a list of ["HH:MM", "HH:MM"] local-time
    windows in which marketing may go; a weekday absent from a non-empty map allows nothing that day.
    An empty map: no time restriction.
    """

    country = models.CharField(max_length=2, primary_key=True)
    allowed_windows = models.JSONField(default=dict, blank=True)
    no_public_holidays = models.BooleanField(default=False)
    opt_in_required = models.BooleanField(default=False)
    stop_footer = models.CharField(max_length=60, blank=True, default="", help_text="e.g. 'STOP au {code}'.")
    public_shorteners_refused = models.BooleanField(default=False)
    notes = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return self.country


class ContactTouch(models.Model):
    """Marketing messages accepted per contact, channel and day (UTC): what frequency caps count, one
    aggregated row instead of scanning the outbox. Written per fan-out chunk / list send in one upsert."""

    account_id = models.BigIntegerField()
    contact_id = models.BigIntegerField()
    channel = models.CharField(max_length=20)
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of the cap query: `contact_id = ANY(batch) AND day >= start` is a range scan
            # of it per contact (contact ids are global, so the account needs no column in it).
            models.UniqueConstraint(fields=["contact_id", "day", "channel"], name="uniq_touch_contact_day_channel")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.channel} {self.day}: {self.count}"


class ComplianceChange(models.Model):
    """Who changed which compliance setting, when, from what to what."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    field = models.CharField(max_length=64)
    old_value = models.TextField(blank=True, default="")
    new_value = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.field}: {self.old_value} → {self.new_value}"
