"""A Splink-style match-weights chart of the estimated parameters, as a self-contained SVG string.

Why: a reviewer should see at a glance what the run learnt: one horizontal bar per comparison level,
its log2 match weight log2(m/u) (green for evidence for a match, red against), grouped by comparison,
plus the prior. Pure string building (no plotting library), so the HTML report and Dagster metadata
can embed it. No personal data: levels and numbers only.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np

from rules.matching.config import MatchConfig
from rules.matching.estimate import Estimates

BAR_H = 16
GAP = 4
LABEL_W = 250
PLOT_W = 420
PAD = 30


def match_weights_svg(est: Estimates, config: MatchConfig, title: str = "Match weights (log2 m/u)") -> str:
    """SVG (width ~720 px) with one bar per comparison level and one for the prior; returns the markup.

    Weights are clipped to +-25 for drawing (the value is printed unclipped beside the bar).
    """
    rows: list[tuple[str, str, float]] = [("prior", "share / N", est.prior_log2())]
    if est.prior_years is not None and est.year_log2 is not None and len(est.prior_years):
        table = np.atleast_2d(est.year_log2)
        for name, row in zip([*est.prior_strata, "all rows"], table, strict=True):
            for i in sorted({int(row.argmax()), int(row.argmin())}):
                rows.append(("prior", f"{name}: born {est.prior_years[i]} (file vs register)", float(row[i])))
    for r in est.to_frame(config).iter_rows(named=True):
        rows.append((r["comparison"], r["level"], r["match_weight"]))
    lim = min(25.0, max(4.0, math.ceil(max(abs(w) for _, _, w in rows))))
    height = PAD * 2 + len(rows) * (BAR_H + GAP) + 20
    width = LABEL_W + PLOT_W + 90
    x0 = LABEL_W + PLOT_W / 2
    scale = (PLOT_W / 2) / lim
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    y = PAD
    prev = None
    for comp, level, w in rows:
        if comp != prev:
            out.append(f'<line x1="0" x2="{width}" y1="{y - GAP / 2}" y2="{y - GAP / 2}" stroke="#ddd"/>')
            prev = comp
        wc = max(-lim, min(lim, w))
        x = x0 if wc >= 0 else x0 + wc * scale
        colour = "#2e7d32" if w >= 0 else "#c62828"
        out.append(
            f'<text x="{LABEL_W - 6}" y="{y + BAR_H - 4}" text-anchor="end">{escape(comp)}: {escape(level)}</text>'
        )
        out.append(
            f'<rect x="{x:.1f}" y="{y}" width="{max(abs(wc) * scale, 0.5):.1f}" height="{BAR_H}" fill="{colour}"/>'
        )
        tx = x0 + wc * scale + (4 if w >= 0 else -4)
        anchor = "start" if w >= 0 else "end"
        out.append(f'<text x="{tx:.1f}" y="{y + BAR_H - 4}" text-anchor="{anchor}">{w:+.2f}</text>')
        y += BAR_H + GAP
    out.append(f'<line x1="{x0}" x2="{x0}" y1="{PAD - 4}" y2="{y}" stroke="#333"/>')
    for t in range(-int(lim), int(lim) + 1, max(1, int(lim) // 5)):
        tx = x0 + t * scale
        out.append(f'<text x="{tx:.1f}" y="{y + 14}" text-anchor="middle" fill="#555">{t}</text>')
    out.append("</svg>")
    return "\n".join(out)


__all__ = ["match_weights_svg"]
