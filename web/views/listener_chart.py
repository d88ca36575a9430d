"""An artist's monthly listeners as the points of a small line chart, drawn by the
artist page's template as server-rendered SVG (no script: the page's CSP allows none)."""

from __future__ import annotations

from dataclasses import dataclass

# The drawing's own units (its viewBox); CSS scales it to the page. Small enough that the
# labels stay about 11 px on a phone, where the chart is about as wide as this.
WIDTH, HEIGHT = 360, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28


@dataclass(frozen=True)
class ChartPoint:
    """One month's count and where it is drawn."""

    month: str
    listeners: int
    x: float
    y: float


@dataclass(frozen=True)
class ListenerChart:
    """The points, the polyline through them and the labels of the axes."""

    points: list[ChartPoint]
    # One polyline per run of consecutive months: a month without a count is a gap.
    lines: list[str]
    # Each year's label and where it goes: January of each year in the span (the first
    # month's year at the first point when the span does not start in January).
    years: list[tuple[str, float]]
    peak: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    base: int = HEIGHT - BOTTOM
    top: int = TOP


def _month_number(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def short_count(n: int) -> str:
    """A count as an axis label: 1.2M, 35k, 800."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if n >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + suffix
    return str(n)


def listener_chart(history: list[tuple[str, int]]) -> ListenerChart | None:
    """The chart of ``(month, listeners)`` oldest first, or None with fewer than two months
    (one count is said in words: a lone dot in a box tells nothing).

    Months are placed by the calendar, and a month with no count breaks the line, so a
    gap in time shows as one; the scale starts at zero so that a small change does not
    look like a big one.
    """
    if len(history) < 2:
        return None
    first, last = _month_number(history[0][0]), _month_number(history[-1][0])
    span = max(last - first, 1)
    peak = max(count for _, count in history) or 1
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(number: int) -> float:
        return round(LEFT + (number - first) / span * inner_w, 1)

    def y_of(count: int) -> float:
        return round(TOP + inner_h * (1 - count / peak), 1)

    points = [ChartPoint(m, n, x_of(_month_number(m)), y_of(n)) for m, n in history]
    runs: list[list[ChartPoint]] = []
    for point in points:
        if runs and _month_number(point.month) == _month_number(runs[-1][-1].month) + 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    years = [(str(first // 12), x_of(first))]
    years += [(str(n // 12), x_of(n)) for n in range(first + 1, last + 1) if n % 12 == 0]
    return ListenerChart(
        points=points,
        lines=[" ".join(f"{p.x},{p.y}" for p in run) for run in runs if len(run) > 1],
        years=years,
        peak=peak,
    )
