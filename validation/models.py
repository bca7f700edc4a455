from decimal import Decimal

from django.db import models

from accounts.models import Account


class ValidationStatus(models.TextChoices):
    PENDING = "pending"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"


class EmailResult(models.TextChoices):
    DELIVERABLE = "deliverable"
    UNDELIVERABLE = "undeliverable"
    RISKY = "risky"


class EmailReason(models.TextChoices):
    """Why an address got its result; kept for operators (the API's CSV shows only the result)."""

    MAIL_SERVER = "mail_server", "The domain has MX records"
    IMPLICIT_MX = "implicit_mx", "No MX, but the domain has an address (implicit MX)"
    SYNTAX = "syntax", "Not a valid email address"
    NO_DOMAIN = "no_domain", "The domain does not exist (NXDOMAIN)"
    NULL_MX = "null_mx", "The domain accepts no mail (null MX, RFC 7505)"
    NO_MAIL_SERVER = "no_mail_server", "The domain has neither MX nor address records"
    DNS_ERROR = "dns_error", "The domain's DNS answered with an error"
    DNS_UNREACHABLE = "dns_unreachable", "DNS could not be reached"
    DISPOSABLE = "disposable", "Disposable email provider"
    ROLE = "role", "Role account"


class EmailValidation(models.Model):
    """One validation job: the addresses to check (its items), its progress, and its price.

    Money: `estimated_cost` (total x price) is held from the balance when the job starts and shown
    as `cost` while it runs; when it finishes, `cost` becomes the price of the addresses actually
    checked (reused results are free) and the rest of the hold goes back; a failed or deleted job
    gives the whole hold back. `reserved` is the part of the balance the job holds right now.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="email_validations")
    status = models.CharField(max_length=10, choices=ValidationStatus.choices, default=ValidationStatus.PENDING)
    force = models.BooleanField(default=False, help_text="Check again addresses with an earlier result.")
    allow_risky = models.BooleanField(default=False, help_text="When off, risky addresses go on the blacklist.")
    notification_url = models.URLField(max_length=2000, blank=True, default="")
    group_ids = models.JSONField(default=list, blank=True, help_text="The groups whose contacts were taken.")
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    valid = models.PositiveIntegerField(default=0)
    checked = models.PositiveIntegerField(default=0, help_text="Addresses checked (and charged), not reused.")
    price = models.DecimalField(max_digits=14, decimal_places=4, help_text="Per checked address.")
    currency = models.CharField(max_length=3)
    estimated_cost = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    cost = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    reserved = models.DecimalField(max_digits=14, decimal_places=4, default=Decimal("0"))
    error = models.CharField(max_length=255, blank=True, default="")
    # Fences the worker that runs the job: a run that finds another token stops writing.
    run_token = models.CharField(max_length=32, blank=True, default="")
    notification_error = models.TextField(blank=True, default="", help_text="The last notification that failed.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["account", "id"], name="email_validation_account_id")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Email validation {self.pk} ({self.status})"


class EmailValidationItem(models.Model):
    """One distinct address of a job (as given, lower-cased) and, once checked, its result."""

    validation = models.ForeignKey(EmailValidation, on_delete=models.CASCADE, related_name="items")
    email = models.CharField(max_length=254)
    result = models.CharField(max_length=13, choices=EmailResult.choices, blank=True, default="")
    reason = models.CharField(max_length=20, choices=EmailReason.choices, blank=True, default="")
    reused = models.BooleanField(default=False, help_text="Answered from an earlier result of the account.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["validation", "email"], name="uniq_validation_item_email")]
        # The job walks its unchecked items and the CSV streams them, both in id order.
        indexes = [models.Index(fields=["validation", "id"], name="validation_item_job_id")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.email}: {self.result or 'pending'}"


class VerifiedEmail(models.Model):
    """The latest result for a normalised address in an account, reused by later jobs unless `force`."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="verified_emails")
    email = models.CharField(max_length=254)
    result = models.CharField(max_length=13, choices=EmailResult.choices)
    reason = models.CharField(max_length=20, choices=EmailReason.choices, blank=True, default="")
    checked_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "email"], name="uniq_verified_email")]
        ordering = ["email"]

    def __str__(self) -> str:
        return f"{self.email}: {self.result}"
