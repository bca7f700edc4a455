"""The public pages' words in the account's language (a small dict: two pages, a few sentences;
Django's gettext would need compiled catalogues for just this). Unknown languages fall back to en."""

from typing import Final

PAGE_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "Unsubscribe",
        "question": "Do you want to stop receiving messages from {account} at {recipient}?",
        "button": "Unsubscribe",
        "done_title": "You have been unsubscribed",
        "done": "{account} will not send more messages to {recipient}.",
        "landing_unsubscribe": "Unsubscribe from these messages",
    },
    "es": {
        "title": "Darse de baja",
        "question": "¿Quieres dejar de recibir mensajes de {account} en {recipient}?",
        "button": "Darme de baja",
        "done_title": "Te has dado de baja",
        "done": "{account} no enviará más mensajes a {recipient}.",
        "landing_unsubscribe": "Darme de baja de estos mensajes",
    },
}


def page_language(language: str | None) -> str:
    code = (language or "en").strip().lower()[:2]
    return code if code in PAGE_TEXTS else "en"


def page_texts(language: str | None) -> dict[str, str]:
    return PAGE_TEXTS[page_language(language)]
