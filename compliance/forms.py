"""Forms of the staff Settings → Compliance page. They only carry the typed text: every rule (ranges,
country codes, contradictions) is checked by compliance.services, whose messages are put beside the field."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from compliance.models import UnsubscribePolicy
from compliance.protocol import Purpose
from compliance.services import CAP_CHANNELS, WEEKDAY_NAMES

CAP_CHANNEL_LABELS = {"": "Any channel", "sms": "SMS (and landing SMS)", "mailing": "Email"}


class ComplianceSettingsForm(forms.Form):
    default_purpose = forms.ChoiceField(
        label="Default purpose of API sends",
        choices=[(purpose.value, purpose.value.capitalize()) for purpose in Purpose],
        help_text="Marketing is subject to consent, quiet hours, caps and holdout; transactional is not.",
    )
    holdout_percent = forms.CharField(
        label="Global holdout (%)", max_length=6, help_text="0 to 20 % of contacts receive no marketing."
    )
    stop_code = forms.CharField(
        label="STOP code",
        required=False,
        max_length=20,
        help_text="Appended to marketing SMS to France as 'STOP au <code>'.",
    )
    opt_in_countries = forms.CharField(
        label="Countries needing explicit opt-in",
        required=False,
        max_length=400,
        help_text="Two-letter codes separated by commas, e.g. IE, FR.",
    )
    unsubscribe_policy = forms.ChoiceField(
        label="Marketing SMS without an unsubscribe option", choices=UnsubscribePolicy.choices
    )
    stop_instruction = forms.CharField(label="STOP instruction appended", max_length=60)
    keyword_confirmation = forms.BooleanField(label="Reply once to STOP / START keywords", required=False)
    stop_confirmation_text = forms.CharField(label="Reply to STOP", required=False, max_length=160)
    start_confirmation_text = forms.CharField(label="Reply to START", required=False, max_length=160)
    help_text = forms.CharField(
        label="Reply to HELP", required=False, max_length=320, widget=forms.Textarea(attrs={"rows": 2})
    )


class QuietHoursForm(forms.Form):
    start = forms.CharField(
        label="From (local time)", max_length=5, widget=forms.TextInput(attrs={"placeholder": "21:00"})
    )
    end = forms.CharField(label="To (local time)", max_length=5, widget=forms.TextInput(attrs={"placeholder": "09:00"}))
    weekdays = forms.MultipleChoiceField(
        label="On",
        required=False,
        choices=list(enumerate(WEEKDAY_NAMES)),
        widget=forms.CheckboxSelectMultiple,
        help_text="The day the quiet hours start; none ticked: every day.",
    )
    countries = forms.CharField(
        label="Countries", required=False, max_length=400, help_text="Codes separated by commas; empty: every country."
    )


class FrequencyCapForm(forms.Form):
    channel = forms.ChoiceField(
        label="Channel",
        required=False,
        choices=[(str(c), CAP_CHANNEL_LABELS.get(str(c), str(c))) for c in CAP_CHANNELS],
    )
    max_messages = forms.CharField(label="At most (messages)", max_length=6)
    period_days = forms.CharField(label="Per (days)", max_length=4)


def errors_to_form(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError messages beside the fields they name."""
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)
