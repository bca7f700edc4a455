from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OtpConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "otp"
    verbose_name = "One-time codes"

    def ready(self) -> None:
        post_migrate.connect(_schedules_after_migrate, sender=self, dispatch_uid="otp.ensure_schedules")


def _schedules_after_migrate(sender: AppConfig, using: str = "default", **kwargs) -> None:
    from django.db import connections

    from otp.tasks import ensure_schedules

    # A partial `migrate` may not have created django-q2's tables yet; the next one will.
    if "django_q_schedule" in connections[using].introspection.table_names():
        ensure_schedules(using=using)
