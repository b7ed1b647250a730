"""``doisoat report``: one self-contained HTML file per analyst warehouse, for provincial teams to email.

Why this shape: the report is opened on office machines that may be offline or behind strict proxies,
so everything is inline (CSS and hand-written SVG charts, no JavaScript, no fonts or images fetched
from anywhere). It reads ONLY the analyst DuckDB file (read-only connection), which holds aggregates
and masked decisions, never the lake or the register, so the report cannot leak names, IDs or birth
dates. The row-level table ``match_decisions`` is deliberately not read either: every figure below is
an aggregate. Every value taken from the file is HTML-escaped.

    from pipelines.reporting import write_report
    path = write_report()                       # data/reports/doisoat.html from data/warehouse/doisoat.duckdb
    write_report(Path("/tmp/hcm.html"), provinces=["ho_chi_minh"])   # one province, to email
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np

from pipelines.environment import data_root

STATUS_COLOURS = {"matched": "#2e7d32", "ambiguous": "#f9a825", "unmatched": "#78909c", "rejected": "#c62828"}
PALETTE = ("#1f3b73", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6cab", "#6c757d")
MATCH_STATUSES = ("matched", "ambiguous", "unmatched", "rejected")
BURN_DOWN_UNITS = 5  # units drawn individually beside the province total (largest backlogs)
MAX_CHART_DAYS = 120  # burn-down points; longer horizons are sampled, not truncated
LEGEND_CHARS = 60  # legend labels longer than this are cut with "…" (full text in the table)
MAX_TABLE_ROWS = 1_000  # per table (a province's units fit); the rest is summarised as "… n more rows"

Row = tuple[object, ...]


def warehouse_path() -> Path:
    """Where ``doisoat publish`` writes the analyst file."""
    return data_root() / "warehouse" / "doisoat.duckdb"


def default_report_path() -> Path:
    return data_root() / "reports" / "doisoat.html"


def write_report(out: Path | None = None, *, warehouse: Path | None = None,
                 provinces: Sequence[str] | None = None) -> Path:
    """Render the report from the analyst warehouse and write it (atomically) to ``out``; return the path.

    ``provinces`` (slugs) limits the report to those provinces, e.g. the one a team emails (the whole
    country is several MB); by default every province in the file is included. Raises
    ``FileNotFoundError`` when the warehouse file has not been built yet and ``ValueError`` for a
    province that has no data in it.
    """
    source = warehouse or warehouse_path()
    if not source.exists():
        raise FileNotFoundError(
            f"analyst warehouse not found at {source}; run `doisoat demo` or `doisoat publish` first"
        )
    target = Path(out) if out is not None else default_report_path()
    con = duckdb.connect(str(source), read_only=True)
    try:
        page = render_report(con, source_name=source.name, only=provinces)
    finally:
        con.close()
    from rules.private import write_private_bytes

    return write_private_bytes(target, page.encode("utf-8"))  # per-unit figures: operators only


# --------------------------------------------------------------------------------------------- data access
class _Warehouse:
    """Thin read-only view of the analyst file that tolerates a file built before a table existed."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}

    def has(self, *tables: str) -> bool:
        return all(t in self.tables for t in tables)

    def has_column(self, table: str, column: str) -> bool:
        return self.has(table) and bool(self.con.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
            [table, column]).fetchall())

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self.con.execute(sql, list(params)).fetchall()

    def provinces(self) -> list[str]:
        """Every province that appears anywhere in the file, sorted."""
        sources = [("uploads", "province"), ("match_outcomes", "province"), ("data_quality", "province"),
                   ("verification_backlog", "province"), ("forecast", "province"),
                   ("daily_allocation", "split_part(unit_key, '/', 1)")]
        parts = [f"SELECT {col} AS p FROM {t}" for t, col in sources if self.has(t)]
        if not parts:
            return []
        union = " UNION ALL ".join(parts)
        sql = f"SELECT DISTINCT p FROM ({union}) WHERE p IS NOT NULL AND p <> '' ORDER BY p"
        return [r[0] for r in self.rows(sql)]


# ------------------------------------------------------------------------------------------- formatting
def fmt(value: object) -> str:
    """Numbers with a narrow no-break space between thousands (reads the same in Vietnamese and English)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}".replace(",", "\u202f")
    if isinstance(value, float | np.floating):
        return f"{float(value):,.2f}".replace(",", "\u202f")
    return str(value)


def pct(part: float | None, whole: float | None) -> str:
    if not whole or part is None:
        return "–"
    return f"{100 * part / whole:.1f}%"


def esc(value: object) -> str:
    return html.escape(fmt(value), quote=True)


def heading(level: int, vi: str, en: str, anchor: str | None = None) -> str:
    ident = f' id="{html.escape(anchor, quote=True)}"' if anchor else ""
    return f"<h{level}{ident}>{html.escape(vi)} <small>{html.escape(en)}</small></h{level}>"


def table(headers: Sequence[tuple[str, str]], rows: Sequence[Row], numeric_from: int = 1) -> str:
    """An HTML table; headers are (Vietnamese, English) pairs, columns from ``numeric_from`` right-aligned."""
    if not rows:
        return '<p class="empty">Không có dữ liệu <small>No data</small></p>'
    head = "".join(f"<th>{html.escape(vi)}<br><small>{html.escape(en)}</small></th>" for vi, en in headers)
    body = []
    for row in rows[:MAX_TABLE_ROWS]:
        cells = "".join(
            f'<td class="num">{esc(v)}</td>' if i >= numeric_from and _is_number(v) else f"<td>{esc(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    more = len(rows) - MAX_TABLE_ROWS
    if more > 0:
        body.append(f'<tr><td colspan="{len(headers)}" class="empty">… {fmt(more)} dòng nữa '
                    f"<small>more rows (full data in the warehouse file)</small></td></tr>")
    return f'<table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


# ------------------------------------------------------------------------------------------------ charts
def _label(text: str, limit: int) -> str:
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")


def svg_bar_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]],
                  width: int = 760) -> str:
    """Horizontal stacked bars: one row per label, one coloured segment per series, total at the end.

    ``series`` is ``(name, values aligned with labels, colour)``. Each segment carries a ``<title>``
    tooltip with its exact value.
    """
    left, right, top, row_h = 200, 70, 30, 22
    legend, lines = _legend_layout([name for name, _, _ in series], left, width)
    height = top + row_h * max(len(labels), 1) + 18 * lines + 12
    plot_w = width - left - right
    totals = [sum(float(s[1][i] or 0) for s in series) for i in range(len(labels))]
    vmax = max([*totals, 1.0])
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'class="chart" font-family="sans-serif" font-size="12">',
             f"<title>{html.escape(title)}</title>",
             f'<text x="0" y="16" font-weight="bold">{html.escape(title)}</text>']
    for i, label in enumerate(labels):
        y = top + i * row_h
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{_label(label, 30)}'
                     f"<title>{html.escape(label)}</title></text>")
        x = float(left)
        for name, values, colour in series:
            v = float(values[i] or 0)
            w = plot_w * v / vmax
            if w > 0:
                tip = f"{html.escape(label)} — {html.escape(name)}: {fmt(int(v))}"
                parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                             f'fill="{colour}"><title>{tip}</title></rect>')
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 15}">{fmt(int(totals[i]))}</text>')
    base = top + row_h * max(len(labels), 1) + 16
    for (name, _, colour), (lx, line) in zip(series, legend, strict=True):
        ly = base + 18 * line
        parts.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 16}" y="{ly}">{_label(name, LEGEND_CHARS)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _legend_layout(names: Sequence[str], left: int, width: int) -> tuple[list[tuple[int, int]], int]:
    """(x, line) of each legend key, wrapping to a new line before the chart's right edge; and the lines."""
    placed, x, line = [], left, 0
    for name in names:
        item = 24 + 7 * min(len(name), LEGEND_CHARS)  # ~7 px per character at font-size 12
        if x + item > width and x > left:
            x, line = left, line + 1
        placed.append((x, line))
        x += item
    return placed, line + 1


def nice_ceiling(value: float, steps: int = 4) -> float:
    """Top of a y axis with ``steps`` round steps (1, 2 or 5 x 10^k each) that is not below ``value``."""
    raw = max(value / steps, 1.0)
    magnitude = 10 ** np.floor(np.log10(raw))
    multipliers = (1, 2, 2.5, 5, 10) if magnitude >= 10 else (1, 2, 5, 10)  # integer ticks only
    step = next(m * magnitude for m in multipliers if m * magnitude >= raw)
    return float(step * steps)


def svg_line_chart(title: str, x_labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]],
                   width: int = 760, height: int = 300) -> str:
    """Lines over a shared x axis (e.g. days); the first series is drawn thicker (the total)."""
    left, right, top, bottom = 70, 200, 30, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(x_labels), 1)
    vmax = nice_ceiling(max([float(v or 0) for _, values, _ in series for v in values] + [0.0]))

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - v / vmax)

    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'class="chart" font-family="sans-serif" font-size="12">',
             f"<title>{html.escape(title)}</title>",
             f'<text x="0" y="16" font-weight="bold">{html.escape(title)}</text>']
    for k in range(5):
        v = vmax * k / 4
        parts.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}" '
                     'stroke="#e0e0e0"/>')
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{fmt(round(v))}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
                 'stroke="#333"/>')
    step = max(1, n // 6)
    for i in range(0, len(x_labels), step):
        parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                     f"{html.escape(x_labels[i])}</text>")
    for j, (name, values, colour) in enumerate(series):
        stroke = 3 if j == 0 else 1.5
        points = " ".join(f"{x(i):.1f},{y(float(v or 0)):.1f}" for i, v in enumerate(values))
        if len(values) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{stroke}" points="{points}">'
                         f"<title>{html.escape(name)}</title></polyline>")
        else:
            parts += [f'<circle cx="{x(i):.1f}" cy="{y(float(v or 0)):.1f}" r="4" fill="{colour}"/>'
                      for i, v in enumerate(values)]
        ly = top + 8 + 18 * j
        parts.append(f'<line x1="{width - right + 12}" y1="{ly}" x2="{width - right + 32}" y2="{ly}" '
                     f'stroke="{colour}" stroke-width="{stroke}"/>')
        parts.append(f'<text x="{width - right + 38}" y="{ly + 4}">{_label(name, 24)}'
                     f"<title>{html.escape(name)}</title></text>")
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------------------ burn-down
def burn_down(backlog: np.ndarray, days_to_clear: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Remaining backlog per day for each unit: ``(days, remaining[day, unit])``.

    The warehouse keeps each unit's forecast clearance day, not its daily path, so the path is
    approximated as an even rate from today's backlog to zero on that day. A unit the forecast could
    not clear within its horizon (``days_to_clear`` NaN) stays flat, which is what "not within N
    days" means for a reader. Days are sampled to at most ``MAX_CHART_DAYS`` points.
    """
    days = np.unique(np.linspace(0, max(horizon, 1), num=min(max(horizon, 1) + 1, MAX_CHART_DAYS)).round())
    d = days[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        share_left = np.where(np.isnan(days_to_clear), 1.0,
                              np.clip(1.0 - d / np.where(days_to_clear > 0, days_to_clear, np.nan), 0.0, 1.0))
    share_left = np.where(np.isnan(share_left), 0.0, share_left)  # days_to_clear == 0: already clear
    return days.astype(int), share_left * backlog[None, :]


def _burn_down_chart(db: _Warehouse, province: str, fallback_start: date) -> str:
    rows = db.rows("""
        SELECT unit_key, coalesce(backlog, 0), clearance_day, days_to_clear FROM forecast
        WHERE province = ? ORDER BY backlog DESC NULLS LAST, unit_key""", [province])
    if not rows:
        waiting = db.rows("SELECT coalesce(sum(waiting + in_flight), 0) FROM verification_backlog "
                          "WHERE province = ?", [province])[0][0] if db.has("verification_backlog") else None
        if waiting == 0:
            return '<p class="empty">Không còn tồn đọng <small>No verification backlog left</small></p>'
        return '<p class="empty">Chưa có dự báo <small>No forecast yet</small></p>'
    backlog = np.array([float(r[1]) for r in rows])
    to_clear = np.array([np.nan if r[3] is None else float(r[3]) for r in rows])
    starts = [r[2] - timedelta(days=int(r[3])) for r in rows if r[2] is not None and r[3] is not None]
    start = min(starts) if starts else fallback_start
    horizon = int(np.nanmax(to_clear)) if np.isfinite(to_clear).any() else 30
    if backlog.sum() == 0:
        return '<p class="empty">Không còn tồn đọng <small>No verification backlog left</small></p>'
    days, remaining = burn_down(backlog, to_clear, horizon)
    labels = [(start + timedelta(days=int(d))).isoformat() for d in days]
    series = [("Toàn tỉnh / province", remaining.sum(axis=1).round().tolist(), PALETTE[0])]
    for j in range(min(BURN_DOWN_UNITS, len(rows))):
        unit = str(rows[j][0]).split("/", 1)[-1]
        series.append((unit, remaining[:, j].round().tolist(), PALETTE[1 + j % (len(PALETTE) - 1)]))
    note = ('<p class="note">Đường giảm tuyến tính từ hôm nay đến ngày dự báo hết tồn đọng của từng '
            "đơn vị; đơn vị không hết trong thời hạn dự báo giữ nguyên. <small>Each unit is drawn at an even "
            "rate from today to its forecast clearance day; units not cleared within the horizon stay flat."
            "</small></p>")
    return svg_line_chart("Dự báo tồn đọng xác thực / Verification backlog burn-down", labels, series) + note


# ------------------------------------------------------------------------------------------- sections
def _national_section(db: _Warehouse) -> str:
    """The national quota per day: answered, allocated but not answered (with why), and quota not needed.

    ``unused`` in the warehouse is the part of the day's allocation that got no answer (outage, rate
    limit), so the three segments add up to the quota.
    """
    out = [heading(2, "Hạn mức xác thực quốc gia", "National verification quota", "national")]
    if not db.has("quota_usage"):
        return "".join(out)
    elsewhere = "coalesce(allocated_elsewhere, 0)" if db.has_column("quota_usage", "allocated_elsewhere") else "0"
    rows = db.rows(f"""
        SELECT day, quota, allocated, coalesce(unused, 0), coalesce(stop_cause, ''),
               greatest(coalesce(allocated, 0) - coalesce(unused, 0), 0) AS answered,
               greatest(coalesce(quota, 0) - coalesce(allocated, 0) - {elsewhere}, 0) AS headroom,
               {elsewhere} AS elsewhere
        FROM quota_usage ORDER BY day""")
    if rows:
        recent = rows[-30:]
        out.append(svg_bar_chart(
            "Sử dụng hạn mức theo ngày / Quota use per day", [str(r[0]) for r in recent],
            [("đã gửi và trả lời / answered", [r[5] for r in recent], PALETTE[0]),
             ("phân bổ, chưa trả lời / allocated, no answer", [r[3] for r in recent],
              STATUS_COLOURS["rejected"]),
             ("tỉnh khác / other provinces", [r[7] for r in recent], "#90a4ae"),
             ("không cần dùng / not needed", [r[6] for r in recent], "#cfd8dc")]))
    out.append(table([("Ngày", "Day"), ("Hạn mức", "Quota"), ("Đã phân bổ", "Allocated"),
                      ("Phân bổ chưa trả lời", "Allocated, no answer"), ("Lý do", "Stop cause"),
                      ("Tỷ lệ dùng", "Share of quota")],
                     [(*r[:5], pct(r[2], r[1])) for r in reversed(rows)]))
    return "".join(out)


def _uploads(db: _Warehouse, p: str) -> str:
    out = [heading(3, "Tệp tải lên", "Uploads")]
    totals = db.rows("""
        SELECT sector, count(*), sum(rows_read), sum(accepted), sum(rejected),
               count(*) FILTER (WHERE status = 'failed')
        FROM uploads WHERE province = ? AND status <> 'superseded' GROUP BY sector ORDER BY sector""", [p])
    if totals:
        out.append(svg_bar_chart(
            "Dòng được nhận và bị từ chối / Rows accepted and rejected", [str(r[0]) for r in totals],
            [("nhận / accepted", [r[3] or 0 for r in totals], STATUS_COLOURS["matched"]),
             ("từ chối / rejected", [r[4] or 0 for r in totals], STATUS_COLOURS["rejected"])]))
    out.append(table([("Lĩnh vực", "Sector"), ("Số tệp", "Files"), ("Dòng đọc", "Rows read"),
                      ("Được nhận", "Accepted"), ("Bị từ chối", "Rejected"), ("Tệp lỗi", "Failed files")],
                     totals))
    if db.has_column("uploads", "file_label"):
        files = db.rows("""
            SELECT sector, unit, file_label || ' (' || coalesce(file_id, '-') || ')', status, rows_read, accepted,
                   rejected, coalesce(error_code, '')
            FROM uploads WHERE province = ? ORDER BY sector, unit, file_label, file_id""", [p])
    else:  # a file built before names were masked: mask them here (rules.ingest.inbox owns the rule)
        from rules.ingest.inbox import public_label

        files = [(r[0], r[1], public_label(r[2] or ""), *r[3:]) for r in db.rows("""
            SELECT sector, unit, file_name, status, rows_read, accepted, rejected, coalesce(error_code, '')
            FROM uploads WHERE province = ? ORDER BY sector, unit, file_name""", [p])]
    out.append("<details><summary>Từng tệp <small>Per file</small></summary>")
    out.append(table([("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Tệp", "File"), ("Trạng thái", "Status"),
                      ("Dòng đọc", "Rows read"), ("Được nhận", "Accepted"), ("Bị từ chối", "Rejected"),
                      ("Mã lỗi", "Error code")], files, numeric_from=4))
    out.append("</details>")
    return "".join(out)


def _rejections(db: _Warehouse, p: str) -> str:
    """Rows rejected per reason code, with that code's own message.

    A row rejected for several reasons carries joined messages ("… ; …") and the warehouse splits only
    the codes, so the text comes from ``rules/reasons.yaml`` (the validator's source); for a code not in
    it, the warehouse message is shown only when it is not a joined one.
    """
    from rules.validate import reasons

    known = reasons("students")  # messages are shared by all sectors; overrides change only `reject`
    found = db.rows("""
        SELECT reason_code, any_value(message_vi), any_value(message_en), sum(rows) AS n, count(DISTINCT unit)
        FROM rejections WHERE province = ? GROUP BY reason_code ORDER BY n DESC, reason_code""", [p])
    rows = [(code, known[code].vi, known[code].en, n, units) if code in known
            else (code, _single(vi), _single(en), n, units) for code, vi, en, n, units in found]
    body = table([("Mã lý do", "Reason code"), ("Thông báo", "Message (Vietnamese)"),
                  ("Message", "English"), ("Số dòng", "Rows"), ("Số đơn vị", "Units")], rows, numeric_from=3)
    return heading(3, "Lý do từ chối", "Rejections by reason") + body


def _single(message: str | None) -> str:
    return "" if message is None or " ; " in message else message


def _data_quality(db: _Warehouse, p: str) -> str:
    rows = db.rows("""
        SELECT sector, unit, accepted_rows, missing_id, old_cmnd_only, id_leading_zero_restored,
               id_structure_warnings, dob_not_full, dob_flagged, names_repaired
        FROM data_quality WHERE province = ? ORDER BY sector, unit""", [p])
    return heading(3, "Chất lượng dữ liệu theo đơn vị", "Data quality per unit") + table(
        [("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Dòng nhận", "Accepted rows"),
         ("Thiếu số định danh", "Missing ID"),
         ("Chỉ có CMND", "Old CMND only"), ("Khôi phục số 0 đầu", "Leading zero restored"),
         ("Cảnh báo cấu trúc số", "ID structure warnings"), ("Ngày sinh không đủ", "Birth date not full"),
         ("Ngày sinh bất thường", "Date problems"), ("Tên được sửa", "Names repaired")], rows, numeric_from=2)


def _matching(db: _Warehouse, p: str) -> str:
    out = [heading(3, "Kết quả đối chiếu theo lĩnh vực", "Match outcomes per sector")]
    cols = ", ".join(f"coalesce(sum(rows) FILTER (WHERE status = '{s}'), 0)" for s in MATCH_STATUSES)
    rows = db.rows(f"SELECT sector, {cols}, sum(rows) FROM match_outcomes WHERE province = ? "
                   "GROUP BY sector ORDER BY sector", [p])
    if rows:
        out.append(svg_bar_chart("Kết quả đối chiếu / Match outcomes", [str(r[0]) for r in rows],
                                 [(s, [r[1 + k] for r in rows], STATUS_COLOURS[s])
                                  for k, s in enumerate(MATCH_STATUSES)]))
    out.append(table([("Lĩnh vực", "Sector"), ("Khớp", "Matched"), ("Chưa rõ", "Ambiguous"),
                      ("Không khớp", "Unmatched"), ("Bị từ chối", "Rejected"), ("Tổng", "Total")],
                     rows))
    if db.has("match_flags"):
        flags = db.rows("SELECT sector, flag, sum(rows) AS n FROM match_flags WHERE province = ? "
                        "GROUP BY ALL ORDER BY sector, n DESC, flag", [p])
        out.append(heading(4, "Cờ đối chiếu", "Match flags (e.g. id_corrected)"))
        out.append(table([("Lĩnh vực", "Sector"), ("Cờ", "Flag"), ("Số dòng", "Rows")], flags,
                         numeric_from=2))
    return "".join(out)


def _review(db: _Warehouse, p: str) -> str:
    rows = db.rows("""
        SELECT sector, unit, rows_to_review, candidates FROM review_queue_size WHERE province = ?
        ORDER BY rows_to_review DESC, sector, unit""", [p])
    total = sum(int(r[2] or 0) for r in rows)
    lead = (f'<p class="kpi">{fmt(total)} dòng chờ rà soát thủ công '
            f"<small>rows waiting for clerical review</small></p>")
    return heading(3, "Hàng chờ rà soát", "Review queue") + lead + table(
        [("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Dòng cần rà soát", "Rows to review"),
         ("Ứng viên", "Candidates")], rows, numeric_from=2)


def _review_backlog(db: _Warehouse, p: str) -> str:
    """Clerical review per unit: waiting, decided, throughput (aggregates from ``review_backlog``)."""
    rows = db.rows("""
        SELECT sector, unit, waiting, matched_by_review, rejected_by_review, not_sure, decisions,
               decisions_per_review_day FROM review_backlog WHERE province = ? ORDER BY waiting DESC, sector, unit""",
                   [p])
    return heading(4, "Rà soát thủ công: tồn và tiến độ", "Clerical review: backlog and throughput") + table(
        [("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Chờ rà soát", "Waiting"), ("Khớp sau rà soát", "Matched"),
         ("Không ai đúng", "Rejected"), ("Chưa chắc", "Not sure"), ("Quyết định", "Decisions"),
         ("Quyết định/ngày", "Per review day")], rows, numeric_from=2)


def _review_learning(db: _Warehouse) -> str:
    """What reviewed pairs say about the matcher (national aggregates; rules.review.labels)."""
    if not db.has("review_label_levels", "review_precision", "review_threshold_whatif"):
        return ""
    out = [heading(2, "Rà soát dạy bộ đối chiếu", "What clerical review teaches the matcher", "review")]
    prec = db.rows("SELECT band_low, band_high, reviewed, best_confirmed, precision, ci_low, ci_high, "
                   "model_expected FROM review_precision")
    out.append(heading(3, "Độ chính xác gần ngưỡng", "Measured precision near the threshold"))
    out.append(table([("Từ điểm", "Band from"), ("Đến", "to"), ("Đã rà soát", "Reviewed"),
                      ("Ứng viên đầu đúng", "Best confirmed"), ("Độ chính xác", "Precision"),
                      ("KTC 95% thấp", "CI low"),
                      ("KTC 95% cao", "CI high"), ("Mô hình dự kiến", "Model expected")],
                     [r for r in prec if r[2]], numeric_from=0))
    out.append(heading(3, "Nếu hạ ngưỡng", "What-if: a lower match threshold"))
    out.append(table([("Ngưỡng", "Threshold"), ("Khớp thêm", "Extra matches"), ("Dự kiến sai", "Expected wrong"),
                      ("Tỷ lệ sai", "Error rate"), ("Phần đo được", "Measured share")],
                     db.rows("SELECT * FROM review_threshold_whatif ORDER BY threshold DESC"), numeric_from=0))
    out.append(heading(3, "Xác suất m theo mức (đã gán nhãn)", "m per comparison level, blended with labels"))
    out.append(table([("So sánh", "Comparison"), ("Mức", "Level"), ("m ước lượng", "m (unsupervised)"),
                      ("Nhãn", "Labelled"), ("Ở mức này", "At level"), ("m nhãn", "m (labels)"),
                      ("m kết hợp", "m (blended)")],
                     db.rows("SELECT comparison, level, m_em, n_lab, n_level, m_lab, m_blended FROM "
                             "review_label_levels WHERE n_lab > 0 ORDER BY comparison, level"), numeric_from=2))
    return "".join(out)


def _backlog(db: _Warehouse, p: str) -> str:
    rows = db.rows("""
        SELECT sector, unit, waiting, in_flight, verified, mismatch, not_found, requests
        FROM verification_backlog WHERE province = ? ORDER BY waiting DESC, sector, unit""", [p])
    return heading(3, "Tồn đọng xác thực theo đơn vị", "Verification backlog per unit") + table(
        [("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Đang chờ", "Waiting"), ("Đang gửi", "In flight"),
         ("Đã xác thực", "Verified"), ("Sai lệch", "Mismatch"), ("Không tìm thấy", "Not found"),
         ("Tổng yêu cầu", "Requests")], rows, numeric_from=2)


def _allocation(db: _Warehouse, p: str) -> str:
    out = [heading(3, "Phân bổ hằng ngày và sử dụng hạn mức", "Daily allocation and quota usage")]
    quota_join = ("LEFT JOIN quota_usage q USING (day)" if db.has("quota_usage") else
                  "LEFT JOIN (SELECT NULL::VARCHAR AS day, NULL::BIGINT AS quota) q USING (day)")
    days = db.rows(f"""
        SELECT day, count(*), sum(a.backlog), sum(a.floor), sum(a.allocated), any_value(q.quota)
        FROM daily_allocation a {quota_join}
        WHERE split_part(unit_key, '/', 1) = ? GROUP BY day ORDER BY day""", [p])
    out.append(table([("Ngày", "Day"), ("Số đơn vị", "Units"), ("Tồn đọng", "Backlog"), ("Phần sàn", "Floor"),
                      ("Được phân bổ", "Allocated"), ("Hạn mức quốc gia", "National quota"),
                      ("Tỷ lệ hạn mức", "Share of quota")],
                     [(*r, pct(r[4], r[5])) for r in reversed(days)]))
    if days:
        last = days[-1][0]
        units = db.rows("""
            SELECT split_part(unit_key, '/', 2) AS sector, split_part(unit_key, '/', 3) AS unit,
                   backlog, floor, allocated FROM daily_allocation
            WHERE split_part(unit_key, '/', 1) = ? AND day = ?
            ORDER BY allocated DESC, unit_key""", [p, last])
        out.append(heading(4, f"Phân bổ theo đơn vị ngày {last}", f"Allocation per unit on {last}"))
        out.append(table([("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Tồn đọng", "Backlog"),
                          ("Phần sàn", "Floor"), ("Được phân bổ", "Allocated")], units, numeric_from=2))
    return "".join(out)


def _forecast(db: _Warehouse, p: str, fallback_start: date) -> str:
    rows = db.rows("""
        SELECT sector, unit, backlog, clearance_day, days_to_clear FROM forecast WHERE province = ?
        ORDER BY days_to_clear DESC NULLS FIRST, backlog DESC, unit_key""", [p])
    listed = [(s, u, b, c if c is not None else "không trong thời hạn / not within horizon", d)
              for s, u, b, c, d in rows]
    return (heading(3, "Dự báo hết tồn đọng", "Backlog forecast") + _burn_down_chart(db, p, fallback_start)
            + table([("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Tồn đọng", "Backlog"),
                     ("Ngày hết tồn đọng", "Clearance day"), ("Số ngày", "Days to clear")], listed,
                    numeric_from=2))


SECTIONS = (
    ("uploads", _uploads), ("rejections", _rejections), ("data_quality", _data_quality),
    ("match_outcomes", _matching), ("review_queue_size", _review), ("review_backlog", _review_backlog),
    ("verification_backlog", _backlog),
    ("daily_allocation", _allocation),
)


def _province_section(db: _Warehouse, p: str, fallback_start: date) -> str:
    out = [f'<section class="province">{heading(2, _province_name(p), p, f"p-{p}")}']
    for needs, render in SECTIONS:
        if db.has(needs):
            out.append(render(db, p))
    if db.has("forecast"):
        out.append(_forecast(db, p, fallback_start))
    out.append("</section>")
    return "".join(out)


def _province_name(slug: str) -> str:
    from rules.provinces import by_slug

    try:
        return by_slug(slug).name
    except ValueError:
        return slug


def _fallback_start(db: _Warehouse) -> date:
    """Start of the burn-down when no unit has a clearance day: the last dispatch day, else today."""
    if db.has("quota_usage"):
        last = db.rows("SELECT max(day) FROM quota_usage")[0][0]
        if last:
            try:
                return date.fromisoformat(str(last)[:10])
            except ValueError:
                pass
    return datetime.now(UTC).date()


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem}
h1{color:#1f3b73}h2{border-bottom:2px solid #1f3b73;padding-bottom:.2rem;margin-top:2.5rem}
h3{margin-top:1.6rem}small{color:#666;font-weight:normal;font-size:.78em}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #ddd;padding:.25rem .5rem;vertical-align:top}th{background:#f3f5f9;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}tbody tr:nth-child(even){background:#fafafa}
.empty,.note{color:#666;font-style:italic}.kpi{font-size:1.2rem;font-weight:bold}
nav a{margin-right:.8rem}svg.chart{display:block;margin:.5rem 0;max-width:100%;height:auto}
details{margin:.5rem 0}@media print{details{display:block}nav{display:none}}
"""


def render_report(con: duckdb.DuckDBPyConnection, source_name: str = "doisoat.duckdb",
                  only: Sequence[str] | None = None) -> str:
    """The whole HTML document as a string (all provinces, or those in ``only``) from an open warehouse."""
    db = _Warehouse(con)
    provinces = db.provinces()
    if only is not None:
        absent = sorted(set(only) - set(provinces))
        if absent:
            raise ValueError(f"no data for province(s) {', '.join(absent)} in the warehouse; "
                             f"present: {', '.join(provinces) or 'none'}")
        provinces = [p for p in provinces if p in set(only)]
    fallback = _fallback_start(db)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = " ".join(f'<a href="#p-{html.escape(p, quote=True)}">{html.escape(_province_name(p))}</a>'
                   for p in provinces)
    body = [
        heading(1, "Báo cáo đối soát dữ liệu chuyên ngành", "Sector data reconciliation report"),
        f'<p class="note">Tạo lúc {html.escape(generated)} từ {html.escape(source_name)}. Chỉ số liệu tổng '
        "hợp, không có họ tên, số định danh hay ngày sinh. <small>Generated from the analyst warehouse: "
        "aggregates only, no names, ID numbers or birth dates.</small></p>",
        f"<nav>{nav}</nav>" if nav else "",
        _national_section(db),
        _review_learning(db),
        *(_province_section(db, p, fallback) for p in provinces),
    ]
    if not provinces:
        body.append('<p class="empty">Kho dữ liệu chưa có tỉnh nào <small>No province in the warehouse yet'
                    "</small></p>")
    return ('<!DOCTYPE html>\n<html lang="vi"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>doisoat — báo cáo / report</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
