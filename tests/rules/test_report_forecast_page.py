"""``forecast --html`` page (rules.report.forecast_page): bilingual, self-contained, honest about its axis."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from rules.quota import QuotaPolicy, demo_backlogs, forecast
from rules.report import forecast_page, write_forecast_page

START = dt.date(2026, 11, 24)


def test_page_is_self_contained_bilingual_and_names_the_days(tmp_path) -> None:
    fc = forecast(demo_backlogs(3), QuotaPolicy(), START, quota=50_000)
    path = write_forecast_page(fc, tmp_path / "out" / "burn.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3 and "<polyline" in page
    assert "<script" not in page and "http" not in page
    assert "Cả nước / whole country" in page and "Hồ Chí Minh" in page  # legend: country, provinces by name
    assert "Tồn đọng cuối ngày 2026-11-23" in page and "Backlog at the end of 2026-11-23" in page
    assert "(1 days)" not in page and " ngày / " in page
    assert "so_gddt_tp_hcm" in page and page.count("<tr><td>") == fc.units.height + 34  # units + provinces
    days = fc.national_days
    assert f"{fc.national_date.isoformat()} ({days} days)" in page and f"({days} ngày)" in page


def test_first_point_is_the_day_before_the_forecast_starts() -> None:
    fc = forecast(pl.DataFrame({"unit": ["hn/students/a"], "backlog": [5]}), QuotaPolicy(quota=1_000), START)
    page = forecast_page(fc)
    assert re.search(r"\(1 ngày\)", page) and "(1 day)" in page  # one day, in both languages
    labels = re.findall(r'text-anchor="middle">(\d{4}-\d\d-\d\d)<', page)
    assert labels[:2] == ["2026-11-23", "2026-11-24"]  # the backlog now (end of the 23rd), then day one
    assert "not within" not in page.split("<table>")[0]


def test_not_within_the_horizon_is_said_not_made_up() -> None:
    inflow = pl.DataFrame({"unit": ["hn/students/a"], "daily_inflow": [50]})
    fc = forecast(pl.DataFrame({"unit": ["hn/students/a"], "backlog": [500]}), QuotaPolicy(quota=40), START,
                  daily_inflow=inflow, horizon_days=20)
    page = forecast_page(fc)
    assert "không trong thời hạn 20 ngày" in page and "not within 20 days" in page
