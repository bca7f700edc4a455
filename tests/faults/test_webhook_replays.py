"""A provider's delivery report posted 50 times at once (a provider retrying, a replaying proxy)
through the real /webhooks/ endpoint of a live server, processed while they arrive by the webhook
task running twice at once in small batches (a kick and the minute schedule): every copy is stored and
acknowledged, and the message's state changes once, with one event, one counter step and one
notification.

Counts: 50 posts released together from 50 threads; the processing task in 2 threads, claims of 5
rows, lingering 2 s for more.
"""

from __future__ import annotations

import pytest
import requests

from campaigns.models import Sending
from messaging.models import Event, InboundWebhook, Message, MessageStatus, Notification, ProviderRoute
from messaging.webhooks import process_inbound_webhooks
from tests.fakes.http_gateway import signed_headers
from tests.messaging.provider_contract import fresh_webhook_state, message_create  # noqa: F401  (autouse)
from tests.messaging.test_crash_safety import in_own_thread
from tests.messaging.test_webhooks import GATEWAY_SECRET, gateway_event, gateway_report
from tests.otp.test_concurrency import run_at_once

pytestmark = pytest.mark.django_db(transaction=True)

POSTS = 50
LINGER = 2.0  # seconds the processing tasks wait for more rows once the backlog is empty


def test_one_delivery_report_posted_50_times_at_once_changes_the_message_once(server_url, account, fault_figures):
    ProviderRoute.objects.create(
        account=account,
        channel="sms",
        provider="http_gateway",
        settings={"url": "http://127.0.0.1:9/messages", "secret": GATEWAY_SECRET},
    )
    message = message_create(
        account,
        provider="http_gateway",
        provider_message_id="gw-1",
        notification_url="http://127.0.0.1:9/notify?status=%s",
    )
    body = gateway_report(gateway_event(message, "delivered"))
    headers = signed_headers(GATEWAY_SECRET, body)
    url = f"{server_url}/webhooks/http_gateway/"

    # The processing task runs twice (a kick and the minute schedule) while the copies arrive;
    # a last run, as the next schedule would, takes whatever arrived after they stopped lingering.
    first, first_outcome = in_own_thread(lambda: process_inbound_webhooks(batch_size=5, linger=LINGER))
    second, second_outcome = in_own_thread(lambda: process_inbound_webhooks(batch_size=5, linger=LINGER))
    statuses = run_at_once(lambda _: requests.post(url, data=body, headers=headers, timeout=60).status_code, POSTS)
    first.join(60)
    second.join(60)
    late = process_inbound_webhooks(linger=0)

    message.refresh_from_db()
    sending = Sending.objects.get(pk=message.sending_id)
    stored = InboundWebhook.objects.filter(provider="http_gateway")
    events = Event.objects.filter(message=message, type="delivered")
    fault_figures(
        "one webhook posted 50 times",
        posts=POSTS,
        answered_200=statuses.count(200),
        stored=stored.count(),
        processed=stored.filter(processed_at__isnull=False).count(),
        processed_by_each_task=f"{first_outcome.get('result')}+{second_outcome.get('result')}+{late}",
        delivered_events=events.count(),
        delivered_counter=sending.delivered,
        notifications=Notification.objects.filter(event__message=message).count(),
        final_status=str(message.status),
    )
    assert statuses == [200] * POSTS, statuses
    assert "error" not in first_outcome and "error" not in second_outcome, (first_outcome, second_outcome)
    assert first_outcome["result"] + second_outcome["result"] + late == POSTS
    assert stored.count() == POSTS and not stored.filter(processed_at__isnull=True).exists()
    assert not stored.exclude(error="").exists()
    assert message.status == MessageStatus.DELIVERED
    assert events.count() == 1
    assert Event.objects.filter(message=message).count() == 1
    assert sending.delivered == 1
    assert Notification.objects.filter(event__message=message).count() == 1
    assert Message.objects.filter(sending=sending).count() == 1
