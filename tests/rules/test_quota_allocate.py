"""Invariants of the national allocation (rules.quota.allocate), property-tested with hypothesis."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.quota import AllocationInputError, QuotaPolicy, allocate

units = st.lists(st.tuples(st.integers(0, 5_000), st.integers(0, 120)), min_size=1, max_size=60)
policies = st.builds(
    QuotaPolicy,
    quota=st.integers(0, 40_000),
    policy=st.sampled_from(["proportional", "backlog_power"]),
    alpha=st.floats(0.2, 2.5),
    floor_per_unit=st.integers(0, 200),
    ageing_per_day=st.floats(0, 0.2),
    ageing_max_days=st.integers(0, 120),
)


def frame(rows: list[tuple[int, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "unit": [f"p{i % 7}/students/u{i:03d}" for i in range(len(rows))],
            "backlog": [b for b, _ in rows],
            "oldest_wait_days": [w for _, w in rows],
        }
    )


@settings(max_examples=300, deadline=None)
@given(units, policies)
def test_spends_exactly_min_quota_total_and_caps_at_backlog(rows, policy):
    out = allocate(frame(rows), policy)
    total = sum(b for b, _ in rows)
    assert int(out["allocated"].sum()) == min(policy.quota, total)
    assert (out["allocated"] <= out["backlog"]).all()
    assert (out["allocated"] >= 0).all()
    assert (out["floor"] <= out["allocated"]).all()


@settings(max_examples=300, deadline=None)
@given(units, policies)
def test_floor_is_guaranteed_when_the_quota_covers_all_floors(rows, policy):
    out = allocate(frame(rows), policy)
    floors = out["backlog"].clip(upper_bound=policy.floor_per_unit)
    if int(floors.sum()) <= policy.quota:
        assert (out["allocated"] >= floors).all()
    else:  # more units than the quota covers: the longest-waiting units get their floor first
        got = out.filter(pl.col("allocated") > 0)["oldest_wait_days"]
        starved = out.filter((pl.col("allocated") == 0) & (pl.col("backlog") > 0))["oldest_wait_days"]
        if len(got) and len(starved):
            assert got.min() >= starved.max()


@settings(max_examples=300, deadline=None)
@given(units, policies)
def test_larger_backlog_never_gets_less_with_equal_wait(rows, policy):
    out = allocate(frame(rows), policy).sort("backlog")
    for _, group in out.group_by("oldest_wait_days"):
        g = group.sort(["backlog", "allocated"])
        assert g["allocated"].is_sorted(), g


@settings(max_examples=200, deadline=None)
@given(units, policies, st.integers(0, 59), st.integers(1, 3_000))
def test_growing_one_backlog_never_lowers_its_allocation(rows, policy, which, more):
    which %= len(rows)
    before = allocate(frame(rows), policy)
    grown = list(rows)
    grown[which] = (rows[which][0] + more, rows[which][1])
    after = allocate(frame(grown), policy)
    unit = frame(rows)["unit"][which]
    a0 = before.filter(pl.col("unit") == unit)["allocated"].item()
    a1 = after.filter(pl.col("unit") == unit)["allocated"].item()
    assert a1 >= a0


@settings(max_examples=100, deadline=None)
@given(units, policies, st.randoms())
def test_deterministic_and_independent_of_row_order(rows, policy, rnd):
    df = frame(rows)
    shuffled = df.sample(fraction=1.0, shuffle=True, seed=rnd.randint(0, 10**6))
    assert allocate(df, policy).equals(allocate(shuffled, policy))
    assert allocate(df, policy).equals(allocate(df, policy))


def test_large_backlogs_get_more_and_ageing_helps_waiting_work():
    policy = QuotaPolicy(quota=1_000, floor_per_unit=10, alpha=1.0, ageing_per_day=0.1, ageing_max_days=30)
    df = pl.DataFrame({"unit": ["a", "b", "c"], "backlog": [10_000, 1_000, 1_000], "oldest_wait_days": [0, 0, 20]})
    out = dict(allocate(df, policy).select("unit", "allocated").iter_rows())
    assert out["a"] > out["c"] > out["b"] >= 10
    assert sum(out.values()) == 1_000


def test_hcmc_style_backlog_is_shared_but_small_units_keep_their_floor():
    df = pl.DataFrame(
        {
            "unit": ["ho_chi_minh/students/so_gddt"] + [f"ha_noi/students/s{i}" for i in range(100)],
            "backlog": [56_000] + [30] * 100,
            "oldest_wait_days": [0] * 101,
        }
    )
    out = allocate(df, QuotaPolicy(quota=10_000, floor_per_unit=20))
    small = out.filter(pl.col("unit") != "ho_chi_minh/students/so_gddt")["allocated"]
    assert (small >= 20).all()
    assert out.filter(pl.col("unit") == "ho_chi_minh/students/so_gddt")["allocated"].item() > 5_000


def test_everything_fits_when_backlog_below_quota():
    df = pl.DataFrame({"unit": ["a", "b"], "backlog": [5, 0]})
    out = allocate(df, QuotaPolicy(quota=100))
    assert out["allocated"].to_list() == [5, 0]


@pytest.mark.parametrize(
    ("df", "needle"),
    [
        (pl.DataFrame({"unit": ["a"]}), "lacks column"),
        (pl.DataFrame({"unit": ["a", "a"], "backlog": [1, 2]}), "more than once"),
        (pl.DataFrame({"unit": ["a"], "backlog": [-1]}), "negative"),
        (
            pl.DataFrame({"unit": ["a"], "backlog": [None]}, schema={"unit": pl.Utf8, "backlog": pl.Int64}),
            "null",
        ),
    ],
)
def test_bad_input_is_refused_with_a_message(df, needle):
    with pytest.raises(AllocationInputError, match=needle):
        allocate(df, QuotaPolicy())
