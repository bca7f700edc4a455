"""Messages are the outbox and the send ledger; events are what happened to them afterwards.

A Message row is written before anything is handed to a provider. Its `status` is committed as
IN_FLIGHT before the provider call and as SENT (with the provider's id) after it, so a worker that
dies mid-call leaves evidence instead of a silent resend: IN_FLIGHT rows are reconciled, never
blindly dispatched again.
"""

from django.db import models

from accounts.models import Account
from campaigns.models import Channel


class MessageStatus(models.TextChoices):
    # Not yet handed to a provider.
    SCHEDULED = "scheduled"  # waits for scheduled_at / an availableTimes window / a paused sending
    QUEUED = "queued"  # due: a dispatcher may claim it
    IN_FLIGHT = "in_flight"  # claimed; the provider call may or may not have happened
    # Outcomes. `STATUS_RANK` below orders them so a late report never moves a message backwards.
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    HARD_BOUNCED = "hard_bounced"
    SOFT_BOUNCED = "soft_bounced"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # left in flight and the provider could not tell whether it took it


# Higher rank wins; equal ranks are terminal alternatives (first one recorded stays).
STATUS_RANK: dict[str, int] = {
    MessageStatus.SCHEDULED: 0,
    MessageStatus.QUEUED: 1,
    MessageStatus.IN_FLIGHT: 2,
    MessageStatus.UNKNOWN: 3,
    MessageStatus.SENT: 4,
    MessageStatus.SOFT_BOUNCED: 5,
    MessageStatus.DELIVERED: 6,
    MessageStatus.UNDELIVERED: 6,
    MessageStatus.HARD_BOUNCED: 6,
    MessageStatus.REJECTED: 6,
    MessageStatus.EXPIRED: 6,
    MessageStatus.CANCELLED: 6,
}

PENDING_STATUSES = (MessageStatus.SCHEDULED, MessageStatus.QUEUED)


class Message(models.Model):
    """One recipient of one sending: rendered content, dispatch state and outcome."""

    # Indexes on the outbox are paid on every one of a million inserts: the foreign keys below are
    # covered by the composite indexes in Meta, and public_id's uniqueness is a constraint (no
    # extra LIKE index), so each has exactly one index.
    #
    # No FOREIGN KEY constraints (db_constraint=False): PostgreSQL checks one with a trigger query
    # per inserted row, which halved the speed of a group send's COPY (measured in
    # bench/bench_group_send.py). Django's delete collector still cascades / sets NULL exactly as
    # before, and statement-level triggers (migration 0004) keep the database's guarantees: deleting
    # a contact sets contact_id NULL, deleting an account or sending that messages still reference
    # fails like the constraint did. The fan-out locks what it references (campaigns/fanout.py).
    public_id = models.CharField(max_length=16)
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="messages", db_index=False, db_constraint=False
    )
    sending = models.ForeignKey(
        "campaigns.Sending", on_delete=models.CASCADE, related_name="messages", db_index=False, db_constraint=False
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        db_constraint=False,
    )
    channel = models.CharField(max_length=20, choices=Channel.choices)
    sender = models.CharField(max_length=255)
    recipient = models.CharField(max_length=254)
    subject = models.CharField(max_length=998, blank=True, default="")
    body = models.TextField()
    encoding = models.CharField(max_length=10, blank=True, default="")
    parts = models.PositiveSmallIntegerField(default=1)
    # Channel-specific extras (email cc/bcc/reply-to/headers/attachment ids, sms flash/split...).
    options = models.JSONField(default=dict, blank=True)

    status = models.CharField(max_length=12, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    scheduled_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # When a dispatcher may next pick it up (schedule, window, retry backoff).
    due_at = models.DateTimeField(db_index=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True, default="")

    provider = models.CharField(max_length=30, blank=True, default="")
    provider_message_id = models.CharField(max_length=255, blank=True, default="")
    error_code = models.CharField(max_length=64, blank=True, default="")
    error_reason = models.TextField(blank=True, default="")
    cost = models.DecimalField(max_digits=12, decimal_places=5, default=0)
    notification_url = models.URLField(max_length=2000, blank=True, default="")
    certified = models.BooleanField(default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    final_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["public_id"], name="uniq_message_public_id")]
        indexes = [
            # The dispatcher's claim: due queued messages, oldest first.
            models.Index(fields=["due_at", "id"], name="message_due_queued", condition=models.Q(status="queued")),
            models.Index(fields=["due_at", "id"], name="message_scheduled", condition=models.Q(status="scheduled")),
            models.Index(fields=["claimed_at"], name="message_in_flight", condition=models.Q(status="in_flight")),
            models.Index(fields=["sending", "id"], name="message_sending_id"),
            models.Index(fields=["account", "recipient"], name="message_account_recipient"),
            # Partial: rows get a provider id only once sent, so a million fresh fan-out rows skip this
            # index (~1 µs of PostgreSQL CPU per insert). Lookups must repeat the condition (see
            # messaging/events.py): the planner cannot prove it from `= ANY(array)` of over 100 ids.
            models.Index(
                fields=["provider", "provider_message_id"],
                name="message_provider_id",
                condition=~models.Q(provider_message_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.public_id} to {self.recipient}"


class EventType(models.TextChoices):
    """The spec's event list (Event Notifications)."""

    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    HARD_BOUNCED = "hard_bounced"
    COMPLAINT = "complaint"
    SOFT_BOUNCED = "soft_bounced"
    UNDELIVERED = "undelivered"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNSUBSCRIBED_LANDING = "unsubscribed_landing"
    FORM_OPENED = "form_opened"
    FORM_SUBMITTED = "form_submitted"
    FORM_REJECTED = "form_rejected"


class Event(models.Model):
    """Something that happened to a message, from a provider, the simulator or a tracking page."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="events")
    # Covered by the composite indexes in Meta.
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events", db_index=False)
    sending = models.ForeignKey("campaigns.Sending", on_delete=models.CASCADE, related_name="events", db_index=False)
    type = models.CharField(max_length=24, choices=EventType.choices)
    date = models.DateTimeField()
    extra = models.JSONField(default=dict, blank=True)
    browser = models.CharField(max_length=100, blank=True, default="")
    os = models.CharField(max_length=100, blank=True, default="")
    is_mobile = models.BooleanField(default=False)
    url = models.URLField(max_length=2000, blank=True, default="")
    # Deduplication: a provider report that arrives twice is stored (and counted) once.
    provider = models.CharField(max_length=30, blank=True, default="")
    provider_event_id = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_event_id"], name="uniq_provider_event"),
        ]
        indexes = [
            models.Index(fields=["sending", "date", "id"], name="event_sending_date"),
            models.Index(fields=["message", "date"], name="event_message_date"),
        ]
        ordering = ["date", "id"]

    def __str__(self) -> str:
        return f"{self.type} of {self.message_id}"


class InboundWebhook(models.Model):
    """A provider webhook request, stored verbatim once verified so the HTTP answer is fast and
    nothing is lost; a django-q2 task parses and applies them in batches."""

    provider = models.CharField(max_length=30)
    received_at = models.DateTimeField(auto_now_add=True)
    content_type = models.CharField(max_length=100, blank=True, default="")
    body = models.BinaryField()
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["id"], name="webhook_unprocessed", condition=models.Q(processed_at__isnull=True))
        ]

    def __str__(self) -> str:
        return f"{self.provider} webhook {self.pk}"


class ProviderRoute(models.Model):
    """Which provider carries a channel's messages: per account, or the platform default when
    `account` is empty. Without any route a channel uses the simulator."""

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, null=True, blank=True, related_name="provider_routes"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices)
    provider = models.CharField(max_length=30, help_text="A name from messaging.providers.PROVIDERS.")
    # Provider settings (credentials, endpoints, simulator rates). Never shown in logs or the API.
    settings = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "channel"], name="uniq_route_account_channel"),
            models.UniqueConstraint(
                fields=["channel"], condition=models.Q(account__isnull=True), name="uniq_route_default_channel"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account or 'default'} {self.channel} -> {self.provider}"


class NotificationKind(models.TextChoices):
    MESSAGE_URL = "message_url"  # the message's notificationUrl, GET with %-escapes
    ACCOUNT_URL = "account_url"  # the account's event notification URL, signed form POST


class NotificationStatus(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last retry


class Notification(models.Model):
    """One event to notify to one URL, with its attempts (up to 1 + 5 retries)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=12, choices=NotificationKind.choices)
    url = models.URLField(max_length=2000)
    status = models.CharField(max_length=10, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["due_at", "id"], name="notification_due", condition=models.Q(status="pending"))]

    def __str__(self) -> str:
        return f"{self.kind} {self.url} ({self.status})"


class NotificationAttempt(models.Model):
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField(auto_now_add=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.response_status or self.error}"


class SimulatedDelivery(models.Model):
    """What the simulator provider took: its answer to a reconciliation lookup, and the delivery
    reports it still owes (written, when due, through the same webhook-ingest path as a real
    provider's)."""

    provider_message_id = models.CharField(max_length=40, unique=True)
    message_public_id = models.CharField(max_length=16, unique=True)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    # Decided when accepted, from the route's seed and rates and the message's public id:
    # [{"type": "delivered", "offset": 2.5, "reason": "", "url": "", "user_agent": ""}, ...] (offset:
    # seconds after acceptance)
    planned_events = models.JSONField(default=list)
    accepted_at = models.DateTimeField()
    report_due_at = models.DateTimeField()
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["report_due_at", "id"],
                name="simulated_report_due",
                condition=models.Q(reported_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"simulated {self.provider_message_id}"
