import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from accounts.models import ApiCredential, VerifiedSender, validate_ip_networks
from accounts.services import verified_sender_email_clean

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
