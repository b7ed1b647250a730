"""A province's verification backlog forecast: the burn-down the forecast simulated, and each unit's day.

The lines are the forecast's own series (``forecast_daily``: the province total and its largest units,
requests still waiting at the end of each day as :func:`rules.quota.forecast.forecast` replays the
national allocation), never an interpolation. The first point is the backlog the forecast starts from
(the end of the last dispatch day).
"""

from __future__ import annotations

from rules.report.chart import PALETTE, Series, line_chart
from rules.report.markup import details, empty, heading, note, table
from rules.report.names import unit_label
from rules.report.warehouse import BurnDown, Warehouse

UNITS_DRAWN = 5  # units drawn beside the province total (largest starting backlog)
X_TITLE = "Cuối ngày (sau lượt gửi trong ngày) / End of day (after that day's dispatch)"
Y_TITLE = "Yêu cầu còn chờ / Requests waiting"


def burn_down_charts(chart_id: str, series: BurnDown, total_name: str, province: str | None) -> str:
    """Two charts over the forecast's dates: the total alone, then the largest units on their OWN axis
    (beside a province total of 37,000 a unit of 1,200 would be a flat line on the floor)."""
    days = [d.isoformat() for d in series.dates]
    vi, _, en = total_name.partition(" / ")
    out = line_chart(chart_id, f"Dự báo tồn đọng xác thực, {vi} / Verification backlog burn-down, {en}", days,
                     [Series(total_name, series.total, PALETTE[0], bold=True)], height=260,
                     x_title=X_TITLE, y_title=Y_TITLE)
    if series.units:
        units = [Series(unit_label(key, province), values, PALETTE[1 + j % (len(PALETTE) - 1)])
                 for j, (key, values) in enumerate(series.units.items())]
        out += line_chart(f"{chart_id}-units", f"{len(units)} đơn vị tồn đọng lớn nhất / The {len(units)} units "
                          "with the largest backlogs", days, units, x_title=X_TITLE, y_title=Y_TITLE)
    return out


def forecast_section(db: Warehouse, p: str) -> str:
    """Heading, the province's burn-down (when the file has the series) and the per-unit clearance table."""
    rows = db.rows("""
        SELECT sector, unit, backlog, clearance_day, days_to_clear FROM forecast WHERE province = ?
        ORDER BY days_to_clear DESC NULLS FIRST, backlog DESC, unit_key""", [p])
    out = [heading(3, "Dự báo hết tồn đọng", "Backlog forecast")]
    series = db.forecast_series(p, UNITS_DRAWN)
    if series is not None and max(series.total, default=0) > 0:
        out.append(burn_down_charts(f"burn-down-{p}", series, "toàn tỉnh / whole province", p))
        out.append(note("Số yêu cầu còn chờ vào cuối mỗi ngày theo mô phỏng phân bổ hạn mức quốc gia; điểm đầu "
                        f"là tồn đọng hiện tại; {len(series.units)} đơn vị có tồn đọng lớn nhất được vẽ riêng.",
                        "Requests still waiting at the end of each day as the forecast replays the national "
                        "allocation; the first point is today's backlog; the units with the largest backlogs "
                        "are drawn on their own, on their own scale."))
    elif not rows or all(not r[2] for r in rows):
        waiting = (db.rows("SELECT coalesce(sum(waiting + in_flight), 0) FROM verification_backlog "
                           "WHERE province = ?", [p])[0][0] if db.has("verification_backlog") else None)
        out.append(empty("Không còn tồn đọng", "No verification backlog left") if waiting == 0 or rows
                   else empty("Chưa có dự báo", "No forecast yet"))
    else:
        out.append(empty("Tệp này chưa có chuỗi dự báo theo ngày; chạy lại doisoat publish",
                         "This file has no daily forecast series; run doisoat publish again"))
    listed = [(s, u, b, c if c is not None else "không trong thời hạn / not within horizon", d)
              for s, u, b, c, d in rows]
    out.append(details("Từng đơn vị", "Per unit", len(listed), table(
        [("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Tồn đọng", "Backlog"),
         ("Ngày hết tồn đọng", "Clearance day"), ("Số ngày", "Days to clear")], listed, numeric_from=2)))
    return "".join(out)
