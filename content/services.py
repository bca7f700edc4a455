"""Writes of the content app: templates, account files, forms, and a recipient's form answers.

The REST API (content.api), the staff pages (content.views) and the public form page call these
functions, so every rule exists once. Invalid input raises django's ValidationError (a
`FormDefinitionError` for form definitions, naming the key) and changes nothing.

Form events (`form_opened`, `form_submitted` with `{"formValues": {...}}`, `form_rejected`) are
recorded through messaging.events.events_record like every other event, so the sending's
notifications follow. `formId` travels in the event's extra; the account notification moves it
to its own `formId` field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Account
from config.parsing import parse_boolean
from contacts.models import CustomField
from contacts.services import CustomFieldInput, contact_update
from content.form_fields import (
    FormDefinitionError,
    custom_field_conflicts,
    form_fields_clean,
    submission_clean,
)
from content.models import AccountFile, Form, FormAnswer, FormAnswerStatus, Template, TemplateType
from messaging.models import EventType, Message

MAX_TEMPLATE_BYTES: Final = 2 * 1024 * 1024
_CONTROL_CHARACTERS: Final = re.compile(r"[\x00-\x1f\x7f]")
MAX_FILE_BYTES: Final = 10 * 1024 * 1024
EVENT_SOURCE: Final = "forms"  # DeliveryEvent.provider of form events

# ---------------------------------------------------------------------------------------------
# Templates


def _template_name(raw: Any) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValidationError("The name field is required.")
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValidationError("The name must be a string.")
    name = str(raw).strip()
    if len(name) > 255:
        raise ValidationError("The name may not be greater than 255 characters.")
    if "\x00" in name:  # PostgreSQL text cannot hold it: refused here, never a 500 at INSERT
        raise ValidationError("The name may not contain NUL characters.")
    return name


def _template_html(raw: Any) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise ValidationError("The html field is required.")
    if not isinstance(raw, str):
        raise ValidationError("The html must be a string.")
    if len(raw.encode()) > MAX_TEMPLATE_BYTES:
        raise ValidationError(f"The html may not be greater than {MAX_TEMPLATE_BYTES // 1024} kilobytes.")
    if "\x00" in raw:
        raise ValidationError("The html may not contain NUL characters.")
    return raw


def _template_type(raw: Any) -> str:
    if raw is None or raw == "":
        return TemplateType.HTML
    if not isinstance(raw, str) or raw.strip().upper() not in TemplateType.values:
        raise ValidationError("The selected type is invalid.")
    return raw.strip().upper()


def template_create(*, account: Account, version: int, name: Any, html: Any, type: Any = None) -> Template:
    template = Template(
        account=account,
        version=version,
        name=_template_name(name),
        html=_template_html(html),
        type=_template_type(type),
    )
    template.save()
    return template


def template_update(*, template: Template, name: Any, html: Any, type: Any = None) -> Template:
    template.name = _template_name(name)
    template.html = _template_html(html)
    if type is not None:
        template.type = _template_type(type)
    template.save()
    return template


def template_delete(*, template: Template) -> None:
    template.delete()


# ---------------------------------------------------------------------------------------------
# Account files (`[attachment_{ID}]`)


def file_upload(*, account: Account, upload: UploadedFile) -> AccountFile:
    if upload is None:
        raise ValidationError("Choose a file to upload.")
    if upload.size > MAX_FILE_BYTES:
        raise ValidationError(f"The file may not be greater than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    # Control characters (NUL above all: PostgreSQL text cannot hold it) come only from a forged upload.
    name = _CONTROL_CHARACTERS.sub("", (upload.name or "file").replace("\\", "/").rsplit("/", 1)[-1])[:200] or "file"
    stored = AccountFile(
        account=account,
        name=name,
        content_type=_CONTROL_CHARACTERS.sub("", upload.content_type or "")[:255] or "application/octet-stream",
        size=upload.size,
    )
    stored.file.save(name, upload, save=False)
    stored.save()
    return stored


def file_delete(*, file: AccountFile) -> None:
    file.file.delete(save=False)
    file.delete()


# ---------------------------------------------------------------------------------------------
# Forms


@dataclass(frozen=True)
class FormDefinition:
    name: str
    editable: bool
    reject_button: bool
    background_url: str
    logo_url: str
    fields: list[dict[str, Any]]


_url_validator = URLValidator(schemes=["http", "https"])


def _form_url(raw: Any, key: str) -> str:
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str) or len(raw) > 2000 or "\x00" in raw:
        raise FormDefinitionError(key, f"The {key} must be an http or https URL.")
    try:
        _url_validator(raw.strip())
    except ValidationError as exc:
        raise FormDefinitionError(key, f"The {key} must be an http or https URL.") from exc
    return raw.strip()


def _form_flag(raw: Any, key: str, default: bool) -> bool:
    if raw is None:
        return default
    if (parsed := parse_boolean(raw)) is None:
        raise FormDefinitionError(key, f"The {key} field must be true or false.")
    return parsed


def form_definition_clean(
    *,
    account: Account,
    name: Any,
    form_fields: Any,
    editable: Any = None,
    reject_button: Any = None,
    background_url: Any = None,
    logo_url: Any = None,
    form_id: int | None = None,
) -> FormDefinition:
    """Every rule of a form definition: name unique in the account, the annex's elements, URLs,
    and custom fields whose existing type can hold the element's values."""
    try:
        clean_name = _template_name(name)
    except ValidationError as exc:
        raise FormDefinitionError("name", exc.messages[0]) from exc
    taken = Form.objects.filter(account=account, name=clean_name)
    if form_id is not None:
        taken = taken.exclude(pk=form_id)
    if taken.exists():
        raise FormDefinitionError("name", "The name has already been taken.")
    definition = FormDefinition(
        name=clean_name,
        editable=_form_flag(editable, "editable", True),
        reject_button=_form_flag(reject_button, "rejectButton", False),
        background_url=_form_url(background_url, "backgroundUrl"),
        logo_url=_form_url(logo_url, "logoUrl"),
        fields=form_fields_clean(form_fields),
    )
    keys = [field["customField"] for field in definition.fields if "customField" in field]
    known = dict(CustomField.objects.filter(account=account, key__in=keys).values_list("key", "type"))
    custom_field_conflicts(definition.fields, known)
    return definition


def _form_save(form: Form, definition: FormDefinition) -> Form:
    form.name = definition.name
    form.editable = definition.editable
    form.reject_button = definition.reject_button
    form.background_url = definition.background_url
    form.logo_url = definition.logo_url
    form.fields = definition.fields
    try:
        with transaction.atomic():
            form.save()
    except IntegrityError as exc:  # the same name created meanwhile by a concurrent request
        raise FormDefinitionError("name", "The name has already been taken.") from exc
    return form


def form_create(*, account: Account, **definition: Any) -> Form:
    """A new form; keyword arguments as form_definition_clean (name, form_fields, editable, ...)."""
    return _form_save(Form(account=account), form_definition_clean(account=account, **definition))


def form_update(*, form: Form, **definition: Any) -> Form:
    """Replace the form's definition (every key, as PUT sends the whole form)."""
    return _form_save(form, form_definition_clean(account=form.account, form_id=form.pk, **definition))


def form_delete(*, form: Form) -> None:
    form.delete()


# ---------------------------------------------------------------------------------------------
# A recipient's answers (the public form page)


class FormClosed(Exception):
    """The form is not editable and this recipient has already submitted it."""


class FormAnswerInvalid(Exception):
    """The submitted values break the form's rules; `errors` maps custom field -> message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))


def form_answer_get(*, form: Form, message: Message) -> FormAnswer | None:
    return FormAnswer.objects.filter(form=form, contact_id=message.contact_id).first()


def form_is_closed(*, form: Form, message: Message) -> bool:
    if form.editable:
        return False
    return FormAnswer.objects.filter(
        form=form, contact_id=message.contact_id, status=FormAnswerStatus.SUBMITTED
    ).exists()


def _record(*, form: Form, message: Message, type: str, user_agent: str, extra: dict, once: bool) -> None:
    from messaging.events import events_record
    from messaging.providers.base import DeliveryEvent

    events_record(
        events=[
            DeliveryEvent(
                type=type,
                occurred_at=timezone.now(),
                provider=EVENT_SOURCE,
                # Opening or rejecting counts once per recipient and form; every submission counts.
                provider_event_id=f"{type}:{form.pk}:{message.public_id}" if once else None,
                message_public_id=message.public_id,
                user_agent=user_agent[:500],
                extra={"formId": form.pk, **extra},
            )
        ]
    )


def form_open(*, form: Form, message: Message, user_agent: str = "") -> None:
    """The recipient opened their form page: `form_opened`, once per recipient and form."""
    _record(form=form, message=message, type=EventType.FORM_OPENED, user_agent=user_agent, extra={}, once=True)


def form_submit(*, form: Form, message: Message, data: Any, user_agent: str = "") -> FormAnswer:
    """Check the posted values against the form, write each one onto the contact as its custom
    field (typed), store the answer and record `form_submitted` with `{"formValues": {...}}`.

    Raises FormClosed (non-editable form already submitted by this recipient) or
    FormAnswerInvalid; either way nothing changes.
    """
    values, errors = submission_clean(form.fields, data)
    if errors:
        raise FormAnswerInvalid(errors)
    form_values = {value.key: value.value for value in values}
    with transaction.atomic():
        # Locks this recipient's answer row (or the form, before the first answer) so two posts
        # of a non-editable form cannot both pass the check.
        Form.objects.select_for_update().filter(pk=form.pk).first()
        if form_is_closed(form=form, message=message):
            raise FormClosed
        contact = message.contact
        known = dict(
            CustomField.objects.filter(account_id=form.account_id, key__in=list(form_values)).values_list("key", "type")
        )
        inputs = [
            CustomFieldInput(key=value.key, value=value.value, type=None if value.key in known else value.type)
            for value in values
        ]
        if inputs:
            try:
                contact_update(contact=contact, custom_fields=inputs)
            except ValidationError as exc:
                raise FormAnswerInvalid({values[0].key: exc.messages[0]}) from exc
        answer, _ = FormAnswer.objects.update_or_create(
            form=form,
            contact=contact,
            defaults={"message": message, "status": FormAnswerStatus.SUBMITTED, "values": form_values},
        )
        _record(
            form=form,
            message=message,
            type=EventType.FORM_SUBMITTED,
            user_agent=user_agent,
            extra={"formValues": form_values},
            once=False,
        )
    return answer


def form_reject(*, form: Form, message: Message, user_agent: str = "") -> None:
    """The recipient pressed Reject: nothing of theirs is stored; `form_rejected` is recorded."""
    with transaction.atomic():
        Form.objects.select_for_update().filter(pk=form.pk).first()
        if form_is_closed(form=form, message=message):
            raise FormClosed
        FormAnswer.objects.get_or_create(
            form=form, contact=message.contact, defaults={"message": message, "status": FormAnswerStatus.REJECTED}
        )
        _record(form=form, message=message, type=EventType.FORM_REJECTED, user_agent=user_agent, extra={}, once=True)
