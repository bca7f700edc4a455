"""Provider webhooks in: authenticate, store verbatim, answer 200 fast; parse and record in batches.

The HTTP side does the least that makes a webhook safe to acknowledge: the provider's signature
check and one INSERT of the raw body (InboundWebhook). A bad or missing signature is answered 403,
logged, and nothing is stored. Everything else (parsing, finding the message, deduplication,
status, counters, blacklist, notifications) happens in `process_inbound_webhooks`, a django-q2
task that takes stored rows in batches (FOR UPDATE SKIP LOCKED, so several workers share the
backlog) and hands each batch's events to `messaging.events.events_store` in one call, and the
batch's inbound messages (replies people wrote to our numbers) to every handler of INBOUND_HANDLERS
(dotted paths: a channel or feature plugs in with one line), in the same transaction.

A row whose body cannot be parsed (or whose events cannot be recorded) keeps `error` set and its
`processed_at` empty: it is never dropped, it stays visible in the admin, and the admin's "retry"
action clears the error once the cause is fixed.

Anymail: django-anymail's tracking webhook views (under /webhooks/anymail/<esp>/tracking/) check
the ESP's auth themselves; we require anymail's basic auth (ANYMAIL["WEBHOOK_SECRET"]) to be
configured, answer 403 instead of anymail's 400 when it fails, and store the normalised events of
one request as a single InboundWebhook (provider "anymail", a JSON list), parsed by
`messaging.providers.smtp`.
"""

import gc
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models.functions import Length
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotAllowed, HttpResponseNotFound
from django.utils import timezone
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt

from messaging.models import InboundWebhook, ProviderRoute
from messaging.providers import PROVIDERS, provider_class
from messaging.providers.base import DeliveryEvent, InboundMessage, Provider, WebhookItem, WebhookRejected

logger = logging.getLogger(__name__)

ANYMAIL = "anymail"
# How long a process reuses the provider instances (route settings) it verifies webhooks with.
# Saving a route clears this process's copy at once; other processes follow within this delay.
ROUTE_CACHE_SECONDS = 10.0
# At most one processing task is queued per web process in this interval; the task lingers at
# least as long after draining, so a webhook stored just after a kick is still picked up.
KICK_INTERVAL_SECONDS = 0.5
PROCESS_BATCH_SIZE = 500
PROCESS_BATCH_BYTES = 2_000_000
# Who receives the inbound messages of a batch: callables taking `messages=[InboundMessage, ...]`.
INBOUND_HANDLERS: tuple[str, ...] = ("compliance.keywords.inbound_keywords_handle",)

# When the webhook being parsed was received: for providers whose payload carries no timestamp.
webhook_received_at: ContextVar[datetime | None] = ContextVar("webhook_received_at", default=None)

_route_cache: dict[str, tuple[float, list[Provider]]] = {}
_last_kick = 0.0


# HTTP side --------------------------------------------------------------------------------------


@csrf_exempt
def provider_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if provider not in PROVIDERS:
        return HttpResponseNotFound()
    reasons = []
    for instance in _webhook_providers(provider):
        try:
            instance.verify_webhook(request)
            break
        except WebhookRejected as exc:
            reasons.append(str(exc))
    else:
        logger.warning(
            "Refused %s webhook from %s: %s", provider, request.META.get("REMOTE_ADDR", "?"), "; ".join(reasons)
        )
        return HttpResponseForbidden()
    inbound_webhook_store(provider=provider, content_type=request.content_type or "", body=request.body)
    return HttpResponse()


def inbound_webhook_store(*, provider: str, content_type: str, body: bytes) -> int:
    """Store one verified webhook body; returns its id. One plain INSERT (no model instance):
    this is the whole cost of acknowledging a webhook, paid at every request."""
    params = [provider, timezone.now(), content_type[:100], body]
    if connection.vendor == "postgresql":
        # psycopg directly: server-side parameters (the body is sent as bytes, not quoted into
        # the SQL text) and a prepared statement; a third of the CPU of the ORM's path.
        import psycopg

        connection.ensure_connection()
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(_INSERT_WEBHOOK, params, prepare=True)
            webhook_id = cursor.fetchone()[0]
    else:
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_WEBHOOK, params)
            webhook_id = cursor.fetchone()[0]
    _kick_processing()
    return webhook_id


_INSERT_WEBHOOK = (
    f"INSERT INTO {InboundWebhook._meta.db_table} (provider, received_at, content_type, body, error) "  # noqa: S608
    "VALUES (%s, %s, %s, %s, '') RETURNING id"
)


def _webhook_providers(name: str) -> list[Provider]:
    """One instance per distinct route settings of this provider, plus one with no settings
    (credentials from the environment)."""
    cached = _route_cache.get(name)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    cls = provider_class(name)
    distinct: dict[str, dict[str, Any]] = {}
    for settings in ProviderRoute.objects.filter(provider=name).values_list("settings", flat=True):
        distinct.setdefault(json.dumps(settings, sort_keys=True, default=str), settings or {})
    distinct.setdefault("{}", {})
    instances = [cls(settings) for settings in distinct.values()]
    _route_cache[name] = (time.monotonic() + ROUTE_CACHE_SECONDS, instances)
    return instances


@receiver(post_save, sender=ProviderRoute, dispatch_uid="messaging.webhooks.route_saved")
@receiver(post_delete, sender=ProviderRoute, dispatch_uid="messaging.webhooks.route_deleted")
def _forget_routes(**kwargs: Any) -> None:
    _route_cache.clear()


def _kick_processing() -> None:
    global _last_kick
    now = time.monotonic()
    if now - _last_kick < KICK_INTERVAL_SECONDS:
        return
    _last_kick = now
    transaction.on_commit(_queue_processing_task)


def _queue_processing_task() -> None:
    from django_q.tasks import async_task

    try:
        async_task("messaging.webhooks.process_inbound_webhooks", task_name="process_inbound_webhooks")
    except Exception:
        # The row is stored; the every-minute schedule picks it up if the broker is down.
        logger.exception("Could not queue webhook processing")


# Anymail ------------------------------------------------------------------------------------------

_anymail_collector: ContextVar[list[dict[str, Any]] | None] = ContextVar("anymail_collector", default=None)


def anymail_tracking_view(view):
    """Wrap one of anymail's tracking webhook views (see messaging.urls)."""
    from anymail.exceptions import AnymailWebhookValidationFailure
    from anymail.utils import get_anymail_setting

    @csrf_exempt
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "POST" and not get_anymail_setting("webhook_secret", default=None):
            logger.error("Refused anymail webhook %s: ANYMAIL['WEBHOOK_SECRET'] is not configured", request.path)
            return HttpResponseForbidden()
        collected: list[dict[str, Any]] = []
        token = _anymail_collector.set(collected)
        try:
            response = view(request, *args, **kwargs)
        except AnymailWebhookValidationFailure as exc:
            logger.warning("Refused anymail webhook %s from %s: %s", request.path, request.META.get("REMOTE_ADDR"), exc)
            return HttpResponseForbidden()
        finally:
            _anymail_collector.reset(token)
        if collected and response.status_code == 200:
            inbound_webhook_store(
                provider=ANYMAIL, content_type="application/json", body=json.dumps(collected, default=str).encode()
            )
        return response

    return wrapped


def _connect_anymail() -> None:
    try:
        from anymail.signals import tracking
    except ImportError:  # anymail is optional for deployments that only use plain SMTP
        return
    tracking.connect(_on_anymail_tracking, dispatch_uid="messaging.webhooks.anymail_tracking")


def _on_anymail_tracking(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
    from messaging.providers.smtp import anymail_event_to_json

    data = anymail_event_to_json(event, esp_name)
    collected = _anymail_collector.get()
    if collected is not None:
        collected.append(data)
    else:
        # An anymail view mounted outside our wrapper: still recorded, one row per event.
        inbound_webhook_store(provider=ANYMAIL, content_type="application/json", body=json.dumps([data]).encode())


_connect_anymail()


# Processing -------------------------------------------------------------------------------------


def process_inbound_webhooks(
    batch_size: int = PROCESS_BATCH_SIZE, time_budget: float = 240.0, linger: float = 1.0
) -> int:
    """django-q2 task: process stored webhooks until none is left (or the time budget, kept under
    Q_CLUSTER timeout, is spent); returns how many rows were handled. Safe to run concurrently."""
    deadline = time.monotonic() + time_budget
    handled = 0
    idle_since: float | None = None
    while time.monotonic() < deadline:
        count = inbound_webhooks_process(batch_size=batch_size)
        if count:
            handled += count
            idle_since = None
            continue
        if linger <= 0:
            break
        if idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= linger:
            break
        time.sleep(0.1)
    return handled


def inbound_webhooks_process(*, ids: list[int] | None = None, batch_size: int = PROCESS_BATCH_SIZE) -> int:
    """Claim up to `batch_size` unprocessed rows (only those of `ids` when given), record their
    events in one events_store call and mark them processed, all in one transaction: a worker
    that dies leaves them unprocessed. Returns how many rows were processed (or kept failed)."""
    with _gc_paused(), transaction.atomic():
        chosen = _claim(ids, batch_size)
        if not chosen:
            return 0
        rows = list(InboundWebhook.objects.filter(pk__in=chosen).order_by("id"))
        parsed: list[tuple[InboundWebhook, list[WebhookItem]]] = []
        parsers: dict[str, Provider] = {}
        failed: dict[int, str] = {}
        for row in rows:
            try:
                parsed.append((row, _parse(row, parsers)))
            except Exception as exc:
                logger.warning("Could not parse %s webhook %s: %s", row.provider, row.pk, exc)
                failed[row.pk] = f"parse: {type(exc).__name__}: {exc}"
        try:
            with transaction.atomic():
                _items_record([item for _row, items in parsed for item in items])
        except Exception:
            logger.exception("Recording a batch of webhook events failed; retrying row by row")
            for row, items in parsed:
                try:
                    with transaction.atomic():
                        _items_record(items)
                except Exception as exc:
                    failed[row.pk] = f"record: {type(exc).__name__}: {exc}"
        done = [row.pk for row, _events in parsed if row.pk not in failed]
        if done:
            InboundWebhook.objects.filter(pk__in=done).update(processed_at=timezone.now())
        for pk, error in failed.items():
            InboundWebhook.objects.filter(pk=pk).update(error=error)
    return len(rows)


def _items_record(items: list[WebhookItem]) -> None:
    """Delivery events to the event-recording service, inbound messages to their handlers."""
    from messaging.events import events_store

    inbound = [item for item in items if isinstance(item, InboundMessage)]
    events_store(events=[item for item in items if isinstance(item, DeliveryEvent)] if inbound else items)
    if inbound:
        inbound_messages_handle(messages=inbound)


def inbound_messages_handle(*, messages: list[InboundMessage]) -> None:
    for handler in INBOUND_HANDLERS:
        import_string(handler)(messages=messages)


def _claim(ids: list[int] | None, batch_size: int) -> list[int]:
    """Lock the next unprocessed rows, oldest first: at most `batch_size`, and (at least one row)
    about PROCESS_BATCH_BYTES of bodies at most, because a batched webhook can hold thousands of
    events and the whole claim goes to one events_store call. Rows locked by another worker are
    skipped."""
    if connection.vendor != "postgresql":
        pending = InboundWebhook.objects.filter(processed_at__isnull=True, error="")
        if ids is not None:
            pending = pending.filter(pk__in=ids)
        claimed = iter(pending.order_by("id").annotate(size=Length("body")).values_list("pk", "size")[:batch_size])
        return _within_budget(lambda count: list(itertools.islice(claimed, count)), batch_size)
    import psycopg

    # A cursor's FOR UPDATE locks rows as they are fetched, not the whole result: only what this
    # batch takes is locked, and another worker's claim goes on with the rows after it.
    sql = (
        f"SELECT id, length(body) FROM {InboundWebhook._meta.db_table} "  # noqa: S608
        "WHERE processed_at IS NULL AND error = ''"
        + (" AND id = ANY(%s)" if ids is not None else "")
        + " ORDER BY id FOR UPDATE SKIP LOCKED"
    )
    connection.ensure_connection()
    with (
        connection.wrap_database_errors,
        psycopg.ServerCursor(connection.connection, "inbound_webhook_claim") as cursor,
    ):
        cursor.execute(sql, [list(ids)] if ids is not None else None)
        return _within_budget(cursor.fetchmany, batch_size)


# Rows taken per fetch at most: bounds how far one fetch of rows bigger than those seen before
# can overshoot the byte budget, at a round trip per this many small (single-event) rows.
CLAIM_FETCH_ROWS = 16


def _within_budget(fetch: Callable[[int], list[tuple[int, int | None]]], batch_size: int) -> list[int]:
    """Ids of the (id, body size) rows taken from `fetch(count)` while they fit the budget."""
    chosen: list[int] = []
    total = largest = 0
    while len(chosen) < batch_size:
        room = PROCESS_BATCH_BYTES - total
        if chosen and room < largest:
            break
        count = 1 if not chosen else min(batch_size - len(chosen), room // largest, CLAIM_FETCH_ROWS)
        fetched = fetch(count)
        if not fetched:
            break
        for pk, size in fetched:
            chosen.append(pk)
            total += size or 0
            largest = max(largest, size or 1)
    return chosen


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one batch. A batch allocates some twenty
    objects per event, and all of them live until it ends, so the collector would walk the
    growing batch (and every long-lived object of the process) dozens of times and free nothing:
    measured, that was a third of the batch's Python time. Reference counting still frees
    everything; the collector resumes when the batch is over."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _parse(row: InboundWebhook, parsers: dict[str, Provider]) -> list[WebhookItem]:
    provider_name = "smtp" if row.provider == ANYMAIL else row.provider
    # Parsing needs no credentials: the body was verified when it was received. One instance per
    # provider and batch (building one reads its settings, which costs more than a small body).
    provider = parsers.get(provider_name)
    if provider is None:
        provider = parsers[provider_name] = provider_class(provider_name)()
    token = webhook_received_at.set(row.received_at)
    try:
        return provider.parse_webhook(row.content_type, bytes(row.body))
    finally:
        webhook_received_at.reset(token)


def inbound_webhooks_retry(*, ids: list[int]) -> int:
    """Put failed rows back in the queue (after fixing what made them fail)."""
    count = InboundWebhook.objects.filter(pk__in=ids, processed_at__isnull=True).exclude(error="").update(error="")
    if count:
        transaction.on_commit(_queue_processing_task)
    return count
