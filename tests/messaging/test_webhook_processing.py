"""Processing stored webhooks in batches: claims that lock only what they take (so two workers share
a backlog of big batched webhooks), the byte budget, notifications of a processed batch, and the
garbage collector paused for a batch only."""

import gc
import threading

import pytest
from django.db import connection, transaction

import messaging.webhooks as webhooks
from campaigns.models import Sending
from messaging.models import Event, InboundWebhook, Message, MessageStatus, Notification, NotificationKind
from tests.messaging.provider_contract import fresh_webhook_state, message_create  # noqa: F401  (autouse)
from tests.messaging.test_webhooks import gateway_event, gateway_report

pytestmark = pytest.mark.django_db


def store(*messages: Message) -> int:
    body = gateway_report(*[gateway_event(m) for m in messages])
    return webhooks.inbound_webhook_store(provider="http_gateway", content_type="application/json", body=body)


def gateway_messages(account, count: int, **fields) -> list[Message]:
    return [
        message_create(account, provider="http_gateway", provider_message_id=f"gw-{n}", **fields) for n in range(count)
    ]


@pytest.mark.django_db(transaction=True)
def test_a_claim_locks_only_the_rows_it_takes_so_another_worker_takes_the_next(account, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is a PostgreSQL feature")
    messages = gateway_messages(account, 6)
    rows = [store(*messages[n : n + 2]) for n in range(0, 6, 2)]
    size = len(InboundWebhook.objects.get(pk=rows[0]).body)
    # Room for one of these rows per batch: the first worker's claim must not hold the others.
    monkeypatch.setattr(webhooks, "PROCESS_BATCH_BYTES", size + size // 2)
    claimed: list[int] = []
    held = threading.Event()
    release = threading.Event()

    def first_worker() -> None:
        from django.db import connection as thread_connection

        with transaction.atomic():
            claimed.extend(webhooks._claim(None, 500))
            held.set()
            release.wait(10)
        thread_connection.close()

    worker = threading.Thread(target=first_worker)
    worker.start()
    assert held.wait(10)
    try:
        assert webhooks.inbound_webhooks_process() == 1
    finally:
        release.set()
        worker.join()
    assert claimed == [rows[0]]
    assert list(InboundWebhook.objects.filter(processed_at__isnull=False).values_list("pk", flat=True)) == [rows[1]]
    assert webhooks.process_inbound_webhooks(linger=0) == 2
    assert Event.objects.count() == 6


def test_a_claim_takes_rows_while_they_fit_the_byte_budget(account, monkeypatch):
    messages = gateway_messages(account, 4)
    rows = [store(message) for message in messages]
    size = len(InboundWebhook.objects.get(pk=rows[0]).body)
    monkeypatch.setattr(webhooks, "PROCESS_BATCH_BYTES", size * 2 + 1)

    with transaction.atomic():
        assert webhooks._claim(None, 500) == rows[:2]
    with transaction.atomic():
        assert webhooks._claim(None, 1) == rows[:1]
    with transaction.atomic():
        assert webhooks._claim(rows[2:], 500) == rows[2:]


def test_a_row_bigger_than_the_budget_is_still_taken_alone(account, monkeypatch):
    rows = [store(*gateway_messages(account, 3))]
    monkeypatch.setattr(webhooks, "PROCESS_BATCH_BYTES", 10)

    assert webhooks.inbound_webhooks_process() == 1
    assert InboundWebhook.objects.get(pk=rows[0]).processed_at is not None
    assert Event.objects.count() == 3


def test_within_budget_stops_before_the_rows_that_would_not_fit():
    sizes = iter([(1, 400), (2, 400), (3, 400), (4, 400)])

    def fetch(count: int) -> list[tuple[int, int]]:
        return [row for _ in range(count) if (row := next(sizes, None))]

    original = webhooks.PROCESS_BATCH_BYTES
    webhooks.PROCESS_BATCH_BYTES = 1000
    try:
        assert webhooks._within_budget(fetch, 500) == [1, 2]
    finally:
        webhooks.PROCESS_BATCH_BYTES = original


def test_a_processed_batch_notifies_the_message_and_account_urls_once_committed(
    account, django_capture_on_commit_callbacks
):
    account.event_notification_url = "https://hooks.acme.test/events"
    account.save()
    with_url = gateway_messages(account, 2, notification_url="https://acme.test/dlr?id=%i&s=%s")
    store(*with_url)

    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.inbound_webhooks_process() == 1

    kinds = sorted(Notification.objects.values_list("kind", "event__message_id"))
    expected = [(NotificationKind.MESSAGE_URL, m.pk) for m in with_url]
    expected += [(NotificationKind.ACCOUNT_URL, m.pk) for m in with_url]
    assert kinds == sorted(expected)


def test_a_batch_without_any_url_creates_no_notification(account, django_capture_on_commit_callbacks):
    store(*gateway_messages(account, 3))

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.inbound_webhooks_process()

    assert Event.objects.count() == 3
    assert not Notification.objects.exists()


def test_the_garbage_collector_is_paused_during_a_batch_only(account, monkeypatch):
    from messaging import events

    store(*gateway_messages(account, 2))
    seen = []
    real = events.events_store

    def spy(*, events):
        seen.append(gc.isenabled())
        return real(events=events)

    monkeypatch.setattr(events, "events_store", spy)
    assert gc.isenabled()
    webhooks.inbound_webhooks_process()
    assert seen == [False]
    assert gc.isenabled()


def test_the_garbage_collector_is_back_after_a_batch_that_raised(monkeypatch):
    def broken(ids, batch_size):
        raise RuntimeError("database went away")

    monkeypatch.setattr(webhooks, "_claim", broken)
    with pytest.raises(RuntimeError):
        webhooks.inbound_webhooks_process()
    assert gc.isenabled()


def test_a_batch_of_many_messages_records_each_once(account):
    messages = gateway_messages(account, 40)
    store(*messages[:25])
    store(*messages[15:])  # the overlap repeats 10 reports

    assert webhooks.process_inbound_webhooks(linger=0) == 2

    assert Event.objects.count() == 40
    assert Message.objects.filter(status=MessageStatus.DELIVERED).count() == 40
    sending_ids = {m.sending_id for m in messages}
    assert sum(Sending.objects.filter(pk__in=sending_ids).values_list("delivered", flat=True)) == 40


# Webhook requests skip the browser middleware ------------------------------------------------------


def test_a_webhook_is_answered_without_the_browser_middleware(account, client):
    from messaging.models import ProviderRoute
    from tests.messaging.test_webhooks import GATEWAY_SECRET, gateway_request

    ProviderRoute.objects.create(
        account=account,
        channel="sms",
        provider="http_gateway",
        settings={"url": "http://127.0.0.1:9/messages", "secret": GATEWAY_SECRET},
    )
    message = message_create(account, provider="http_gateway", provider_message_id="gw-1")
    request = gateway_request(gateway_report(gateway_event(message)))
    headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in request.headers.items()}
    client.cookies["sessionid"] = "not-a-session"

    response = client.post(request.path, request.body, content_type=request.content_type, **headers)

    assert response.status_code == 200
    assert response["Content-Length"] == "0"
    # No clickjacking header, no session or CSRF cookie: those middleware never saw the request.
    assert "X-Frame-Options" not in response
    assert not response.cookies
    assert not hasattr(response.wsgi_request, "user") and not hasattr(response.wsgi_request, "session")
    assert InboundWebhook.objects.count() == 1


def test_a_webhook_with_a_bad_signature_is_still_refused(client):
    response = client.post("/webhooks/http_gateway/", b'{"events": []}', content_type="application/json")
    assert response.status_code == 403
    assert not InboundWebhook.objects.exists()


def test_an_unknown_webhook_path_answers_404(client):
    assert client.post("/webhooks/no/such/path", b"", content_type="application/json").status_code == 404


def test_other_pages_still_go_through_the_whole_middleware(client):
    response = client.get("/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert hasattr(response.wsgi_request, "user")
