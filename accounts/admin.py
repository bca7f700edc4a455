from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet, URLField
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from accounts.forms import ApiCredentialForm, VerifiedSenderForm
from accounts.models import Account, ApiCredential, BalanceEntry, User, VerifiedSender
from accounts.services import (
    api_credential_set,
    api_credential_set_allowed_ips,
    balance_top_up,
    event_notification_url_clean,
)


class VerifiedSenderInline(admin.TabularInline):
    model = VerifiedSender
    form = VerifiedSenderForm
    fields = ["email", "created_at"]
    readonly_fields = ["created_at"]
    extra = 0


class AccountAdminForm(forms.ModelForm):
    """No Meta: the ModelAdmin builds the form for Account with its own fields and read-only balance."""

    event_notification_url = forms.URLField(required=False, max_length=2000, assume_scheme="https")

    def clean_event_notification_url(self) -> str:
        # The same check as the staff settings page: operators cannot point an account at a refused address.
        return event_notification_url_clean(self.cleaned_data.get("event_notification_url") or "")


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["name", "country", "currency", "balance", "timezone", "users_count", "created_at"]
    list_filter = ["country", "currency"]
    search_fields = ["name"]
    # Explicit: the users_count annotation groups the query, and grouped queries ignore Meta.ordering.
    ordering = ["name"]
    # The balance moves only through ledger entries: the "Top up balance" page, sends, refunds, holds.
    readonly_fields = ["balance", "balance_links", "created_at"]
    inlines = [VerifiedSenderInline]
    formfield_overrides = {URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        return super().get_queryset(request).annotate(users_count=Count("users", distinct=True))

    @admin.display(description="Users", ordering="users_count")
    def users_count(self, account: Account) -> int:
        return account.users_count

    def save_model(self, request: HttpRequest, obj: Account, form, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Never write the balance read with the form: a send committed meanwhile would be undone.
        fields = [f.name for f in Account._meta.concrete_fields if not f.primary_key and f.name != "balance"]
        obj.save(update_fields=fields)

    @admin.display(description="Balance history")
    def balance_links(self, account: Account) -> str:
        if account.pk is None:
            return "-"
        return format_html(
            '<a href="{}">Top up balance</a> · <a href="{}?account__id__exact={}">Ledger entries</a>',
            reverse("admin:accounts_account_top_up", args=[account.pk]),
            reverse("admin:accounts_balanceentry_changelist"),
            account.pk,
        )

    def get_urls(self) -> list[URLPattern]:
        top_up = path(
            "<int:account_id>/top-up/",
            self.admin_site.admin_view(self.top_up_view),
            name="accounts_account_top_up",
        )
        return [top_up, *super().get_urls()]

    def top_up_view(self, request: HttpRequest, account_id: int) -> HttpResponse:
        account = get_object_or_404(Account, pk=account_id)
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        form = TopUpForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            entry = balance_top_up(
                account=account,
                amount=form.cleaned_data["amount"],
                note=form.cleaned_data["note"],
                created_by=request.user,
            )
            self.message_user(
                request,
                f"{account.name} topped up by {entry.amount:f} {account.currency}; balance {entry.balance_after:f}.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:accounts_account_change", args=[account.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Top up {account.name}",
            "opts": self.opts,
            "original": account,
            "form": form,
            "entries": account.balance_entries.select_related("created_by")[:20],
        }
        return TemplateResponse(request, "admin/accounts/account/top_up.html", context)


class TopUpForm(forms.Form):
    amount = forms.DecimalField(
        max_digits=14,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        help_text="Credit added to the balance, in the account's currency.",
    )
    note = forms.CharField(max_length=255, required=False, help_text="Invoice or payment reference, for the ledger.")


@admin.register(BalanceEntry)
class BalanceEntryAdmin(admin.ModelAdmin):
    """Read-only: the ledger is append-only; operators add credit through an account's "Top up balance"."""

    list_display = [
        "created_at",
        "account",
        "reason",
        "amount",
        "balance_after",
        "sending_id",
        "validation_id",
        "created_by",
        "note",
    ]
    list_filter = ["reason", "created_at"]
    list_select_related = ["account", "created_by"]
    search_fields = ["account__name", "note", "sending_id__exact", "validation_id__exact"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: BalanceEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: BalanceEntry | None = None) -> bool:
        return False


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
