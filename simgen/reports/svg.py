"""Chart primitives for the HTML report: bar charts, histograms and unit-square scatters as
inline SVG text.

Every chart is one ``<svg class="figure">`` element with its data marks (bars, points,
lines) in class ``mark``, so a browser-side check can tell a drawn figure from an empty
one. Coordinates are rounded to 0.1 px and numbers are formatted the same way every time,
so the same data gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

#: Series colours, in order (a grouped bar chart's first series is the first colour).
SERIES_COLOURS = ("#3b6ea8", "#e08a2c", "#5a9e4b", "#9b59b6", "#c0392b", "#7f8c8d")
EXPECTED_COLOUR = "#c0392b"
AXIS_COLOUR = "#444"
GRID_COLOUR = "#ddd"
FONT_PX = 11


def number_text(value: float) -> str:
    """A short, stable text form of a number: ``0.0123``, ``12.3``, ``1.2e+04``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if float(value).is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.3g}"


def _c(value: float) -> str:
    """A coordinate rounded to 0.1 px, without a trailing ``.0``."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_ticks(high: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``high`` (about ``count`` steps)."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < high - 1e-12:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _open(width: int, height: int, title: str, name: str) -> list[str]:
    return [f'<svg class="figure" xmlns="http://www.w3.org/2000/svg" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(title)}" data-name="{escape(name)}">',
            f'<text x="{_c(width / 2)}" y="14" text-anchor="middle" font-weight="bold">'
            f'{escape(title)}</text>']


def _y_axis(parts: list[str], left: float, right: float, top: float, bottom: float,
            y_max: float, label: str) -> None:
    """Horizontal grid lines with tick labels, the y axis label and the x axis line."""
    for tick in nice_ticks(y_max):
        y = bottom - (bottom - top) * tick / y_max
        parts.append(f'<line x1="{_c(left)}" y1="{_c(y)}" x2="{_c(right)}" y2="{_c(y)}" '
                     f'stroke="{GRID_COLOUR}"/>')
        parts.append(f'<text x="{_c(left - 4)}" y="{_c(y + 4)}" text-anchor="end">'
                     f'{number_text(tick)}</text>')
    middle = (top + bottom) / 2
    parts.append(f'<text x="12" y="{_c(middle)}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {_c(middle)})">{escape(label)}</text>')
    parts.append(f'<line x1="{_c(left)}" y1="{_c(bottom)}" x2="{_c(right)}" y2="{_c(bottom)}" '
                 f'stroke="{AXIS_COLOUR}"/>')


def _legend(parts: list[str], names: Sequence[str], colours: Sequence[str], x: float,
            y: float) -> None:
    for i, (name, colour) in enumerate(zip(names, colours, strict=True)):
        top = y + 14 * i
        parts.append(f'<rect x="{_c(x)}" y="{_c(top)}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{_c(x + 14)}" y="{_c(top + 9)}">{escape(name)}</text>')


def bar_chart(categories: Sequence[str], series: dict[str, Sequence[float]], title: str,
              y_label: str, name: str, y_max: float | None = None, width: int = 560,
              height: int = 260,
              intervals: dict[str, Sequence[tuple[float, float] | None]] | None = None) -> str:
    """Vertical bars, one group per category and one bar per series (a legend when there
    are several); ``y_max`` fixes the axis top (e.g. 1 for shares); ``intervals`` adds an
    error bar (low, high) to a series' bars."""
    names = list(series)
    colours = [SERIES_COLOURS[i % len(SERIES_COLOURS)] for i in range(len(names))]
    longest = max((len(c) for c in categories), default=1)
    rotate = longest * 6.5 > (width - 70) / max(1, len(categories))
    left, right, top = 56.0, width - (110.0 if len(names) > 1 else 12.0), 24.0
    bottom = height - (min(110.0, 10 + longest * 5.5) if rotate else 36.0)
    top_value = y_max if y_max is not None else max(
        [float(v) for values in series.values() for v in values] + [0.0])
    top_value = nice_ticks(top_value)[-1] if y_max is None else top_value
    parts = _open(width, height, title, name)
    _y_axis(parts, left, right, top, bottom, top_value or 1.0, y_label)
    group_w = (right - left) / max(1, len(categories))
    bar_w = group_w * 0.8 / max(1, len(names))
    for i, category in enumerate(categories):
        x0 = left + group_w * (i + 0.1)
        for j, (series_name, colour) in enumerate(zip(names, colours, strict=True)):
            value = float(series[series_name][i])
            bar_h = (bottom - top) * min(value, top_value or 1.0) / (top_value or 1.0)
            parts.append(f'<rect class="mark" x="{_c(x0 + j * bar_w)}" y="{_c(bottom - bar_h)}" '
                         f'width="{_c(max(bar_w - 1, 1))}" height="{_c(bar_h)}" '
                         f'fill="{colour}"><title>{escape(category)} {escape(series_name)}: '
                         f'{number_text(value)}</title></rect>')
            interval = (intervals or {}).get(series_name, [None] * len(categories))[i]
            if interval is not None:
                scale = (bottom - top) / (top_value or 1.0)
                xm = x0 + j * bar_w + max(bar_w - 1, 1) / 2
                y_lo = bottom - scale * min(interval[0], top_value or 1.0)
                y_hi = bottom - scale * min(interval[1], top_value or 1.0)
                parts.append(f'<path d="M{_c(xm)} {_c(y_lo)}V{_c(y_hi)}M{_c(xm - 3)} '
                             f'{_c(y_lo)}h6M{_c(xm - 3)} {_c(y_hi)}h6" stroke="{AXIS_COLOUR}"/>')
        cx = left + group_w * (i + 0.5)
        if rotate:
            parts.append(f'<text x="{_c(cx)}" y="{_c(bottom + 10)}" text-anchor="end" '
                         f'transform="rotate(-45 {_c(cx)} {_c(bottom + 10)})">'
                         f'{escape(category)}</text>')
        else:
            parts.append(f'<text x="{_c(cx)}" y="{_c(bottom + 14)}" text-anchor="middle">'
                         f'{escape(category)}</text>')
    if len(names) > 1:
        _legend(parts, names, colours, right + 10, top + 4)
    parts.append("</svg>")
    return "\n".join(parts)


def histogram(edges: Sequence[float], counts: Sequence[float], title: str, x_label: str,
              name: str, expected: Sequence[float] | None = None, log_x: bool = False,
              bin_labels: Sequence[str] | None = None, width: int = 420,
              height: int = 240) -> str:
    """Bars of ``counts`` over the bins between consecutive ``edges`` (a log x axis when
    ``log_x``), with ``expected`` counts per bin drawn over them as a red step line; the x
    axis names the edges, or each bin by ``bin_labels`` (e.g. the integers of a randint)."""
    left, right, top, bottom = 56.0, width - 12.0, 24.0, height - 40.0
    lo, hi = float(edges[0]), float(edges[-1])

    def x_of(value: float) -> float:
        if log_x:
            share = (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo) or 1.0)
        else:
            share = (value - lo) / ((hi - lo) or 1.0)
        return left + (right - left) * share

    top_value = nice_ticks(max([float(c) for c in counts] + [float(e) for e in expected or ()]
                               + [1.0]))[-1]
    parts = _open(width, height, title, name)
    _y_axis(parts, left, right, top, bottom, top_value, "count")
    for a, b, count in zip(edges[:-1], edges[1:], counts, strict=True):
        bar_h = (bottom - top) * float(count) / top_value
        x0, x1 = x_of(float(a)), x_of(float(b))
        parts.append(f'<rect class="mark" x="{_c(x0)}" y="{_c(bottom - bar_h)}" '
                     f'width="{_c(max(x1 - x0 - 1, 1))}" height="{_c(bar_h)}" '
                     f'fill="{SERIES_COLOURS[0]}"><title>{number_text(float(a))} to '
                     f'{number_text(float(b))}: {number_text(float(count))}</title></rect>')
    if expected is not None:
        points = []
        for a, b, value in zip(edges[:-1], edges[1:], expected, strict=True):
            y = bottom - (bottom - top) * float(value) / top_value
            points += [f"{_c(x_of(float(a)))},{_c(y)}", f"{_c(x_of(float(b)))},{_c(y)}"]
        parts.append(f'<polyline class="mark" points="{" ".join(points)}" fill="none" '
                     f'stroke="{EXPECTED_COLOUR}" stroke-width="2"><title>expected count'
                     f'</title></polyline>')
    ticks = [(x_of((float(a) + float(b)) / 2), text) for a, b, text in
             zip(edges[:-1], edges[1:], bin_labels, strict=True)] if bin_labels is not None \
        else [(x_of(float(e)), number_text(float(e))) for e in edges]
    step = max(1, math.ceil((len(ticks) - 1) / 6))
    shown = list(range(0, len(ticks), step))
    if shown[-1] != len(ticks) - 1:
        shown[-1] = len(ticks) - 1
    for i in shown:
        parts.append(f'<text x="{_c(ticks[i][0])}" y="{_c(bottom + 14)}" '
                     f'text-anchor="middle">{escape(ticks[i][1])}</text>')
    parts.append(f'<text x="{_c((left + right) / 2)}" y="{_c(height - 6)}" '
                 f'text-anchor="middle">{escape(x_label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def shorten(text: str, chars: int) -> str:
    """``text`` cut to its last ``chars`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= chars else "\u2026" + text[-(chars - 1):]


def unit_scatter(u: Sequence[float], v: Sequence[float], cells: int, title: str,
                 x_label: str, y_label: str, name: str, size_px: int = 200) -> str:
    """Points in the unit square with a ``cells`` x ``cells`` grid, occupied cells shaded
    (axis labels longer than the side are cut from the left)."""
    x_label, y_label = shorten(x_label, size_px // 7), shorten(y_label, size_px // 7)
    margin, top = 30.0, 22.0
    side = size_px - margin - 8.0
    left, bottom = margin, top + side
    parts = _open(size_px, int(bottom + 30), title, name)
    cell = side / cells
    occupied = {(min(int(a * cells), cells - 1), min(int(b * cells), cells - 1))
                for a, b in zip(u, v, strict=True)}
    for i, j in sorted(occupied):
        parts.append(f'<rect x="{_c(left + i * cell)}" y="{_c(bottom - (j + 1) * cell)}" '
                     f'width="{_c(cell)}" height="{_c(cell)}" fill="#e3ecf6"/>')
    for k in range(cells + 1):
        offset = k * cell
        parts.append(f'<line x1="{_c(left + offset)}" y1="{_c(top)}" x2="{_c(left + offset)}" '
                     f'y2="{_c(bottom)}" stroke="{GRID_COLOUR}"/>')
        parts.append(f'<line x1="{_c(left)}" y1="{_c(bottom - offset)}" x2="{_c(left + side)}" '
                     f'y2="{_c(bottom - offset)}" stroke="{GRID_COLOUR}"/>')
    parts.append(f'<rect x="{_c(left)}" y="{_c(top)}" width="{_c(side)}" height="{_c(side)}" '
                 f'fill="none" stroke="{AXIS_COLOUR}"/>')
    for a, b in zip(u, v, strict=True):
        parts.append(f'<circle class="mark" cx="{_c(left + a * side)}" '
                     f'cy="{_c(bottom - b * side)}" r="3" fill="{SERIES_COLOURS[0]}" '
                     f'fill-opacity="0.8"/>')
    parts.append(f'<text x="{_c(left + side / 2)}" y="{_c(bottom + 14)}" text-anchor="middle">'
                 f'{escape(x_label)}</text>')
    parts.append(f'<text x="10" y="{_c(top + side / 2)}" text-anchor="middle" '
                 f'transform="rotate(-90 10 {_c(top + side / 2)})">{escape(y_label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
