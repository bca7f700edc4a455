"""Templates (v1 legacy and v2), account files for `[attachment_{ID}]`, forms and their answers."""

from django.db import models

from accounts.models import Account


class TemplateVersion(models.IntegerChoices):
    V1 = 1, "Legacy (v1)"
    V2 = 2, "Current (v2)"


class TemplateType(models.TextChoices):
    HTML = "HTML", "HTML"


class Template(models.Model):
    """An email / landing template. v1 (`/templates`) and v2 (`/v2/templates`) share the table and
    are told apart by `version`: an id of one API is a missing id in the other."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="templates")
    version = models.PositiveSmallIntegerField(choices=TemplateVersion.choices, default=TemplateVersion.V2)
    name = models.CharField(max_length=255)
    type = models.CharField(max_length=10, choices=TemplateType.choices, default=TemplateType.HTML)
    html = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["account", "version", "id"], name="template_account_version")]

    def __str__(self) -> str:
        return self.name


def account_file_path(instance: "AccountFile", filename: str) -> str:
    return f"files/{instance.account_id}/{filename}"


class AccountFile(models.Model):
    """A file the account uploaded; `[attachment_{ID}]` links to it through a signed URL."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=255)
    file = models.FileField(upload_to=account_file_path, max_length=500)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Form(models.Model):
    """A form built from the annex's elements (`fields`, as validated by content.forms_schema)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="forms")
    name = models.CharField(max_length=255)
    editable = models.BooleanField(default=True)
    reject_button = models.BooleanField(default=False)
    background_url = models.URLField(max_length=2000, blank=True, default="")
    logo_url = models.URLField(max_length=2000, blank=True, default="")
    fields = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "name"], name="uniq_form_account_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def placeholder(self) -> str:
        return f"{{FORM_{self.pk}}}"


class FormAnswerStatus(models.TextChoices):
    SUBMITTED = "submitted"
    REJECTED = "rejected"


class FormAnswer(models.Model):
    """A recipient's answer to a form: one row per (form, contact), the latest answer wins on an
    editable form; a non-editable form with a submitted answer takes no other."""

    form = models.ForeignKey(Form, on_delete=models.CASCADE, related_name="answers")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="form_answers")
    message = models.ForeignKey("messaging.Message", on_delete=models.SET_NULL, null=True, blank=True)
    status = models.CharField(max_length=10, choices=FormAnswerStatus.choices)
    values = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["form", "contact"], name="uniq_form_answer_contact")]

    def __str__(self) -> str:
        return f"{self.status} {self.form_id} by {self.contact_id}"
