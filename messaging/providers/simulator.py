"""The simulator: the provider of every channel until an operator picks a real one, so a fresh
install, the quick start and the demo send with no credentials.

It accepts every message (recording it in SimulatedDelivery, which answers reconciliation
lookups) and, some seconds later, reports what "happened" through the same path a real
provider's webhooks take: `simulator_reports_emit` writes the reports as an InboundWebhook row
(provider "simulator", a body `parse_webhook` understands), and that row is processed like any
other provider's. The dispatcher itself records `sent` when a message is accepted, so the
simulator reports what follows: `delivered`, or `undelivered` (SMS) / `hard_bounced` (email),
and for delivered email `opened` and `clicked`.

Voice calls (text2speech, voice-interactive) are answered by a person, by a machine, not at all or
are busy, at the rates below: a person's answer is `delivered` with a duration (in the event's
`extra`, like Twilio's); a machine's is `undelivered` when the message asked for AMD, else
`delivered` (the message went to voicemail); busy and no answer are `undelivered`. For interactive
calls a person presses keys (`keys_rate`): the choices are planned here, and the keys are walked
through the message's menu and recorded by voice.simulation when the reports are written.

Outcomes are a pure function of the route's seed and the message's public id, so the same data
gives the same dashboards on every run. Settings (ProviderRoute.settings, all optional):
    seed                  any string, default "simulator"
    delivered_rate        share of messages delivered, default 0.9
    opened_rate           share of delivered email opened, default 0.3
    clicked_rate          share of delivered email clicked (a click implies an open), default 0.1
    report_delay_seconds  seconds between acceptance and the reports, default 5
    answered_rate         share of calls a person answers, default 0.6
    machine_rate          share of calls a machine answers, default 0.15
    busy_rate             share of calls that find the line busy, default 0.1 (the rest: no answer)
    keys_rate             share of answered interactive calls whose callee presses keys, default 0.7
    max_call_seconds      longest simulated call, default 90
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac

from messaging.providers.base import DeliveryEvent, OutboundMessage, Provider, SendResult, WebhookRejected

NAME = "simulator"
SIGNATURE_HEADER = "X-Simulator-Signature"
CLICKED_URL = "https://example.com/offer"
USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605",
)
DEFAULTS: dict[str, Any] = {
    "seed": "simulator",
    "delivered_rate": 0.9,
    "opened_rate": 0.3,
    "clicked_rate": 0.1,
    "report_delay_seconds": 5.0,
    "answered_rate": 0.6,
    "machine_rate": 0.15,
    "busy_rate": 0.1,
    "keys_rate": 0.7,
    "max_call_seconds": 90,
}
VOICE_CHANNELS = frozenset({"text2speech", "voice-interactive"})
# At most this many keys are planned per interactive call (a menu walk stops earlier at a leaf).
MAX_KEYS = 5


def simulated_id(public_id: str) -> str:
    return f"sim-{public_id}"


def simulator_signature(body: bytes) -> str:
    return salted_hmac("messaging.providers.simulator", body, algorithm="sha256").hexdigest()


def _chance(seed: str, public_id: str, purpose: str) -> float:
    """A number in [0, 1) that only depends on its inputs."""
    digest = hashlib.sha256(f"{seed}:{public_id}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def planned_events(
    settings: dict[str, Any], *, public_id: str, channel: str, options: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The reports the simulator will send for one message: [{"type", "offset", ...}], offsets
    in seconds after acceptance, never later than the report delay."""
    conf = {**DEFAULTS, **settings}
    seed, delay = str(conf["seed"]), float(conf["report_delay_seconds"])
    if channel in VOICE_CHANNELS:
        return _planned_call(conf, public_id=public_id, channel=channel, options=options or {})
    is_email = channel == "mailing"
    if _chance(seed, public_id, "delivery") >= float(conf["delivered_rate"]):
        if is_email:
            return [{"type": "hard_bounced", "offset": delay, "reason": "550 5.1.1 simulated: mailbox unavailable"}]
        return [{"type": "undelivered", "offset": delay, "reason": "simulated: handset unreachable"}]
    events: list[dict[str, Any]] = [{"type": "delivered", "offset": delay / 2}]
    if is_email:
        clicked = _chance(seed, public_id, "clicked") < float(conf["clicked_rate"])
        if clicked or _chance(seed, public_id, "opened") < float(conf["opened_rate"]):
            agent = USER_AGENTS[int(_chance(seed, public_id, "agent") * len(USER_AGENTS))]
            events.append({"type": "opened", "offset": delay * 3 / 4, "user_agent": agent})
            if clicked:
                events.append({"type": "clicked", "offset": delay, "user_agent": agent, "url": CLICKED_URL})
    return events


def _planned_call(
    conf: dict[str, Any], *, public_id: str, channel: str, options: dict[str, Any]
) -> list[dict[str, Any]]:
    seed, delay = str(conf["seed"]), float(conf["report_delay_seconds"])
    roll = _chance(seed, public_id, "call")
    person, machine = float(conf["answered_rate"]), float(conf["machine_rate"])
    busy = float(conf["busy_rate"])
    longest = max(1, int(conf["max_call_seconds"]))
    duration = 1 + int(_chance(seed, public_id, "duration") * longest)
    amd = bool((options.get("voice") or {}).get("amd"))
    if roll < person:
        planned: dict[str, Any] = {
            "type": "delivered",
            "offset": delay,
            "extra": {"call_status": "completed", "answered_by": "human", "duration_seconds": duration},
        }
        if channel == "voice-interactive" and _chance(seed, public_id, "keys") < float(conf["keys_rate"]):
            planned["presses"] = [_chance(seed, public_id, f"key{n}") for n in range(MAX_KEYS)]
        return [planned]
    if roll < person + machine:
        if amd:
            extra = {"call_status": "completed", "answered_by": "machine_start", "duration_seconds": 0}
            return [{"type": "undelivered", "offset": delay, "reason": "answered by machine start", "extra": extra}]
        extra = {"call_status": "completed", "answered_by": "machine_end_beep", "duration_seconds": duration}
        return [{"type": "delivered", "offset": delay, "extra": extra}]
    status = "busy" if roll < person + machine + busy else "no-answer"
    extra = {"call_status": status, "duration_seconds": 0}
    return [{"type": "undelivered", "offset": delay, "reason": f"call {status}", "extra": extra}]


class SimulatorProvider(Provider):
    name = NAME
    channels = frozenset({"sms", "mailing", "landing", "text2speech", "voice-interactive", "whatsapp"})
    takes_batches = True

    def send(self, message: OutboundMessage) -> str:
        return self.send_batch([message])[0].provider_message_id

    def send_batch(self, messages: list[OutboundMessage]) -> list[SendResult]:
        from messaging.models import SimulatedDelivery

        now = timezone.now()
        delay = timedelta(seconds=float({**DEFAULTS, **self.settings}["report_delay_seconds"]))
        rows = [
            SimulatedDelivery(
                provider_message_id=simulated_id(m.public_id),
                message_public_id=m.public_id,
                channel=m.channel,
                planned_events=planned_events(
                    self.settings, public_id=m.public_id, channel=m.channel, options=m.options
                ),
                accepted_at=now,
                report_due_at=now + delay,
            )
            for m in messages
        ]
        # Committed on its own, like a real provider taking the message, before the dispatcher
        # writes the outcome back: a crash in between is reconciled through `lookup`.
        with transaction.atomic():
            SimulatedDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        return [SendResult(m.message_id, provider_message_id=simulated_id(m.public_id)) for m in messages]

    def lookup(self, message: OutboundMessage) -> str | None:
        from messaging.models import SimulatedDelivery

        row = SimulatedDelivery.objects.filter(message_public_id=message.public_id).first()
        return row.provider_message_id if row else None

    def verify_webhook(self, request: HttpRequest) -> None:
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature or not hmac.compare_digest(simulator_signature(request.body), signature):
            raise WebhookRejected("bad simulator signature")

    def parse_webhook(self, content_type: str, body: bytes) -> list[DeliveryEvent]:
        try:
            reports = json.loads(body)["events"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError('simulator report must be {"events": [...]}') from exc
        return [
            DeliveryEvent(
                type=report["type"],
                occurred_at=datetime.fromisoformat(report["occurred_at"]),
                provider=NAME,
                provider_event_id=report["id"],
                provider_message_id=report["message_id"],
                message_public_id=report.get("reference", ""),
                reason=report.get("reason", ""),
                url=report.get("url", ""),
                user_agent=report.get("user_agent", ""),
                extra=report.get("extra") or {},
            )
            for report in reports
        ]


def simulator_reports_emit(*, now: datetime | None = None, limit: int = 5000) -> int:
    """Write the reports that are due as one InboundWebhook row and process it; returns how many
    events it reported. Safe to run in parallel: rows are taken with SKIP LOCKED."""
    from messaging.models import InboundWebhook, SimulatedDelivery

    now = now or timezone.now()
    with transaction.atomic():
        due = SimulatedDelivery.objects.filter(reported_at__isnull=True, report_due_at__lte=now).order_by(
            "report_due_at", "id"
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        deliveries = list(due[:limit])
        if not deliveries:
            return 0
        reports = []
        for delivery in deliveries:
            for planned in delivery.planned_events:
                occurred_at = delivery.accepted_at + timedelta(seconds=planned["offset"])
                reports.append(
                    {
                        "id": f"{delivery.provider_message_id}:{planned['type']}",
                        "message_id": delivery.provider_message_id,
                        "reference": delivery.message_public_id,
                        "type": planned["type"],
                        "occurred_at": occurred_at.astimezone(UTC).isoformat(),
                        "reason": planned.get("reason", ""),
                        "url": planned.get("url", ""),
                        "user_agent": planned.get("user_agent", ""),
                        **({"extra": planned["extra"]} if "extra" in planned else {}),
                    }
                )
        SimulatedDelivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(reported_at=now)
        presses = [
            (d.message_public_id, d.accepted_at, planned["presses"])
            for d in deliveries
            for planned in d.planned_events
            if planned.get("presses")
        ]
        if presses:
            from voice.simulation import simulated_keys_record

            simulated_keys_record(presses=presses)
        webhook = InboundWebhook.objects.create(
            provider=NAME, content_type="application/json", body=json.dumps({"events": reports}).encode()
        )
    inbound_webhook_process(webhook_id=webhook.pk)
    return len(reports)


def inbound_webhook_process(*, webhook_id: int) -> None:
    """Process one stored webhook through the generic ingest path when it exists
    (messaging.webhooks), else parse and record it here, the same steps."""
    try:
        from messaging.webhooks import inbound_webhooks_process
    except ImportError:
        inbound_webhooks_process = None
    if inbound_webhooks_process is not None:
        inbound_webhooks_process(ids=[webhook_id])
        return

    from messaging.events import events_record
    from messaging.models import InboundWebhook

    webhook = InboundWebhook.objects.get(pk=webhook_id)
    with transaction.atomic():
        events_record(events=SimulatorProvider().parse_webhook(webhook.content_type, bytes(webhook.body)))
        InboundWebhook.objects.filter(pk=webhook_id, processed_at__isnull=True).update(processed_at=timezone.now())
