"""``doisoat forecast --html`` and the national forecast asset: one bilingual page of a :class:`Forecast`.

The page says what the chart's axis shows: the first point is the backlog at the END of the day before
``start_day`` (the last dispatch day: the backlog the forecast starts from), each further point the
requests still waiting at the end of that day. Three charts, each on its own axis: the country, its
largest provinces and its largest units; then a table per province and per unit. Counts only, no
personal data; every name is HTML-escaped.

    fc = forecast(backlogs, QuotaPolicy.from_yaml(), date(2026, 11, 24))
    write_forecast_page(fc, Path("data/national/forecast.html"))
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from rules.quota.forecast import TOP_SERIES, Forecast
from rules.report.burn_down import X_TITLE, Y_TITLE
from rules.report.chart import PALETTE, Series, fmt_number, line_chart
from rules.report.markup import bilingual, days_text, document, heading, note, table
from rules.report.names import province_name

PROVINCES_DRAWN = 6  # largest provinces drawn beside the country
NOT_WITHIN = "không trong thời hạn {n} ngày / not within {n} days"


def _series(fc: Forecast, level: str) -> dict[str, list[int]]:
    """Series of ``level``, largest starting backlog first: name -> remaining per date."""
    rows = fc.daily.filter(pl.col("level") == level).sort("date")
    grouped = rows.group_by("series", maintain_order=True).agg(pl.col("remaining"))
    grouped = grouped.with_columns(pl.col("remaining").list.first().alias("first")).sort(
        ["first", "series"], descending=[True, False])
    return dict(zip(grouped["series"].to_list(), grouped["remaining"].to_list(), strict=True))


def _dates(fc: Forecast) -> list[str]:
    return [d.isoformat() for d in fc.daily.filter(pl.col("level") == "national").sort("date")["date"]]


def country_charts(fc: Forecast) -> str:
    """The country alone, then its largest provinces on their own axis (so that they do not lie flat)."""
    national = _series(fc, "national").get("national", [])
    out = line_chart("forecast-country", "Tồn đọng xác thực: cả nước / Verification backlog: whole country",
                     _dates(fc), [Series("Cả nước / whole country", national, PALETTE[0], bold=True)], height=260,
                     x_title=X_TITLE, y_title=Y_TITLE)
    provinces = list(_series(fc, "province").items())[:PROVINCES_DRAWN]
    if provinces:
        lines = [Series(province_name(p), v, PALETTE[1 + j % (len(PALETTE) - 1)])
                 for j, (p, v) in enumerate(provinces)]
        out += line_chart("forecast-provinces", f"{len(provinces)} tỉnh tồn đọng lớn nhất / The {len(provinces)} "
                          "provinces with the largest backlogs", _dates(fc), lines, x_title=X_TITLE, y_title=Y_TITLE)
    return out


def units_chart(fc: Forecast) -> str:
    units = list(_series(fc, "unit").items())[:TOP_SERIES]
    lines = [Series(u, v, PALETTE[1 + j % (len(PALETTE) - 1)]) for j, (u, v) in enumerate(units)]
    title = f"{len(units)} đơn vị tồn đọng lớn nhất / The {len(units)} units with the largest backlogs"
    return line_chart("forecast-units", title, _dates(fc), lines, x_title=X_TITLE, y_title=Y_TITLE)


def _when(fc: Forecast, days: int | None, day: date | None, lang: str | None = None) -> str:
    """``2026-11-25 (2 ngày / 2 days)``; ``lang`` "vi" or "en" for one language only."""
    vi, en = NOT_WITHIN.format(n=fc.horizon_days).split(" / ")
    if days is not None and day is not None:
        vi, en = days_text(days).split(" / ")
        vi, en = f"{day.isoformat()} ({vi})", f"{day.isoformat()} ({en})"
    return vi if lang == "vi" else en if lang == "en" else f"{vi} / {en}" if days is None else \
        f"{day.isoformat()} ({days_text(days)})"


def province_rows(fc: Forecast) -> list[tuple[object, ...]]:
    """Per province: units, backlog, the day its last unit clears (none if one does not within the horizon)."""
    units = fc.units.with_columns(pl.col(fc.key).str.split("/").list.first().alias("province"))
    per = (units.group_by("province")
           .agg(pl.len().alias("units"), pl.col("backlog").sum(),
                (pl.col("days_to_clear").is_null() & (pl.col("backlog") > 0)).any().alias("open"),
                pl.col("days_to_clear").max(), pl.col("clearance_day").max())
           .sort(["open", "days_to_clear", "backlog"], descending=True, nulls_last=True))
    return [(province_name(r["province"]), r["units"], r["backlog"],
             NOT_WITHIN.format(n=fc.horizon_days) if r["open"] else
             _when(fc, r["days_to_clear"], r["clearance_day"]) if r["backlog"] else "–")
            for r in per.iter_rows(named=True)]


def forecast_page(fc: Forecast, title: tuple[str, str] = ("Dự báo hết tồn đọng xác thực",
                                                           "Verification backlog forecast")) -> str:
    """The page as a string (see the module docstring)."""
    before = fc.start_day - timedelta(days=1)
    lead = bilingual(
        f"Tồn đọng cuối ngày {before.isoformat()}: {fmt_number(fc.total_backlog)} yêu cầu ở "
        f"{fmt_number(fc.units.height)} đơn vị. Hạn mức quốc gia {fmt_number(fc.quota)}/ngày, dự báo từ ngày "
        f"{fc.start_day.isoformat()}. Cả nước hết tồn đọng: {_when(fc, fc.national_days, fc.national_date, 'vi')}.",
        f"Backlog at the end of {before.isoformat()}: {fmt_number(fc.total_backlog)} requests over "
        f"{fmt_number(fc.units.height)} units. National quota {fmt_number(fc.quota)}/day, forecast from "
        f"{fc.start_day.isoformat()}. The country is clear by: {_when(fc, fc.national_days, fc.national_date, 'en')}.")
    units = fc.units.sort(["days_to_clear", "backlog", fc.key], descending=[True, True, False], nulls_last=False)
    unit_rows = [(r[fc.key], r["backlog"], _when(fc, r["days_to_clear"], r["clearance_day"]))
                 for r in units.iter_rows(named=True)]
    body = [heading(1, *title), f"<p>{lead}</p>", country_charts(fc)]
    if not fc.daily.filter(pl.col("level") == "unit").is_empty():
        body.append(units_chart(fc))
    body += [
        note("Mỗi điểm là số yêu cầu còn chờ vào cuối ngày đó, nếu mọi yêu cầu được phân bổ đều được trả lời "
             "trong ngày; điểm đầu là tồn đọng hiện tại.",
             "Each point is the requests still waiting at the end of that day, if every allocated request is "
             "answered the same day; the first point is the backlog now."),
        heading(2, "Theo tỉnh", "Per province"),
        table([("Tỉnh", "Province"), ("Số đơn vị", "Units"), ("Tồn đọng", "Backlog"),
               ("Hết tồn đọng", "Clear by")], province_rows(fc)),
        heading(2, "Theo đơn vị", "Per unit"),
        table([("Đơn vị", "Unit"), ("Tồn đọng", "Backlog"), ("Hết tồn đọng", "Clear by")], unit_rows,
              max_rows=len(unit_rows)),  # every unit: this page is the forecast's only per-unit listing
    ]
    return document(f"{title[0]} / {title[1]}", body)


def write_forecast_page(fc: Forecast, path: str | Path) -> Path:
    """Write :func:`forecast_page` to ``path`` (atomically, owner-only: per-unit backlogs); return it."""
    from rules.private import write_private_bytes

    return write_private_bytes(Path(path), forecast_page(fc).encode("utf-8"))
