"""Admin for contacts, groups, custom fields, blacklists and contact imports.

Writes go through the same services as the API (contacts.services, contacts.importing), so the
admin normalises and validates exactly like every other entry point.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect, FilteredSelectMultiple
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from accounts.models import Account
from contacts.custom_fields import valid_key
from contacts.exporting import contacts_export_response
from contacts.importing import (
    CONSENT_FIELDS,
    CONTACT_FIELDS,
    CUSTOM_PREFIX,
    ContactImportInvalid,
    contact_import_create,
    contact_import_enqueue,
    contact_import_errors_csv,
    contact_import_progress,
    contact_import_stage,
    staged_upload_discard,
    staged_upload_open,
)
from contacts.models import (
    BlacklistEntry,
    BlacklistType,
    Contact,
    ContactImport,
    ContactImportError,
    CustomField,
    CustomFieldType,
    Group,
    Membership,
)
from contacts.services import (
    blacklist_add,
    blacklist_recipient_normalise,
    contact_create,
    contact_update,
    group_create,
    group_update,
    groups_resolve,
)

STAGED_SESSION_KEY = "contact_import_staged"
MEMBERSHIP_CHUNK_SIZE = 5000
IMPORT_ERRORS_SHOWN = 100


def _first_message(exc: ValidationError | ContactImportInvalid) -> str:
    return exc.messages[0] if isinstance(exc, ValidationError) else str(exc)


class _DryRun(Exception):
    """Rolls back a service call made only to validate a form."""


class ServiceValidatedForm(forms.ModelForm):
    """A model form whose rules are the service's: clean() runs `service_save` in a transaction that
    is always rolled back, so the admin shows the service's own message next to the form, and the
    ModelAdmin's save_model runs it for real."""

    def service_save(self, data: dict[str, Any]) -> Any:
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            with transaction.atomic():
                self.service_save(cleaned)
                raise _DryRun
        except _DryRun:
            pass
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages[0]) from exc
        return cleaned


# ---------------------------------------------------------------------------------------------
# Groups and custom fields


class GroupForm(ServiceValidatedForm):
    class Meta:
        model = Group
        fields = ["account", "name"]

    def service_save(self, data: dict[str, Any]) -> Group:
        if self.instance.pk is None:
            return group_create(account=data["account"], name=data["name"])
        return group_update(group=Group.objects.select_related("account").get(pk=self.instance.pk), name=data["name"])


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    form = GroupForm
    list_display = ["name", "account", "members", "created_at"]
    list_filter = ["account"]
    list_select_related = ["account"]
    search_fields = ["name", "account__name"]
    autocomplete_fields = ["account"]
    readonly_fields = ["created_at"]
    ordering = ["account__name", "name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Group]:
        return super().get_queryset(request).annotate(members_count=Count("contacts"))

    @admin.display(description="Members", ordering="members_count")
    def members(self, group: Group) -> int:
        return group.members_count

    def get_readonly_fields(self, request: HttpRequest, obj: Group | None = None) -> list[str]:
        # Moving a group to another account would leave it full of that account's strangers.
        return [*self.readonly_fields, "account"] if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Group, form: GroupForm, change: bool) -> None:
        saved = form.service_save(form.cleaned_data)
        obj.pk, obj.name, obj.created_at = saved.pk, saved.name, saved.created_at


class CustomFieldForm(forms.ModelForm):
    class Meta:
        model = CustomField
        fields = ["account", "key", "type"]

    def clean_key(self) -> str:
        key = (self.cleaned_data.get("key") or "").strip()
        if not valid_key(key):
            raise forms.ValidationError("Use letters, digits, _ . and - (up to 64 characters).")
        return key


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    form = CustomFieldForm
    list_display = ["key", "type", "account", "created_at"]
    list_filter = ["type", "account"]
    list_select_related = ["account"]
    search_fields = ["key", "account__name"]
    autocomplete_fields = ["account"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: CustomField | None = None) -> list[str]:
        # Contacts hold values under the key, typed by the definition: renaming or retyping would
        # orphan or invalidate them.
        return [*self.readonly_fields, "account", "key", "type"] if obj else self.readonly_fields


# ---------------------------------------------------------------------------------------------
# Contacts


class MembershipInlineFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        account_id = self.instance.account_id
        for form in self.forms:
            group = getattr(form, "cleaned_data", {}).get("group")
            if group is not None and account_id is not None and group.account_id != account_id:
                form.add_error("group", "Choose a group of the contact's account.")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
    fields = ["group", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["group"]
    extra = 0
    verbose_name = "group membership"


CONTACT_FORM_FIELDS = ["account", "email", "phone", "landline", "country_iso", "name", "surname", "external_id"]


class ContactAdminForm(ServiceValidatedForm):
    """Shows the API's own messages (bad phone, missing country, email already taken...)."""

    class Meta:
        model = Contact
        fields = CONTACT_FORM_FIELDS

    def service_save(self, data: dict[str, Any]) -> Contact:
        values = {name: data.get(name) for name in CONTACT_FORM_FIELDS if name != "account"}
        if self.instance.pk is None:
            return contact_create(account=data["account"], groups_required=False, **values)
        stored = Contact.objects.select_related("account").get(pk=self.instance.pk)
        return contact_update(contact=stored, **values)


class IdentifierFilter(admin.SimpleListFilter):
    title = "identifier"
    parameter_name = "has"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("phone", "With phone"), ("email", "With email"), ("landline", "With landline")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Contact]) -> QuerySet[Contact]:
        if self.value() in ("phone", "email", "landline"):
            return queryset.filter(**{f"{self.value()}__isnull": False})
        return queryset


class AddToGroupForm(forms.Form):
    group = forms.ModelChoiceField(queryset=Group.objects.none(), label="Group")

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = Group.objects.filter(account=account).order_by("name")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    form = ContactAdminForm
    change_list_template = "admin/contacts/contact/change_list.html"
    list_display = ["id", "email", "phone", "landline", "country_iso", "name", "surname", "account", "created_at"]
    list_display_links = ["id", "email", "phone"]
    list_filter = ["account", "country_iso", IdentifierFilter, "groups", "created_at"]
    list_select_related = ["account"]
    search_fields = ["email", "phone", "landline", "name", "surname", "=external_id"]
    autocomplete_fields = ["account"]
    readonly_fields = ["custom_fields_display", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["account", "email", "phone", "landline", "country_iso"]}),
        ("Person", {"fields": ["name", "surname", "external_id"]}),
        ("Custom fields", {"fields": ["custom_fields_display"]}),
        ("Dates", {"fields": ["created_at", "updated_at"]}),
    ]
    inlines = [MembershipInline]
    actions = [
        "add_to_group",
        "blacklist_sms",
        "blacklist_mailing",
        "blacklist_voice",
        "export_csv",
        "export_xlsx",
    ]
    # Counting a million contacts on every page load is the slowest part of a changelist.
    show_full_result_count = False
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request: HttpRequest, obj: Contact | None = None) -> list[str]:
        return [*self.readonly_fields, "account"] if obj else self.readonly_fields

    @admin.display(description="Custom fields")
    def custom_fields_display(self, contact: Contact) -> str:
        values = contact.custom_fields or {}
        if not values:
            return "-"
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", sorted(values.items()))
        return format_html("<table>{}</table>", rows)

    def save_model(self, request: HttpRequest, obj: Contact, form: ContactAdminForm, change: bool) -> None:
        saved = form.service_save(form.cleaned_data)
        for field in [*CONTACT_FORM_FIELDS, "custom_fields", "created_at", "updated_at"]:
            setattr(obj, field, getattr(saved, field))
        obj.pk = saved.pk

    # -- bulk actions ----------------------------------------------------------------------

    @admin.action(description="Add to group", permissions=["change"])
    def add_to_group(self, request: HttpRequest, queryset: QuerySet[Contact]) -> TemplateResponse | None:
        account_ids = list(queryset.order_by().values_list("account_id", flat=True).distinct()[:2])
        if len(account_ids) != 1:
            self.message_user(request, "Select contacts of a single account to add them to a group.", messages.ERROR)
            return None
        account = Account.objects.get(pk=account_ids[0])
        form = AddToGroupForm(request.POST if "apply" in request.POST else None, account=account)
        if form.is_bound and form.is_valid():
            group = form.cleaned_data["group"]
            added = group_members_add(group=group, contacts=queryset)
            self.message_user(request, f"{added} contact(s) added to group {group.name}.", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/contacts/contact/add_to_group.html",
            {
                **self.admin_site.each_context(request),
                "title": "Add contacts to a group",
                "opts": self.opts,
                "form": form,
                "account": account,
                "count": queryset.count(),
                "queryset": queryset[:20],
                "action": "add_to_group",
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
            },
        )

    def _blacklist(self, request: HttpRequest, queryset: QuerySet[Contact], list_type: str) -> None:
        attributes = {
            BlacklistType.SMS: ["phone"],
            BlacklistType.MAILING: ["email"],
            BlacklistType.VOICE: ["phone", "landline"],
        }[list_type]
        listed = skipped = 0
        with transaction.atomic():
            for contact in queryset.select_related("account").iterator(chunk_size=2000):
                recipients = [getattr(contact, name) for name in attributes if getattr(contact, name)]
                if not recipients:
                    skipped += 1
                for recipient in recipients:
                    blacklist_add(account=contact.account, type=list_type, recipient=recipient)
                    listed += 1
        what = " or ".join(attributes)
        message = f"{listed} recipient(s) on the {list_type} blacklist."
        if skipped:
            message += f" {skipped} contact(s) without {what} skipped."
        self.message_user(request, message, messages.SUCCESS)

    @admin.action(description="Blacklist for sms (phones)", permissions=["change"])
    def blacklist_sms(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        self._blacklist(request, queryset, BlacklistType.SMS)

    @admin.action(description="Blacklist for mailing (emails)", permissions=["change"])
    def blacklist_mailing(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        self._blacklist(request, queryset, BlacklistType.MAILING)

    @admin.action(description="Blacklist for voice (phones and landlines)", permissions=["change"])
    def blacklist_voice(self, request: HttpRequest, queryset: QuerySet[Contact]) -> None:
        self._blacklist(request, queryset, BlacklistType.VOICE)

    @admin.action(description="Export selected as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Contact]) -> StreamingHttpResponse:
        return contacts_export_response(queryset=queryset, file_format="csv")

    @admin.action(description="Export selected as XLSX", permissions=["view"])
    def export_xlsx(self, request: HttpRequest, queryset: QuerySet[Contact]) -> StreamingHttpResponse:
        return contacts_export_response(queryset=queryset, file_format="xlsx")

    # -- import: upload -> mapping -> (enqueue) -> status ----------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(self.import_upload_view), name="contacts_contact_import"),
            path("import/mapping/", wrap(self.import_mapping_view), name="contacts_contact_import_mapping"),
            *super().get_urls(),
        ]

    def _can_import(self, request: HttpRequest) -> bool:
        return self.has_add_permission(request) and self.has_change_permission(request)

    def _check_import_permission(self, request: HttpRequest) -> None:
        if not self._can_import(request):
            raise PermissionDenied

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "can_import": self._can_import(request)})

    def import_upload_view(self, request: HttpRequest) -> HttpResponse:
        self._check_import_permission(request)
        form = ImportUploadForm(request.POST or None, request.FILES or None, admin_site=self.admin_site)
        if request.method == "POST" and form.is_valid():
            try:
                staged = contact_import_stage(uploaded_file=form.cleaned_data["file"])
            except ContactImportInvalid as exc:
                form.add_error("file", str(exc))
            else:
                previous = request.session.get(STAGED_SESSION_KEY)
                if previous:
                    staged_upload_discard(path=previous["path"])
                account = form.cleaned_data["account"]
                request.session[STAGED_SESSION_KEY] = {
                    "path": staged.path,
                    "original_name": staged.original_name,
                    "headers": staged.headers,
                    "account_id": account.id,
                    "default_country_iso": form.cleaned_data["default_country_iso"] or account.country,
                }
                return HttpResponseRedirect(reverse("admin:contacts_contact_import_mapping"))
        return TemplateResponse(
            request,
            "admin/contacts/contact/import_upload.html",
            {**self.admin_site.each_context(request), "title": "Import contacts", "opts": self.opts, "form": form},
        )

    def import_mapping_view(self, request: HttpRequest) -> HttpResponse:
        self._check_import_permission(request)
        staged = request.session.get(STAGED_SESSION_KEY)
        if not staged:
            self.message_user(request, "Upload a file first.", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:contacts_contact_import"))
        account = get_object_or_404(Account, pk=staged["account_id"])
        form = ImportMappingForm(request.POST or None, headers=staged["headers"], account=account)
        if request.method == "POST" and form.is_valid():
            try:
                contact_import = self._start_import(request, account, staged, form)
            except (ContactImportInvalid, ValidationError) as exc:
                form.add_error(None, _first_message(exc))
            else:
                staged_upload_discard(path=staged["path"])
                del request.session[STAGED_SESSION_KEY]
                self.message_user(request, f"Import of {contact_import.original_name} queued.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:contacts_contactimport_status", args=[contact_import.pk]))
        return TemplateResponse(
            request,
            "admin/contacts/contact/import_mapping.html",
            {
                **self.admin_site.each_context(request),
                "title": "Map columns",
                "opts": self.opts,
                "form": form,
                "account": account,
                "staged": staged,
                "media": self.media + form.media,
            },
        )

    @staticmethod
    def _start_import(
        request: HttpRequest, account: Account, staged: dict[str, Any], form: ImportMappingForm
    ) -> ContactImport:
        with transaction.atomic():
            groups = list(form.cleaned_data["groups"])
            if form.cleaned_data["new_group"]:
                groups += groups_resolve(account=account, names=[form.cleaned_data["new_group"]])
            uploaded_file = staged_upload_open(path=staged["path"], original_name=staged["original_name"])
            try:
                contact_import = contact_import_create(
                    account=account,
                    created_by=request.user,
                    uploaded_file=uploaded_file,
                    mapping=form.mapping(),
                    group_ids=[group.id for group in groups],
                    default_country_iso=staged["default_country_iso"],
                )
            finally:
                uploaded_file.close()
            contact_import_enqueue(contact_import=contact_import)
        return contact_import


def group_members_add(*, group: Group, contacts: QuerySet[Contact]) -> int:
    """Add the contacts of the group's account to it (others are ignored); the number selected.

    Set-based, a chunk of ids at a time, so "select all" on a million contacts stays bounded.
    """
    ids = contacts.filter(account_id=group.account_id).order_by().values_list("id", flat=True)
    total = 0
    chunk: list[int] = []
    with transaction.atomic():
        for contact_id in ids.iterator(chunk_size=MEMBERSHIP_CHUNK_SIZE):
            chunk.append(contact_id)
            if len(chunk) == MEMBERSHIP_CHUNK_SIZE:
                total += _add_members(group, chunk)
                chunk = []
        total += _add_members(group, chunk)
    return total


def _add_members(group: Group, contact_ids: list[int]) -> int:
    Membership.objects.bulk_create(
        [Membership(contact_id=contact_id, group=group) for contact_id in contact_ids], ignore_conflicts=True
    )
    return len(contact_ids)


class ImportUploadForm(forms.Form):
    account = forms.ModelChoiceField(queryset=Account.objects.all())
    file = forms.FileField(
        help_text="CSV (UTF-8; comma, semicolon or tab separated) or Excel .xlsx, column headers in the first row."
    )
    default_country_iso = forms.CharField(
        label="Default country",
        max_length=2,
        required=False,
        help_text="Two-letter ISO code used to read national phone numbers; blank uses the account's country.",
    )

    def __init__(self, *args: Any, admin_site: admin.AdminSite, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["account"]
        field.widget = AutocompleteSelect(ContactImport._meta.get_field("account"), admin_site)
        field.widget.choices = field.choices

    def clean_default_country_iso(self) -> str:
        return (self.cleaned_data.get("default_country_iso") or "").strip().upper()


def _guess_target(header: str, custom_keys: set[str]) -> str:
    """Pre-selects the obvious field for a header (the export's own headers read back as-is)."""
    simplified = header.strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    for name in (*CONTACT_FIELDS, *CONSENT_FIELDS):
        if simplified == name.lower().replace("_", ""):
            return name
    aliases = {"mobile": "phone", "telephone": "phone", "mail": "email", "country": "countryIso", "firstname": "name"}
    if simplified in aliases:
        return aliases[simplified]
    for key in (header.strip(), _custom_key_for(header)):
        if key in custom_keys:
            return f"{CUSTOM_PREFIX}{key}"
    return ""


class ImportMappingForm(forms.Form):
    """One select per column header, then the target groups."""

    groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.none(), required=False, widget=FilteredSelectMultiple("groups", is_stacked=False)
    )
    new_group = forms.CharField(required=False, max_length=255, label="Also add to a new group named")

    def __init__(self, *args: Any, headers: list[str], account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["groups"].queryset = Group.objects.filter(account=account).order_by("name")
        custom = dict(CustomField.objects.filter(account=account).values_list("key", "type"))
        base_choices = [("", "— ignore —"), *((name, name) for name in (*CONTACT_FIELDS, *CONSENT_FIELDS))]
        base_choices += [(f"{CUSTOM_PREFIX}{key}", f"custom: {key} ({kind})") for key, kind in sorted(custom.items())]
        self.columns: list[tuple[str, str]] = []
        for index, header in enumerate(headers):
            if not header:
                continue
            choices = list(base_choices)
            key = _custom_key_for(header)
            if key and key not in custom:
                choices += [
                    (f"{CUSTOM_PREFIX}{key}:{kind}", f"new custom field {key} ({kind})")
                    for kind in CustomFieldType.values
                ]
            field_name = f"column_{index}"
            self.fields[field_name] = forms.ChoiceField(
                label=header, choices=choices, required=False, initial=_guess_target(header, set(custom))
            )
            self.columns.append((field_name, header))

    def column_fields(self) -> list[forms.BoundField]:
        return [self[field_name] for field_name, _ in self.columns]

    def mapping(self) -> dict[str, str]:
        return {header: self.cleaned_data[name] for name, header in self.columns if self.cleaned_data.get(name)}


def _custom_key_for(header: str) -> str:
    key = "".join(char if char.isascii() and (char.isalnum() or char in "_.-") else "_" for char in header.strip())
    key = key.strip("_").lower()[:64]
    return key if valid_key(key) else ""


# ---------------------------------------------------------------------------------------------
# Blacklist


class BlacklistEntryForm(forms.ModelForm):
    class Meta:
        model = BlacklistEntry
        fields = ["account", "type", "recipient", "is_definitive", "sending"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("type") and cleaned.get("recipient"):
            try:
                cleaned["recipient"] = blacklist_recipient_normalise(
                    type=cleaned["type"], recipient=cleaned["recipient"]
                )
            except ValidationError as exc:
                self.add_error("recipient", exc.messages[0])
        sending = cleaned.get("sending")
        if sending is not None and cleaned.get("account") and sending.account_id != cleaned["account"].id:
            self.add_error("sending", "Choose a sending of the same account.")
        return cleaned


@admin.register(BlacklistEntry)
class BlacklistEntryAdmin(admin.ModelAdmin):
    form = BlacklistEntryForm
    list_display = ["recipient", "type", "account", "is_definitive", "sending", "created_at"]
    list_filter = ["type", "is_definitive", "account"]
    list_select_related = ["account", "sending"]
    search_fields = ["recipient", "account__name"]
    autocomplete_fields = ["account", "sending"]
    readonly_fields = ["created_at"]
    date_hierarchy = "created_at"

    def save_model(self, request: HttpRequest, obj: BlacklistEntry, form: forms.ModelForm, change: bool) -> None:
        if change:
            obj.recipient = form.cleaned_data["recipient"]
            obj.save()
            return
        entry = blacklist_add(
            account=obj.account,
            type=obj.type,
            recipient=obj.recipient,
            sending=obj.sending,
            is_definitive=obj.is_definitive,
        )
        obj.pk = entry.pk


# ---------------------------------------------------------------------------------------------
# Imports


class FirstErrorsFormSet(BaseInlineFormSet):
    """Only the first rows: an import can have tens of thousands of errors; the CSV has them all."""

    def get_queryset(self) -> QuerySet[ContactImportError]:
        queryset = super().get_queryset()
        first_ids = list(queryset.order_by("row_number", "id").values_list("id", flat=True)[:IMPORT_ERRORS_SHOWN])
        return queryset.filter(id__in=first_ids)


class ContactImportErrorInline(admin.TabularInline):
    model = ContactImportError
    formset = FirstErrorsFormSet
    fields = ["row_number", "message", "values"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = "row error"
    verbose_name_plural = f"row errors (first {IMPORT_ERRORS_SHOWN}; download the CSV for all)"

    def has_add_permission(self, request: HttpRequest, obj: ContactImport | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ContactImport | None = None) -> bool:
        return False


@admin.register(ContactImport)
class ContactImportAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "original_name",
        "account",
        "status",
        "progress",
        "created_count",
        "updated_count",
        "error_count",
        "created_by",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "account", "created_at"]
    list_select_related = ["account", "created_by"]
    search_fields = ["original_name", "account__name"]
    readonly_fields = [
        "account",
        "created_by",
        "original_name",
        "file",
        "mapping",
        "target_groups",
        "default_country_iso",
        "status",
        "status_page",
        "total_rows",
        "processed_rows",
        "created_count",
        "updated_count",
        "error_count",
        "errors_download",
        "fatal_error",
        "created_at",
        "started_at",
        "finished_at",
    ]
    exclude = ["groups"]
    inlines = [ContactImportErrorInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Imports start from the upload page (Contacts > Import), which validates the file first.
        return False

    def has_change_permission(self, request: HttpRequest, obj: ContactImport | None = None) -> bool:
        return False

    @admin.display(description="Progress")
    def progress(self, contact_import: ContactImport) -> str:
        return f"{contact_import.processed_rows}/{contact_import.total_rows}"

    @admin.display(description="Groups")
    def target_groups(self, contact_import: ContactImport) -> str:
        return ", ".join(group.name for group in contact_import.groups.all()) or "-"

    @admin.display(description="Status page")
    def status_page(self, contact_import: ContactImport) -> str:
        url = reverse("admin:contacts_contactimport_status", args=[contact_import.pk])
        return format_html('<a href="{}">Progress and results</a>', url)

    @admin.display(description="Row errors")
    def errors_download(self, contact_import: ContactImport) -> str:
        if not contact_import.error_count:
            return "-"
        url = reverse("admin:contacts_contactimport_errors_csv", args=[contact_import.pk])
        return format_html('<a href="{}">Download {} row error(s) as CSV</a>', url, contact_import.error_count)

    def delete_model(self, request: HttpRequest, obj: ContactImport) -> None:
        obj.file.delete(save=False)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ContactImport]) -> None:
        for contact_import in queryset:
            contact_import.file.delete(save=False)
        super().delete_queryset(request, queryset)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/status/", wrap(self.status_view), name="contacts_contactimport_status"),
            path("<int:pk>/status.json", wrap(self.status_json_view), name="contacts_contactimport_status_json"),
            path("<int:pk>/errors.csv", wrap(self.errors_csv_view), name="contacts_contactimport_errors_csv"),
            *super().get_urls(),
        ]

    def _viewable(self, request: HttpRequest, pk: int) -> ContactImport:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(ContactImport.objects.select_related("account", "created_by"), pk=pk)

    def status_view(self, request: HttpRequest, pk: int) -> TemplateResponse:
        contact_import = self._viewable(request, pk)
        return TemplateResponse(
            request,
            "admin/contacts/contactimport/status.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Import {contact_import.original_name}",
                "opts": self.opts,
                "contact_import": contact_import,
                "progress": contact_import_progress(contact_import=contact_import),
            },
        )

    def status_json_view(self, request: HttpRequest, pk: int) -> JsonResponse:
        contact_import = self._viewable(request, pk)
        return JsonResponse(contact_import_progress(contact_import=contact_import))

    def errors_csv_view(self, request: HttpRequest, pk: int) -> StreamingHttpResponse:
        contact_import = self._viewable(request, pk)
        response = StreamingHttpResponse(
            contact_import_errors_csv(contact_import=contact_import), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="import-{contact_import.pk}-errors.csv"'
        return response
