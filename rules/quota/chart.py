"""A self-contained HTML burn-down chart of a :class:`~rules.quota.forecast.Forecast`.

Why hand-written SVG: the chart must open from a file on an air-gapped operator machine, so no
JavaScript, no CDN and no plotting dependency; an inline ``<svg>`` with polylines is enough for a
remaining-backlog-over-time chart. Unit names are HTML-escaped; no personal data is involved.
"""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl

from rules.quota.forecast import Forecast

WIDTH, HEIGHT = 900, 420
LEFT, RIGHT, TOP, BOTTOM = 80, 220, 30, 50
COLOURS = ("#1f3b73", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6cab", "#6c757d")


def burn_down_svg(fc: Forecast) -> str:
    """The chart alone, as an ``<svg>`` element."""
    daily = fc.daily
    dates = daily.filter(pl.col("series") == "national")["date"].to_list()
    days = max(len(dates) - 1, 1)
    ymax = max(int(daily["remaining"].max() or 0), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + plot_w * i / days

    def y(v: int) -> float:
        return TOP + plot_h * (1 - v / ymax)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12" role="img">',
        f"<title>Remaining verification backlog, quota {fc.quota:,}/day</title>",
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" stroke="#333"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333"/>',
    ]
    for k in range(5):  # y ticks
        v = round(ymax * k / 4)
        parts.append(f'<line x1="{LEFT - 4}" y1="{y(v):.1f}" x2="{LEFT + plot_w}" y2="{y(v):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:,}</text>')
    step = max(1, days // 6)
    for i in range(0, len(dates), step):  # x ticks
        parts.append(f'<text x="{x(i):.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{dates[i].isoformat()}</text>')
    series = daily["series"].unique(maintain_order=True).to_list()
    for j, name in enumerate(series):
        values = daily.filter(pl.col("series") == name)["remaining"].to_list()
        colour = COLOURS[j % len(COLOURS)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        width = 3 if name == "national" else 1.5
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{points}"/>')
        ly = TOP + 16 * j
        parts.append(
            f'<line x1="{WIDTH - RIGHT + 12}" y1="{ly}" x2="{WIDTH - RIGHT + 32}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="{width}"/>'
        )
        label = html.escape(name if len(name) <= 26 else name[:25] + "…")
        parts.append(f'<text x="{WIDTH - RIGHT + 38}" y="{ly + 4}">{label}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 8}" text-anchor="middle">day (end of dispatch)</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def burn_down_html(fc: Forecast, path: str | Path, title: str = "Verification backlog burn-down") -> Path:
    """Write a standalone HTML page: the chart, the country summary and the per-unit table."""
    national = (
        f"{fc.national_date.isoformat()} ({fc.national_days} days)"
        if fc.national_date is not None
        else f"not within {fc.horizon_days} days"
    )
    rows = []
    ordered = fc.units.sort(["days_to_clear", "backlog"], descending=[True, True], nulls_last=False)
    for r in ordered.iter_rows(named=True):
        when = r["clearance_day"].isoformat() if r["clearance_day"] else f"not within {fc.horizon_days} days"
        rows.append(
            f"<tr><td>{html.escape(r[fc.key])}</td><td>{r['backlog']:,}</td>"
            f"<td>{r['days_to_clear'] if r['days_to_clear'] is not None else '-'}</td><td>{when}</td></tr>"
        )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>From {fc.start_day.isoformat()}, national quota {fc.quota:,}/day, backlog {fc.total_backlog:,} over
{fc.units.height:,} units. The country is clear by <strong>{national}</strong>.</p>
{burn_down_svg(fc)}
<h2>Clearance per unit</h2>
<table><thead><tr><th>unit</th><th>backlog</th><th>days</th><th>clearance date</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""
    from rules.private import write_private_bytes

    return write_private_bytes(Path(path), page.encode("utf-8"))  # per-unit backlogs: operators only
