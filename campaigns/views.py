"""Staff web pages for campaigns: the campaign list, a sending's page (progress, the 14 counters,
events over time, per-recipient messages, pause / resume / cancel, reschedule, CSV report) and the
scheduled-messages list.

Thin views over campaigns.selectors / campaigns.services / messaging.services, the same functions
the REST API and the admin call. Every query is scoped to request.user.account; another account's
ids answer 404 like missing ones. Big lists page by id (config.web_paging), and progress comes
from the Sending counters, so no page view counts a million rows.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import datetime, time, timedelta
from functools import wraps
from typing import Any, Final

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Account
from campaigns.charts import sending_chart_cached, sending_chart_for_page
from campaigns.compose_selectors import recipient_normalise
from campaigns.errors import SendError
from campaigns.models import EVENT_COUNTERS, Channel, Sending, SendingStatus
from campaigns.presenters import events_report_csv
from campaigns.selectors import (
    CampaignFilters,
    campaign_list,
    campaign_sendings,
    messages_with_events,
    report_custom_field_keys,
    scheduled_messages,
    sending_event_rows,
    sending_get,
    sending_messages,
)
from campaigns.services import scheduled_cancel, scheduled_reschedule
from campaigns.templatetags.campaign_web import CHANNEL_LABELS
from config.web_paging import keyset_page, offset_page
from contacts.normalize import InvalidRecipient
from messaging.services import CANCELLABLE, PAUSABLE, sending_cancel, sending_pause, sending_resume

COUNTER_LABELS: Final = {
    "delivered": "Delivered",
    "opened": "Opened",
    "opened_unique": "Opened (unique)",
    "clicked": "Clicked",
    "clicked_unique": "Clicked (unique)",
    "unsubscribed": "Unsubscribed",
    "hard_bounced": "Hard bounced",
    "complaint": "Complaints",
    "sent": "Sent",
    "soft_bounced": "Soft bounced",
    "undelivered": "Undelivered",
    "rejected": "Rejected",
    "expired": "Expired",
    "unsubscribed_landing": "Unsubscribed (landing)",
}
LIVE_STATUSES: Final = (SendingStatus.PENDING, SendingStatus.SENDING, SendingStatus.PAUSED, SendingStatus.OPENED)
DATETIME_LOCAL: Final = "%Y-%m-%dT%H:%M"
CHANNEL_CHOICES: Final = [
    ("", "Any channel"),
    *((value, CHANNEL_LABELS.get(value, label)) for value, label in Channel.choices),
]

ViewFunc = Callable[..., HttpResponse]


def account_view(view: ViewFunc) -> ViewFunc:
    """Signed-in staff of an account only; the account's time zone is active for forms and dates."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        account = getattr(request.user, "account", None)
        if account is None:
            raise Http404("This user belongs to no account.")
        with timezone.override(_account_zone(account)):
            return view(request, account, *args, **kwargs)

    return wrapper


def _account_zone(account: Account) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(account.timezone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _sending_or_404(account: Account, sending_id: int) -> Sending:
    sending = sending_get(account=account, sending_id=sending_id)
    if sending is None:
        raise Http404("No such sending.")
    return sending


# ---------------------------------------------------------------------------------------------
# Campaign list


class CampaignFilterForm(forms.Form):
    name = forms.CharField(required=False, max_length=255, help_text='"*" stands for any text: SPRING_*')
    channel = forms.ChoiceField(required=False, choices=CHANNEL_CHOICES)
    created_from = forms.DateField(required=False, label="Created from", widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, label="Created to", widget=forms.DateInput(attrs={"type": "date"}))

    def filters(self) -> CampaignFilters:
        data = self.cleaned_data
        zone = timezone.get_current_timezone()
        after = datetime.combine(data["created_from"], time.min, zone) if data.get("created_from") else None
        # "to" is the last day shown, so the bound is the next midnight.
        before = (
            datetime.combine(data["created_to"] + timedelta(days=1), time.min, zone) if data.get("created_to") else None
        )
        return CampaignFilters(
            name=(data.get("name") or "").strip() or None,
            channel=data.get("channel") or None,
            before=before,
            after=after,
        )


@require_GET
@account_view
def campaign_list_view(request: HttpRequest, account: Account) -> HttpResponse:
    form = CampaignFilterForm(request.GET or None)
    filters = form.filters() if form.is_bound and form.is_valid() else CampaignFilters()
    page = offset_page(request, campaign_list(account=account, filters=filters), size=25)
    sendings = campaign_sendings(campaigns=page.items, channel=filters.channel)
    rows = [(campaign, sendings.get(campaign.pk, [])) for campaign in page.items]
    return render(request, "campaigns/campaign_list.html", {"form": form, "page": page, "rows": rows})


class SendingFilterForm(forms.Form):
    channel = forms.ChoiceField(required=False, choices=CHANNEL_CHOICES)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *SendingStatus.choices])


@require_GET
@account_view
def sending_list_view(request: HttpRequest, account: Account) -> HttpResponse:
    """Every sending, including those sent without a campaign name."""
    form = SendingFilterForm(request.GET or None)
    sendings = Sending.objects.filter(account=account).select_related("campaign")
    if form.is_bound and form.is_valid():
        if form.cleaned_data["channel"]:
            sendings = sendings.filter(channel=form.cleaned_data["channel"])
        if form.cleaned_data["status"]:
            sendings = sendings.filter(status=form.cleaned_data["status"])
    page = keyset_page(request, sendings, descending=True, size=50)
    return render(request, "campaigns/sending_list.html", {"form": form, "page": page})


# ---------------------------------------------------------------------------------------------
# A sending's page


class RescheduleForm(forms.Form):
    schedule_at = forms.DateTimeField(
        label="New date and time",
        input_formats=[DATETIME_LOCAL, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
        help_text="In the account's time zone. A moment in the past sends at once.",
    )


def _progress(sending: Sending) -> dict[str, Any]:
    percent = min(100, int(sending.processed * 100 / sending.total)) if sending.total else 0
    return {
        "status": sending.status,
        "total": sending.total,
        "processed": sending.processed,
        "percent": percent,
        "live": sending.status in LIVE_STATUSES,
        "counters": {name: getattr(sending, name) for name in EVENT_COUNTERS},
    }


def _recipient_search(account: Account, sending: Sending, raw: str) -> str | None:
    """A typed recipient in the stored form, through the one normaliser (national numbers read in
    the account's country); "" when nothing was typed, None for text that is no recipient."""
    text = raw.strip()
    if not text:
        return ""
    try:
        return recipient_normalise(account=account, channel=sending.channel, raw=text)
    except InvalidRecipient:
        return None


@require_GET
@account_view
def sending_detail_view(request: HttpRequest, account: Account, sending_id: int) -> HttpResponse:
    sending = _sending_or_404(account, sending_id)
    recipient = _recipient_search(account, sending, request.GET.get("recipient", ""))
    found = sending_messages(sending=sending, recipient=recipient or None)
    page = keyset_page(request, found if recipient is not None else found.none(), size=25)
    context = {
        "sending": sending,
        "progress": _progress(sending),
        "counters": [(name, COUNTER_LABELS[name], getattr(sending, name)) for name in EVENT_COUNTERS],
        "timeline": sending_chart_for_page(sending=sending, zone=timezone.get_current_timezone()),
        "page": page,
        "messages_with_events": messages_with_events(page.items),
        "recipient": request.GET.get("recipient", ""),
        "can_pause": sending.status in PAUSABLE,
        "can_resume": sending.status == SendingStatus.PAUSED,
        "can_cancel": sending.status in CANCELLABLE,
        "can_reschedule": sending.status in (SendingStatus.PENDING, SendingStatus.PAUSED),
        "reschedule_form": RescheduleForm(initial={"schedule_at": sending.scheduled_at}),
    }
    return render(request, "campaigns/sending_detail.html", context)


@require_GET
@account_view
def sending_chart_view(request: HttpRequest, account: Account, sending_id: int) -> HttpResponse:
    """The events chart as an HTML fragment once its task has drawn it; 202 while it is pending."""
    sending = _sending_or_404(account, sending_id)
    timeline = sending_chart_cached(sending_id=sending.pk, zone=timezone.get_current_timezone())
    if timeline is None:
        return HttpResponse(status=202)
    return render(request, "campaigns/_chart.html", {"timeline": timeline})


@require_GET
@account_view
def sending_status_view(request: HttpRequest, account: Account, sending_id: int) -> JsonResponse:
    """Progress and counters for the page's live refresh while the sending runs."""
    return JsonResponse(_progress(_sending_or_404(account, sending_id)))


SENDING_ACTIONS: Final = {"pause": sending_pause, "resume": sending_resume, "cancel": sending_cancel}
ACTION_DONE: Final = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}


@require_POST
@account_view
def sending_action_view(request: HttpRequest, account: Account, sending_id: int, action: str) -> HttpResponse:
    sending = _sending_or_404(account, sending_id)
    service = SENDING_ACTIONS.get(action)
    if service is None:
        raise Http404("Unknown action.")
    try:
        service(sending=sending)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"Sending {sending.pk} {ACTION_DONE[action]}.")
    return redirect("web-sending-detail", sending_id=sending.pk)


@require_POST
@account_view
def sending_reschedule_view(request: HttpRequest, account: Account, sending_id: int) -> HttpResponse:
    sending = _sending_or_404(account, sending_id)
    form = RescheduleForm(request.POST)
    if "send_now" in request.POST:
        schedule_at = timezone.now()
    elif form.is_valid():
        schedule_at = form.cleaned_data["schedule_at"]
    else:
        messages.error(request, "Enter a valid date and time to reschedule.")
        return redirect("web-sending-detail", sending_id=sending.pk)
    changed = scheduled_reschedule(
        messages=scheduled_messages(account=account, sending_id=sending.pk), schedule_at=schedule_at
    )
    if changed:
        messages.success(request, f"{changed} scheduled message(s) moved to {_shown(schedule_at)}.")
    else:
        messages.warning(request, "This sending has no scheduled messages left to move.")
    return redirect("web-sending-detail", sending_id=sending.pk)


def _shown(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


@require_GET
@account_view
def sending_events_csv_view(request: HttpRequest, account: Account, sending_id: int) -> StreamingHttpResponse:
    """The events report (the API's CSV, formula-like cells escaped), streamed."""
    sending = _sending_or_404(account, sending_id)
    keys = report_custom_field_keys(account=account) if request.GET.get("custom_fields") == "1" else []
    rows = sending_event_rows(sending=sending, with_custom_fields=bool(keys))
    response = StreamingHttpResponse(
        events_report_csv(rows, sending=sending, custom_field_keys=keys), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="sending-{sending.pk}-events.csv"'
    return response


# ---------------------------------------------------------------------------------------------
# Scheduled messages


class ScheduledFilterForm(forms.Form):
    channel = forms.ChoiceField(required=False, choices=CHANNEL_CHOICES)
    sending = forms.IntegerField(required=False, min_value=1, label="Sending id")


@require_GET
@account_view
def scheduled_list_view(request: HttpRequest, account: Account) -> HttpResponse:
    form = ScheduledFilterForm(request.GET or None)
    channel = sending_id = None
    if form.is_bound and form.is_valid():
        channel = form.cleaned_data["channel"] or None
        sending_id = form.cleaned_data["sending"]
    scheduled = scheduled_messages(account=account, channel=channel, sending_id=sending_id)
    page = offset_page(request, scheduled, size=50)
    return render(
        request,
        "campaigns/scheduled_list.html",
        {"form": form, "page": page, "reschedule_form": RescheduleForm()},
    )


@require_POST
@account_view
def scheduled_action_view(request: HttpRequest, account: Account) -> HttpResponse:
    """Reschedule, send now or cancel the ticked scheduled messages."""
    guids = [guid for guid in request.POST.getlist("guid") if guid]
    action = request.POST.get("action", "")
    if not guids:
        messages.error(request, "Tick at least one scheduled message.")
        return redirect("web-scheduled-list")
    # PostgreSQL text cannot hold NUL, so such a guid cannot name a message: refuse it before the query.
    if any("\x00" in guid for guid in guids):
        messages.error(request, "Invalid GUID: tick the scheduled messages from the list.")
        return redirect("web-scheduled-list")
    form = RescheduleForm(request.POST)
    if action == "reschedule" and not form.is_valid():
        messages.error(request, "Enter a valid date and time to reschedule.")
        return redirect("web-scheduled-list")
    try:
        with transaction.atomic():
            selected = scheduled_messages(account=account, guids=guids)
            if action == "cancel":
                done = scheduled_cancel(account=account, messages=selected)
                messages.success(request, f"{done} scheduled message(s) cancelled and refunded.")
            elif action in ("reschedule", "send_now"):
                moment = form.cleaned_data["schedule_at"] if action == "reschedule" else timezone.now()
                done = scheduled_reschedule(messages=selected, schedule_at=moment)
                messages.success(request, f"{done} scheduled message(s) moved to {_shown(moment)}.")
            else:
                messages.error(request, "Choose an action.")
    except SendError as exc:
        messages.error(request, exc.description)
    return redirect("web-scheduled-list")
