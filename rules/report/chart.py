"""The one chart module: hand-written inline SVG with one palette, for the report and ``forecast --html``.

Why hand-written SVG: the pages are opened from a file on office and air-gapped operator machines,
so no JavaScript, no CDN, no fonts and no plotting dependency; three chart kinds cover every figure:

- :func:`stacked_bars`: parts of a whole per row (the national quota per day: answered, no answer,
  other provinces, not needed add up to the quota). A non-zero segment is never narrower than
  ``MIN_SEGMENT_PX`` so that a small part stays visible; the exact value is in its tooltip and in the
  table printed beside every chart.
- :func:`panel_bars`: one panel per measure, each with ITS OWN scale and a value label on every bar,
  for counts of very different sizes (60,030 accepted rows beside 12 rejected ones must both show).
- :func:`line_chart`: series over dates (the forecast burn-down) with a y axis rounded up to the next
  "nice" step (:func:`nice_axis`, at most ``MAX_STEPS`` steps, so the top is close to the maximum),
  point markers (and the values of the total) when there are few days, and the legend UNDER the
  plot wrapped over as many lines as needed, so a label is never cut.

Every label is HTML-escaped. Text widths are estimated (``CHAR_PX`` per character at 12 px, generous
for Vietnamese diacritics) to lay out labels and legends without a browser. Each ``<svg>`` carries
``class="chart"`` and ``data-chart`` (a stable name) so a test can find and screenshot it.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

# The palette: series colours in order (the first, dark blue, is the total / the country) and the
# fixed meaning colours of outcomes. Used by every chart of the report and of the forecast page.
PALETTE = ("#1f3b73", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6cab", "#6c757d", "#b5651d")
STATUS_COLOURS = {"matched": "#2e7d32", "ambiguous": "#f9a825", "unmatched": "#78909c", "rejected": "#c62828",
                  "accepted": "#2e7d32"}
GREYS = ("#90a4ae", "#cfd8dc")
AXIS, GRID, TEXT = "#333", "#e3e3e3", "#222"

FONT_PX = 12
CHAR_PX = 7.0  # estimated advance of one character at FONT_PX (sans-serif, diacritics included)
MIN_SEGMENT_PX = 2.0
MAX_STEPS = 6
VALUE_LABEL_DAYS = 8  # a line over at most this many days has its values printed by each point
LEGEND_ROW = 18


@dataclass(frozen=True)
class Series:
    """One named sequence of values with its colour; ``bold`` draws a thicker line (a total)."""

    name: str
    values: Sequence[float | int | None]
    colour: str
    bold: bool = False


def fmt_number(value: float | int | None) -> str:
    """Whole numbers with a narrow no-break space between thousands (the same in Vietnamese and English)."""
    if value is None:
        return "–"
    return f"{round(float(value)):,}".replace(",", "\u202f")


def text_px(text: str, font_px: float = FONT_PX) -> float:
    """Estimated rendered width of ``text`` in pixels."""
    return len(text) * CHAR_PX * font_px / FONT_PX


def nice_axis(vmax: float, max_steps: int = MAX_STEPS) -> tuple[float, float]:
    """``(top, step)`` of a y axis from 0: a step of 1, 2, 2.5 or 5 x 10^k (whole numbers) and the
    fewest steps (at most ``max_steps``) whose top is not below ``vmax``. The smallest such step is
    chosen, so the top is within one step of ``vmax`` (e.g. 10,001 -> 12,000 in steps of 2,000;
    56,000 -> 60,000 in steps of 10,000). ``vmax <= 0`` gives ``(1, 1)``.
    """
    if not vmax or vmax <= 0 or not math.isfinite(vmax):
        return 1.0, 1.0
    raw = vmax / max_steps
    magnitude = 10.0 ** math.floor(math.log10(raw)) if raw >= 1 else 1.0
    for m in (1.0, 2.0, 2.5, 5.0, 10.0, 20.0):
        step = m * magnitude
        if step != int(step) or step < 1:
            continue
        if math.ceil(vmax / step) <= max_steps:
            return math.ceil(vmax / step) * step, step
    return math.ceil(vmax / (20 * magnitude)) * 20 * magnitude, 20 * magnitude  # pragma: no cover


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _open(chart_id: str, title: str, width: float, height: float) -> list[str]:
    return [f'<svg width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" class="chart" data-chart="{_esc(chart_id)}" '
            f'font-family="sans-serif" font-size="{FONT_PX}" fill="{TEXT}">',
            f"<title>{_esc(title)}</title>",
            f'<text x="0" y="16" font-weight="bold" font-size="14">{_esc(title)}</text>']


def _cut(text: str, px: float) -> str:
    """``text`` shortened with "…" to fit ``px`` (callers put the full text in a ``<title>``)."""
    limit = max(int(px / CHAR_PX), 4)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _legend(items: Sequence[tuple[str, str, str]], x0: float, y0: float, width: float) -> tuple[list[str], float]:
    """Legend keys ``(name, colour, kind)`` (kind ``box`` or ``line``) wrapped within ``width`` from
    ``(x0, y0)``; returns the SVG parts and the height used. Names are never cut: a name too long
    for a line gets a line of its own."""
    parts: list[str] = []
    x, y = x0, y0
    for name, colour, kind in items:
        item = 22 + text_px(name) + 18
        if x > x0 and x + item > x0 + width:
            x, y = x0, y + LEGEND_ROW
        if kind == "line":
            parts.append(f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 16:.1f}" y2="{y - 4:.1f}" '
                         f'stroke="{colour}" stroke-width="3"/>')
        else:
            parts.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 22:.1f}" y="{y:.1f}">{_esc(name)}</text>')
        x += item
    return parts, (y - y0) + LEGEND_ROW if items else 0.0


def stacked_bars(chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series],
                 width: int = 860) -> str:
    """Horizontal stacked bars: one row per label, one segment per series, the row total at the end."""
    label_w = min(max([text_px(lb) for lb in labels] + [40.0]) + 12, 240)
    left, right, top, row_h = label_w, 80, 30, 22
    plot_w = width - left - right
    totals = [sum(float(s.values[i] or 0) for s in series) for i in range(len(labels))]
    vmax = max([*totals, 1.0])
    rows_h = row_h * max(len(labels), 1)
    legend, legend_h = _legend([(s.name, s.colour, "box") for s in series], left, top + rows_h + 20, plot_w + right)
    parts = _open(chart_id, title, width, top + rows_h + 12 + legend_h)
    for i, label in enumerate(labels):
        y = top + i * row_h
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{_esc(_cut(label, left - 12))}'
                     f"<title>{_esc(label)}</title></text>")
        x = float(left)
        for s in series:
            v = float(s.values[i] or 0)
            if v <= 0:
                continue
            w = max(plot_w * v / vmax, MIN_SEGMENT_PX)
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{s.colour}">'
                         f"<title>{_esc(label)} — {_esc(s.name)}: {fmt_number(v)}</title></rect>")
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 15}">{fmt_number(totals[i])}</text>')
    parts += legend
    parts.append("</svg>")
    return "".join(parts)


def panel_bars(chart_id: str, title: str, labels: Sequence[str], panels: Sequence[Series],
               width: int = 860, shares: bool = True) -> str:
    """One panel per series side by side, each scaled to its own maximum, a value on every bar.

    With ``shares`` the value is followed by the share of the row's total over all panels
    (``12 (0.02%)``), which is what a reader compares across rows. Panel headings split a
    bilingual name ``"vi / en"`` over two lines.
    """
    label_w = min(max([text_px(lb) for lb in labels] + [40.0]) + 12, 220)
    top, row_h, gap = 58, 24, 16
    n = max(len(panels), 1)
    panel_w = (width - label_w - gap * (n - 1)) / n
    value_w = 96 if shares else 60
    rows_h = row_h * max(len(labels), 1)
    parts = _open(chart_id, title, width, top + rows_h + 8)
    totals = [sum(float(p.values[i] or 0) for p in panels) for i in range(len(labels))]
    for i, label in enumerate(labels):
        parts.append(f'<text x="{label_w - 8:.1f}" y="{top + i * row_h + 16}" text-anchor="end">'
                     f"{_esc(_cut(label, label_w - 12))}<title>{_esc(label)}</title></text>")
    for k, panel in enumerate(panels):
        x0 = label_w + k * (panel_w + gap)
        bar_w = max(panel_w - value_w, 20)
        for j, line in enumerate(panel.name.split(" / ")):
            parts.append(f'<text x="{x0:.1f}" y="{34 + 14 * j}" font-weight="{"bold" if j == 0 else "normal"}">'
                         f"{_esc(_cut(line, panel_w))}<title>{_esc(panel.name)}</title></text>")
        parts.append(f'<line x1="{x0:.1f}" y1="{top - 2}" x2="{x0:.1f}" y2="{top + rows_h - 2}" stroke="{AXIS}"/>')
        vmax = max([float(v or 0) for v in panel.values] + [1.0])
        for i, label in enumerate(labels):
            y = top + i * row_h
            v = float(panel.values[i] or 0)
            w = max(bar_w * v / vmax, MIN_SEGMENT_PX) if v > 0 else 0.0
            if w:
                parts.append(f'<rect x="{x0:.1f}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
                             f'fill="{panel.colour}"><title>{_esc(label)} — {_esc(panel.name)}: '
                             f"{fmt_number(v)}</title></rect>")
            share = f" ({100 * v / totals[i]:.{_decimals(v, totals[i])}f}%)" if shares and totals[i] else ""
            parts.append(f'<text x="{x0 + w + 4:.1f}" y="{y + 16}">{fmt_number(v)}{share}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _decimals(part: float, whole: float) -> int:
    """Enough decimals that a share near 0% or 100% does not read as one (0.02%, 40.5%, 99.98%, 100%)."""
    share = 100 * part / whole if whole else 0
    return 0 if share in (0, 100) else 2 if share < 1 or share > 99 else 1


def line_chart(chart_id: str, title: str, x_labels: Sequence[str], series: Sequence[Series],
               width: int = 860, height: int = 300, x_title: str = "", y_title: str = "") -> str:
    """Lines over shared x positions (days); bold series thicker; markers when there are few points.

    The y axis runs from 0 to :func:`nice_axis` of the largest value. X tick labels are spread so
    they never overlap (at most one per ``text width + 24 px``), always including the first and the
    last day. The legend sits under the plot and wraps; names are never cut.
    """
    left, right, top = 72, 44, 50  # room for half a date label each side, and the title and y title above
    plot_w = width - left - right
    plot_h = height - top - 52
    n = max(len(x_labels), 1)
    top_value, step = nice_axis(max([float(v or 0) for s in series for v in s.values] + [0.0]))
    legend, legend_h = _legend([(s.name, s.colour, "line") for s in series], left, top + plot_h + 62, plot_w)
    total_h = top + plot_h + 50 + (legend_h + 8 if series else 0)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / top_value)

    parts = _open(chart_id, title, width, total_h)
    ticks = round(top_value / step)
    for k in range(ticks + 1):
        v = step * k
        parts.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{fmt_number(v)}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{AXIS}"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{AXIS}"/>')
    for i in _x_ticks(x_labels, plot_w):
        parts.append(f'<line x1="{x(i):.1f}" y1="{top + plot_h}" x2="{x(i):.1f}" y2="{top + plot_h + 4}" '
                     f'stroke="{AXIS}"/>')
        parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                     f"{_esc(x_labels[i])}</text>")
    if x_title:
        parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 38}" text-anchor="middle" '
                     f'fill="#555">{_esc(x_title)}</text>')
    if y_title:
        parts.append(f'<text x="{left - 6}" y="{top - 14}" fill="#555" font-size="11">{_esc(y_title)}</text>')
    markers = n <= 31
    for s in sorted(series, key=lambda s: s.bold):  # the total last, on top
        stroke = 3.0 if s.bold else 1.8
        pts = [(x(i), y(float(v or 0)), v) for i, v in enumerate(s.values)]
        if len(pts) > 1:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in pts)
            parts.append(f'<polyline fill="none" stroke="{s.colour}" stroke-width="{stroke}" points="{points}">'
                         f"<title>{_esc(s.name)}</title></polyline>")
        if markers or len(pts) == 1:
            parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{3.5 if s.bold else 2.5}" fill="{s.colour}">'
                      f"<title>{_esc(s.name)} — {_esc(x_labels[i])}: {fmt_number(v)}</title></circle>"
                      for i, (px, py, v) in enumerate(pts)]
        if (s.bold or len(series) == 1) and n <= VALUE_LABEL_DAYS:  # few days: the values themselves
            parts += [f'<text x="{px + (8 if i < n - 1 else -8):.1f}" y="{py - 8:.1f}" '
                      f'text-anchor="{"start" if i < n - 1 else "end"}" font-weight="bold" fill="{s.colour}">'
                      f"{fmt_number(v)}</text>" for i, (px, py, v) in enumerate(pts)]
    parts += legend
    parts.append("</svg>")
    return "".join(parts)


def _x_ticks(labels: Sequence[str], plot_w: float) -> list[int]:
    """Indices of the x labels to print: evenly spaced, non-overlapping, first and last included."""
    n = len(labels)
    if n == 0:
        return []
    if n == 1:
        return [0]
    widest = max(text_px(lb) for lb in labels) + 24
    fits = max(int(plot_w // widest), 2)
    every = max(math.ceil((n - 1) / (fits - 1)), 1)
    ticks = list(range(0, n, every))
    if ticks[-1] != n - 1:
        if (n - 1 - ticks[-1]) * plot_w / (n - 1) < widest:
            ticks.pop()  # too close to the last day: the last day wins
        ticks.append(n - 1)
    return ticks
