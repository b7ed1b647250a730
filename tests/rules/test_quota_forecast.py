"""Forecast (day-by-day replay of the allocation), its daily series, its text table and demo data."""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.quota import (
    HCMC_STUDENT_BACKLOG,
    PolicyError,
    QuotaPolicy,
    allocate,
    demo_backlogs,
    forecast,
    render_table,
)

START = dt.date(2026, 11, 24)


def small() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "unit": ["hcm/students/big", "hn/students/mid", "hue/insurance/tiny"],
            "backlog": [1_000, 300, 5],
            "oldest_wait_days": [0, 0, 0],
        }
    )


def test_clearance_days_match_a_manual_replay_of_the_allocation():
    policy = QuotaPolicy(quota=200, floor_per_unit=10)
    fc = forecast(small(), policy, START)
    backlog = small()
    day, cleared = 0, {}
    while backlog["backlog"].sum() > 0:
        day += 1
        alloc = allocate(backlog, policy)
        backlog = alloc.select(
            "unit",
            (pl.col("backlog") - pl.col("allocated")).alias("backlog"),
            (pl.col("oldest_wait_days") + 1).alias("oldest_wait_days"),
        )
        for unit, left in backlog.select("unit", "backlog").iter_rows():
            if left == 0:
                cleared.setdefault(unit, day)
        backlog = backlog.with_columns(
            pl.when(pl.col("backlog") == 0).then(0.0).otherwise(pl.col("oldest_wait_days")).alias("oldest_wait_days")
        )
    assert dict(fc.units.select("unit", "days_to_clear").iter_rows()) == cleared
    assert fc.national_days == day == 7  # 1,305 at 200/day
    assert fc.national_date == START + dt.timedelta(days=6)
    tiny = fc.units.filter(pl.col("unit") == "hue/insurance/tiny")
    assert tiny["days_to_clear"].item() == 1 and tiny["clearance_day"].item() == START


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 3_000), min_size=1, max_size=30), st.integers(20, 2_000), st.integers(20, 2_000))
def test_a_larger_quota_never_clears_later(sizes, q1, q2):
    df = pl.DataFrame({"unit": [f"u{i:02d}" for i in range(len(sizes))], "backlog": sizes})
    policy = QuotaPolicy(quota=1, floor_per_unit=5)
    lo, hi = sorted((q1, q2))
    a = forecast(df, policy, START, quota=lo, horizon_days=5_000)
    b = forecast(df, policy, START, quota=hi, horizon_days=5_000)
    assert b.national_days <= a.national_days
    assert a.national_days == -(-sum(sizes) // lo)  # the whole quota is spent every day


def test_horizon_and_inflow_give_not_within_n_days():
    inflow = pl.DataFrame({"unit": ["hcm/students/big"], "daily_inflow": [500]})
    fc = forecast(small(), QuotaPolicy(quota=200, floor_per_unit=10), START, daily_inflow=inflow, horizon_days=30)
    big = fc.units.filter(pl.col("unit") == "hcm/students/big")
    assert big["days_to_clear"].item() is None and big["clearance_day"].item() is None
    assert fc.national_days is None
    assert "not within 30 days" in render_table(fc)
    assert fc.units.filter(pl.col("unit") == "hue/insurance/tiny")["days_to_clear"].item() == 1


def test_what_if_quota_is_validated():
    with pytest.raises(PolicyError, match=">= 0"):
        forecast(small(), QuotaPolicy(), START, quota=-1)


def test_render_table_lists_country_and_units():
    text = render_table(forecast(small(), QuotaPolicy(quota=300), START))
    assert "national quota of 300/day" in text
    assert re.search(r"Country: backlog 1,305 over 3 units, clear by 2026-11-28", text)
    assert text.index("hcm/students/big") < text.index("hue/insurance/tiny")
    assert "served from" in text and "day 1" in text  # the column is named for what it holds ...
    assert "served from: the forecast day on which the unit gets its first verification" in text  # ... and explained


def test_demo_backlogs_have_hcmc_students_many_units_and_visible_floor():
    df = demo_backlogs(0)
    assert df.equals(demo_backlogs(0)) and not df.equals(demo_backlogs(1))
    assert df.height > 500 and df["unit"].n_unique() == df.height
    hcm = df.filter(pl.col("unit").str.starts_with("ho_chi_minh/students/"))
    assert hcm["backlog"].sum() == HCMC_STUDENT_BACKLOG
    assert df["unit"].str.split("/").list.first().n_unique() == 34
    policy = QuotaPolicy.from_yaml()
    alloc = allocate(df, policy)
    assert df["backlog"].sum() > policy.quota  # the quota binds, so the weighting shows
    assert (
        alloc.filter(pl.col("backlog") < policy.floor_per_unit)["allocated"]
        .eq(alloc.filter(pl.col("backlog") < policy.floor_per_unit)["backlog"])
        .all()
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 400), st.integers(0, 40)), min_size=2, max_size=80),
    st.integers(1, 25),
    st.data(),
)
def test_no_unit_waits_for_ever_when_floors_exceed_the_quota(rows, floor, data):
    """With more units than quota/floor, every unit is still served within ceil(n / k) + 1 days."""
    n = len(rows)
    quota = data.draw(st.integers(1, max(1, n * floor - 1)))
    df = pl.DataFrame(
        {
            "unit": [f"u{i:03d}" for i in range(n)],
            "backlog": [b for b, _ in rows],
            "oldest_wait_days": [w for _, w in rows],
        }
    )
    fc = forecast(df, QuotaPolicy(quota=quota, floor_per_unit=floor), START, horizon_days=400)
    per_day = max(1, quota // floor)
    bound = -(-n // per_day) + 1
    assert fc.units["first_day_allocated"].max() <= bound
