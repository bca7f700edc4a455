"""django-q2 entry points of one-time codes. The purge runs hourly from a schedule created
idempotently after `migrate` (otp.apps); running it twice at once only deletes nothing twice."""

from __future__ import annotations

from typing import Any

PURGE_SCHEDULE = "otp: purge expired codes"


def purge_expired_codes() -> int:
    from otp.services import otp_codes_purge

    return otp_codes_purge()


def ensure_schedules(using: str = "default", **kwargs: Any) -> None:
    """Create the purge schedule if missing; an operator's later changes are kept."""
    from django_q.models import Schedule

    Schedule.objects.using(using).get_or_create(
        name=PURGE_SCHEDULE,
        defaults={"func": "otp.tasks.purge_expired_codes", "schedule_type": Schedule.HOURLY, "repeats": -1},
    )
