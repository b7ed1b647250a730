"""The birth-year prior (``estimate.year_prior``) and the guardian's parent names in the index.

The prior re-weights candidates by how common their birth year is in the file compared with the
register: it must stay a probability distribution over the register (before its bounds bite), keep a
small file near uniform, stay within its bounds, and follow the data, not a label.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.matching import MatchConfig, build_population_index, match_records
from rules.matching.estimate import Estimates, year_prior
from rules.matching.features import parent_names
from tests.rules.matching_helpers import person, record, records, register

years_st = st.lists(st.integers(1940, 2025), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(reg=years_st, rec=st.lists(st.integers(1930, 2030), max_size=300), strength=st.floats(1.0, 500.0))
def test_prior_sums_to_one_over_the_register_within_bounds(reg, rec, strength):
    years, log2r = year_prior(pl.Series("y", rec, dtype=pl.Int32), pl.Series("y", reg, dtype=pl.Int32), strength, 30.0)
    counts = np.array([reg.count(int(y)) for y in years], dtype=float)
    p_reg = counts / counts.sum()
    assert list(years) == sorted(set(reg))
    # sum over the register's people of (P_file / P_reg) / N = sum_y P_file(y) = 1 (bounds far away)
    assert abs(float((p_reg * np.exp2(log2r)).sum()) - 1.0) < 1e-9


@settings(max_examples=60, deadline=None)
@given(reg=years_st, rec=years_st, bound=st.floats(0.1, 4.0))
def test_prior_is_bounded(reg, rec, bound):
    _, log2r = year_prior(pl.Series("y", rec), pl.Series("y", reg), 10.0, bound)
    assert np.all(np.abs(log2r) <= bound + 1e-12)


def test_a_school_list_raises_school_years_and_a_small_file_stays_near_uniform():
    reg = pl.Series("y", [y for y in range(1950, 2020) for _ in range(100)])
    pupils = pl.Series("y", [y for y in range(2008, 2020) for _ in range(500)])
    years, big = year_prior(pupils, reg, 200.0, 3.0)
    at = {int(y): float(v) for y, v in zip(years, big, strict=True)}
    assert at[2012] > 2.0 and at[1970] < -2.0
    # a class of 12 spread over the school years moves each year by less than half a bit
    _, small = year_prior(pupils.gather_every(500), reg, 200.0, 3.0)
    assert np.all(np.abs(small) < 0.5) and np.abs(small).max() > 0
    _, none = year_prior(pl.Series("y", [], dtype=pl.Int64), reg, 200.0, 3.0)
    assert np.all(none == 0.0)


def test_prior_lookup_by_stratum_and_year():
    est = Estimates(m={}, u={}, u_source={}, match_share=0.9, n_index=10)
    est.prior_years = np.array([2000, 2010])
    est.year_log2 = np.array([[1.0, 2.0], [-1.0, -2.0], [0.5, 0.25]])
    est.prior_strata = ["insurance", "students"]
    codes = est.stratum_codes(["students", "insurance", None, "other"])
    assert codes.tolist() == [1, 0, 2, 2]
    got = est.year_prior_log2(np.array([2010, 2000, 2010, 1999, -1]), np.array([1, 0, 2, 0, 1]))
    assert got.tolist() == [-2.0, 1.0, 0.25, 0.0, 0.0]
    assert Estimates.from_dict(est.to_dict()).year_prior_log2(np.array([2010]), np.array([0])).tolist() == [2.0]


def test_each_sector_of_a_run_gets_its_own_prior():
    people = [person(f"0790{i:08d}", "Nguyễn Văn An", dt.date(1950 + i % 70, 1, 1 + i % 28), "Nam") for i in range(700)]
    idx = build_population_index(register(people, with_filler=False))
    kids = [dict(record("Nguyễn Văn An", dt.date(2012, 1, 1 + i % 28)), sector="students") for i in range(60)]
    adults = [dict(record("Nguyễn Văn An", dt.date(1960, 1, 1 + i % 28)), sector="insurance") for i in range(60)]
    config = MatchConfig.default()
    assert config.estimation.year_prior_column is None  # off in the shipped configuration
    on = config.model_copy(update={"estimation": config.estimation.model_copy(update={"year_prior_column": "yr"})})
    est = match_records(records(kids + adults), idx, on).estimates
    table = np.atleast_2d(est.year_log2)
    row = {name: table[i] for i, name in enumerate(est.prior_strata)}
    y2012 = int(np.flatnonzero(est.prior_years == 2012)[0])
    y1960 = int(np.flatnonzero(est.prior_years == 1960)[0])
    assert row["students"][y2012] > 0 > row["insurance"][y2012]
    assert row["insurance"][y1960] > 0 > row["students"][y1960]


def test_parent_names_come_from_the_register_mother_first():
    feats = pl.DataFrame(
        {
            "idn_s": ["000000000001", "000000000002", "000000000003", "000000000004", "000000000005"],
            "nk": ["le thi hoa", "tran van thanh", "tran ngoc anh", "tran ngoc bich", "ly thu ha"],
            "par1": [None, None, "000000000001", None, "000000000099"],
            "par2": [None, None, "000000000002", "000000000002", None],
        }
    )
    first, second = parent_names(feats)
    assert first.to_list() == [None, None, "le thi hoa", "tran van thanh", None]
    assert second.to_list() == [None, None, "tran van thanh", None, None]


def test_a_part_of_the_register_reads_parents_names_from_the_whole():
    """A birth-year bucket holds the children, not their parents: the names come from the lookup."""
    from rules.matching.features import person_name_keys

    mother = person("079165000001", "Lê Thị Hoa", dt.date(1965, 2, 3), "Nữ")
    child = person("079190123456", "Trần Ngọc Ánh", dt.date(1990, 7, 21), "Nữ")
    whole = register([mother, child], with_filler=False).with_columns(
        pl.Series("mother_id", [None, mother["person_id"]]), pl.Series("father_id", [None, None], dtype=pl.Utf8)
    )
    part = whole.filter(pl.col("person_id") == child["person_id"])
    assert build_population_index(part)["grk"].to_list() == [None]
    assert build_population_index(part, person_name_keys(whole))["grk"].to_list() == ["le thi hoa"]
