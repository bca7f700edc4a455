from django.conf import settings
from django.db import models

from accounts.models import Account, validate_timezone


class Group(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="uniq_group_name")]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class CustomFieldType(models.TextChoices):
    STRING = "string"
    DATE = "date"
    DECIMAL = "decimal"


class CustomField(models.Model):
    """A per-account custom field definition: its key and the type every contact's value has."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="custom_fields")
    key = models.CharField(max_length=64)
    type = models.CharField(max_length=10, choices=CustomFieldType.choices, default=CustomFieldType.STRING)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="uniq_custom_field_key")]
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} ({self.type})"


class Contact(models.Model):
    """A recipient. Email, phone and landline are stored normalised (lower-case email, phone numbers
    as international digits such as 34666555444) so lookups, de-duplication and blacklist checks are
    exact, indexed comparisons.

    Custom field values live in one JSON object keyed by CustomField.key, holding canonical strings,
    so rendering a message for a million contacts reads one row per contact and no joins.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contacts")
    email = models.CharField(max_length=254, null=True, blank=True)
    phone = models.CharField(max_length=20, null=True, blank=True)
    landline = models.CharField(max_length=20, null=True, blank=True)
    country_iso = models.CharField(max_length=2, null=True, blank=True)
    # IANA name; when empty, quiet hours take the zone from the phone number (compliance.rules).
    time_zone = models.CharField(max_length=64, blank=True, default="", db_default="", validators=[validate_timezone])
    name = models.CharField(max_length=255, null=True, blank=True)
    surname = models.CharField(max_length=255, null=True, blank=True)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    custom_fields = models.JSONField(default=dict, blank=True)
    groups = models.ManyToManyField(Group, through="Membership", related_name="contacts", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # NULLs are distinct, so contacts without an email (or phone) do not collide.
            models.UniqueConstraint(fields=["account", "email"], name="uniq_contact_email"),
            models.UniqueConstraint(fields=["account", "phone"], name="uniq_contact_phone"),
        ]
        indexes = [
            models.Index(fields=["account", "id"], name="contact_account_id"),
            models.Index(fields=["account", "landline"], name="contact_landline"),
            models.Index(fields=["account", "external_id"], name="contact_external_id"),
            # The free-text search's pg_trgm index is created by migration 0002 on PostgreSQL only.
            models.Index(fields=["account", "country_iso"], name="contact_country"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.email or self.phone or self.landline or f"contact {self.pk}"


class Membership(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE)
    group = models.ForeignKey(Group, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "group"], name="uniq_membership")]
        # A group send streams the group's members by contact id; this index serves that range scan.
        indexes = [models.Index(fields=["group", "contact"], name="membership_group_contact")]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.group_id}"


class BlacklistType(models.TextChoices):
    SMS = "sms"
    MAILING = "mailing"
    VOICE = "voice"


class BlacklistEntry(models.Model):
    """A recipient who must not receive messages of one channel; `recipient` is normalised like
    Contact.phone (sms, voice) or Contact.email (mailing)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="blacklist_entries")
    type = models.CharField(max_length=10, choices=BlacklistType.choices)
    recipient = models.CharField(max_length=254)
    is_definitive = models.BooleanField(default=False)
    sending = models.ForeignKey(
        "campaigns.Sending", on_delete=models.SET_NULL, null=True, blank=True, related_name="blacklist_entries"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "type", "recipient"], name="uniq_blacklist_recipient")
        ]
        indexes = [models.Index(fields=["account", "type", "id"], name="blacklist_account_type_id")]
        ordering = ["id"]
        verbose_name_plural = "blacklist entries"

    def __str__(self) -> str:
        return f"{self.type}:{self.recipient}"


class ImportStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class ContactImport(models.Model):
    """One upload of contacts (CSV or XLSX), processed by a django-q2 task."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="contact_imports")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    # {"<column header>": "<contact field or custom:<key>>"}; unmapped columns are ignored.
    mapping = models.JSONField(default=dict)
    groups = models.ManyToManyField(Group, blank=True, related_name="imports")
    default_country_iso = models.CharField(max_length=2, blank=True, default="")
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    fatal_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.status})"


class ContactImportError(models.Model):
    """A row the import could not take, kept so staff can download, fix and re-import it."""

    contact_import = models.ForeignKey(ContactImport, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField()
    message = models.TextField()
    values = models.JSONField(default=dict)

    class Meta:
        ordering = ["row_number"]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.message}"
