"""Opt-out keywords: what a person's reply to one of our numbers does (issue 10, part 7).

`inbound_keywords_handle` is an inbound handler (messaging.webhooks.INBOUND_HANDLERS): the webhook
task gives it every InboundMessage its providers parsed (Twilio inbound SMS today), inside the batch's
transaction. For each message it finds the keyword, the account and the contact, and acts:

- opt-out (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, ARRET, ARRÊT, BAJA, ALTO, STOPP, PARAR, SAIR,
  DESISCRIVI): the number goes on the channel's blacklist (temporary, never definitive), the contact's
  consent on the channel becomes `opted_out` (source keyword, the reply in the note), and the latest
  message we sent that number through that provider gets an `unsubscribed` event (counted on its
  sending and notified, as before the split);
- opt-in (START, UNSTOP, ALTA): consent `opted_in` (source keyword) and off the blacklist;
- help (HELP, AIDE, AYUDA): the account's help text as a reply, when it has one.

Matching: the whole message or its first word (split on white space, punctuation around it dropped),
case and accents ignored: "Stop", "stop please", "ARRÊT", "Arret." match; "Stopwatch", "don't stop",
"Stop-watch" do not.

Decisions:
- The account: the routes of the message's provider whose settings name the provider-side account it
  arrived on (Twilio's AccountSid; a route that names none takes any) tell which of our accounts may own
  the number it was sent to; of those, the account of the latest message we sent the replying number
  through that provider wins, else the only account with such a route. A message no account can be
  found for changes nothing (logged): acting on a guess would opt a person out of a stranger's list.
- The contact: the account's contact with that phone number. Without one, the blacklist still
  changes (it is keyed by the number) but there is no consent to record.
- Confirmation replies (ComplianceSettings.keyword_confirmation with stop_confirmation_text /
  start_confirmation_text) are sent once per keyword action: only when the keyword changed something
  (consent or blacklist), so a STOP sent twice, or a webhook delivered twice, gets one reply. The STOP
  confirmation is queued before the number goes on the blacklist (sms_send refuses blacklisted numbers).
  HELP is answered each time, except a redelivered webhook (same provider message id): the id is
  remembered in the cache for a day once the reply's transaction commits (so a batch that rolls back
  and is retried answers again), and within one batch.
- Replies are SMS through campaigns.services.sms_send from the number the person wrote to, to the
  person. They are transactional, but sms_send takes no purpose argument yet (the pipeline's purpose
  will carry it; until then they go like any API send). They cost like any SMS: a reply the balance
  cannot pay is logged and skipped, and the keyword action itself still happens.
- START takes the number off the blacklist only where the entry is temporary: a definitive entry
  (hard bounce, complaint) is for the staff to lift.
- The reply and the confirmation are Messages to the contact, so they show in the contact's message
  history beside the consent history; HELP changes no consent and records no consent event.
- Twilio itself answers STOP / START / HELP on long codes unless Advanced Opt-Out is configured, so
  the account setting is off by default: turning it on with Twilio's default replies would answer twice.
- WhatsApp (and any channel with replies) plugs in with a KEYWORD_CHANNELS entry: its blacklist type
  (none yet for WhatsApp), its consent channel and how it replies.
"""

from __future__ import annotations

import logging
import string
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts.models import Account
from campaigns.sending.request import KEYWORD_REPLY
from compliance.consent import consent_set
from compliance.models import ComplianceSettings, ConsentChannel, ConsentSource, ConsentStatus
from contacts.models import BlacklistEntry, BlacklistType, Contact
from messaging.models import EventType, Message, ProviderRoute
from messaging.providers.base import DeliveryEvent, InboundMessage

logger = logging.getLogger(__name__)


class KeywordAction(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


KEYWORDS: dict[KeywordAction, frozenset[str]] = {
    KeywordAction.OPT_OUT: frozenset(
        {
            "STOP",
            "STOPALL",
            "UNSUBSCRIBE",
            "CANCEL",
            "END",
            "QUIT",
            "ARRET",
            "BAJA",
            "ALTO",
            "STOPP",
            "PARAR",
            "SAIR",
            "DESISCRIVI",
        }
    ),
    KeywordAction.OPT_IN: frozenset({"START", "UNSTOP", "ALTA"}),
    KeywordAction.HELP: frozenset({"HELP", "AIDE", "AYUDA"}),
}
_ACTION_OF_WORD = {word: action for action, words in KEYWORDS.items() for word in words}
HELP_REPLY_MEMORY_SECONDS = 24 * 3600
_AROUND_WORD = string.punctuation + "¡¿«»\u201c\u201d\u2018\u2019"


@dataclass(frozen=True)
class KeywordChannel:
    """How keywords act on one inbound channel."""

    consent_channel: str
    blacklist_type: str | None
    route_channels: tuple[str, ...]  # the message channels whose routes and messages the number belongs to
    reply: Callable[..., bool] | None  # reply(account=, sender=, to=, text=) -> sent


@dataclass(frozen=True)
class KeywordOutcome:
    """What one inbound message did (for tests, logs and the admin)."""

    provider_message_id: str
    keyword: str
    action: KeywordAction
    account_id: int
    contact_id: int | None
    changed: bool
    replied: bool


def keyword_match(text: str) -> tuple[KeywordAction, str] | None:
    """(action, keyword as listed) of a message whose whole text or first word is a keyword."""
    words = text.split()
    if not words:
        return None
    word = _fold(words[0]).strip(_AROUND_WORD)
    action = _ACTION_OF_WORD.get(word)
    return (action, word) if action else None


def _fold(text: str) -> str:
    """Upper case without accents: "Arrêt" -> "ARRET"."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).upper()


def inbound_keywords_handle(*, messages: Sequence[InboundMessage]) -> list[KeywordOutcome]:
    """Act on the keyword messages among `messages` (others are left to other handlers)."""
    outcomes = []
    answered: set[str] = set()  # HELP replies of this call, before the cache knows them
    for message in messages:
        match = keyword_match(message.text)
        channel = KEYWORD_CHANNELS.get(message.channel)
        if match is None or channel is None:
            continue
        account = _account_of(message, channel)
        if account is None:
            logger.warning(
                "Keyword %s from %s to %s (%s %s) matches no account; nothing changed",
                match[1], message.sender, message.recipient, message.provider, message.provider_message_id,
            )  # fmt: skip
            continue
        outcomes.append(_act(message, channel, account, *match, answered=answered))
    return outcomes


def _act(
    message: InboundMessage,
    channel: KeywordChannel,
    account: Account,
    action: KeywordAction,
    keyword: str,
    *,
    answered: set[str],
) -> KeywordOutcome:
    contact_id = (
        Contact.objects.filter(account=account, phone=message.sender).values_list("pk", flat=True).first()
        if message.sender
        else None
    )
    settings = ComplianceSettings.objects.filter(account=account).first()
    note = f"{ConsentChannel(channel.consent_channel).label} reply {message.text.strip()[:60]!r}"
    changed = replied = False
    if action == KeywordAction.OPT_OUT:
        changed = _consent(account, contact_id, channel, ConsentStatus.OPTED_OUT, message, note)
        if channel.blacklist_type:
            listed = BlacklistEntry.objects.filter(
                account=account, type=channel.blacklist_type, recipient=message.sender
            ).exists()
            changed = changed or not listed
        if changed and settings and settings.keyword_confirmation and settings.stop_confirmation_text:
            replied = _reply(account, channel, message, settings.stop_confirmation_text)
        # The event first: its own blacklisting records the sending the number was unsubscribed from.
        _unsubscribed_event(account, channel, message, keyword)
        _blacklist_add(account, channel, message)
    elif action == KeywordAction.OPT_IN:
        changed = _consent(account, contact_id, channel, ConsentStatus.OPTED_IN, message, note)
        if channel.blacklist_type:
            removed, _ = BlacklistEntry.objects.filter(
                account=account, type=channel.blacklist_type, recipient=message.sender, is_definitive=False
            ).delete()
            changed = changed or removed > 0
        if changed and settings and settings.keyword_confirmation and settings.start_confirmation_text:
            replied = _reply(account, channel, message, settings.start_confirmation_text)
    elif settings and settings.help_text:
        memory = f"compliance:help-reply:{message.provider}:{message.provider_message_id}"
        if memory not in answered and cache.get(memory) is None:
            replied = _reply(account, channel, message, settings.help_text)
            answered.add(memory)
            transaction.on_commit(partial(cache.set, memory, 1, HELP_REPLY_MEMORY_SECONDS))
    return KeywordOutcome(
        provider_message_id=message.provider_message_id, keyword=keyword, action=action, account_id=account.pk,
        contact_id=contact_id, changed=changed, replied=replied,
    )  # fmt: skip


def _consent(
    account: Account, contact_id: int | None, channel: KeywordChannel, status: str, message: InboundMessage, note: str
) -> bool:
    if contact_id is None:
        return False
    return bool(
        consent_set(
            account=account,
            contact_ids=[contact_id],
            channel=channel.consent_channel,
            status=status,
            source=ConsentSource.KEYWORD,
            at=message.received_at,
            note=note,
        )
    )


def _blacklist_add(account: Account, channel: KeywordChannel, message: InboundMessage) -> None:
    if not channel.blacklist_type:
        return
    from contacts.services import blacklist_add

    try:
        blacklist_add(account=account, type=channel.blacklist_type, recipient=message.sender)
    except ValidationError:
        logger.warning("Keyword reply from %r: not a number the blacklist takes", message.sender)


def _unsubscribed_event(account: Account, channel: KeywordChannel, message: InboundMessage, keyword: str) -> None:
    """The `unsubscribed` event of the latest message we sent that number (counted on its sending,
    notified); deduplicated per inbound message like every provider event."""
    from messaging.events import events_store

    latest = _latest_message(message, channel, account_ids=[account.pk])
    if latest is None:
        return
    events_store(
        events=[
            DeliveryEvent(
                type=EventType.UNSUBSCRIBED,
                occurred_at=message.received_at,
                provider=message.provider,
                provider_event_id=f"{message.provider_message_id}:reply",
                message_public_id=latest[1],
                reason=f"{ConsentChannel(channel.consent_channel).label} reply {keyword}",
                extra={
                    "recipient": message.sender,
                    "sender": message.recipient,
                    "channel": message.channel,
                    "keyword": keyword,
                },
            )
        ]
    )


# ---------------------------------------------------------------------------------------------
# Which account


def _account_of(message: InboundMessage, channel: KeywordChannel) -> Account | None:
    routes = list(
        ProviderRoute.objects.filter(provider=message.provider, channel__in=channel.route_channels).values_list(
            "account_id", "settings"
        )
    )
    account_ids: set[int] = set()
    # No route at all: the provider is configured from the environment for every account.
    any_account = not routes
    for account_id, settings in routes:
        named = str((settings or {}).get("account_sid") or "")
        if named and message.provider_account and named != message.provider_account:
            continue
        if account_id is None:
            any_account = True  # the platform's default route carries every account's messages
        else:
            account_ids.add(account_id)
    latest = _latest_message(message, channel, account_ids=None if any_account else account_ids)
    if latest is not None:
        return Account.objects.filter(pk=latest[0]).first()
    if len(account_ids) == 1 and not any_account:
        return Account.objects.filter(pk=next(iter(account_ids))).first()
    return None


def _latest_message(
    message: InboundMessage, channel: KeywordChannel, *, account_ids: Sequence[int] | set[int] | None
) -> tuple[int, str] | None:
    """(account id, public id) of the latest message we sent the replying number on the channel
    through the provider (within `account_ids` when given); served by message_account_recipient when
    the accounts are known."""
    if account_ids is not None and not account_ids:
        return None
    found = Message.objects.filter(recipient=message.sender, channel__in=channel.route_channels)
    if message.provider:
        found = found.filter(provider=message.provider)
    if account_ids is not None:
        found = found.filter(account_id__in=list(account_ids))
    return found.order_by("-id").values_list("account_id", "public_id").first()


# ---------------------------------------------------------------------------------------------
# Replies


def _sms_reply(*, account: Account, sender: str, to: str, text: str) -> bool:
    from campaigns.services import SendError, sms_send

    try:
        with transaction.atomic():
            sms_send(
                account=account, message=text, to=[to], sender=sender, purpose="transactional", source=KEYWORD_REPLY
            )
    except SendError as exc:
        logger.warning("Keyword reply to %s not sent: %s (%s)", to, exc.description, exc.code)
        return False
    return True


def _reply(account: Account, channel: KeywordChannel, message: InboundMessage, text: str) -> bool:
    if channel.reply is None:
        return False
    # Swapped: from the number the person wrote to, to the person.
    return channel.reply(account=account, sender=message.recipient, to=message.sender, text=text)


KEYWORD_CHANNELS: dict[str, KeywordChannel] = {
    "sms": KeywordChannel(
        consent_channel=ConsentChannel.SMS,
        blacklist_type=BlacklistType.SMS,
        route_channels=("sms", "landing"),
        reply=_sms_reply,
    ),
}
