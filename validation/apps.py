from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ValidationConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "validation"
    verbose_name = "Email validation"

    def ready(self) -> None:
        # The resume schedule exists after every migrate (fresh installs and upgrades alike).
        post_migrate.connect(_schedules_after_migrate, sender=self, dispatch_uid="validation.ensure_schedules")


def _schedules_after_migrate(sender: AppConfig, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from validation.tasks import ensure_schedules

    # A partial `migrate` may not have created django-q2's tables yet; the next one will.
    if "django_q_schedule" in connections[using].introspection.table_names():
        ensure_schedules(using=using)
