"""Staff web UI: sign-in, the dashboard and the account's settings pages.

Thin views over accounts.services, messaging.services and the dashboard selectors; every page
works on request.user.account only. Signed-in users without an account (platform operators) get
a page pointing them to the admin.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import (
    CHANNEL_LABELS,
    PLATFORM_DEFAULT,
    AllowedIpsForm,
    LockoutAuthenticationForm,
    NotificationUrlForm,
    ProviderRouteForm,
    VerifiedSenderAddForm,
)
from accounts.models import Account, ApiCredential, VerifiedSender
from accounts.services import (
    account_notifications_set,
    account_webhook_secret_rotate,
    api_credential_set,
    api_credential_set_allowed_ips,
    verified_sender_add,
    verified_sender_remove,
)
from campaigns.charts import FunnelRow, Series, funnel_svg, legend_html, stacked_bars_svg
from campaigns.dashboard_selectors import (
    DASHBOARD_LIST_LIMIT,
    FUNNEL_STAGES,
    funnel_sendings,
    messages_per_day,
    sendings_in_progress,
    sendings_scheduled,
)
from messaging.models import ProviderRoute
from messaging.services import provider_route_set, providers_for_channel

SETTINGS_CHANNELS = ("sms", "mailing", "landing")
CHANNEL_NAMES = CHANNEL_LABELS


def account_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed in and belonging to an account; the account is passed to the view."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        account = request.user.account
        if account is None:
            return render(request, "accounts/no_account.html", status=403)
        return view(request, account, *args, **kwargs)

    return wrapper


def _no_store(response: HttpResponse) -> HttpResponse:
    """Pages that show a secret once must not be kept by the browser or a proxy."""
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, " + response["Cache-Control"]
    return response


# ---------------------------------------------------------------------------------------------
# Sign-in


class LoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm
    redirect_authenticated_user = True


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("settings")

    def form_valid(self, form: Any) -> HttpResponse:
        messages.success(self.request, "Your password has been changed.")
        return super().form_valid(form)


# ---------------------------------------------------------------------------------------------
# Dashboard


@login_required
def home(request: HttpRequest) -> HttpResponse:
    account = request.user.account
    if account is None:
        return render(request, "accounts/no_account.html", status=403)
    daily = messages_per_day(account=account)
    series = [Series(CHANNEL_NAMES[channel], values) for channel, values in daily.per_channel.items()]
    day_labels = [day.strftime("%d %b") for day in daily.days]
    funnel = funnel_sendings(account=account)
    funnel_rows = [
        FunnelRow(
            label=_sending_label(sending),
            # SMS have no opens; their clicks come from shortened links.
            stages=[
                (name, getattr(sending, field))
                for name, field in FUNNEL_STAGES
                if not (sending.channel == "sms" and field == "opened_unique")
            ],
        )
        for sending in funnel
    ]
    in_progress = list(sendings_in_progress(account=account)[:DASHBOARD_LIST_LIMIT])
    scheduled = list(sendings_scheduled(account=account)[:DASHBOARD_LIST_LIMIT])
    for sending in (*in_progress, *scheduled):
        sending.channel_label = CHANNEL_NAMES.get(sending.channel, sending.channel)
    context = {
        "account": account,
        "in_progress": in_progress,
        "scheduled": scheduled,
        "daily": daily,
        "daily_rows": [
            (label, [values[i] for values in daily.per_channel.values()]) for i, label in enumerate(day_labels)
        ],
        "daily_channels": [item.name for item in series],
        "daily_chart": stacked_bars_svg(labels=day_labels, series=series, title="Messages per day by channel"),
        "daily_legend": legend_html(series),
        "funnel": funnel,
        "funnel_rows": funnel_rows,
        "funnel_stage_names": [name for name, _field in FUNNEL_STAGES],
        "funnel_chart": funnel_svg(rows=funnel_rows, title="Delivery funnel of recent sendings") if funnel else "",
    }
    return render(request, "home.html", context)


def _sending_label(sending: Any) -> str:
    name = sending.campaign.name if sending.campaign_id else f"Sending {sending.pk}"
    return f"{name} ({CHANNEL_NAMES.get(sending.channel, sending.channel)})"


# ---------------------------------------------------------------------------------------------
# Settings


@account_required
def settings_index(request: HttpRequest, account: Account) -> HttpResponse:
    credential = ApiCredential.objects.filter(user=request.user).first()
    routes = dict(ProviderRoute.objects.filter(account=account).values_list("channel", "provider"))
    return render(
        request,
        "accounts/settings.html",
        {
            "account": account,
            "credential": credential,
            "senders": VerifiedSender.objects.filter(account=account),
            "routes": [(CHANNEL_NAMES[channel], routes.get(channel)) for channel in SETTINGS_CHANNELS],
        },
    )


@account_required
@require_http_methods(["GET", "POST"])
def settings_api(request: HttpRequest, account: Account) -> HttpResponse:
    credential = ApiCredential.objects.filter(user=request.user).first()
    form = AllowedIpsForm(initial={"allowed_ips": credential.allowed_ips if credential else []})
    if request.method == "POST":
        if credential is None:
            messages.error(request, "Create an API password first; the allowlist belongs to it.")
            return redirect("settings-api")
        form = AllowedIpsForm(request.POST, initial={"allowed_ips": credential.allowed_ips})
        if form.is_valid():
            try:
                api_credential_set_allowed_ips(user=request.user, allowed_ips=form.cleaned_data["allowed_ips"])
            except ValidationError as exc:
                form.add_error("allowed_ips", exc)
            else:
                messages.success(request, "The IP allowlist has been saved.")
                return redirect("settings-api")
    return render(request, "accounts/settings_api.html", {"account": account, "credential": credential, "form": form})


@account_required
@require_POST
def settings_api_rotate(request: HttpRequest, account: Account) -> HttpResponse:
    # Rendered, not redirected: the clear password must not travel through a session or cookie.
    password = api_credential_set(user=request.user)
    response = render(
        request,
        "accounts/settings_api_password.html",
        {"account": account, "password": password, "username": request.user.username},
    )
    return _no_store(response)


@account_required
@require_http_methods(["GET", "POST"])
def settings_senders(request: HttpRequest, account: Account) -> HttpResponse:
    form = VerifiedSenderAddForm()
    if request.method == "POST":
        form = VerifiedSenderAddForm(request.POST)
        if form.is_valid():
            sender = verified_sender_add(account=account, email=form.cleaned_data["email"])
            messages.success(request, f"{sender.email} can now be used as a sender and reply-to address.")
            return redirect("settings-senders")
    senders = VerifiedSender.objects.filter(account=account)
    return render(request, "accounts/settings_senders.html", {"account": account, "form": form, "senders": senders})


@account_required
@require_POST
def settings_sender_remove(request: HttpRequest, account: Account, sender_id: int) -> HttpResponse:
    # Another account's sender answers 404 exactly like a missing one (tests/security/test_tenant_isolation.py).
    if not verified_sender_remove(account=account, sender_id=sender_id):
        raise Http404("No such sender.")
    messages.success(request, "The sender has been removed.")
    return redirect("settings-senders")


@account_required
@require_http_methods(["GET", "POST"])
def settings_notifications(request: HttpRequest, account: Account) -> HttpResponse:
    form = NotificationUrlForm(initial={"event_notification_url": account.event_notification_url})
    if request.method == "POST":
        form = NotificationUrlForm(request.POST)
        if form.is_valid():
            try:
                account_notifications_set(
                    account=account, event_notification_url=form.cleaned_data["event_notification_url"]
                )
            except ValidationError as exc:
                form.add_error("event_notification_url", exc.messages[0])
            else:
                messages.success(request, "The event notification URL has been saved.")
                return redirect("settings-notifications")
    return render(request, "accounts/settings_notifications.html", {"account": account, "form": form})


@account_required
@require_POST
def settings_webhook_secret_rotate(request: HttpRequest, account: Account) -> HttpResponse:
    secret = account_webhook_secret_rotate(account=account)
    form = NotificationUrlForm(initial={"event_notification_url": account.event_notification_url})
    response = render(
        request, "accounts/settings_notifications.html", {"account": account, "form": form, "new_secret": secret}
    )
    return _no_store(response)


@account_required
@require_http_methods(["GET", "POST"])
def settings_providers(request: HttpRequest, account: Account) -> HttpResponse:
    channels = {channel: providers_for_channel(channel) for channel in SETTINGS_CHANNELS}
    current = dict(ProviderRoute.objects.filter(account=account).values_list("channel", "provider"))
    form = ProviderRouteForm(channels=channels, current=current)
    if request.method == "POST":
        form = ProviderRouteForm(request.POST, channels=channels, current=current)
        if form.is_valid():
            for channel in SETTINGS_CHANNELS:
                choice = form.cleaned_data[channel]
                if choice == current.get(channel, PLATFORM_DEFAULT):
                    continue
                provider_route_set(account=account, channel=channel, provider=choice or None)
            messages.success(request, "The provider choice has been saved.")
            return redirect("settings-providers")
    defaults = dict(ProviderRoute.objects.filter(account__isnull=True).values_list("channel", "provider"))
    return render(
        request,
        "accounts/settings_providers.html",
        {
            "account": account,
            "form": form,
            "defaults": [(CHANNEL_NAMES[c], defaults.get(c, "simulator")) for c in SETTINGS_CHANNELS],
        },
    )
