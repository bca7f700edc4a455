"""Staff web pages for contacts: search, a contact's page (custom fields, groups, message history),
create / edit / delete, groups, blacklists per channel, import (upload, column mapping, progress,
row errors) and export.

Thin views over contacts.selectors / contacts.services / contacts.importing / contacts.exporting,
the functions the REST API and the admin call; the import runs the admin's own flow
(ContactAdmin._start_import with its ImportMappingForm). Every query is scoped to
request.user.account; another account's ids answer 404.
"""

from __future__ import annotations

from typing import Any, Final

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Account
from campaigns.selectors import messages_with_events
from campaigns.views import account_view
from compliance.consent import ConsentInvalid, consent_history, consent_history_csv, consent_of, consent_set
from compliance.models import ConsentChannel, ConsentSource, ConsentStatus
from config.web_paging import keyset_page
from contacts.admin import ContactAdmin, ImportMappingForm
from contacts.exporting import contacts_export_response
from contacts.importing import (
    ContactImportInvalid,
    contact_import_errors_csv,
    contact_import_progress,
    contact_import_stage,
    staged_upload_discard,
)
from contacts.models import BlacklistType, Contact, ContactImport, CustomField
from contacts.selectors import (
    blacklist_list,
    contact_get,
    contact_messages,
    contact_search,
    group_get,
    group_list,
    group_list_with_sizes,
)
from contacts.services import (
    CustomFieldInput,
    blacklist_add,
    blacklist_remove,
    contact_create,
    contact_delete,
    contact_update,
    group_create,
    group_delete,
    group_update,
)

STAGED_SESSION_KEY: Final = "web_contact_import_staged"
CONTACT_FIELDS: Final = ("email", "phone", "landline", "country_iso", "name", "surname", "external_id")
# The services word their errors with the REST API's field names; this puts each beside its field.
API_FIELD_NAMES: Final = (
    ("countryIso", "country_iso"),
    ("externalId", "external_id"),
    ("groups", "groups"),
    ("customFields", "new_field_value"),
    ("email", "email"),
    ("landline", "landline"),
    ("phone", "phone"),
    ("surname", "surname"),
    ("name", "name"),
)


def _contact_or_404(account: Account, contact_id: int) -> Contact:
    contact = contact_get(account=account, contact_id=contact_id, with_groups=True)
    if contact is None:
        raise Http404("No such contact.")
    return contact


def _first_message(exc: ValidationError | ContactImportInvalid) -> str:
    return exc.messages[0] if isinstance(exc, ValidationError) else str(exc)


def _field_for(message: str) -> str | None:
    for api_name, field in API_FIELD_NAMES:
        if api_name in message:
            return field
    return None


# ---------------------------------------------------------------------------------------------
# List, search, export


class ContactSearchForm(forms.Form):
    q = forms.CharField(
        required=False, label="Search", help_text="A whole email or phone number, or part of a name or external id."
    )
    group = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Group")
    country = forms.CharField(required=False, max_length=2, label="Country (ISO code)")

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = [("", "Any group"), *group_list(account=account).values_list("id", "name")]


def _searched(request: HttpRequest, account: Account) -> tuple[ContactSearchForm, Any]:
    form = ContactSearchForm(request.GET or None, account=account)
    if not (form.is_bound and form.is_valid()):
        return form, contact_search(account=account)
    data = form.cleaned_data
    try:
        contacts = contact_search(
            account=account, query=data["q"] or "", group_id=data["group"], country_iso=data["country"] or None
        )
    except ValidationError as exc:
        form.add_error("country", exc.messages[0])
        contacts = Contact.objects.none()
    return form, contacts


@require_GET
@account_view
def contact_list_view(request: HttpRequest, account: Account) -> HttpResponse:
    form, contacts = _searched(request, account)
    page = keyset_page(request, contacts, size=50)
    query = request.GET.copy()
    for cursor in ("after", "before"):
        query.pop(cursor, None)
    export_query = query.urlencode()
    return render(request, "contacts/contact_list.html", {"form": form, "page": page, "export_query": export_query})


@require_GET
@account_view
def contact_export_view(request: HttpRequest, account: Account) -> StreamingHttpResponse:
    """The contacts the list shows (same search), as CSV or XLSX in the import's columns."""
    _form, contacts = _searched(request, account)
    file_format = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    return contacts_export_response(queryset=contacts, file_format=file_format)


# ---------------------------------------------------------------------------------------------
# A contact


class ContactForm(forms.Form):
    email = forms.CharField(required=False, max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    phone = forms.CharField(required=False, max_length=32, help_text="International (+34 666 555 444) or national.")
    landline = forms.CharField(required=False, max_length=32)
    country_iso = forms.CharField(
        required=False, max_length=2, label="Country", help_text="Two-letter ISO code; reads national numbers."
    )
    name = forms.CharField(required=False, max_length=255)
    surname = forms.CharField(required=False, max_length=255)
    external_id = forms.CharField(required=False, max_length=255, label="External id")
    groups = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    new_field_key = forms.CharField(required=False, max_length=64, label="New custom field")
    new_field_value = forms.CharField(required=False, max_length=1000, label="Its value")

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["groups"].choices = [(str(g.id), g.name) for g in group_list(account=account)]
        self.custom_keys = list(CustomField.objects.filter(account=account).order_by("key").values_list("key", "type"))
        for key, kind in self.custom_keys:
            self.fields[f"custom_{key}"] = forms.CharField(required=False, max_length=1000, label=f"{key} ({kind})")

    def custom_fields(self) -> list[forms.BoundField]:
        return [self[f"custom_{key}"] for key, _kind in self.custom_keys]

    def custom_inputs(self, *, existing: dict[str, str]) -> list[CustomFieldInput]:
        """Custom values typed or changed; an emptied field is left as it was (values cannot be blank)."""
        inputs = [
            CustomFieldInput(key=key, value=self.cleaned_data[f"custom_{key}"].strip())
            for key, _kind in self.custom_keys
            if self.cleaned_data[f"custom_{key}"].strip()
            and self.cleaned_data[f"custom_{key}"].strip() != existing.get(key)
        ]
        new_key = self.cleaned_data["new_field_key"].strip()
        if new_key:
            inputs.append(CustomFieldInput(key=new_key, value=self.cleaned_data["new_field_value"]))
        return inputs

    def values(self) -> dict[str, Any]:
        return {name: (self.cleaned_data[name].strip() or None) for name in CONTACT_FIELDS}


def _contact_initial(contact: Contact) -> dict[str, Any]:
    initial: dict[str, Any] = {name: getattr(contact, name) or "" for name in CONTACT_FIELDS}
    initial["groups"] = [str(group.id) for group in contact.groups.all()]
    for key, value in (contact.custom_fields or {}).items():
        initial[f"custom_{key}"] = value
    return initial


def _save_contact(form: ContactForm, account: Account, contact: Contact | None) -> Contact | None:
    """Create or update through the services; a rule violation goes beside its field."""
    group_ids = [int(group_id) for group_id in form.cleaned_data["groups"]]
    try:
        with transaction.atomic():
            if contact is None:
                return contact_create(
                    account=account,
                    **form.values(),
                    groups_ids=group_ids,
                    custom_fields=form.custom_inputs(existing={}),
                    groups_required=False,
                )
            return contact_update(
                contact=contact,
                **form.values(),
                groups_ids=group_ids,
                custom_fields=form.custom_inputs(existing=contact.custom_fields or {}),
            )
    except ValidationError as exc:
        message = exc.messages[0]
        form.add_error(_field_for(message), message)
        return None


@require_http_methods(["GET", "POST"])
@account_view
def contact_create_view(request: HttpRequest, account: Account) -> HttpResponse:
    form = ContactForm(request.POST or None, account=account, initial={"country_iso": account.country})
    if request.method == "POST" and form.is_valid():
        contact = _save_contact(form, account, None)
        if contact is not None:
            messages.success(request, "Contact created.")
            return redirect("web-contact-detail", contact_id=contact.pk)
    return render(request, "contacts/contact_form.html", {"form": form, "contact": None})


@require_http_methods(["GET", "POST"])
@account_view
def contact_edit_view(request: HttpRequest, account: Account, contact_id: int) -> HttpResponse:
    contact = _contact_or_404(account, contact_id)
    initial = _contact_initial(contact)
    # A phone needs a country (the services' rule); offer the account's for contacts without one.
    initial["country_iso"] = initial["country_iso"] or account.country
    form = ContactForm(request.POST or None, account=account, initial=initial)
    if request.method == "POST" and form.is_valid():
        if _save_contact(form, account, contact) is not None:
            messages.success(request, "Contact saved.")
            return redirect("web-contact-detail", contact_id=contact.pk)
    return render(request, "contacts/contact_form.html", {"form": form, "contact": contact})


class ConsentForm(forms.Form):
    """Staff set one channel's consent of the contact (recorded with source "staff" and who)."""

    channel = forms.ChoiceField(choices=ConsentChannel.choices)
    status = forms.ChoiceField(choices=ConsentStatus.choices)
    note = forms.CharField(required=False, max_length=255, help_text="Why, e.g. 'asked by phone'.")


# Consent changes shown on the page; the CSV download holds all of them.
CONSENT_HISTORY_SHOWN: Final = 50


def _contact_detail(
    request: HttpRequest, account: Account, contact: Contact, consent_form: ConsentForm, *, status: int = 200
) -> HttpResponse:
    page = keyset_page(request, contact_messages(account=account, contact=contact), descending=True, size=20)
    consent_events = list(consent_history(contact=contact)[: CONSENT_HISTORY_SHOWN + 1])
    context = {
        "contact": contact,
        "custom_fields": sorted((contact.custom_fields or {}).items()),
        "page": page,
        "history": messages_with_events(page.items),
        "consents": [
            {
                "channel": ConsentChannel(channel).label,
                "status": ConsentStatus(state.status).label,
                "source": ConsentSource(state.source).label if state.source else "",
                "changed_at": state.changed_at,
            }
            for channel, state in consent_of(contact=contact).items()
        ],
        "consent_events": consent_events[:CONSENT_HISTORY_SHOWN],
        "consent_events_more": len(consent_events) > CONSENT_HISTORY_SHOWN,
        "consent_form": consent_form,
    }
    return render(request, "contacts/contact_detail.html", context, status=status)


@require_GET
@account_view
def contact_detail_view(request: HttpRequest, account: Account, contact_id: int) -> HttpResponse:
    contact = _contact_or_404(account, contact_id)
    return _contact_detail(request, account, contact, ConsentForm())


@require_POST
@account_view
def contact_consent_view(request: HttpRequest, account: Account, contact_id: int) -> HttpResponse:
    contact = _contact_or_404(account, contact_id)
    form = ConsentForm(request.POST)
    if form.is_valid():
        channel, status = form.cleaned_data["channel"], form.cleaned_data["status"]
        try:
            changed = consent_set(
                account=account, contact_ids=[contact.pk], channel=channel, status=status,
                source=ConsentSource.STAFF, user=request.user, note=form.cleaned_data["note"],
            )  # fmt: skip
        except ConsentInvalid as exc:
            form.add_error(exc.field if exc.field in form.fields else None, str(exc))
        else:
            label, status_label = ConsentChannel(channel).label, ConsentStatus(status).label
            if changed:
                messages.success(request, f"{label} consent set to {status_label}.")
            else:
                messages.info(request, f"{label} consent already was {status_label}; nothing recorded.")
            return redirect("web-contact-detail", contact_id=contact.pk)
    return _contact_detail(request, account, contact, form, status=400)


@require_GET
@account_view
def contact_consent_csv_view(request: HttpRequest, account: Account, contact_id: int) -> StreamingHttpResponse:
    contact = _contact_or_404(account, contact_id)
    response = StreamingHttpResponse(consent_history_csv(contact=contact), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="consent-history-{contact.pk}.csv"'
    return response


@require_POST
@account_view
def contact_delete_view(request: HttpRequest, account: Account, contact_id: int) -> HttpResponse:
    contact = _contact_or_404(account, contact_id)
    contact_delete(contact=contact)
    messages.success(request, f"Contact {contact} deleted.")
    return redirect("web-contact-list")


# ---------------------------------------------------------------------------------------------
# Groups


class GroupForm(forms.Form):
    name = forms.CharField(max_length=255, label="Group name")


@require_http_methods(["GET", "POST"])
@account_view
def group_list_view(request: HttpRequest, account: Account) -> HttpResponse:
    form = GroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            group = group_create(account=account, name=form.cleaned_data["name"])
        except ValidationError as exc:
            form.add_error("name", exc.messages[0])
        else:
            messages.success(request, f"Group {group.name} created.")
            return redirect("web-group-list")
    groups = group_list_with_sizes(account=account)
    return render(request, "contacts/group_list.html", {"form": form, "groups": groups})


@require_POST
@account_view
def group_update_view(request: HttpRequest, account: Account, group_id: int) -> HttpResponse:
    group = group_get(account=account, group_id=group_id)
    if group is None:
        raise Http404("No such group.")
    if request.POST.get("action") == "delete":
        group_delete(group=group)
        messages.success(request, f"Group {group.name} deleted; its contacts are kept.")
        return redirect("web-group-list")
    try:
        group_update(group=group, name=request.POST.get("name", ""))
    except ValidationError as exc:
        messages.error(request, f"Group {group.name} not renamed: {exc.messages[0]}")
    else:
        messages.success(request, f"Group renamed to {group.name}.")
    return redirect("web-group-list")


# ---------------------------------------------------------------------------------------------
# Blacklists


class BlacklistForm(forms.Form):
    recipient = forms.CharField(max_length=254, label="Phone number or email to block")


def _blacklist_type(raw: str) -> str:
    if raw not in BlacklistType.values:
        raise Http404("No such blacklist.")
    return raw


@require_http_methods(["GET", "POST"])
@account_view
def blacklist_view(request: HttpRequest, account: Account, type: str) -> HttpResponse:
    list_type = _blacklist_type(type)
    form = BlacklistForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            entry = blacklist_add(account=account, type=list_type, recipient=form.cleaned_data["recipient"])
        except ValidationError as exc:
            form.add_error("recipient", exc.messages[0])
        else:
            messages.success(request, f"{entry.recipient} is on the {list_type} blacklist.")
            return redirect("web-blacklist", type=list_type)
    recipient = request.GET.get("recipient", "").strip()
    try:
        entries = blacklist_list(account=account, type=list_type, recipient=recipient or None)
    except ValidationError:
        entries = blacklist_list(account=account, type=list_type).none()
    page = keyset_page(request, entries, descending=True, size=50)
    context = {
        "form": form,
        "page": page,
        "list_type": list_type,
        "types": BlacklistType.choices,
        "recipient": recipient,
    }
    return render(request, "contacts/blacklist.html", context)


@require_POST
@account_view
def blacklist_remove_view(request: HttpRequest, account: Account, type: str) -> HttpResponse:
    list_type = _blacklist_type(type)
    recipient = request.POST.get("recipient", "")
    try:
        removed = blacklist_remove(account=account, type=list_type, recipient=recipient)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        if removed:
            messages.success(request, f"{recipient} removed from the {list_type} blacklist.")
        else:
            messages.warning(request, f"{recipient} was not on the {list_type} blacklist.")
    return redirect("web-blacklist", type=list_type)


# ---------------------------------------------------------------------------------------------
# Import


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV or Excel file",
        help_text="CSV (UTF-8; comma, semicolon or tab separated) or .xlsx, column headers in the first row.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.xlsx"}),
    )
    default_country_iso = forms.CharField(
        label="Default country",
        max_length=2,
        required=False,
        help_text="Two-letter ISO code used to read national phone numbers; blank uses the account's country.",
    )


class WebImportMappingForm(ImportMappingForm):
    """The admin's mapping form (same choices and guesses), with plain checkboxes for groups."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["groups"].widget = forms.CheckboxSelectMultiple(choices=self.fields["groups"].choices)


@require_http_methods(["GET", "POST"])
@account_view
def import_upload_view(request: HttpRequest, account: Account) -> HttpResponse:
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            staged = contact_import_stage(uploaded_file=form.cleaned_data["file"])
        except ContactImportInvalid as exc:
            form.add_error("file", str(exc))
        else:
            previous = request.session.get(STAGED_SESSION_KEY)
            if previous:
                staged_upload_discard(path=previous["path"])
            country = (form.cleaned_data["default_country_iso"] or "").strip().upper() or account.country
            request.session[STAGED_SESSION_KEY] = {
                "path": staged.path,
                "original_name": staged.original_name,
                "headers": staged.headers,
                "account_id": account.id,
                "default_country_iso": country,
            }
            return redirect("web-contact-import-mapping")
    imports = ContactImport.objects.filter(account=account).order_by("-id")[:10]
    return render(request, "contacts/import_upload.html", {"form": form, "imports": imports})


@require_http_methods(["GET", "POST"])
@account_view
def import_mapping_view(request: HttpRequest, account: Account) -> HttpResponse:
    staged = request.session.get(STAGED_SESSION_KEY)
    if not staged or staged.get("account_id") != account.id:
        messages.warning(request, "Upload a file first.")
        return redirect("web-contact-import")
    form = WebImportMappingForm(request.POST or None, headers=staged["headers"], account=account)
    if request.method == "POST" and form.is_valid():
        try:
            contact_import = ContactAdmin._start_import(request, account, staged, form)
        except (ContactImportInvalid, ValidationError) as exc:
            form.add_error(None, _first_message(exc))
        else:
            staged_upload_discard(path=staged["path"])
            del request.session[STAGED_SESSION_KEY]
            messages.success(request, f"Import of {contact_import.original_name} started.")
            return redirect("web-contact-import-status", import_id=contact_import.pk)
    return render(request, "contacts/import_mapping.html", {"form": form, "staged": staged})


def _import_or_404(account: Account, import_id: int) -> ContactImport:
    contact_import = ContactImport.objects.filter(account=account, pk=import_id).first()
    if contact_import is None:
        raise Http404("No such import.")
    return contact_import


@require_GET
@account_view
def import_status_view(request: HttpRequest, account: Account, import_id: int) -> HttpResponse:
    contact_import = _import_or_404(account, import_id)
    progress = contact_import_progress(contact_import=contact_import)
    errors = list(contact_import.row_errors.order_by("row_number", "id")[:20])
    context = {"contact_import": contact_import, "progress": progress, "errors": errors}
    return render(request, "contacts/import_status.html", context)


@require_GET
@account_view
def import_status_json_view(request: HttpRequest, account: Account, import_id: int) -> JsonResponse:
    return JsonResponse(contact_import_progress(contact_import=_import_or_404(account, import_id)))


@require_GET
@account_view
def import_errors_csv_view(request: HttpRequest, account: Account, import_id: int) -> StreamingHttpResponse:
    contact_import = _import_or_404(account, import_id)
    response = StreamingHttpResponse(
        contact_import_errors_csv(contact_import=contact_import), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-{contact_import.pk}-errors.csv"'
    return response
