"""Charts drawn as inline SVG on the server: no chart library, no CDN, nothing for the browser to run.

- Dashboard: `stacked_bars_svg` (messages per day by channel, with `legend_html`) and `funnel_svg`
  (delivery funnel of recent sendings).
- Sending page: `line_chart` (events per hour or day by type: grouped bars for a few buckets, one
  polyline per series for more), drawn by `line_chart_svg`, computed and cached by
  `sending_chart_for_page` / `sending_chart_compute` (a task for big sendings).

All of them share one value scale (round 1 / 2 / 5 x 10^n steps), one y axis with gridlines, one way
of thinning x labels and one root element, and build every element with format_html, so every text
that comes from data (campaign names, labels) is escaped. Dashboard colours come from CSS classes
(`series-N`, `funnel-stage-N` in static/css/app.css); the sending chart uses the Okabe-Ito palette,
distinguishable with the common colour-vision deficiencies. Each chart carries role="img" and a
label, and the page shows the same figures as a table for screen readers and for copying.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

if TYPE_CHECKING:
    from campaigns.models import Sending

# ---------------------------------------------------------------------------------------------
# Scale, axes and the root element, shared by every chart

Y_TICKS: Final = 4  # gridlines above the baseline
X_LABELS: Final = 8  # about this many labels on the x axis at most


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


def nice_step(value: float) -> int:
    """The smallest 1 / 2 / 5 x 10^n at or above `value` (at least 1), so ticks fall on round numbers."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= value:
                return factor * magnitude
        magnitude *= 10


def short_number(value: int) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return str(value)


@dataclass(frozen=True)
class ValueScale:
    """Maps values to y: the axis runs from 0 at `bottom` to Y_TICKS round steps at `top`."""

    step: int
    top: float
    bottom: float

    @classmethod
    def fitting(cls, highest: float, *, top: float, bottom: float) -> ValueScale:
        return cls(step=nice_step(highest / Y_TICKS), top=top, bottom=bottom)

    @property
    def peak(self) -> int:
        return self.step * Y_TICKS

    def y(self, value: float) -> float:
        return self.bottom - (self.bottom - self.top) * value / self.peak

    def ticks(self) -> list[Tick]:
        return [Tick(position=round(self.y(self.step * i), 1), label=short_number(self.step * i)) for i in range(5)]


def label_indexes(count: int) -> range:
    """Which of `count` x labels to draw: every n-th, at most about X_LABELS."""
    return range(0, count, max(1, math.ceil(count / X_LABELS)))


def _y_axis(ticks: Sequence[Tick], *, left: float, right: float) -> list[SafeString]:
    return [
        format_html(
            '<line class="gridline" x1="{}" x2="{}" y1="{}" y2="{}"/>'
            '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
            left,
            right,
            f"{tick.position:.1f}",
            f"{tick.position:.1f}",
            left - 6,
            f"{tick.position + 4:.1f}",
            tick.label,
        )
        for tick in ticks
    ]


def _x_labels(ticks: Sequence[Tick], *, y: float) -> list[SafeString]:
    return [
        format_html('<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>', f"{t.position:.1f}", y, t.label)
        for t in ticks
    ]


def _svg(*, width: int, height: int, title: str, parts: Sequence[str], css_class: str = "chart") -> SafeString:
    return format_html(
        '<svg class="{}" viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet">'
        "<title>{}</title>{}</svg>",
        css_class,
        width,
        height,
        title,
        title,
        mark_safe("".join(parts)),  # noqa: S308 - every part is format_html output
    )


# ---------------------------------------------------------------------------------------------
# Dashboard: stacked bars per day and channel, delivery funnel


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def stacked_bars_svg(*, labels: Sequence[str], series: Sequence[Series], title: str) -> SafeString:
    """Vertical stacked bars, one per label (e.g. a day), one colour per series (e.g. a channel)."""
    width, height = 720, 240
    left, right, top, bottom = 44, 8, 12, 28
    plot_w = width - left - right
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    scale = ValueScale.fitting(max(totals, default=0), top=top, bottom=height - bottom)
    slot = plot_w / max(len(labels), 1)
    bar_w = max(slot * 0.7, 1.0)

    parts: list[str] = [*_y_axis(scale.ticks(), left=left, right=width - right)]
    for index, label in enumerate(labels):
        x = left + slot * index + (slot - bar_w) / 2
        stacked = 0
        for number, item in enumerate(series):
            value = item.values[index]
            if not value:
                continue
            base, stacked = scale.y(stacked), stacked + value
            parts.append(
                format_html(
                    '<rect class="series-{}" x="{}" y="{}" width="{}" height="{}"><title>{}: {} {}</title></rect>',
                    number,
                    f"{x:.1f}",
                    f"{scale.y(stacked):.1f}",
                    f"{bar_w:.1f}",
                    f"{base - scale.y(stacked):.1f}",
                    label,
                    value,
                    item.name,
                )
            )
    centres = [Tick(position=left + slot * (i + 0.5), label=labels[i]) for i in label_indexes(len(labels))]
    parts.extend(_x_labels(centres, y=height - 8))
    return _svg(width=width, height=height, title=title, parts=parts)


def legend_html(series: Sequence[Series]) -> SafeString:
    return format_html(
        '<ul class="legend">{}</ul>',
        format_html_join(
            "", '<li><span class="swatch series-{}"></span>{}</li>', ((i, s.name) for i, s in enumerate(series))
        ),
    )


@dataclass(frozen=True)
class FunnelRow:
    label: str
    stages: Sequence[tuple[str, int]]  # (stage name, count), widest first


def funnel_svg(*, rows: Sequence[FunnelRow], title: str) -> SafeString:
    """One group of horizontal bars per row (e.g. a campaign): each stage's bar is drawn relative to
    the row's first stage, with the count and the percentage of the first stage beside it."""
    width = 720
    label_h, bar_h, gap = 20, 16, 4
    left = 96
    stage_count = max((len(row.stages) for row in rows), default=0)
    # A stage keeps one colour in every row (an SMS row has no "Opened", so its "Clicked" is third):
    # colours follow the stage order of the row with the most stages.
    stage_colour: dict[str, int] = {}
    for row in sorted(rows, key=lambda row: -len(row.stages)):
        for stage, _value in row.stages:
            stage_colour.setdefault(stage, len(stage_colour))
    row_h = label_h + stage_count * (bar_h + gap) + 10
    height = max(row_h * len(rows), 40)
    parts: list[str] = []
    for row_index, row in enumerate(rows):
        y = row_index * row_h
        parts.append(format_html('<text class="row-label" x="0" y="{}">{}</text>', y + 14, row.label))
        first = row.stages[0][1] if row.stages else 0
        for stage_index, (stage, value) in enumerate(row.stages):
            bar_y = y + label_h + stage_index * (bar_h + gap)
            share = value / first if first else 0.0
            bar_w = max((width - left - 150) * share, 1 if value else 0)
            parts.append(
                format_html(
                    '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>'
                    '<rect class="funnel-stage-{}" x="{}" y="{}" width="{}" height="{}"><title>{}: {}</title></rect>'
                    '<text class="value" x="{}" y="{}">{} ({}%)</text>',
                    left - 6,
                    bar_y + 12,
                    stage,
                    stage_colour[stage],
                    left,
                    bar_y,
                    f"{bar_w:.1f}",
                    bar_h,
                    stage,
                    value,
                    left + bar_w + 6,
                    bar_y + 12,
                    value,
                    f"{share * 100:.0f}",
                )
            )
    return _svg(width=width, height=height, title=title, parts=parts, css_class="chart funnel")


# ---------------------------------------------------------------------------------------------
# Sending page: events per hour or day by type

PALETTE: Final = ("#0072B2", "#009E73", "#D55E00", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MAX_BAR_WIDTH: Final = 40
BAR_BUCKETS: Final = 12  # up to this many buckets are drawn as grouped bars, more as lines
# Main outcomes first, so they keep the same colour from one sending to the next.
SERIES_ORDER: Final = ("sent", "delivered", "opened", "clicked", "undelivered", "soft_bounced", "hard_bounced")


@dataclass(frozen=True)
class LineSeries:
    name: str
    colour: str
    points: str  # "x,y x,y ..." for <polyline points> (line mode)
    bars: list[tuple[float, float, float, float]]  # x, y, width, height of each bar (bar mode)
    total: int


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    bottom: int  # y of the x axis
    right: int
    top: int
    series: list[LineSeries]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    labels: list[str]
    rows: list[tuple[str, list[int]]]  # the data table: label, one value per series
    as_bars: bool  # few buckets read better as grouped bars; one bucket cannot be a line

    @property
    def is_empty(self) -> bool:
        return not self.series


def _ordered(names: Sequence[str]) -> list[str]:
    known = [name for name in SERIES_ORDER if name in names]
    return known + sorted(name for name in names if name not in SERIES_ORDER)


def line_chart(
    *, labels: Sequence[str], series: dict[str, list[int]], width: int = 720, height: int = 240
) -> LineChart:
    left, right, top, bottom = 56, width - 12, 12, height - 28
    names = _ordered(list(series))
    scale = ValueScale.fitting(
        max((max(values) for values in series.values() if values), default=0), top=top, bottom=bottom
    )
    count = len(labels)
    plot_width = right - left
    as_bars = count <= BAR_BUCKETS
    slot = plot_width / max(count, 1)

    def x(index: int) -> float:
        if as_bars:
            return left + slot * (index + 0.5)
        return left + (plot_width * index / (count - 1) if count > 1 else plot_width / 2)

    bar_width = min(slot * 0.8 / max(len(names), 1), MAX_BAR_WIDTH)
    group_margin = (slot - bar_width * len(names)) / 2  # centres each bucket's group of bars

    def bars(position: int, values: list[int]) -> list[tuple[float, float, float, float]]:
        start = left + group_margin + bar_width * position
        return [
            (round(start + slot * i, 1), round(scale.y(v), 1), round(bar_width, 1), round(bottom - scale.y(v), 1))
            for i, v in enumerate(values)
        ]

    drawn = [
        LineSeries(
            name=name,
            colour=PALETTE[index % len(PALETTE)],
            points="" if as_bars else " ".join(f"{x(i):.1f},{scale.y(v):.1f}" for i, v in enumerate(series[name])),
            bars=bars(index, series[name]) if as_bars else [],
            total=sum(series[name]),
        )
        for index, name in enumerate(names)
    ]
    rows = [(label, [series[name][i] for name in names]) for i, label in enumerate(labels)]
    return LineChart(
        width=width,
        height=height,
        left=left,
        bottom=bottom,
        right=right,
        top=top,
        series=drawn,
        y_ticks=scale.ticks(),
        x_ticks=[Tick(position=x(i), label=labels[i]) for i in label_indexes(count)],
        labels=list(labels),
        rows=rows,
        as_bars=as_bars,
    )


def line_chart_svg(chart: LineChart, *, title: str) -> SafeString:
    parts: list[str] = [*_y_axis(chart.y_ticks, left=chart.left, right=chart.right)]
    parts.extend(_x_labels(chart.x_ticks, y=chart.bottom + 18))
    for series in chart.series:
        if chart.as_bars:
            parts.extend(
                format_html('<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>', *bar, series.colour)
                for bar in series.bars
            )
        else:
            parts.append(
                format_html(
                    '<polyline points="{}" fill="none" stroke="{}" stroke-width="2.5" stroke-linejoin="round"/>',
                    series.points,
                    series.colour,
                )
            )
    return _svg(width=chart.width, height=chart.height, title=title, parts=parts)


# The sending page's events chart, cached.
#
# Grouping a big sending's events by hour reads every one of them (about 1.8 s for 1.2 million on
# the benchmark machine), so a page view never does it for a big sending: the chart is computed by
# a django-q2 task and cached, and the page shows the cached chart (at most a minute stale while
# the sending moves) or fetches it when ready. Small sendings are charted inline (a few ms).

INLINE_EVENTS_LIMIT: Final = 50_000  # estimated from the sending's counters
FRESH_SECONDS: Final = 60
CACHE_SECONDS: Final = 24 * 3600


def _timeline_key(sending_id: int, zone_key: str) -> str:
    # v2: the cached value pickles classes of this module; entries of the former
    # campaigns.web_charts module could no longer be read.
    return f"web:sending-timeline:v2:{sending_id}:{zone_key}"


def sending_chart_compute(*, sending: Sending, zone: ZoneInfo) -> dict[str, Any]:
    from campaigns.selectors import sending_event_timeline

    timeline = sending_event_timeline(sending=sending, tz=zone)
    label_format = "%d %b %H:00" if timeline.unit == "hour" else "%d %b"
    chart = line_chart(labels=[bucket.strftime(label_format) for bucket in timeline.buckets], series=timeline.counts)
    title = f"Events per {timeline.unit} by type; the table below holds the same numbers."
    cached = {
        "unit": timeline.unit,
        "chart": chart,
        "svg": line_chart_svg(chart, title=title),
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
