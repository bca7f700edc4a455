"""Charts drawn as inline SVG on the server: no chart library, no CDN, nothing for the browser to run.

Each function returns markup ready for a template (`{{ chart }}`); every text that comes from data is
escaped by format_html. Colours come from CSS classes (`series-0`, `series-1`, ... and
`funnel-stage-N`, styled in static/css/app.css) so the charts follow the site's palette and a
high-contrast stylesheet can restyle them. Each chart carries role="img" and a label, and the page
shows the same figures as a table for screen readers and for copying.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]


def _nice_ceiling(value: int) -> int:
    """The smallest 1 / 2 / 5 x 10^n at or above `value`, so axis ticks are round numbers."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def _short(value: int) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return str(value)


def stacked_bars_svg(*, labels: Sequence[str], series: Sequence[Series], title: str) -> SafeString:
    """Vertical stacked bars, one per label (e.g. a day), one colour per series (e.g. a channel)."""
    width, height = 720, 240
    left, right, top, bottom = 44, 8, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    ceiling = _nice_ceiling(max(totals, default=0))
    slot = plot_w / max(len(labels), 1)
    bar_w = max(slot * 0.7, 1.0)

    parts: list[str] = []
    for tick in range(5):
        value = ceiling * tick // 4
        y = top + plot_h - plot_h * tick / 4
        parts.append(
            format_html(
                '<line class="gridline" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                left,
                width - right,
                f"{y:.1f}",
                f"{y:.1f}",
                left - 6,
                f"{y + 4:.1f}",
                _short(value),
            )
        )
    label_every = max(1, len(labels) // 8)
    for index, label in enumerate(labels):
        x = left + slot * index + (slot - bar_w) / 2
        base = top + plot_h
        for number, item in enumerate(series):
            value = item.values[index]
            if not value:
                continue
            bar_h = plot_h * value / ceiling
            base -= bar_h
            parts.append(
                format_html(
                    '<rect class="series-{}" x="{}" y="{}" width="{}" height="{}"><title>{}: {} {}</title></rect>',
                    number,
                    f"{x:.1f}",
                    f"{base:.1f}",
                    f"{bar_w:.1f}",
                    f"{bar_h:.1f}",
                    label,
                    value,
                    item.name,
                )
            )
        if index % label_every == 0:
            parts.append(
                format_html(
                    '<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{x + bar_w / 2:.1f}",
                    height - 8,
                    label,
                )
            )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}" preserveAspectRatio="xMidYMid meet">'
        "<title>{}</title>{}</svg>",
        width,
        height,
        title,
        title,
        mark_safe("".join(parts)),  # noqa: S308 - every part is format_html output
    )


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
                    stage_index,
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
    return format_html(
        '<svg class="chart funnel" viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title>{}</svg>',
        width,
        height,
        title,
        title,
        mark_safe("".join(parts)),  # noqa: S308 - every part is format_html output
    )
