from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MessagingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from messaging import (
            checks,  # noqa: F401  (registers the system checks)
            webhooks,  # noqa: F401  (connects anymail's tracking signal)
        )

        # After every migrate (fresh installs and upgrades alike) the pipeline's periodic
        # django-q2 schedules exist; creating them is idempotent.
        post_migrate.connect(_schedules_after_migrate, sender=self, dispatch_uid="messaging.ensure_schedules")


def _schedules_after_migrate(sender: AppConfig, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from messaging.tasks import ensure_schedules

    # A partial `migrate` may not have created django-q2's tables yet; the next one will.
    if "django_q_schedule" in connections[using].introspection.table_names():
        ensure_schedules(using=using)
