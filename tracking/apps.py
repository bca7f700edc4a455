from django.apps import AppConfig


def _shorten(url: str) -> str:
    from tracking.services import filter_shorten  # imported on first use: it pulls in the send services

    return filter_shorten(url)


class TrackingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tracking"
    verbose_name = "Tracking, short links, landing pages and images"

    def ready(self) -> None:
        from messaging.rendering import set_url_shortener

        # `{url|shorten}` in any message uses the platform's own shortener.
        set_url_shortener(_shorten)
