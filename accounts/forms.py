import re
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from accounts.models import ApiCredential, VerifiedSender, validate_ip_networks
from accounts.services import (
    login_failure_record,
    login_lockout_seconds,
    login_success_record,
    verified_sender_email_clean,
)
from config.api import client_ip

_LIST_SEPARATORS = re.compile(r"[\s,]+")


class IpNetworkListField(forms.Field):
    """An IP allowlist typed as text, one address or CIDR range per line (commas also work),
    because operators paste lists; a JSON array in a textarea is easy to get wrong."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40, "placeholder": "203.0.113.7\n198.51.100.0/24"})

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return "" if value is None else str(value)

    def to_python(self, value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            return [str(item).strip() for item in value if str(item).strip()]
        return [item for item in _LIST_SEPARATORS.split(str(value or "")) if item]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        validate_ip_networks(value)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return self.to_python(initial) != self.to_python(data)


class ApiCredentialForm(forms.ModelForm):
    allowed_ips = IpNetworkListField(
        label="Allowed IPs",
        required=False,
        help_text="Addresses or CIDR ranges allowed to call the API, one per line; empty allows any address. "
        "The password is never shown: set a new one with the “Rotate API password” action of the user list.",
    )

    class Meta:
        model = ApiCredential
        fields = ["allowed_ips"]


class VerifiedSenderForm(forms.ModelForm):
    class Meta:
        model = VerifiedSender
        fields = ["account", "email"]

    def clean_email(self) -> str:
        try:
            return verified_sender_email_clean(self.cleaned_data["email"])
        except ValidationError as exc:
            raise ValidationError("Enter a valid email address.") from exc


# ---------------------------------------------------------------------------------------------
# Staff web UI forms


class LockoutAuthenticationForm(AuthenticationForm):
    """Django's sign-in form behind a cache-based lockout: repeated failures for a username, or
    from one address, refuse further attempts for a while, whatever the password."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked_out": "Too many failed sign-in attempts. Try again in %(minutes)s minutes.",
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request) if self.request is not None else ""
        locked_for = login_lockout_seconds(username=username, ip=ip)
        if locked_for:
            raise ValidationError(
                self.error_messages["locked_out"], code="locked_out", params={"minutes": -(-locked_for // 60)}
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            login_failure_record(username=username, ip=ip)
            raise
        login_success_record(username=username)
        return cleaned


class AllowedIpsForm(forms.Form):
    allowed_ips = IpNetworkListField(
        label="Allowed IP addresses",
        required=False,
        help_text="Addresses or CIDR ranges allowed to call the API, one per line. Empty allows any address.",
    )


class VerifiedSenderAddForm(forms.Form):
    email = forms.CharField(label="Sender email address", max_length=254)

    def clean_email(self) -> str:
        try:
            return verified_sender_email_clean(self.cleaned_data["email"])
        except ValidationError as exc:
            raise ValidationError("Enter a valid email address.") from exc


class NotificationUrlForm(forms.Form):
    event_notification_url = forms.URLField(
        label="Event notification URL",
        required=False,
        max_length=2000,
        assume_scheme="https",
        help_text="Every event of your messages is POSTed here as a form, signed with the webhook secret "
        "(header X-Signature: sha256=<hex HMAC-SHA256 of the body>). Empty turns the notifications off.",
    )

    def clean_event_notification_url(self) -> str:
        url = self.cleaned_data["event_notification_url"].strip()
        if url and not url.lower().startswith(("http://", "https://")):
            raise ValidationError("Enter an http:// or https:// URL.")
        return url


PLATFORM_DEFAULT = ""
CHANNEL_LABELS = {"sms": "SMS", "mailing": "Email", "landing": "Landing SMS"}


class ProviderRouteForm(forms.Form):
    """One select per channel: the platform default or a provider that carries that channel."""

    def __init__(self, *args: Any, channels: dict[str, list[str]], current: dict[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        for channel, providers in channels.items():
            self.fields[channel] = forms.ChoiceField(
                label=f"{CHANNEL_LABELS.get(channel, channel)} provider",
                required=False,
                choices=[(PLATFORM_DEFAULT, "Platform default"), *[(name, name) for name in providers]],
                initial=current.get(channel, PLATFORM_DEFAULT),
            )
