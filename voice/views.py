"""What Twilio fetches during a call, under /webhooks/voice/ (no session or CSRF work there).

Both views need two proofs: the URL's own signed, unexpired token (voice.signing) and Twilio's
X-Twilio-Signature from one of the twilio_voice routes. Either missing or wrong answers 403 and
changes nothing. Answers are TwiML (`text/xml`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qsl

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from messaging.providers.base import WebhookRejected
from messaging.providers.twilio_voice import twilio_voice_request_verify
from voice.calls import call_twiml, gather_answer
from voice.signing import BadVoiceToken, VoiceToken, voice_token_read

logger = logging.getLogger(__name__)


def _verified(request: HttpRequest, token: str) -> VoiceToken | None:
    try:
        voice_token = voice_token_read(token)
        twilio_voice_request_verify(request)
    except (BadVoiceToken, WebhookRejected) as exc:
        logger.warning("Refused voice request %s from %s: %s", request.path, request.META.get("REMOTE_ADDR"), exc)
        return None
    return voice_token


def _form(request: HttpRequest) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        return {}
    return dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))


def _twilio_view(request: HttpRequest, token: str, answer: Callable[[VoiceToken, dict[str, str]], str]) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    voice_token = _verified(request, token)
    if voice_token is None:
        return HttpResponseForbidden()
    return HttpResponse(answer(voice_token, _form(request)), content_type="text/xml; charset=utf-8")


@csrf_exempt
def call_twiml_view(request: HttpRequest, token: str) -> HttpResponse:
    """The TwiML of a call, fetched by Twilio when the callee answers."""
    return _twilio_view(
        request,
        token,
        lambda voice_token, form: call_twiml(public_id=voice_token.public_id, answered_by=form.get("AnsweredBy", "")),
    )


@csrf_exempt
def gather_view(request: HttpRequest, token: str) -> HttpResponse:
    """A key pressed in answer to a menu node (or none, after its timeout): the TwiML that follows."""
    return _twilio_view(
        request, token, lambda voice_token, form: gather_answer(token=voice_token, digits=form.get("Digits", ""))
    )
