"""Geometry of the server-drawn SVG charts on the campaign pages (no chart library, no CDN).

The template draws what this computes: grouped bars (few buckets) or one polyline per series,
y-axis ticks and a few x labels.
Colours are the Okabe-Ito palette, distinguishable with the common colour-vision deficiencies;
each chart also has a data table for screen readers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from django.core.cache import cache

if TYPE_CHECKING:
    from campaigns.models import Sending

PALETTE: Final = ("#0072B2", "#009E73", "#D55E00", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
# Main outcomes first, so they keep the same colour from one sending to the next.
MAX_BAR_WIDTH: Final = 40
BAR_BUCKETS: Final = 12  # up to this many buckets are drawn as grouped bars, more as lines
SERIES_ORDER: Final = ("sent", "delivered", "opened", "clicked", "undelivered", "soft_bounced", "hard_bounced")


@dataclass(frozen=True)
class Series:
    name: str
    colour: str
    points: str  # "x,y x,y ..." for <polyline points> (line mode)
    bars: list[tuple[float, float, float, float]]  # x, y, width, height of each bar (bar mode)
    total: int


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    bottom: int  # y of the x axis
    right: int
    top: int
    series: list[Series]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    labels: list[str]
    rows: list[tuple[str, list[int]]]  # the data table: label, one value per series
    as_bars: bool  # few buckets read better as grouped bars; one bucket cannot be a line

    @property
    def is_empty(self) -> bool:
        return not self.series


def _nice_step(value: float) -> int:
    """The smallest 1/2/5 x 10^n at or above `value` (at least 1), so ticks fall on round numbers."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= value:
                return factor * magnitude
        magnitude *= 10


def _ordered(names: Sequence[str]) -> list[str]:
    known = [name for name in SERIES_ORDER if name in names]
    return known + sorted(name for name in names if name not in SERIES_ORDER)


def line_chart(
    *, labels: Sequence[str], series: dict[str, list[int]], width: int = 720, height: int = 240
) -> LineChart:
    left, right, top, bottom = 56, width - 12, 12, height - 28
    names = _ordered(list(series))
    step = _nice_step(max((max(values) for values in series.values() if values), default=0) / 4)
    peak = step * 4
    count = len(labels)
    plot_width, plot_height = right - left, bottom - top
    as_bars = count <= BAR_BUCKETS
    slot = plot_width / max(count, 1)

    def x(index: int) -> float:
        if as_bars:
            return left + slot * (index + 0.5)
        return left + (plot_width * index / (count - 1) if count > 1 else plot_width / 2)

    def y(value: int) -> float:
        return bottom - plot_height * value / peak

    bar_width = min(slot * 0.8 / max(len(names), 1), MAX_BAR_WIDTH)
    group_margin = (slot - bar_width * len(names)) / 2  # centres each bucket's group of bars

    def bars(position: int, values: list[int]) -> list[tuple[float, float, float, float]]:
        start = left + group_margin + bar_width * position
        return [
            (round(start + slot * i, 1), round(y(v), 1), round(bar_width, 1), round(bottom - y(v), 1))
            for i, v in enumerate(values)
        ]

    drawn = [
        Series(
            name=name,
            colour=PALETTE[index % len(PALETTE)],
            points="" if as_bars else " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(series[name])),
            bars=bars(index, series[name]) if as_bars else [],
            total=sum(series[name]),
        )
        for index, name in enumerate(names)
    ]
    y_ticks = [Tick(position=y(step * i), label=f"{step * i:,}") for i in range(5)]
    every = max(1, -(-count // 8))  # at most about eight labels on the x axis
    x_ticks = [Tick(position=x(i), label=labels[i]) for i in range(0, count, every)]
    rows = [(label, [series[name][i] for name in names]) for i, label in enumerate(labels)]
    return LineChart(
        width=width,
        height=height,
        left=left,
        bottom=bottom,
        right=right,
        top=top,
        series=drawn,
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        labels=list(labels),
        rows=rows,
        as_bars=as_bars,
    )


# ---------------------------------------------------------------------------------------------
# The sending page's events chart, cached
#
# Grouping a big sending's events by hour reads every one of them (about 1.8 s for 1.2 million on
# the benchmark machine), so a page view never does it for a big sending: the chart is computed by
# a django-q2 task and cached, and the page shows the cached chart (at most a minute stale while
# the sending moves) or fetches it when ready. Small sendings are charted inline (a few ms).

INLINE_EVENTS_LIMIT: Final = 50_000  # estimated from the sending's counters
FRESH_SECONDS: Final = 60
CACHE_SECONDS: Final = 24 * 3600


def _timeline_key(sending_id: int, zone_key: str) -> str:
    return f"web:sending-timeline:{sending_id}:{zone_key}"


def sending_chart_compute(*, sending: Sending, zone: ZoneInfo) -> dict[str, Any]:
    from campaigns.selectors import sending_event_timeline

    timeline = sending_event_timeline(sending=sending, tz=zone)
    label_format = "%d %b %H:00" if timeline.unit == "hour" else "%d %b"
    chart = line_chart(labels=[bucket.strftime(label_format) for bucket in timeline.buckets], series=timeline.counts)
    cached = {
        "unit": timeline.unit,
        "chart": chart,
        "updated_at": sending.updated_at.timestamp(),
        "computed_at": time.time(),
    }
    cache.set(_timeline_key(sending.pk, zone.key), cached, CACHE_SECONDS)
    return cached


def sending_chart_for_page(*, sending: Sending, zone: ZoneInfo) -> dict[str, Any] | None:
    """The chart to show now: cached if fresh, computed inline for a small sending; for a big one
    a refresh is queued and the stale chart (or None: "being prepared") is returned."""
    from campaigns.models import EVENT_COUNTERS

    cached = cache.get(_timeline_key(sending.pk, zone.key))
    if cached is not None and cached["updated_at"] == sending.updated_at.timestamp():
        return cached
    estimated_events = sum(getattr(sending, name) for name in EVENT_COUNTERS)
    if estimated_events <= INLINE_EVENTS_LIMIT:
        return sending_chart_compute(sending=sending, zone=zone)
    if cached is not None and time.time() - cached["computed_at"] < FRESH_SECONDS:
        return cached
    # One queued refresh per sending and zone at a time.
    if cache.add(_timeline_key(sending.pk, zone.key) + ":queued", 1, FRESH_SECONDS):
        from django_q.tasks import async_task

        async_task("campaigns.tasks.sending_chart_refresh", sending.pk, zone.key, task_name=f"chart {sending.pk}")
    return cached


def sending_chart_cached(*, sending_id: int, zone: ZoneInfo) -> dict[str, Any] | None:
    return cache.get(_timeline_key(sending_id, zone.key))
