"""The provider registry: name -> dotted path, imported only when used so a deployment without
one provider's dependencies still runs the others."""

from django.utils.module_loading import import_string

from messaging.providers.base import Provider

PROVIDERS: dict[str, str] = {
    "simulator": "messaging.providers.simulator.SimulatorProvider",
    "twilio": "messaging.providers.twilio.TwilioProvider",
    "twilio_voice": "messaging.providers.twilio_voice.TwilioVoiceProvider",
    "smtp": "messaging.providers.smtp.SmtpProvider",
    "http_gateway": "messaging.providers.http_gateway.HttpGatewayProvider",
}


def provider_class(name: str) -> type[Provider]:
    try:
        return import_string(PROVIDERS[name])
    except KeyError as exc:
        raise LookupError(f"Unknown provider {name!r}; known: {', '.join(sorted(PROVIDERS))}") from exc
