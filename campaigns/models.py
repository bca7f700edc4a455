from django.db import models

from accounts.models import Account
from compliance.protocol import Purpose


class Channel(models.TextChoices):
    """The spec's sending channels. Voice and WhatsApp are planned: they are listed so that
    adding them needs no schema change."""

    SMS = "sms"
    MAILING = "mailing"
    LANDING = "landing"
    TEXT2SPEECH = "text2speech"
    VOICE_INTERACTIVE = "voice-interactive"
    WHATSAPP = "whatsapp"


class CampaignType(models.TextChoices):
    BASIC = "basic"
    AUTOMATIC = "automatic"
    TRIGGER = "trigger"
    TESTAB = "testab"


class Campaign(models.Model):
    """A named bucket of sendings; the same `campaignName` in a send reuses it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=10, choices=CampaignType.choices, default=CampaignType.BASIC)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="uniq_campaign_name")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name


class SendingStatus(models.TextChoices):
    """The spec's sending statuses."""

    PENDING = "PENDING"
    SAVED = "SAVED"
    SENDING = "SENDING"
    PAUSED = "PAUSED"
    FINISHED = "FINISHED"
    CANCELLED = "CANCELLED"
    EDITING = "EDITING"
    OPENED = "OPENED"
    AUTOMATED = "AUTOMATED"
    WAITING = "WAITING"


# The spec's 14 per-sending event counters, in the order of its sample; each is a column on Sending.
EVENT_COUNTERS = (
    "delivered",
    "opened",
    "opened_unique",
    "clicked",
    "clicked_unique",
    "unsubscribed",
    "hard_bounced",
    "complaint",
    "sent",
    "soft_bounced",
    "undelivered",
    "rejected",
    "expired",
    "unsubscribed_landing",
)


class Sending(models.Model):
    """One send request (API call or UI send) to one or many recipients on one channel.

    Counters are columns (not a COUNT over events) so lists and dashboards stay cheap at a
    million messages; they are incremented per batch with F() expressions.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sendings")
    campaign = models.ForeignKey(Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="sendings")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    status = models.CharField(max_length=10, choices=SendingStatus.choices, default=SendingStatus.PENDING)
    # marketing | transactional: only marketing is subject to consent, quiet hours, caps and holdout;
    # one-time-code sends are transactional.
    purpose = models.CharField(
        max_length=13, choices=[(purpose.value, purpose.value.capitalize()) for purpose in Purpose],
        default=Purpose.MARKETING.value,
    )  # fmt: skip
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    total_sms_parts = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=5, default=0)
    currency = models.CharField(max_length=3, default="EUR")
    tags = models.JSONField(default=list, blank=True)
    # The send request's options shared by every message (encoding, flash, availableTimes, tracking...).
    options = models.JSONField(default=dict, blank=True)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    delivered = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    opened_unique = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)
    clicked_unique = models.PositiveIntegerField(default=0)
    unsubscribed = models.PositiveIntegerField(default=0)
    hard_bounced = models.PositiveIntegerField(default=0)
    complaint = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    soft_bounced = models.PositiveIntegerField(default=0)
    undelivered = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    expired = models.PositiveIntegerField(default=0)
    unsubscribed_landing = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account", "status"], name="sending_account_status")]

    def __str__(self) -> str:
        return f"{self.channel} sending {self.pk}"


# ---------------------------------------------------------------------------------------------
# SMS prices (campaigns.pricing reads them)

# The ISO 3166 "unknown or unspecified" code, which phonenumbers also answers for numbers it cannot
# place: the SmsPrice row with this code is the platform price of every country without a row.
PLATFORM_DEFAULT_COUNTRY = "ZZ"


class SmsPrice(models.Model):
    """The platform's price of one SMS part to a destination country (`ZZ`: any other country): the
    country's "Default" network in the coverage, with the country's first mobile country code."""

    country_iso = models.CharField(max_length=2, unique=True, help_text='Two-letter ISO code; "ZZ" = every other.')
    country_name = models.CharField(max_length=100, blank=True, default="")
    mcc = models.CharField("MCC", max_length=3, blank=True, default="", help_text="Mobile country code.")
    cost = models.DecimalField(max_digits=10, decimal_places=5)
    currency = models.CharField(max_length=3, default="EUR")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["country_iso"]
        verbose_name = "SMS price"

    def __str__(self) -> str:
        return f"{self.country_iso}: {self.cost} {self.currency}"


class SmsNetwork(models.Model):
    """A mobile network of a country (MCC + MNC), with its own platform price or, when `cost` is
    empty, its country's price. Sends do not know the network of a number (no HLR lookup), so a
    message is priced at the highest price of its country (campaigns.pricing)."""

    country_iso = models.CharField(max_length=2, help_text="Two-letter ISO code.")
    mcc = models.CharField("MCC", max_length=3, help_text="Mobile country code.")
    mnc = models.CharField("MNC", max_length=3, help_text="Mobile network code, 2 or 3 digits as the ITU lists it.")
    name = models.CharField(max_length=100)
    cost = models.DecimalField(
        max_digits=10, decimal_places=5, null=True, blank=True, help_text="Empty: the country's price."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["country_iso", "mcc", "mnc"], name="uniq_sms_network"),
        ]
        ordering = ["country_iso", "mcc", "mnc"]
        verbose_name = "SMS network"

    def __str__(self) -> str:
        return f"{self.country_iso} {self.mcc}-{self.mnc} {self.name}"


class AccountSmsPrice(models.Model):
    """An account's own price of one SMS part to a country, overriding the platform price; in the
    account's currency."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="sms_prices")
    country_iso = models.CharField(max_length=2, help_text='Two-letter ISO code; "ZZ" = every other.')
    cost = models.DecimalField(max_digits=10, decimal_places=5)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "country_iso"], name="uniq_account_sms_price"),
        ]
        ordering = ["account", "country_iso"]
        verbose_name = "account SMS price"

    def __str__(self) -> str:
        return f"{self.account}: {self.country_iso} {self.cost}"


# ---------------------------------------------------------------------------------------------
# Group-send fan-out (campaigns.fanout)


class FanoutChunkStatus(models.TextChoices):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class FanoutChunk(models.Model):
    """One django-q2 task's share of a group send: the recipients whose contact id is in
    (`after_contact_id`, `last_contact_id`].

    The chunk row is the idempotence marker: a run locks it, writes its messages with COPY and marks
    it DONE in the same transaction, so a redelivered or repeated task finds it DONE (or waits for
    the lock and then finds it DONE) and writes nothing twice; a run that dies rolls back whole.
    """

    sending = models.ForeignKey(Sending, on_delete=models.CASCADE, related_name="fanout_chunks")
    after_contact_id = models.BigIntegerField()
    last_contact_id = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=FanoutChunkStatus.choices, default=FanoutChunkStatus.PENDING)
    messages = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    sms_parts = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=5, default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sending", "after_contact_id"], name="uniq_fanout_chunk_range"),
        ]
        ordering = ["sending", "after_contact_id"]

    def __str__(self) -> str:
        return f"sending {self.sending_id} contacts ({self.after_contact_id}, {self.last_contact_id}]"
