"""HTML building blocks of the report pages: number formats, bilingual headings, tables, the page shell.

Every value is HTML-escaped here, so sections pass raw values. Labels are bilingual pairs
``(Vietnamese, English)``: Vietnamese first, English in a smaller grey line, which reads well printed.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np

MAX_TABLE_ROWS = 1_000  # per table (a province's units fit); the rest is summarised as "… n more rows"

Row = tuple[object, ...]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{color:#1f3b73}h2{border-bottom:2px solid #1f3b73;padding-bottom:.2rem;margin-top:2.5rem}
h3{margin-top:1.6rem}small{color:#666;font-weight:normal;font-size:.78em}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;vertical-align:top}th{background:#f3f5f9;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:nth-child(even){background:#fafafa}
.empty,.note{color:#666;font-style:italic}.kpi{font-size:1.2rem;font-weight:bold}
nav a{margin-right:.8rem}svg.chart{display:block;margin:.5rem 0;max-width:100%;height:auto}
details{margin:.5rem 0}@media print{details{display:block}nav{display:none}}
"""


def fmt(value: object) -> str:
    """Numbers with a narrow no-break space between thousands (reads the same in Vietnamese and English)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "có / yes" if value else "không / no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}".replace(",", "\u202f")
    if isinstance(value, float | np.floating):
        return f"{float(value):,.2f}".replace(",", "\u202f")
    return str(value)


def pct(part: float | None, whole: float | None) -> str:
    """``part`` as a percentage of ``whole``: one decimal, two near 0% and 100% so that 15 rejected rows
    of 76,000 read 0.02%, not 0.0%; "–" when there is no whole."""
    if not whole or part is None:
        return "–"
    share = 100 * part / whole
    decimals = 0 if share in (0, 100) else 2 if share < 1 or share > 99 else 1
    return f"{share:.{decimals}f}%"


def esc(value: object) -> str:
    return html.escape(fmt(value), quote=True)


def days_text(n: int) -> str:
    """``1 ngày / 1 day``, ``3 ngày / 3 days`` (Vietnamese has no plural)."""
    return f"{n} ngày / {n} day{'' if n == 1 else 's'}"


def bilingual(vi: str, en: str) -> str:
    return f"{html.escape(vi)} <small>{html.escape(en)}</small>"


def heading(level: int, vi: str, en: str, anchor: str | None = None) -> str:
    ident = f' id="{html.escape(anchor, quote=True)}"' if anchor else ""
    return f"<h{level}{ident}>{bilingual(vi, en)}</h{level}>"


def empty(vi: str, en: str) -> str:
    return f'<p class="empty">{bilingual(vi, en)}</p>'


def note(vi: str, en: str) -> str:
    return f'<p class="note">{bilingual(vi, en)}</p>'


def details(vi: str, en: str, rows: int, body: str) -> str:
    """``body`` folded under "vi (n) / en (n)": long per-unit tables stay one click away (printed open)."""
    return (f"<details><summary>{html.escape(vi)} ({fmt(rows)}) <small>{html.escape(en)} ({fmt(rows)})</small>"
            f"</summary>{body}</details>")


def table(headers: Sequence[tuple[str, str]], rows: Sequence[Row], numeric_from: int = 1,
          max_rows: int | None = None) -> str:
    """An HTML table; headers are (Vietnamese, English) pairs, numbers from column ``numeric_from`` on
    right-aligned. Rows beyond ``max_rows`` (default ``MAX_TABLE_ROWS``) are summarised in one line."""
    if not rows:
        return empty("Không có dữ liệu", "No data")
    limit = MAX_TABLE_ROWS if max_rows is None else max_rows
    head = "".join(f"<th>{html.escape(vi)}<br><small>{html.escape(en)}</small></th>" for vi, en in headers)
    body = []
    for row in rows[:limit]:
        cells = "".join(
            f'<td class="num">{esc(v)}</td>' if i >= numeric_from and is_number(v) else f"<td>{esc(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    more = len(rows) - limit
    if more > 0:
        body.append(f'<tr><td colspan="{len(headers)}" class="empty">… {fmt(more)} dòng nữa '
                    f"<small>more rows (full data in the warehouse file)</small></td></tr>")
    return f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def document(title: str, body: Sequence[str]) -> str:
    """A whole self-contained page (inline CSS, no script, nothing fetched)."""
    return ('<!DOCTYPE html>\n<html lang="vi"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(part for part in body if part) + "</body></html>\n")
