"""Signed, expiring URLs for the TwiML a call runs and for the answers to its key presses.

A URL carries what it is about (message public id, menu node, play count) inside a
django.core.signing TimestampSigner token, so the view needs no lookup to trust it and nobody can
forge one for another message; a token older than TWIML_URL_MAX_AGE is refused like a bad one.

Decision where Twilio is silent: two hours. Twilio fetches a call's TwiML when the callee answers:
after the dispatcher creates the call, any queueing by calls-per-second and at most the ring
timeout; a Gather's action URL is minted as the menu is served and used seconds later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from django.conf import settings
from django.core import signing

TWIML_URL_MAX_AGE: Final = 2 * 3600
_SALT: Final = "voice.twiml"
TWIML_PATH: Final = "/webhooks/voice/twiml/"
GATHER_PATH: Final = "/webhooks/voice/gather/"


class BadVoiceToken(Exception):
    """A TwiML or Gather URL whose signature is wrong or expired."""


@dataclass(frozen=True)
class VoiceToken:
    public_id: str  # the message
    menu_id: int | None = None  # the menu node being answered (Gather) or served
    plays: int = 1  # how many times that node has been played (speech retries)


def voice_token_sign(token: VoiceToken) -> str:
    return signing.TimestampSigner(salt=_SALT).sign_object(
        {"m": token.public_id, "n": token.menu_id, "p": token.plays}, compress=False
    )


def voice_token_read(value: str, *, max_age: int = TWIML_URL_MAX_AGE) -> VoiceToken:
    try:
        data = signing.TimestampSigner(salt=_SALT).unsign_object(value, max_age=max_age)
        return VoiceToken(public_id=str(data["m"]), menu_id=data["n"], plays=int(data["p"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise BadVoiceToken(str(exc)) from exc


def twiml_url(token: VoiceToken, *, base_url: str | None = None) -> str:
    """Where Twilio fetches the TwiML of a call (or of a menu node played again)."""
    return f"{(base_url or settings.PUBLIC_URL).rstrip('/')}{TWIML_PATH}{voice_token_sign(token)}/"


def gather_url(token: VoiceToken, *, base_url: str | None = None) -> str:
    """Where Twilio posts the key pressed in answer to a menu node."""
    return f"{(base_url or settings.PUBLIC_URL).rstrip('/')}{GATHER_PATH}{voice_token_sign(token)}/"
