"""django-q2 entry points for email validation: fetch by id, call the service.

`run_email_validation` works within a time budget under the cluster's task timeout and queues itself
again when a job is not done, so a job of any size runs as a chain of tasks, each resuming after the
last committed batch. The minute schedule `resume_email_validations` (created after `migrate`) queues
again the jobs whose task was lost.
"""

import logging
import time
from typing import Any

from django.conf import settings

from validation.models import EmailValidation, ValidationStatus
from validation.services import email_validation_enqueue, email_validation_run, email_validations_resume

logger = logging.getLogger(__name__)

SCHEDULES: dict[str, str] = {
    "validation: resume email validations": "validation.tasks.resume_email_validations",
}
# Seconds of a task's timeout left unused, so a run ends (and re-queues itself) before django-q2
# would kill it; a batch takes far less.
TIMEOUT_MARGIN = 90


def run_email_validation(validation_id: int) -> str | None:
    """Run a queued job; a finished, failed or deleted one is left alone, so a redelivered task is harmless."""
    validation = EmailValidation.objects.filter(pk=validation_id).only("status").first()
    if validation is None:
        logger.warning("Email validation %s no longer exists", validation_id)
        return None
    if validation.status in (ValidationStatus.FINISHED, ValidationStatus.FAILED):
        return validation.status
    budget = max(30, int(settings.Q_CLUSTER.get("timeout", 300)) - TIMEOUT_MARGIN)
    done = email_validation_run(validation_id=validation_id, deadline=time.monotonic() + budget)
    if not done:
        email_validation_enqueue(validation_id=validation_id)
        return "continued"
    status = EmailValidation.objects.filter(pk=validation_id).values_list("status", flat=True).first()
    return status


def resume_email_validations() -> int:
    return email_validations_resume()


def ensure_schedules(using: str = "default", **kwargs: Any) -> None:
    """Create the periodic schedules if missing; an operator's later changes are kept."""
    from django_q.models import Schedule

    for name, func in SCHEDULES.items():
        Schedule.objects.using(using).get_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
        )
