"""Operators read templates, forms, answers and files here; they are written through the API and
the staff pages (content.services), so the admin shows them read-only."""

from django.contrib import admin
from django.http import HttpRequest

from content.models import AccountFile, Form, FormAnswer, Template


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Template)
class TemplateAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "version", "name", "type", "updated_at")
    list_filter = ("version",)
    search_fields = ("name",)
    list_select_related = ("account",)


@admin.register(Form)
class FormAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "name", "editable", "reject_button", "updated_at")
    search_fields = ("name",)
    list_select_related = ("account",)


@admin.register(FormAnswer)
class FormAnswerAdmin(ReadOnlyAdmin):
    list_display = ("id", "form", "contact", "status", "updated_at")
    list_filter = ("status",)
    raw_id_fields = ("form", "contact", "message")


@admin.register(AccountFile)
class AccountFileAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "name", "content_type", "size", "created_at")
    search_fields = ("name",)
