"""Staff Settings → Compliance: the account's compliance settings, quiet hours and frequency caps, and the
history of their changes. Thin views over compliance.services; always the signed-in user's own account."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Account
from accounts.views import account_required
from compliance.forms import ComplianceSettingsForm, FrequencyCapForm, QuietHoursForm, errors_to_form
from compliance.models import FrequencyCap, QuietHours
from compliance.selectors import compliance_changes_recent
from compliance.services import (
    SETTINGS_FIELDS,
    compliance_settings_get,
    compliance_settings_update,
    frequency_cap_create,
    frequency_cap_delete,
    quiet_hours_create,
    quiet_hours_delete,
    quiet_hours_describe,
)


def _page(
    request: HttpRequest,
    account: Account,
    *,
    settings_form: ComplianceSettingsForm | None = None,
    quiet_form: QuietHoursForm | None = None,
    cap_form: FrequencyCapForm | None = None,
) -> HttpResponse:
    settings = compliance_settings_get(account)
    if settings_form is None:
        initial = {field: getattr(settings, field) for field in SETTINGS_FIELDS}
        initial["opt_in_countries"] = ", ".join(settings.opt_in_countries)
        settings_form = ComplianceSettingsForm(initial=initial)
    quiet_hours = [
        (row, quiet_hours_describe(row)) for row in QuietHours.objects.filter(account=account).order_by("id")
    ]
    return render(
        request,
        "compliance/settings_compliance.html",
        {
            "account": account,
            "settings_form": settings_form,
            "quiet_form": quiet_form or QuietHoursForm(),
            "cap_form": cap_form or FrequencyCapForm(),
            "quiet_hours": quiet_hours,
            "caps": FrequencyCap.objects.filter(account=account).order_by("id"),
            "changes": compliance_changes_recent(account=account),
        },
    )


@account_required
@require_http_methods(["GET", "POST"])
def settings_compliance(request: HttpRequest, account: Account) -> HttpResponse:
    if request.method == "GET":
        return _page(request, account)
    form = ComplianceSettingsForm(request.POST)
    if form.is_valid():
        try:
            compliance_settings_update(account=account, user=request.user, **form.cleaned_data)
        except ValidationError as error:
            errors_to_form(form, error)
        else:
            messages.success(request, "The compliance settings have been saved.")
            return redirect("settings-compliance")
    return _page(request, account, settings_form=form)


def _row_add(
    request: HttpRequest, account: Account, form: QuietHoursForm | FrequencyCapForm, create, success: str, page_key: str
) -> HttpResponse:
    """Create a row through its service; on a refusal the page again, the messages beside the fields."""
    if form.is_valid():
        try:
            create(account=account, user=request.user, **form.cleaned_data)
        except ValidationError as error:
            errors_to_form(form, error)
        else:
            messages.success(request, success)
            return redirect("settings-compliance")
    return _page(request, account, **{page_key: form})


@account_required
@require_POST
def settings_quiet_hours_add(request: HttpRequest, account: Account) -> HttpResponse:
    form = QuietHoursForm(request.POST)
    return _row_add(request, account, form, quiet_hours_create, "The quiet hours have been added.", "quiet_form")


@account_required
@require_POST
def settings_quiet_hours_remove(request: HttpRequest, account: Account, quiet_hours_id: int) -> HttpResponse:
    if quiet_hours_delete(account=account, user=request.user, quiet_hours_id=quiet_hours_id):
        messages.success(request, "The quiet hours have been removed.")
    else:  # another account's id answers exactly like a missing one
        raise Http404("No such quiet hours.")
    return redirect("settings-compliance")


@account_required
@require_POST
def settings_cap_add(request: HttpRequest, account: Account) -> HttpResponse:
    form = FrequencyCapForm(request.POST)
    return _row_add(request, account, form, frequency_cap_create, "The frequency cap has been added.", "cap_form")


@account_required
@require_POST
def settings_cap_remove(request: HttpRequest, account: Account, cap_id: int) -> HttpResponse:
    if frequency_cap_delete(account=account, user=request.user, cap_id=cap_id):
        messages.success(request, "The frequency cap has been removed.")
    else:
        raise Http404("No such frequency cap.")
    return redirect("settings-compliance")
