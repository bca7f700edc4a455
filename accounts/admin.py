from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, QuerySet, URLField
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from accounts.forms import ApiCredentialForm, VerifiedSenderForm
from accounts.models import Account, ApiCredential, User, VerifiedSender
from accounts.services import api_credential_set, api_credential_set_allowed_ips


class VerifiedSenderInline(admin.TabularInline):
    model = VerifiedSender
    form = VerifiedSenderForm
    fields = ["email", "created_at"]
    readonly_fields = ["created_at"]
    extra = 0


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "country", "currency", "balance", "timezone", "users_count", "created_at"]
    list_filter = ["country", "currency"]
    search_fields = ["name"]
    # Explicit: the users_count annotation groups the query, and grouped queries ignore Meta.ordering.
    ordering = ["name"]
    readonly_fields = ["created_at"]
    inlines = [VerifiedSenderInline]
    formfield_overrides = {URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        return super().get_queryset(request).annotate(users_count=Count("users", distinct=True))

    @admin.display(description="Users", ordering="users_count")
    def users_count(self, account: Account) -> int:
        return account.users_count


class ApiCredentialInline(admin.StackedInline):
    """The API password itself is never shown, not even hashed: it is set only through the
    "Rotate API password" action, which displays the new password once."""

    model = ApiCredential
    form = ApiCredentialForm
    fields = ["allowed_ips", "created_at", "rotated_at", "last_used_at"]
    readonly_fields = ["created_at", "rotated_at", "last_used_at"]
    verbose_name = "API credential"
    max_num = 1
    can_delete = True

    def has_add_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        # An empty credential would have no password; the rotate action creates real ones.
        return False


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    fieldsets = (
        DjangoUserAdmin.fieldsets[0],
        ("Account", {"fields": ("account",)}),
        *DjangoUserAdmin.fieldsets[1:],
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "account", "email", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = ["username", "email", "account", "is_staff", "is_active", "last_login"]
    list_filter = ["account", "is_staff", "is_superuser", "is_active"]
    list_select_related = ["account"]
    search_fields = ["username", "email", "first_name", "last_name", "account__name"]
    autocomplete_fields = ["account"]
    inlines = [ApiCredentialInline]
    actions = ["rotate_api_password"]

    def get_inlines(self, request: HttpRequest, obj: User | None) -> list:
        return self.inlines if obj is not None else []

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not ApiCredential:
            super().save_formset(request, form, formset, change)
            return
        # Through the service, so the admin applies the same allowlist rules as every other writer.
        changed = formset.save(commit=False)
        for credential in formset.deleted_objects:
            credential.delete()
        for credential in changed:
            api_credential_set_allowed_ips(user=credential.user, allowed_ips=credential.allowed_ips)

    @admin.action(description="Rotate API password", permissions=["change"])
    def rotate_api_password(self, request: HttpRequest, queryset: QuerySet[User]) -> TemplateResponse | None:
        rotated: list[tuple[User, str]] = []
        skipped: list[str] = []
        for user in queryset.select_related("account").order_by("username"):
            if user.account_id is None:
                skipped.append(user.username)
                continue
            rotated.append((user, api_credential_set(user=user)))
        if skipped:
            self.message_user(
                request,
                f"Not rotated (API users need an account): {', '.join(skipped)}.",
                messages.WARNING,
            )
        if not rotated:
            return None
        # Rendered directly rather than queued as a flash message: flash messages may be kept in a
        # cookie, and a clear password must not be stored anywhere, not even in the operator's browser.
        response = TemplateResponse(
            request,
            "admin/accounts/user/api_password_rotated.html",
            {
                **self.admin_site.each_context(request),
                "title": "New API passwords",
                "opts": self.opts,
                "rotated": rotated,
            },
        )
        add_never_cache_headers(response)
        return response


@admin.register(VerifiedSender)
class VerifiedSenderAdmin(admin.ModelAdmin):
    form = VerifiedSenderForm
    list_display = ["email", "account", "created_at"]
    list_select_related = ["account"]
    search_fields = ["email", "account__name"]
    autocomplete_fields = ["account"]
    readonly_fields = ["created_at"]
