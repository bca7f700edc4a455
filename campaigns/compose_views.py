"""Compose and schedule SMS and email in the browser (/compose/), plus the small JSON endpoints
its script calls while the staff type: audience count, preview + SMS counter, contact search and
template body.

Sends go through campaigns.services (sms_send, mailing_send, sms_group_send, mailing_group_send),
exactly as the API's, and their SendError codes are shown beside the field they concern.
"""

import re
from decimal import Decimal
from typing import Any, Final

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Account
from accounts.views import account_required
from campaigns.compose_forms import ComposeForm
from campaigns.compose_selectors import (
    Audience,
    audience_cost_per_part,
    audience_for_groups,
    audience_for_list,
    encoding_resolve,
    message_preview,
    pasted_split,
    recipient_normalise,
)
from campaigns.models import Channel, Sending
from campaigns.sending.channels import address_column
from campaigns.sending.channels.landing import LANDING_MAX_PARTS, landing_sms_send
from campaigns.services import (
    SendError,
    SendOutcome,
    mailing_group_send,
    mailing_send,
    sms_group_send,
    sms_send,
)
from config.api import ERRORS
from contacts.models import Contact
from contacts.normalize import InvalidRecipient
from contacts.selectors import contact_search
from messaging import encoding as sms_encoding
from messaging.scheduling import AVAILABLE_TIMES_CODES

SEARCH_LIMIT: Final = 10
REFUSALS_SHOWN: Final = 5
CENT: Final = Decimal("0.01")

# Which form field a refusal is shown beside, from its domain field (SendRefused.field); None: above the form.
_FORM_FIELDS: Final = {
    "message": "message", "sender": "sender", "encoding": "encoding", "parts": "parts",
    "available_times": "window_from_0", "expires_at": "expires_at", "campaign_name": "campaign_name", "tags": "tags",
    "template": "template", "from_email": "from_email", "reply_to": "reply_to", "subject": "subject", "body": "body",
    "from_name": "from_name", "groups": "groups", "landing_body": "landing_body",
}  # fmt: skip
# Where a channel's form names a domain field differently.
_CHANNEL_FORM_FIELDS: Final = {Channel.MAILING: {"message": "body"}, Channel.LANDING: {"template": "landing_template"}}
LANDING_GROUPS_REFUSED: Final = (
    "Landing SMS go to chosen contacts and typed numbers (up to 10,000 per send); groups are not available for them."
)


def _templates(account: Account) -> list[tuple[str, str]]:
    """Email templates of the content app, v2 first: (choice value "<version>:<id>", label)."""
    from content.selectors import template_list

    choices = []
    for version, suffix in ((2, ""), (1, " (v1)")):
        choices += [(f"{version}:{t.pk}", f"{t.name}{suffix}") for t in template_list(account=account, version=version)]
    return choices


def _form(account: Account, data: Any = None, **kwargs: Any) -> ComposeForm:
    return ComposeForm(data, account=account, templates=_templates(account), **kwargs)


def _error_field(exc: SendError, *, channel: str, recipients_field: str) -> str | None:
    if exc.field == "recipients":
        return recipients_field
    if exc.field is None:
        return None
    return _CHANNEL_FORM_FIELDS.get(channel, {}).get(exc.field, _FORM_FIELDS.get(exc.field))


# The spec's descriptions of these codes are terse; the page says what to change.
_HINTS: Final = {
    105: "It needs more parts than “Maximum parts” allows: shorten it or allow more parts.",
    111: "Top up the balance or send to fewer recipients.",
}


_WINDOW_PART: Final = re.compile(r"(The )?availableTimes\.(\d+)\.(from|to|day)")
_WINDOW_WORDS: Final = {"from": "the start", "to": "the end", "day": "the day"}


def _window_words(match: re.Match[str]) -> str:
    """The API's "availableTimes.0.to" as the page labels it: "the end of window 1" ("The availableTimes.0.to"
    at the start of a sentence: "The end of window 1")."""
    words = f"{_WINDOW_WORDS[match.group(3)]} of window {int(match.group(2)) + 1}"
    return words.capitalize() if match.group(1) else words


def _add_send_error(form: ComposeForm, exc: SendError, *, recipients_field: str) -> None:
    field = _error_field(exc, channel=form.cleaned_data.get("channel", "sms"), recipients_field=recipients_field)
    hint = _HINTS.get(exc.code)
    text = f"{exc.description}. {hint}" if hint and exc.description == ERRORS[exc.code][1] else exc.description
    if exc.code in AVAILABLE_TIMES_CODES:
        text = _WINDOW_PART.sub(_window_words, text.removeprefix(f"{ERRORS[exc.code][1]}: "))
    form.add_error(field if field in form.fields else None, text)


def _template_ids(choice: str) -> dict[str, str | None]:
    """templateId / templateV2Id of a picker choice "<version>:<id>"."""
    version, _, template_id = choice.partition(":")
    if version == "1":
        return {"template_id": template_id, "template_v2_id": None}
    return {"template_id": None, "template_v2_id": template_id}


def _template_body(account: Account, choice: str) -> str:
    from content.selectors import template_body_for_send

    return template_body_for_send(account=account, **_template_ids(choice))


def _list_recipients(form: ComposeForm, account: Account) -> list[str] | None:
    """The `to` list of a send to chosen contacts and typed recipients, or None after putting
    the typed items that are not recipients beside the field."""
    data = form.cleaned_data
    channel = data["channel"]
    column = address_column(channel)
    chosen = dict(Contact.objects.filter(account=account, pk__in=data["contacts"]).values_list("pk", column))
    unknown = [str(pk) for pk in data["contacts"] if pk not in chosen]
    if unknown:
        form.add_error("contacts", f"No such contact: {', '.join(unknown)}.")
    missing = [str(pk) for pk, address in chosen.items() if not address]
    if missing:
        kind = "email address" if channel == Channel.MAILING else "mobile phone"
        form.add_error("contacts", f"These contacts have no {kind}: {', '.join(missing)}.")
    keys = [address for address in chosen.values() if address]
    invalid = []
    for raw in pasted_split(data.get("pasted") or ""):
        try:
            keys.append(recipient_normalise(account=account, channel=channel, raw=raw))
        except InvalidRecipient:
            invalid.append(raw)
    if invalid:
        kind = "email addresses" if channel == Channel.MAILING else "phone numbers"
        form.add_error("pasted", f"Not valid {kind}: {', '.join(invalid[:REFUSALS_SHOWN])}.")
    return None if form.errors else keys


def _sms_options(data: dict[str, Any]) -> dict[str, Any]:
    message = data.get("message") or ""
    measured_text = sms_encoding.translate(message) if data.get("trans") else message
    return {
        "message": message,
        "sender": data.get("sender") or "",
        "encoding": encoding_resolve(data.get("encoding") or "", measured_text),
        "parts": data.get("parts") or sms_encoding.MAX_PARTS,
        "trans": bool(data.get("trans")),
        "flash": bool(data.get("flash")),
    }


def _mail_options(account: Account, data: dict[str, Any]) -> dict[str, Any]:
    body = data.get("body") or ""
    if not body.strip() and data.get("template"):
        body = _template_body(account, data["template"])
    return {
        "from_email": data.get("from_email") or "",
        "reply_to": data.get("reply_to") or "",
        "from_name": data.get("from_name") or None,
        "subject": data.get("subject") or "",
        "body": body,
        "track_opens": bool(data.get("track_opens")),
        "track_clicks": bool(data.get("track_clicks")),
    }


def _landing_options(data: dict[str, Any]) -> dict[str, Any]:
    """The landing page (the typed HTML, else the chosen template, which the service resolves) and
    the parts, which landing SMS cap lower: the form's "maximum parts" means at most that cap."""
    options: dict[str, Any] = {"parts": min(data.get("parts") or LANDING_MAX_PARTS, LANDING_MAX_PARTS)}
    body = data.get("landing_body") or ""
    if body.strip():
        options["template_body"] = body
    elif data.get("landing_template"):
        options.update(_template_ids(data["landing_template"]))
    return options


def _outcome_message(outcome: SendOutcome, *, scheduled: bool) -> str:
    accepted = [result for result in outcome.results if result.accepted]
    refused = [result for result in outcome.results if not result.accepted]
    text = f"{len(accepted)} message{'s' if len(accepted) != 1 else ''} {'scheduled' if scheduled else 'accepted'}."
    if refused:
        reasons = "; ".join(f"{result.to}: {result.error.description}" for result in refused[:REFUSALS_SHOWN])
        more = f" and {len(refused) - REFUSALS_SHOWN} more" if len(refused) > REFUSALS_SHOWN else ""
        text += f" {len(refused)} refused ({reasons}{more})."
    return text


def _sending_url(sending_id: int) -> str:
    try:
        return reverse("web-sending-detail", args=[sending_id])
    except NoReverseMatch:  # the campaigns pages are not mounted (e.g. a trimmed test URLconf)
        return reverse("compose")


def _send(request: HttpRequest, account: Account, form: ComposeForm) -> HttpResponse | None:
    """Run the send; a redirect on success, None after putting the errors on the form."""
    form.clean_for_send()
    if form.errors:
        return None
    data = form.cleaned_data
    channel = data["channel"]
    by_groups = bool(data["groups"]) or bool(data["all_contacts"])
    group_ids = None if data["all_contacts"] else data["groups"]
    later = data["when"] == "later"
    schedule_at = data["schedule_at"] if later else None
    campaign = {"campaign_name": data.get("campaign_name") or None, "tags": data["tags"] or None}
    recipients_field = "groups" if by_groups else "pasted"
    to = None if by_groups else _list_recipients(form, account)
    if not by_groups and to is None:
        return None
    if channel == Channel.LANDING and by_groups:
        form.add_error("groups", LANDING_GROUPS_REFUSED)
        return None
    if channel == Channel.LANDING and data["available_times"]:
        form.add_error("window_from_0", "Sending windows are not available for landing SMS.")
        return None
    try:
        if channel == Channel.LANDING:
            outcome = landing_sms_send(
                account=account, to=to, schedule_at=schedule_at, expires_at=data.get("expires_at"), **campaign,
                **{**_sms_options(data), **_landing_options(data)},
            )  # fmt: skip
            sending = None
        elif channel == Channel.MAILING:
            mail = _mail_options(account, data)
            if by_groups:
                sending: Sending | None = mailing_group_send(
                    account=account, group_ids=group_ids, schedule_at=schedule_at, **campaign, **mail
                )
                outcome = None
            else:
                outcome = mailing_send(account=account, to=to, schedule_at=schedule_at, **campaign, **mail)
                sending = None
        else:
            sms = {
                **_sms_options(data),
                "schedule_at": schedule_at,
                "expires_at": data.get("expires_at"),
                "available_times": data["available_times"] or None,
            }
            if by_groups:
                sending = sms_group_send(account=account, group_ids=group_ids, **campaign, **sms)
                outcome = None
            else:
                outcome = sms_send(account=account, to=to, **campaign, **sms)
                sending = None
    except SendError as exc:
        _add_send_error(form, exc, recipients_field=recipients_field)
        return None
    if outcome is not None:
        messages.success(request, _outcome_message(outcome, scheduled=later))
        return redirect(_sending_url(outcome.sending_id))
    verb = "scheduled" if later else "started"
    messages.success(request, f"Group send {verb}: its messages are being written in the background.")
    return redirect(_sending_url(sending.pk))


def _test_send(request: HttpRequest, account: Account, form: ComposeForm) -> None:
    """Send the message now to the one test recipient, with no campaign; errors on the form."""
    data = form.cleaned_data
    channel = data["channel"]
    raw = (data.get("test_recipient") or "").strip()
    if not raw:
        form.add_error("test_recipient", "Give a phone number or email address to send the test to.")
        return
    try:
        recipient = recipient_normalise(account=account, channel=channel, raw=raw)
    except InvalidRecipient:
        kind = "an email address" if channel == Channel.MAILING else "a mobile phone number"
        form.add_error("test_recipient", f"Enter {kind}.")
        return
    try:
        if channel == Channel.MAILING:
            mailing_send(account=account, to=[recipient], **_mail_options(account, data))
        elif channel == Channel.LANDING:
            landing_sms_send(account=account, to=[recipient], **{**_sms_options(data), **_landing_options(data)})
        else:
            sms_send(account=account, to=[recipient], **_sms_options(data))
    except SendError as exc:
        _add_send_error(form, exc, recipients_field="test_recipient")
        return
    messages.success(request, f"Test sent to {recipient}.")


@account_required
@require_http_methods(["GET", "POST"])
def compose(request: HttpRequest, account: Account) -> HttpResponse:
    if request.method == "GET":
        initial: dict[str, Any] = {}
        if request.GET.get("channel") in ("sms", "mailing", "landing"):
            initial["channel"] = request.GET["channel"]
        form = _form(account, initial=initial)
    else:
        form = _form(account, request.POST)
        if form.is_valid():
            if request.POST.get("action") == "test":
                _test_send(request, account, form)
            else:
                response = _send(request, account, form)
                if response is not None:
                    return response
    status = 422 if request.method == "POST" and form.errors else 200
    return render(
        request,
        "compose/compose.html",
        {"account": account, "form": form, "window_rows": form.window_rows()},
        status=status,
    )


# ---------------------------------------------------------------------------------------------
# JSON endpoints for the page's script


def _audience(account: Account, form: ComposeForm) -> tuple[str, Audience | None]:
    data = form.cleaned_data
    channel = data.get("channel") or Channel.SMS
    if data.get("all_contacts") or data.get("groups"):
        if data.get("contacts") or (data.get("pasted") or "").strip():
            return "mixed", None
        if channel == Channel.LANDING:
            return "landing-groups", None
        group_ids = None if data.get("all_contacts") else data["groups"]
        return "groups", audience_for_groups(account=account, channel=channel, group_ids=group_ids)
    if data.get("contacts") or (data.get("pasted") or "").strip():
        return "list", audience_for_list(
            account=account, channel=channel, contact_ids=data["contacts"], pasted=data.get("pasted") or ""
        )
    return "none", None


@account_required
@require_POST
def compose_audience(request: HttpRequest, account: Account) -> JsonResponse:
    """How many recipients a send would reach after the blacklist, with samples for the preview
    and the cost of one SMS part to all of them."""
    form = _form(account, request.POST)
    form.is_valid()
    errors = {name: form.errors[name][0] for name in ("channel", "groups", "contacts") if name in form.errors}
    if errors:
        return JsonResponse({"errors": errors}, status=400)
    mode, audience = _audience(account, form)
    body: dict[str, Any] = {
        "mode": mode,
        "balance": str(account.balance.quantize(CENT)),
        "currency": account.currency,
    }
    if audience is not None:
        body.update(
            {
                "found": audience.found,
                "sendable": audience.sendable,
                "blacklisted": audience.blacklisted,
                "duplicates": audience.duplicates,
                "invalid": audience.invalid[:REFUSALS_SHOWN],
                "invalidCount": len(audience.invalid),
                "withoutAddress": audience.without_address,
                "samples": audience.samples,
                "costPerPart": str(audience_cost_per_part(account=account, audience=audience)),
            }
        )
    return JsonResponse(body)


@account_required
@require_POST
def compose_preview(request: HttpRequest, account: Account) -> JsonResponse:
    """The message rendered for the chosen sample recipient and, for SMS, the character and part
    counter (encoding, units, parts, characters that force UTF-16, what trans would change)."""
    channel = request.POST.get("channel") or Channel.SMS
    if channel not in (Channel.SMS, Channel.MAILING, Channel.LANDING):
        return JsonResponse({"errors": {"channel": "Choose SMS, email or landing SMS."}}, status=400)
    encoding = request.POST.get("encoding") or "auto"
    if encoding not in ("auto", *sms_encoding.ENCODINGS):
        return JsonResponse({"errors": {"encoding": "Choose an encoding from the list."}}, status=400)
    mail = channel == Channel.MAILING
    preview = message_preview(
        account=account,
        channel=channel,
        message=request.POST.get("body" if mail else "message", ""),
        subject=request.POST.get("subject", "") if mail else "",
        sample=request.POST.get("sample", ""),
        encoding=encoding,
        trans=request.POST.get("trans") in ("on", "1", "true"),
    )
    return JsonResponse(
        {
            "body": preview.body,
            "subject": preview.subject,
            "sampleLabel": preview.sample_label,
            "sms": preview.sms.as_json() if preview.sms else None,
            "errors": preview.errors,
        }
    )


@account_required
@require_GET
def compose_contact_search(request: HttpRequest, account: Account) -> JsonResponse:
    """Up to 10 of the account's contacts found by the contact list's own search (a whole email or
    phone number exactly, other text in the name, surname or external id)."""
    query = (request.GET.get("q") or "").strip()
    # No contact field can hold NUL (PostgreSQL text refuses it), so such a query finds nothing.
    if len(query) < 2 or "\x00" in query:
        return JsonResponse({"results": []})
    rows = (
        contact_search(account=account, query=query)
        .order_by("id")
        .values("id", "name", "surname", "email", "phone")[:SEARCH_LIMIT]
    )
    results = []
    for row in rows:
        name = " ".join(part for part in (row["name"], row["surname"]) if part)
        results.append(
            {"id": row["id"], "label": " · ".join(part for part in (name, row["email"], row["phone"]) if part)}
        )
    return JsonResponse({"results": results})


@account_required
@require_GET
def compose_template_body(request: HttpRequest, account: Account) -> JsonResponse:
    """The HTML of one of the account's email templates, for the template picker."""
    choice = request.GET.get("template", "")
    try:
        body = _template_body(account, choice)
    except SendError as exc:
        return JsonResponse({"error": exc.description}, status=404)
    return JsonResponse({"body": body})
