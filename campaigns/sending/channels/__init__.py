"""The channel registry: the facts about each channel that the send side needs, decided once.

Data only (no behaviour, no service import): the fan-out, the compose selectors, the event
recorder (messaging.events) and the pipeline read these instead of comparing channel names. A new
channel is one row here plus its behaviour module beside this file (sms.py, email.py, ...).

- `address`: the Contact column that holds the channel's recipient, and so the form of its
  blacklist entries ("phone": international digits, "email": lower-case).
- `blacklist`: the BlacklistType that suppresses the channel (None: the channel has no blacklist
  yet, so nothing is blacklisted from its events).
- `consent`: the consent channel a compliance rule checks ("sms", "mailing", "voice", "whatsapp").
- `replies`: the kind of inbound reply (DeliveryEvent.extra["channel"]) that belongs to messages
  of this channel: an SMS "STOP" is matched against the number's latest sms or landing message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from campaigns.models import Channel
from contacts.models import BlacklistType


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    channel: str  # a Channel value
    address: str  # "phone" | "email"
    blacklist: str | None  # a BlacklistType value
    consent: str
    replies: str  # the inbound reply kind that belongs to this channel's messages


CHANNELS: Final[dict[str, ChannelSpec]] = {
    spec.channel: spec
    for spec in (
        ChannelSpec(Channel.SMS, address="phone", blacklist=BlacklistType.SMS, consent="sms", replies="sms"),
        ChannelSpec(Channel.LANDING, address="phone", blacklist=BlacklistType.SMS, consent="sms", replies="sms"),
        ChannelSpec(
            Channel.MAILING, address="email", blacklist=BlacklistType.MAILING, consent="mailing", replies="mailing"
        ),
        ChannelSpec(
            Channel.TEXT2SPEECH, address="phone", blacklist=BlacklistType.VOICE, consent="voice", replies="voice"
        ),
        ChannelSpec(
            Channel.VOICE_INTERACTIVE, address="phone", blacklist=BlacklistType.VOICE, consent="voice", replies="voice"
        ),
        ChannelSpec(Channel.WHATSAPP, address="phone", blacklist=None, consent="whatsapp", replies="whatsapp"),
    )
}

# The blacklist type of every channel that has one (events blacklist the recipient of their message).
BLACKLIST_TYPE_OF_CHANNEL: Final[dict[str, str]] = {
    channel: spec.blacklist for channel, spec in CHANNELS.items() if spec.blacklist is not None
}


def channel_spec(channel: str) -> ChannelSpec:
    return CHANNELS[channel]


def address_column(channel: str) -> str:
    """The Contact column (and recipient form) of `channel`: "phone" or "email"."""
    return CHANNELS[channel].address


def blacklist_type(channel: str) -> str | None:
    return CHANNELS[channel].blacklist


def reply_channels(kind: str) -> list[str]:
    """The channels whose messages an inbound reply of `kind` ("sms", "mailing", ...) belongs to.
    A reply of a kind no channel declares is matched against email messages, as it always was."""
    return [channel for channel, spec in CHANNELS.items() if spec.replies == kind] or [Channel.MAILING]
