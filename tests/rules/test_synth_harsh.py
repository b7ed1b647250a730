"""The harsh noise profile: error-count distribution, counted and visible labels, compounding rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.synth import generate_register, generate_sector_records
from rules.synth import harsh as harsh_mod
from rules.synth.harsh import (
    FORMAT_LABELS,
    choose_errors,
    harsh_profile,
    scientific,
    wrong_digit_dates,
)

N = 20_000


@pytest.fixture(scope="module")
def reg() -> pl.DataFrame:
    return generate_register("da_nang", 80_000, seed=5)


@pytest.fixture(scope="module")
def rows(reg: pl.DataFrame) -> pl.DataFrame:
    """Students (children: parent and twin IDs are eligible) with truth and the register row."""
    records, truth = generate_sector_records(reg, "students", N, seed=9, profile="harsh")
    assert records.height == truth.height == N
    joined = pl.concat([records, truth.select("person_id", "noise", "n_errors")], how="horizontal")
    return joined.join(
        reg.rename(lambda c: f"r_{c}"), left_on="person_id", right_on="r_person_id", how="left", maintain_order="left"
    )


def _has(label: str) -> pl.Expr:
    return pl.col("noise").list.contains(label)


def test_error_count_shares_follow_the_profile(rows: pl.DataFrame) -> None:
    n = rows["n_errors"]
    assert n.null_count() == 0
    shares = {
        "0": (n == 0).mean(),
        "1": (n == 1).mean(),
        "2-3": ((n >= 2) & (n <= 3)).mean(),
        "4+": (n >= 4).mean(),
    }
    want = {"0": 0.20, "1": 0.34, "2-3": 0.31, "4+": 0.15}
    for level, share in want.items():
        assert abs(shares[level] - share) < 0.015, (level, shares)
    assert n.max() <= 7  # 6 drawn, plus a lost zero from a whole numeric ID column at most


def test_n_errors_counts_the_error_labels_only(rows: pl.DataFrame) -> None:
    errors = list(harsh_profile().errors)
    counted = rows.select(pl.col("noise").list.eval(pl.element().is_in(errors)).list.sum().alias("k"), "n_errors")
    assert (counted["k"] == counted["n_errors"]).all()
    seen = set(rows["noise"].explode().unique())
    assert seen <= {*errors, *FORMAT_LABELS, "duplicate_row", "not_in_register", "clean"}
    # every error kind occurs on a 20k-row student file, except the CMND: pupils are under 25
    assert set(errors) - seen == {"old_cmnd"}


def test_clean_rows_carry_the_register_values(rows: pl.DataFrame) -> None:
    clean = rows.filter(_has("clean") & pl.col("person_id").is_not_null())
    assert clean.height > N * 0.1
    assert (clean["full_name"] == clean["r_full_name"]).all()
    assert (clean["national_id"] == clean["person_id"]).all()
    assert (clean["gender"] == clean["r_gender"]).all()


def test_no_two_errors_of_one_group(rows: pl.DataFrame) -> None:
    prof = harsh_profile()
    for group in {g for g in prof.groups if g}:
        members = [e for e, g in zip(prof.errors, prof.groups, strict=True) if g == group]
        k = rows.select(pl.col("noise").list.eval(pl.element().is_in(members)).list.sum())
        assert k.to_series().max() <= 1, group


def test_id_errors_are_what_they_say(rows: pl.DataFrame) -> None:
    sci = rows.filter(_has("id_scientific"))
    assert sci.height and sci["national_id"].str.contains(r"^\d\.\d{0,5}E\+\d\d$").all()
    assert rows.filter(_has("id_missing"))["national_id"].null_count() == rows.filter(_has("id_missing")).height
    par = rows.filter(
        _has("parent_id") & ~_has("id_lost_leading_zero") & ~_has("id_separators") & pl.col("person_id").is_not_null()
    )
    assert (
        par.height
        and (
            (par["national_id"] == par["r_mother_id"]).fill_null(False)
            | (par["national_id"] == par["r_father_id"]).fill_null(False)
        ).all()
    )
    twin = rows.filter(_has("twin_id") & pl.col("person_id").is_not_null() & ~_has("id_separators"))
    assert twin.height
    reg_ids = twin.select(pl.col("national_id").str.zfill(12).alias("twin")).to_series()
    assert (reg_ids != twin["person_id"]).all()
    wrong = rows.filter(_has("id_wrong_digit") & ~_has("id_lost_leading_zero") & ~_has("id_separators"))
    diff = [
        sum(a != b for a, b in zip(x, y, strict=True))
        for x, y in zip(wrong["national_id"], wrong["person_id"], strict=True)
        if y
    ]
    assert diff and set(diff) == {1}


def test_twin_ids_belong_to_a_twin(reg: pl.DataFrame, rows: pl.DataFrame) -> None:
    twin = rows.filter(_has("twin_id") & pl.col("person_id").is_not_null() & ~_has("id_separators"))
    ids = twin.select(pl.col("national_id").str.zfill(12).alias("tid"), "person_id")
    sib = ids.join(reg, left_on="tid", right_on="person_id", how="left")
    me = ids.join(reg, on="person_id", how="left")
    assert (sib["mother_id"] == me["mother_id"]).all()
    assert (sib["date_of_birth"] == me["date_of_birth"]).all()


def test_date_errors_are_what_they_say(rows: pl.DataFrame) -> None:
    assert rows.filter(_has("dob_missing"))["date_of_birth"].null_count() == rows.filter(_has("dob_missing")).height
    assert rows.filter(_has("year_only"))["date_of_birth"].str.contains(r"^\d{4}$").all()
    plain = pl.col("date_of_birth").str.contains(r"^\d{2}/\d{2}/\d{4}$")
    wrong = rows.filter(_has("dob_wrong_digit") & plain & pl.col("person_id").is_not_null())
    written = wrong["date_of_birth"].str.replace_all("/", "")
    truth = wrong["r_date_of_birth"].dt.strftime("%d%m%Y")
    assert wrong.height and all(
        sum(a != b for a, b in zip(x, y, strict=True)) == 1 for x, y in zip(written, truth, strict=True)
    )
    swapped = rows.filter(_has("day_month_swapped") & plain & pl.col("person_id").is_not_null())
    assert swapped.height and (swapped["date_of_birth"] == swapped["r_date_of_birth"].dt.strftime("%m/%d/%Y")).all()


def test_name_errors_are_what_they_say(rows: pl.DataFrame) -> None:
    only = ~_has("upper_case") & ~_has("extra_spaces") & ~_has("nfd") & ~_has("tone_style")
    note = rows.filter(_has("name_note"))
    assert note["full_name"].str.contains(r"[(\[]|\s-\s").all()
    last = rows.filter(
        _has("family_last")
        & only
        & ~_has("typo_family")
        & ~_has("no_diacritics")
        & ~_has("name_note")
        & ~_has("fused_tokens")
    )
    assert (
        last.height and (last["full_name"].str.extract(r"(\S+)$") == last["r_full_name"].str.extract(r"^(\S+)")).all()
    )
    fused = rows.filter(
        _has("fused_tokens") & only & ~_has("name_note") & ~_has("middle_changed") & pl.col("person_id").is_not_null()
    )
    assert (fused["full_name"].str.count_matches(" ") < fused["r_full_name"].str.count_matches(" ")).all()
    dropped = rows.filter(
        _has("dropped_middle") & only & ~_has("name_note") & ~_has("fused_tokens") & pl.col("person_id").is_not_null()
    )
    assert (dropped["full_name"].str.count_matches(" ") == 1).all()


def test_deterministic_and_profile_checked(reg: pl.DataFrame) -> None:
    a = generate_sector_records(reg, "insurance", 2_000, seed=3, profile="harsh")
    b = generate_sector_records(reg, "insurance", 2_000, seed=3, profile="harsh")
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    with pytest.raises(ValueError, match="unknown noise profile"):
        generate_sector_records(reg, "insurance", 100, seed=3, profile="brutal")


def test_unknown_key_in_the_profile_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "harsh_rates.yaml"
    bad.write_text(harsh_mod.HARSH_FILE.read_text(encoding="utf-8") + "\nsurprise: 1\n", encoding="utf-8")
    monkeypatch.setattr(harsh_mod, "HARSH_FILE", bad)
    harsh_profile.cache_clear()
    try:
        with pytest.raises(ValueError, match="unknown key"):
            harsh_profile()
    finally:
        monkeypatch.undo()
        harsh_profile.cache_clear()


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60))
def test_choose_errors_respects_count_eligibility_and_groups(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    e = len(harsh_profile().errors)
    eligible = rng.random((n, e)) < 0.6
    k = rng.integers(0, 7, n)
    chosen = choose_errors(rng, eligible, k)
    assert not (chosen & ~eligible).any()
    assert (chosen.sum(axis=1) <= k).all()
    conflict = harsh_profile().conflict_matrix()
    for row in chosen:
        idx = np.flatnonzero(row)
        sub = conflict[np.ix_(idx, idx)]
        assert not (sub & ~np.eye(idx.size, dtype=bool)).any()


@settings(max_examples=200, deadline=None)
@given(st.dates(dt.date(1920, 1, 1), dt.date(2025, 12, 31)), st.integers(0, 2**32 - 1))
def test_wrong_digit_dates_are_real_dates_one_digit_away(day: dt.date, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, m, d = (np.array([v]) for v in (day.year, day.month, day.day))
    y2, m2, d2 = wrong_digit_dates(rng, y, m, d, max_year=2025)
    new = dt.date(int(y2[0]), int(m2[0]), int(d2[0]))  # raises if not a real date
    assert new.year <= 2025
    a, b = day.strftime("%Y%m%d"), new.strftime("%Y%m%d")
    assert sum(x != y for x, y in zip(a, b, strict=True)) == 1


def test_scientific_is_excel_general_format() -> None:
    digits = np.array([[int(c) for c in s] for s in ("079321963620", "123456789012", "099999990000")])
    assert scientific(digits).to_list() == ["7.9322E+10", "1.23457E+11", "1E+11"]
