from django.contrib import admin
from django.http import HttpRequest

from tracking.models import ShortLink


@admin.register(ShortLink)
class ShortLinkAdmin(admin.ModelAdmin):
    """Short links are made by the shortener and by sends; operators look them up (by code, URL or
    message) and may delete one, but never hand-make one."""

    list_display = (
        "code",
        "kind",
        "account",
        "long_url",
        "message_public_id",
        "clicks",
        "last_clicked_at",
        "created_at",
    )
    list_filter = ("kind",)
    search_fields = ("code", "long_url", "message_public_id", "account__name")
    list_select_related = ("account",)
    readonly_fields = ("code", "kind", "account", "long_url", "url_hash", "message_public_id", "values", "clicks",
                       "last_clicked_at", "created_at")  # fmt: skip
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
