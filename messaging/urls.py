"""Provider webhooks, mounted under /webhooks/ by config.urls.

- /webhooks/twilio/status and /webhooks/twilio/inbound: Twilio status callbacks and inbound
  messages (the StatusCallback we send and the URL to configure on the Twilio number).
- /webhooks/anymail/<esp>/tracking/: django-anymail's tracking webhooks (anymail.urls), wrapped
  so their events are stored and processed like every other provider's.
- /webhooks/<provider>/: any other provider of messaging.providers.PROVIDERS.
"""

from django.urls import URLPattern, path, re_path

from messaging.webhooks import anymail_tracking_view, provider_webhook

app_name = "webhooks"


def _anymail_tracking_patterns() -> list[URLPattern]:
    try:
        from anymail.urls import urlpatterns as anymail_patterns
    except ImportError:
        return []
    patterns = []
    for pattern in anymail_patterns:
        if not (pattern.name or "").endswith("tracking_webhook"):
            continue
        regex = pattern.pattern.regex.pattern.removeprefix("^")
        patterns.append(
            re_path(r"^anymail/" + regex, anymail_tracking_view(pattern.callback), name=f"anymail_{pattern.name}")
        )
    return patterns


urlpatterns = [
    path("twilio/status", provider_webhook, {"provider": "twilio"}, name="twilio_status"),
    path("twilio/inbound", provider_webhook, {"provider": "twilio"}, name="twilio_inbound"),
    *_anymail_tracking_patterns(),
    path("<slug:provider>/", provider_webhook, name="provider"),
]
