"""Blocking passes: each pass finds its case, the ID neighbourhood is exact, caps bound the pairs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.matching import MatchConfig, build_population_index
from rules.matching.blocking import generate_pairs, id_variants, prepare_index
from rules.matching.features import record_features
from tests.rules.matching_helpers import person, record, records, register

D = dt.date
ANH = person("079190123456", "Trần Ngọc Ánh", D(1990, 7, 21), "Nữ", old_id="025111222")
config = MatchConfig.default()


@pytest.fixture(scope="module")
def prepared():
    index = build_population_index(register([ANH]))
    pos = int(index.with_row_index("i").filter(pl.col("pid") == ANH["person_id"])["i"][0])
    return index, prepare_index(index, config), pos


def passes_hitting(prepared, row) -> set[str]:
    _index, prep, pos = prepared
    cands = generate_pairs(record_features(records([row])), prep, config)
    hits = {name for name, mask in cands.hit.items() if mask[0]}
    assert pos in set(cands.pairs["pidx"].to_list()), "the person must be a candidate"
    # every pass reports a pair count, and the per-pass counts add up to at least the unique pairs
    assert set(cands.pass_counts) == {p.name for p in config.passes}
    assert sum(cands.pass_counts.values()) >= cands.pairs.height
    return hits


def test_exact_id_pass(prepared):
    assert "id_exact" in passes_hitting(prepared, record("X Y Z", None, None, ANH["person_id"]))


def test_old_cmnd_pass(prepared):
    assert "old_cmnd" in passes_hitting(prepared, record("X Y Z", None, None, ANH["old_id"]))


@pytest.mark.parametrize("bad", ["079190123457", "079190124356", "979190123456"])
def test_id_one_edit_pass(prepared, bad):
    assert passes_hitting(prepared, record("X Y Z", None, None, bad)) == {"id_one_edit"}


def test_name_and_dob_passes(prepared):
    hits = passes_hitting(prepared, record("Tran Ngoc Anh", ANH["date_of_birth"], "Nữ"))
    assert {"name_dob", "given_dob", "name_year", "family_middle_dob", "initials_dob"} <= hits


def test_given_name_and_dob_pass_survives_family_typo(prepared):
    assert "given_dob" in passes_hitting(prepared, record("Trn Ngọc Ánh", ANH["date_of_birth"], "Nữ"))


def test_family_given_year_pass_for_year_only_with_dropped_middle(prepared):
    assert "family_given_year" in passes_hitting(prepared, record("Trần Ánh", None, year=1990))


def test_day_month_swapped_pass():
    # a person born 07/08 recorded as 08/07: only the swapped-date pass (and name+year) finds them
    index = build_population_index(register([person("079190000001", "Lý Thu Hà", D(1990, 8, 7), "Nữ")]))
    row = records([record("Lý Thu Hà", D(1990, 7, 8))])
    cands = generate_pairs(record_features(row), prepare_index(index, config), config)
    assert cands.hit["dob_day_month_swapped"][0] and not cands.hit["name_dob"][0]


def test_no_swap_key_when_day_over_twelve():
    feats = record_features(records([record("Lý Thu Hà", D(1990, 7, 21)), record("Lý Thu Hà", D(1990, 3, 3))]))
    assert feats["dob_sw"].to_list() == [None, None]


def test_name_order_pass(prepared):
    assert "name_order_given_first" in passes_hitting(prepared, record("Ánh Trần Ngọc", None, year=1990))
    assert "name_order_reversed" in passes_hitting(prepared, record("Anh Ngoc Tran", None, year=1990))


def test_cap_skips_oversized_blocks_and_flags_them():
    crowd = [person(f"0792000{i:05d}", "Nguyễn Văn Nam", D(2000, 1, 1), "Nam") for i in range(40)]
    index = build_population_index(register(crowd, with_filler=False))
    cands = generate_pairs(
        record_features(records([record("Nguyễn Văn Nam", D(2000, 1, 1))])), prepare_index(index, config), config
    )
    assert cands.cap_hit[0]
    assert cands.pass_counts["name_dob"] == 0  # block of 40 > cap 30
    assert cands.pairs.height <= sum(p.cap for p in config.passes)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=10**11, max_value=10**12 - 1))
def test_id_variants_are_exactly_the_one_edit_neighbourhood(n):
    rows, vals = id_variants(np.array([n], dtype=np.int64))
    assert (rows == 0).all()
    s = f"{n:012d}"
    expected = set()
    for i in range(12):
        for d in "0123456789":
            if d != s[i]:
                expected.add(int(s[:i] + d + s[i + 1 :]))
    for i in range(11):
        if s[i] != s[i + 1]:
            expected.add(int(s[:i] + s[i + 1] + s[i] + s[i + 2 :]))
    assert set(vals.tolist()) == expected
    assert n not in set(vals.tolist())


@pytest.mark.parametrize(
    "name",
    [
        "Ngọc Ánh Trần",  # family name last
        "Ánh Ngọc Trần",  # fully reversed
        "Ánh Trần Ngọc",  # given name first
        "Ngọc Trần Ánh",  # an order nobody foresaw
    ],
)
def test_token_set_and_rarest_token_passes_survive_any_order(prepared, name):
    hits = passes_hitting(prepared, record(name, ANH["date_of_birth"], "Nữ"))
    assert {"dob_token_set", "dob_rarest_token"} <= hits


def test_rarest_token_pass_survives_an_extra_token(prepared):
    # a nickname or a note left in the name cell: the token set differs, the rarest token does not
    hits = passes_hitting(prepared, record("Trần Ngọc Ánh Bé", ANH["date_of_birth"], "Nữ"))
    assert "dob_rarest_token" in hits and "dob_token_set" not in hits


def test_rarest_token_is_the_least_frequent_in_the_register():
    from rules.matching.blocking import rarest_tokens

    toks = pl.Series(["nguyen", "van", "khuong"])
    counts = pl.DataFrame({"tok": toks.hash(seed=7), "n": pl.Series([900, 500, 3], dtype=pl.UInt32)})
    feats = pl.DataFrame({"nk": ["nguyen van khuong", "khuong nguyen", "zzz nguyen", None, "zzz"]})
    assert rarest_tokens(feats, "nk", counts).to_list() == ["khuong", "khuong", "nguyen", None, None]


def test_sorted_token_key_is_the_same_for_every_order():
    feats = record_features(records([record(n, ANH["date_of_birth"]) for n in ("Trần Ngọc Ánh", "Ánh Trần Ngọc")]))
    assert feats["nks"].to_list() == ["anh ngoc tran", "anh ngoc tran"]


def test_rarest_token_within_the_year_survives_a_wrong_day_and_an_extra_token(prepared):
    hits = passes_hitting(prepared, record("Ngọc Ánh Trần Bé", D(1990, 3, 9), "Nữ"))
    assert "year_rarest_token" in hits and "dob_rarest_token" not in hits


def test_given_name_and_dob_pass_needs_no_gender(prepared):
    assert "given_dob" in passes_hitting(prepared, record("Trn Ngọc Ánh", ANH["date_of_birth"], None))
