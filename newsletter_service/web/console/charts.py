"""Charts drawn on the server as inline SVG: no script, no CDN, readable by screen readers."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from ...reports import Day, Rate

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 36, 44
SIGNUP_COLOUR, CONFIRM_COLOUR = "#1f4e8c", "#1b6e3a"


def activity_chart(days: Sequence[Day], title: str) -> Markup:
    """Return an SVG chart of signups (bars) and confirmations (line) per day."""
    peak = _nice_ceiling(max([1] + [max(d.signups, d.confirmations) for d in days]))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" class="chart">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{escape(_summary(days))}</desc>',
        *_axes(days, peak), *_bars(days, peak), _line(days, peak), *_legend(),
        "</svg>",
    ]
    return Markup("\n".join(parts))  # noqa: S704 - every text inside is escaped


def _x(index: int, count: int) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * (index + 0.5) / max(count, 1)


def _y(value: int, peak: int) -> float:
    return HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * value / peak


def _axes(days: Sequence[Day], peak: int) -> list[str]:
    bottom = HEIGHT - BOTTOM
    parts = [f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" '
             'stroke="#4a4a4a"/>']
    for value in (0, peak // 2, peak):
        y = _y(value, peak)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                     'stroke="#d0d0d0" stroke-dasharray="2 3"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="11">{value}</text>')
    for index, day in enumerate(days):
        if index % 15 == 0 or index == len(days) - 1:
            parts.append(f'<text x="{_x(index, len(days)):.1f}" y="{bottom + 16}" '
                         f'text-anchor="middle" font-size="11">{day.day:%b %d}</text>')
    parts.append(f'<text x="{(LEFT + WIDTH) / 2:.0f}" y="{HEIGHT - 6}" text-anchor="middle" '
                 'font-size="12">Day (UTC)</text>')
    parts.append(f'<text x="12" y="{(TOP + HEIGHT - BOTTOM) / 2:.0f}" text-anchor="middle" '
                 f'font-size="12" transform="rotate(-90 12 {(TOP + HEIGHT - BOTTOM) / 2:.0f})">'
                 'Readers</text>')
    return parts


def _bars(days: Sequence[Day], peak: int) -> list[str]:
    width = max(1.0, (WIDTH - LEFT - RIGHT) / max(len(days), 1) - 2)
    bars = []
    for index, day in enumerate(days):
        if day.signups:
            y = _y(day.signups, peak)
            bars.append(f'<rect x="{_x(index, len(days)) - width / 2:.1f}" y="{y:.1f}" '
                        f'width="{width:.1f}" height="{HEIGHT - BOTTOM - y:.1f}" '
                        f'fill="{SIGNUP_COLOUR}" opacity="0.75"><title>{day.day}: '
                        f'{day.signups} signups</title></rect>')
    return bars


def _line(days: Sequence[Day], peak: int) -> str:
    points = " ".join(f"{_x(i, len(days)):.1f},{_y(d.confirmations, peak):.1f}"
                      for i, d in enumerate(days))
    return (f'<polyline points="{points}" fill="none" stroke="{CONFIRM_COLOUR}" '
            'stroke-width="2"/>')


def _legend() -> list[str]:
    return [
        f'<rect x="{LEFT}" y="10" width="12" height="12" fill="{SIGNUP_COLOUR}" opacity="0.75"/>',
        f'<text x="{LEFT + 18}" y="20" font-size="12">Signups</text>',
        f'<line x1="{LEFT + 90}" y1="16" x2="{LEFT + 104}" y2="16" stroke="{CONFIRM_COLOUR}" '
        'stroke-width="2"/>',
        f'<text x="{LEFT + 110}" y="20" font-size="12">Confirmations</text>',
    ]


def _summary(days: Sequence[Day]) -> str:
    if not days:
        return "No days to show."
    signups = sum(d.signups for d in days)
    confirmations = sum(d.confirmations for d in days)
    return (f"{signups} signups and {confirmations} confirmations from {days[0].day} "
            f"to {days[-1].day}.")


def _nice_ceiling(value: int) -> int:
    """Return a round number at least ``value`` (and even, so its half is whole)."""
    step = 1
    while step * 10 < value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return max(2, step * factor)
    return max(2, step * 10)


def rate_chart(rates: Sequence[Rate], title: str, chart_id: str) -> Markup:
    """Return an SVG bar chart of the confirmation rate of each row (a recipient domain)."""
    row_height, label_width, width = 26, 180, WIDTH
    height = TOP + row_height * max(len(rates), 1) + 10
    span = width - label_width - 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" class="chart">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(_rates_summary(rates))}</desc>',
        f'<text x="{label_width}" y="20" font-size="12">Confirmed, of signups (100% at the '
        'right end)</text>',
    ]
    for index, row in enumerate(rates):
        y = TOP + index * row_height
        bar = span * (row.rate or 0)
        parts += [
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end" font-size="12">'
            f'{escape(row.label)}</text>',
            f'<rect x="{label_width}" y="{y + 3}" width="{span}" height="16" fill="#e6e6e6"/>',
            f'<rect x="{label_width}" y="{y + 3}" width="{bar:.1f}" height="16" '
            f'fill="{CONFIRM_COLOUR}"/>',
            f'<text x="{label_width + span + 8}" y="{y + 15}" font-size="12">'
            f'{percent(row.rate)} of {row.signups}</text>',
        ]
    parts.append("</svg>")
    return Markup("\n".join(parts))  # noqa: S704 - every text inside is escaped


def percent(rate: float | None) -> str:
    """Return a rate as a whole percentage, or a dash when there is nothing to divide."""
    return "–" if rate is None else f"{rate:.0%}"


def _rates_summary(rates: Sequence[Rate]) -> str:
    if not rates:
        return "No signups in this period."
    return "; ".join(f"{r.label}: {percent(r.rate)} of {r.signups} signups confirmed"
                     for r in rates) + "."


def duration(seconds: float | None) -> str:
    """Return a wait in words a publisher reads at a glance: 40 s, 12 min, 3 h, 2 d."""
    if seconds is None:
        return "–"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"
