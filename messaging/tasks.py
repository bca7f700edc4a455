"""django-q2 entry points of the sending pipeline. Each is safe to run twice at once (claims use
SKIP LOCKED and a fencing token), so a schedule firing while a kicked run is still going, or a
task django-q2 redelivers, costs nothing but a query.

Periodic schedules (every minute, created idempotently after `migrate` by `ensure_schedules`):
dispatch_due (the safety net behind kick_dispatch), release_scheduled, reconcile_in_flight and
simulator_report.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

SCHEDULES: dict[str, str] = {
    "messaging: dispatch due messages": "messaging.tasks.dispatch_due",
    "messaging: release scheduled messages": "messaging.tasks.release_scheduled",
    "messaging: reconcile in-flight messages": "messaging.tasks.reconcile_in_flight",
    "messaging: simulator delivery reports": "messaging.tasks.simulator_report",
    "messaging: process inbound webhooks": "messaging.webhooks.process_inbound_webhooks",
    "messaging: deliver notifications": "messaging.notifications.deliver_due_notifications",
}


def dispatch_due() -> int:
    from messaging.dispatch import dispatch_due as dispatch

    return dispatch()


def release_scheduled() -> dict[str, int]:
    from messaging.scheduling import scheduled_release

    tally = scheduled_release()
    if tally.get("queued"):
        kick_dispatch()
    return dict(tally)


def reconcile_in_flight() -> dict[str, int]:
    from messaging.dispatch import in_flight_reconcile

    tally = in_flight_reconcile()
    if tally.get("queued"):
        kick_dispatch()
    return dict(tally)


def simulator_report() -> int:
    from messaging.providers.simulator import simulator_reports_emit

    reported = total = simulator_reports_emit()
    while reported:
        reported = simulator_reports_emit()
        total += reported
    return total


def kick_dispatch() -> None:
    """Start a dispatch as soon as the current transaction commits (the send API calls this
    after writing its messages); the minute schedule is only the safety net."""
    from django_q.tasks import async_task

    transaction.on_commit(lambda: async_task("messaging.tasks.dispatch_due", task_name="dispatch due (kick)"))


def ensure_schedules(using: str = "default", **kwargs: Any) -> None:
    """Create the periodic schedules if missing; an operator's later changes (interval,
    disabling by deleting repeats) are kept."""
    from django_q.models import Schedule

    for name, func in SCHEDULES.items():
        Schedule.objects.using(using).get_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
        )
