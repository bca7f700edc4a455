"""Template filters of the campaigns and contacts pages."""

from typing import Final

from django import template

register = template.Library()

CHANNEL_LABELS: Final = {
    "sms": "SMS",
    "mailing": "Email",
    "landing": "Landing SMS",
    "text2speech": "Text to speech",
    "voice-interactive": "Interactive voice",
    "whatsapp": "WhatsApp",
}


@register.filter
def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)
