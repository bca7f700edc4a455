"""The compose form: what the staff type, checked for shape only (required fields, dates, numbers).

Every sending rule (senders, encodings, parts, expiry, windows, balance, blacklist...) belongs to
campaigns.services; the view maps its SendError codes back onto these fields.
"""

import zoneinfo
from datetime import datetime
from typing import Any, Final

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Account, VerifiedSender
from campaigns.compose_selectors import AUTO_ENCODING, pasted_split
from contacts.models import Group
from messaging import encoding as sms_encoding

WINDOW_ROWS: Final = 3
DAY_CHOICES: Final = [
    ("", "Every day"),
    ("1", "Monday"),
    ("2", "Tuesday"),
    ("3", "Wednesday"),
    ("4", "Thursday"),
    ("5", "Friday"),
    ("6", "Saturday"),
    ("7", "Sunday"),
]
CHANNEL_CHOICES: Final = [("sms", "SMS"), ("mailing", "Email"), ("landing", "Landing SMS")]
ENCODING_CHOICES: Final = [
    (AUTO_ENCODING, "Automatic (cheapest that fits)"),
    (sms_encoding.GSM, "GSM-7"),
    (sms_encoding.GSM_PT, "GSM-PT"),
    (sms_encoding.UTF_16, "UTF-16"),
]

_LOCAL_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class ComposeForm(forms.Form):
    channel = forms.ChoiceField(label="Channel", choices=CHANNEL_CHOICES, initial="sms", widget=forms.RadioSelect)

    # Recipients
    groups = forms.MultipleChoiceField(label="Groups", required=False, widget=forms.CheckboxSelectMultiple)
    all_contacts = forms.BooleanField(label="All contacts", required=False)
    contacts = forms.CharField(
        label="Contacts",
        required=False,
        help_text="Contact ids separated by commas; the search fills this in.",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    pasted = forms.CharField(
        label="Numbers or email addresses",
        required=False,
        help_text="One per line (commas work too). National numbers are read in your account's country.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    # SMS
    sender = forms.CharField(label="Sender (from)", required=False, max_length=40)
    message = forms.CharField(label="Message", required=False, widget=forms.Textarea(attrs={"rows": 5}))
    encoding = forms.ChoiceField(label="Encoding", choices=ENCODING_CHOICES, initial=AUTO_ENCODING, required=False)
    trans = forms.BooleanField(label="Replace accented characters (trans)", required=False)
    parts = forms.IntegerField(
        label="Maximum parts",
        min_value=1,
        max_value=sms_encoding.MAX_PARTS,
        initial=sms_encoding.MAX_PARTS,
        required=False,
        help_text=f"A message needing more parts is refused (1 to {sms_encoding.MAX_PARTS}; landing SMS at most 8).",
    )
    flash = forms.BooleanField(label="Flash SMS", required=False)

    # Landing SMS: the page {LAND_URL} links to
    landing_template = forms.ChoiceField(label="Landing page template", required=False)
    landing_body = forms.CharField(
        label="Landing page (HTML)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Shown to each recipient who opens their {LAND_URL} link, with their variables filled in. "
        "Leave empty to use the template.",
    )

    # Email
    template = forms.ChoiceField(label="Template", required=False)
    from_email = forms.ChoiceField(label="From", required=False)
    from_name = forms.CharField(label="From name", required=False, max_length=255)
    reply_to = forms.ChoiceField(label="Reply to", required=False)
    subject = forms.CharField(label="Subject", required=False, max_length=998)
    body = forms.CharField(label="Body (HTML)", required=False, widget=forms.Textarea(attrs={"rows": 10}))
    track_opens = forms.BooleanField(label="Track opens", required=False, initial=True)
    track_clicks = forms.BooleanField(label="Track clicks", required=False, initial=True)

    # Campaign and timing
    campaign_name = forms.CharField(label="Campaign name", required=False, max_length=255)
    tags = forms.CharField(label="Tags", required=False, help_text="Separated by commas; they need a campaign name.")
    when = forms.ChoiceField(
        label="When",
        choices=[("now", "Send now"), ("later", "Schedule")],
        initial="now",
        widget=forms.RadioSelect,
    )
    schedule_at = forms.DateTimeField(label="Send at", required=False, widget=_LOCAL_INPUT)
    expires_at = forms.DateTimeField(
        label="Expires at", required=False, widget=_LOCAL_INPUT, help_text="SMS not sent by then are dropped."
    )

    # Test send
    test_recipient = forms.CharField(label="Test recipient", required=False, max_length=254)

    def __init__(self, *args: Any, account: Account, templates: list[tuple[str, str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.account = account
        self.zone = _zone(account)
        self.fields["groups"].choices = [
            (str(pk), name)
            for pk, name in Group.objects.filter(account=account).order_by("name").values_list("pk", "name")
        ]
        senders = list(VerifiedSender.objects.filter(account=account).values_list("email", flat=True))
        self.fields["from_email"].choices = [("", "Choose a verified sender"), *[(email, email) for email in senders]]
        self.fields["reply_to"].choices = [("", "Choose a verified sender"), *[(email, email) for email in senders]]
        template_choices = [("", "No template"), *(templates or [])]
        self.fields["template"].choices = template_choices
        self.fields["landing_template"].choices = template_choices
        for name in ("schedule_at", "expires_at"):
            self.fields[name].help_text = (
                f"{self.fields[name].help_text} In {account.timezone}."
                if self.fields[name].help_text
                else f"In {account.timezone}."
            )
        for index in range(WINDOW_ROWS):
            self.fields[f"window_day_{index}"] = forms.ChoiceField(label="Day", choices=DAY_CHOICES, required=False)
            self.fields[f"window_from_{index}"] = forms.TimeField(
                label="From (UTC)", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
            )
            self.fields[f"window_to_{index}"] = forms.TimeField(
                label="To (UTC)", required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
            )

    def window_rows(self) -> list[tuple[forms.BoundField, forms.BoundField, forms.BoundField]]:
        return [
            (self[f"window_day_{index}"], self[f"window_from_{index}"], self[f"window_to_{index}"])
            for index in range(WINDOW_ROWS)
        ]

    def _localise(self, value: datetime | None) -> datetime | None:
        # datetime-local carries no zone: it is the account's wall-clock time.
        if value is None:
            return None
        return timezone.make_aware(value.replace(tzinfo=None), self.zone)

    def clean_contacts(self) -> list[int]:
        ids = []
        for item in pasted_split(self.cleaned_data.get("contacts") or ""):
            if not item.isdigit() or not 0 < int(item) < 2**63:
                raise ValidationError(f"{item} is not a contact id.")
            ids.append(int(item))
        return ids

    def clean_groups(self) -> list[int]:
        return [int(pk) for pk in self.cleaned_data.get("groups") or []]

    def clean_tags(self) -> list[str]:
        return [tag.strip() for tag in (self.cleaned_data.get("tags") or "").split(",") if tag.strip()]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["schedule_at"] = self._localise(data.get("schedule_at"))
        data["expires_at"] = self._localise(data.get("expires_at"))
        windows = []
        for index in range(WINDOW_ROWS):
            day, start, end = (data.get(f"window_{part}_{index}") for part in ("day", "from", "to"))
            if start is None and end is None:
                continue
            if start is None or end is None:
                self.add_error(f"window_from_{index}", "Give both the start and the end of the window.")
                continue
            window: dict[str, Any] = {"from": start.strftime("%H:%M"), "to": end.strftime("%H:%M")}
            if day:
                window["day"] = int(day)
            windows.append(window)
        data["available_times"] = windows
        return data

    def clean_for_send(self) -> None:
        """The extra shape checks of a real send (a test send needs only its one recipient)."""
        data = self.cleaned_data
        by_groups = bool(data.get("groups")) or data.get("all_contacts")
        by_list = bool(data.get("contacts")) or bool((data.get("pasted") or "").strip())
        if by_groups and by_list:
            self.add_error(
                "groups",
                "Send to groups, or to chosen contacts and typed recipients, not both in one send: "
                "a contact in both would be counted twice.",
            )
        elif not by_groups and not by_list:
            self.add_error("groups", "Choose who receives it: groups, all contacts, contacts or typed recipients.")
        if data.get("when") == "later" and data.get("schedule_at") is None:
            self.add_error("schedule_at", "Give the date and time to send at.")


def _zone(account: Account) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(account.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")
