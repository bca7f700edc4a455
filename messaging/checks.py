from django.conf import settings
from django.core.checks import Error, register


@register()
def q_cluster_retry_longer_than_timeout(app_configs, **kwargs) -> list[Error]:
    """django-q2 redelivers a task after `retry` seconds; if that can happen while the first run is
    still going (retry <= timeout), two workers would dispatch the same batch."""
    conf = getattr(settings, "Q_CLUSTER", {})
    timeout, retry = conf.get("timeout"), conf.get("retry")
    if timeout is None or retry is None or retry <= timeout:
        return [
            Error(
                "Q_CLUSTER['retry'] must be set and longer than Q_CLUSTER['timeout'].",
                hint=f"Got timeout={timeout!r}, retry={retry!r}; set Q_RETRY above Q_TIMEOUT.",
                id="messaging.E001",
            )
        ]
    return []
