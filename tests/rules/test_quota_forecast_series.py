"""The forecast's burn-down series: the country, every province and each province's largest units."""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.quota import QuotaPolicy, demo_backlogs, forecast
from rules.quota.forecast import TOP_SERIES, UNIT_SERIES_PER_PROVINCE

START = dt.date(2026, 11, 24)

units = st.lists(st.tuples(st.sampled_from(["hcm", "hn", "hue", "dn"]), st.integers(0, 2_000)),
                 min_size=1, max_size=40)


def _frame(rows: list[tuple[str, int]]) -> pl.DataFrame:
    return pl.DataFrame({"unit": [f"{p}/students/u{i:02d}" for i, (p, _) in enumerate(rows)],
                         "backlog": [b for _, b in rows]})


@settings(max_examples=60, deadline=None)
@given(units, st.integers(50, 3_000))
def test_series_add_up_and_end_where_the_units_clear(rows: list[tuple[str, int]], quota: int) -> None:
    df = _frame(rows)
    fc = forecast(df, QuotaPolicy(quota=quota, floor_per_unit=10), START)
    daily = fc.daily
    dates = daily.filter(pl.col("level") == "national")["date"]
    assert dates[0] == START - dt.timedelta(days=1) and dates.is_sorted() and dates.n_unique() == dates.len()
    # every series spans every date
    per = daily.group_by("level", "series").agg(pl.len().alias("n"), pl.col("remaining").first().alias("start"))
    assert (per["n"] == dates.len()).all()
    # the provinces add up to the country every day
    wide = daily.filter(pl.col("level") != "unit").group_by("date", "level").agg(pl.col("remaining").sum())
    check = wide.pivot(on="level", index="date", values="remaining")
    assert (check["national"] == check["province"]).all()
    # each province and its largest units, from the starting backlog
    starts = df.with_columns(pl.col("unit").str.split("/").list.first().alias("p"))
    provinces = per.filter(pl.col("level") == "province")
    assert set(provinces["series"]) == set(starts["p"])
    kept = set(per.filter(pl.col("level") == "unit")["series"])
    for _, group in starts.group_by("p"):
        largest = group.sort(["backlog", "unit"], descending=[True, False]).head(UNIT_SERIES_PER_PROVINCE)
        assert set(largest["unit"]) <= kept
    assert len(kept) <= TOP_SERIES + UNIT_SERIES_PER_PROVINCE * starts["p"].n_unique()
    # a unit's series starts at its backlog and first reaches 0 on its clearance day
    for unit, series in daily.filter(pl.col("level") == "unit").group_by("series"):
        row = fc.units.filter(pl.col("unit") == unit[0])
        values = series.sort("date")["remaining"].to_list()
        assert values[0] == row["backlog"].item()
        assert all(a >= b for a, b in itertools.pairwise(values))  # no inflow: never rises
        days = row["days_to_clear"].item()
        assert values.index(0) == days if 0 in values else days is None


def test_demo_country_keeps_every_province_and_the_hcmc_units() -> None:
    fc = forecast(demo_backlogs(1), QuotaPolicy.from_yaml(), START)
    levels = fc.daily.group_by("level").agg(pl.col("series").n_unique()).sort("level")
    assert dict(levels.iter_rows()) == {"national": 1, "province": 34,
                                        "unit": 34 * UNIT_SERIES_PER_PROVINCE}
    hcm = fc.daily.filter(pl.col("series") == "ho_chi_minh/students/so_gddt_tp_hcm")
    assert hcm.height == fc.daily.filter(pl.col("level") == "national").height


def test_keys_without_a_province_give_no_province_series() -> None:
    fc = forecast(pl.DataFrame({"unit": ["a", "b"], "backlog": [10, 20]}), QuotaPolicy(quota=5), START)
    assert set(fc.daily["level"]) == {"national", "unit"}
