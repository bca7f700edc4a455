"""Admin for consent: the current state per contact and channel (set through `consent_set`, so every
change lands in the history with source "admin" and the operator) and the read-only history."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from compliance.consent import consent_set
from compliance.models import ConsentEvent, ConsentSource, ContactConsent


class ContactConsentForm(forms.ModelForm):
    class Meta:
        model = ContactConsent
        fields = ["contact", "channel", "status"]


@admin.register(ContactConsent)
class ContactConsentAdmin(admin.ModelAdmin):
    form = ContactConsentForm
    list_display = ("contact", "channel", "status", "source", "changed_at", "account")
    list_filter = ("channel", "status", "source")
    search_fields = ("contact__email", "contact__phone")
    raw_id_fields = ("contact",)
    readonly_fields = ("source", "changed_at")
    list_select_related = ("contact", "account")

    def get_readonly_fields(self, request: HttpRequest, obj: ContactConsent | None = None) -> tuple[str, ...]:
        # The state of an existing row changes only its status; contact and channel are its key.
        return (*self.readonly_fields, "contact", "channel") if obj else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: ContactConsent, form: Any, change: bool) -> None:
        consent_set(
            account=obj.contact.account,
            contact_ids=[obj.contact_id],
            channel=obj.channel,
            status=obj.status,
            source=ConsentSource.ADMIN,
            user=request.user,
            note="Set in the admin",
        )
        saved = ContactConsent.objects.filter(contact_id=obj.contact_id, channel=obj.channel).first()
        if saved is not None:
            obj.pk = saved.pk

    def has_delete_permission(self, request: HttpRequest, obj: ContactConsent | None = None) -> bool:
        # Deleting would change the state without a history row: set the status to unknown instead.
        return False


@admin.register(ConsentEvent)
class ConsentEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "contact", "channel", "status", "source", "note", "created_by", "account")
    list_filter = ("channel", "status", "source")
    search_fields = ("contact__email", "contact__phone", "note")
    list_select_related = ("contact", "account", "created_by")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ConsentEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ConsentEvent | None = None) -> bool:
        return False
