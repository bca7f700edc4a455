"""django-q2 entry points of the campaigns web pages: take ids, call the function that does the work."""

import logging
from zoneinfo import ZoneInfo

from campaigns.charts import sending_chart_compute
from campaigns.models import Sending

logger = logging.getLogger(__name__)


def sending_chart_refresh(sending_id: int, zone_key: str) -> None:
    """Compute and cache a sending's events chart (campaigns.charts explains why in a task)."""
    sending = Sending.objects.filter(pk=sending_id).first()
    if sending is None:
        logger.info("Sending %s no longer exists; no chart to draw", sending_id)
        return
    sending_chart_compute(sending=sending, zone=ZoneInfo(zone_key))
