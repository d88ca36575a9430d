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
    line: str
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
    """The chart of ``(month, listeners)`` oldest first, or None when no count is held.

    Months are placed by the calendar, so a month with no count leaves a gap in time
    rather than drawing two far months side by side; the scale starts at zero so that a
    small change does not look like a big one.
    """
    if not history:
        return None
    first, last = _month_number(history[0][0]), _month_number(history[-1][0])
    span = max(last - first, 1)
    peak = max(count for _, count in history) or 1
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    points = []
    for month, count in history:
        # A single month is drawn in the middle.
        share = (_month_number(month) - first) / span if last > first else 0.5
        x = round(LEFT + share * inner_w, 1)
        y = round(TOP + inner_h * (1 - count / peak), 1)
        points.append(ChartPoint(month, count, x, y))
    return ListenerChart(
        points=points,
        line=" ".join(f"{p.x},{p.y}" for p in points),
        peak=peak,
    )
