"""Synthetic population register: determinism, contract, ID structure, households, hard cases."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.provinces import by_slug, cccd_codes
from rules.synth import REFERENCE_DATE, generate_register
from rules.synth.names import NAMES_DIR, name_tables
from rules.synth.register import REGISTER_SCHEMA
from rules.synth.text import strip_diacritics, to_new_style, to_old_style, toggle_style

SIZE = 20_000


@pytest.fixture(scope="module")
def reg() -> pl.DataFrame:
    return generate_register("ho_chi_minh", SIZE, seed=11)


def test_deterministic_per_seed(reg: pl.DataFrame) -> None:
    assert generate_register("ho_chi_minh", SIZE, seed=11).equals(reg)
    other = generate_register("ho_chi_minh", SIZE, seed=12)
    assert not other.equals(reg)
    assert other["person_id"].is_in(reg["person_id"].implode()).mean() < 0.01


def test_contract_columns_and_types(reg: pl.DataFrame) -> None:
    assert reg.schema == pl.Schema(REGISTER_SCHEMA)
    assert reg.height == SIZE
    assert set(reg["gender"].unique()) == {"Nam", "Nữ"}
    assert reg["province"].unique().to_list() == ["Hồ Chí Minh"]
    assert (reg["full_name"].str.normalize("NFC") == reg["full_name"]).all()
    assert reg["full_name"].str.contains(r"^\S+( \S+)+$").all()


def test_accepts_code_and_name() -> None:
    a = generate_register("79", 500, seed=1)
    b = generate_register("Hồ Chí Minh", 500, seed=1)
    assert a.equals(b)


def test_person_ids_are_structurally_valid(reg: pl.DataFrame) -> None:
    pid = reg["person_id"]
    assert pid.str.contains(r"^\d{12}$").all()
    assert pid.n_unique() == SIZE
    assert set(pid.str.slice(0, 3).unique()) <= set(cccd_codes())
    d = reg.select(
        code=pl.col("person_id").str.slice(0, 3),
        d4=pl.col("person_id").str.slice(3, 1).cast(pl.Int64),
        yy=pl.col("person_id").str.slice(4, 2).cast(pl.Int64),
        year=pl.col("date_of_birth").dt.year(),
        female=pl.col("gender") == "Nữ",
    )
    assert (d["d4"] % 2 == d["female"].cast(pl.Int64)).all()
    assert (1900 + 100 * (d["d4"] // 2) + d["yy"] == d["year"]).all()
    own = d["code"].is_in(list(by_slug("ho_chi_minh").cccd_codes)).mean()
    assert 0.8 < own < 0.95  # mostly born in the province, some migrants


def test_age_pyramid_and_range(reg: pl.DataFrame) -> None:
    age = reg.select(((pl.lit(REFERENCE_DATE) - pl.col("date_of_birth")).dt.total_days() / 365.2425).alias("a"))["a"]
    assert age.min() >= 0 and age.max() < 101.5
    assert 0.21 < (age < 15).mean() < 0.26  # ~23.6 % children in the 2019 shape
    assert 0.07 < (age >= 65).mean() < 0.11
    assert reg["date_of_birth"].max() < REFERENCE_DATE


def test_cmnd_numbers(reg: pl.DataFrame) -> None:
    old = reg.filter(pl.col("old_id").is_not_null())
    assert old["old_id"].str.contains(r"^\d{9}$").all()
    assert old["old_id"].n_unique() == old.height
    cutoff = dt.date(REFERENCE_DATE.year - 26, REFERENCE_DATE.month, REFERENCE_DATE.day)
    over25 = reg.filter(pl.col("date_of_birth") < cutoff)
    share = over25["old_id"].is_not_null().mean()
    assert 0.55 < share < 0.65
    assert reg.filter(pl.col("date_of_birth") > cutoff.replace(year=cutoff.year + 1))["old_id"].null_count() > 0
    assert reg.filter(pl.col("date_of_birth") > cutoff.replace(year=cutoff.year + 1))["old_id"].is_null().all()


def test_households_are_consistent(reg: pl.DataFrame) -> None:
    people = reg.select("person_id", "date_of_birth", "gender", "household_id")
    for col, gender in (("mother_id", "Nữ"), ("father_id", "Nam")):
        linked = reg.filter(pl.col(col).is_not_null())
        assert linked.height > SIZE * 0.3
        j = linked.join(people, left_on=col, right_on="person_id", suffix="_p", how="left")
        assert j["gender_p"].null_count() == 0  # every parent is in the register
        assert (j["gender_p"] == gender).all()
        gap_years = (j["date_of_birth"] - j["date_of_birth_p"]).dt.total_days() / 365.25
        assert gap_years.min() > 12
    kids = reg.filter(pl.col("mother_id").is_not_null() & (pl.col("date_of_birth") > dt.date(2010, 1, 1)))
    j = kids.join(people, left_on="mother_id", right_on="person_id", suffix="_m")
    assert (j["household_id"] == j["household_id_m"]).all()
    # a mother's children share the father: parents form couples
    fathers = reg.filter(pl.col("father_id").is_not_null()).group_by("mother_id").agg(pl.col("father_id").n_unique())
    assert (fathers["father_id"] == 1).all()
    sizes = reg.group_by("household_id").len()["len"]
    assert 1.5 < sizes.mean() < 5


def test_twins_and_namesakes_present(reg: pl.DataFrame) -> None:
    twins = (
        reg.filter(pl.col("mother_id").is_not_null())
        .group_by("mother_id", "date_of_birth")
        .agg(pl.col("full_name"), pl.col("person_id"))
        .filter(pl.col("person_id").list.len() >= 2)
    )
    assert twins.height >= SIZE * 0.004
    assert (twins["full_name"].list.n_unique() == twins["full_name"].list.len()).mean() > 0.95
    namesakes = reg.group_by("full_name", "date_of_birth").agg(pl.col("mother_id").n_unique(), pl.len())
    namesakes = namesakes.filter(pl.col("len") >= 2)
    assert namesakes.height >= SIZE * 0.002


def test_both_tone_styles_in_register(reg: pl.DataFrame) -> None:
    old = reg["full_name"].str.contains(r"(?i)(h[òóỏõọ]a|th[ùúủũụ]y|kh[òóỏõọ]e)( |$)").sum()
    new = reg["full_name"].str.contains(r"(?i)(ho[àáảãạ]|thu[ỳýỷỹỵ]|kho[èéẻẽẹ])( |$)").sum()
    assert old > 0 and new > 0
    assert 0.2 < new / (old + new) < 0.5


def test_name_tables_small_and_realistic() -> None:
    assert sum(p.stat().st_size for p in NAMES_DIR.iterdir()) < 200_000
    t = name_tables()
    p = dict(zip(t.family.to_list(), t.family_p, strict=True))
    assert 0.37 < p["Nguyễn"] < 0.40 and 0.10 < p["Trần"] < 0.12
    assert abs(sum(t.family_p) - 1) < 1e-9
    reg = generate_register("ha_noi", 5_000, seed=3)
    first = reg["full_name"].str.extract(r"^(\S+)", 1)
    assert 0.3 < (first == "Nguyễn").mean() < 0.46
    men = reg.filter(pl.col("gender") == "Nam")["full_name"]
    assert not men.str.contains(r" Thị ").any()


_SYLLABLES = st.sampled_from(
    ["Hòa", "Hoà", "Thủy", "Thuỷ", "Khỏe", "Khoẻ", "Quý", "Quỳnh", "Hoàn", "Nguyễn", "Toàn", "Tuý", "Ủy", "Xoài"]
)


def _ap(fn, text: str) -> str:
    return pl.select(fn(pl.lit(text)).alias("x"))["x"][0]


@settings(max_examples=200, deadline=None)
@given(st.lists(_SYLLABLES, min_size=1, max_size=5))
def test_tone_style_round_trip(words: list[str]) -> None:
    s = " ".join(words)
    new, old = _ap(to_new_style, s), _ap(to_old_style, s)
    assert _ap(to_old_style, new) == old
    assert _ap(to_new_style, old) == new
    assert _ap(toggle_style, _ap(toggle_style, s)) == s
    folded = _ap(strip_diacritics, s)
    assert folded.isascii()
    assert _ap(strip_diacritics, new) == folded == _ap(strip_diacritics, old)
    for w, wn, wo in zip(words, new.split(" "), old.split(" "), strict=True):
        if w in ("Quý", "Quỳnh", "Hoàn", "Toàn", "Nguyễn", "Xoài"):  # no choice of style for these
            assert w == wn == wo


def test_regional_surname_readings() -> None:
    """Hoàng/Vũ dominate in the north, Huỳnh/Võ in the south (one Hán character, two readings)."""
    north = generate_register("ha_noi", 10_000, seed=4)["full_name"].str.extract(r"^(\S+)", 1)
    south = generate_register("can_tho", 10_000, seed=4)["full_name"].str.extract(r"^(\S+)", 1)
    assert (north == "Hoàng").sum() > (north == "Huỳnh").sum() and (north == "Vũ").sum() > (north == "Võ").sum()
    assert (south == "Huỳnh").sum() > (south == "Hoàng").sum() and (south == "Võ").sum() > (south == "Vũ").sum()
