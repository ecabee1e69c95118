"""Line charts as inline SVG, drawn on the server: no script, no external library,
nothing a Content-Security-Policy without inline styles would block (presentation
attributes and the stylesheet's classes only)."""

from __future__ import annotations

from datetime import datetime, UTC
from collections.abc import Sequence

from aitbc.explorer.html import esc

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28  # margins for the axis labels


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S")


def _number(v: float) -> str:
    return f"{v:.3g}"


def line_chart(points: Sequence[tuple[float, float]], label: str, unit: str = "") -> str:
    """An SVG of `points` (unix time, value) with min/max ticks on both axes, or a note when empty."""
    if not points:
        return f'<p class="empty">{esc(label)}: no data yet</p>'
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs)
    y1 = max(ys) or 1.0  # from zero: a flat line of zeros still shows
    span_x = (x1 - x0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - x0) / span_x * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / y1 * plot_h

    path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    caption = f"{label} ({unit})" if unit else label
    bottom = TOP + plot_h
    return (f'<figure class="chart"><figcaption>{esc(caption)}</figcaption>'
            f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-label="{esc(caption)}" '
            f'xmlns="http://www.w3.org/2000/svg">'
            f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#c9ced6"/>'
            f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#c9ced6"/>'
            f'<text x="{LEFT - 6}" y="{TOP + 10}" text-anchor="end" font-size="11">{esc(_number(y1))}</text>'
            f'<text x="{LEFT - 6}" y="{bottom}" text-anchor="end" font-size="11">0</text>'
            f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="11">{esc(_clock(x0))}</text>'
            f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end" font-size="11">{esc(_clock(x1))} UTC</text>'
            f'<polyline class="series" points="{path}" fill="none" stroke="#2f5bd3" stroke-width="1.5"/>'
            f'</svg></figure>')
