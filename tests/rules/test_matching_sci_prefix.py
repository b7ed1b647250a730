"""An ID that Excel wrote in scientific notation (6 significant digits, rounded) still speaks for its
holder through the digits a birth date cannot give: the province code and the 7th digit."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rules.matching import build_population_index, match_records
from rules.matching.compare import PREDICATES
from rules.matching.config import LevelSpec
from rules.matching.features import sci_id_prefix
from tests.rules.matching_helpers import person, record, records, register


def excel_general(digits: str) -> str:
    """How Excel's General format shows a 12-digit ID typed as a number: 6 significant digits,
    rounded half up (``079203123456`` -> ``7.92031E+10``)."""
    value = Decimal(int(digits))
    step = Decimal(10) ** (value.adjusted() - 5)
    mantissa, exp = f"{value.quantize(step, rounding=ROUND_HALF_UP):.5E}".split("E")
    return f"{mantissa}E{int(exp):+03d}"


def agrees(shown: str, candidate: str) -> bool:
    lf = pl.DataFrame({"idp": pl.select(sci_id_prefix(pl.lit(shown), pl.lit("unusable"))).to_series()})
    rf = pl.DataFrame({"idn_s": [candidate]})
    lv = LevelSpec(label="agrees", when="sci_prefix", column="idp")
    return bool(PREDICATES["sci_prefix"](lf, rf, lv, pl.Series([0]).to_numpy())[0])


ids = st.from_regex(r"0(0[1-9]|[1-8][0-9]|9[0-6])[0-3][0-9]{8}", fullmatch=True)  # province codes 001-096


@settings(max_examples=300, deadline=None)
@given(true_id=ids)
@example(true_id="079190999996")  # rounds up with a carry into the year digits
@example(true_id="079190950000")
@example(true_id="001190123456")  # Hà Nội: two leading zeros lost
def test_the_holders_id_agrees_with_its_rounded_form(true_id):
    shown = excel_general(true_id)
    assert shown.endswith(("E+10", "E+09"))
    assert agrees(shown, true_id)


@settings(max_examples=200, deadline=None)
@given(true_id=ids, other=st.sampled_from(["001", "048", "092"]))
def test_another_province_code_disagrees(true_id, other):
    if true_id[:3] == other:
        return
    assert not agrees(excel_general(true_id), other + true_id[3:])


def test_only_unusable_scientific_ids_give_a_prefix():
    saved_back = ["79203100000", "79203100000.0", "1190120000"]  # the rounded number saved as a number
    typed = ["7.92031E+10", "'7.92031E+10", "7.9E+10", "079203123456", "7.92031E+10", None, "1.19012E+09"]
    raw = pl.Series([*typed, *saved_back])
    kind = pl.Series(["unusable", "unusable", "unusable", "cccd", "cccd", "missing", *["unusable"] * 4])
    got = pl.DataFrame({"r": raw, "k": kind}).select(sci_id_prefix(pl.col("r"), pl.col("k"))).to_series().to_list()
    assert got == ["0792031", "0792031", None, None, None, None, "00119012", "0792031", "0792031", "00119012"]


def test_a_rounded_id_weighs_for_its_holder_and_against_a_namesake():
    anh = person("079190123456", "Trần Ngọc Ánh", dt.date(1990, 7, 21), "Nữ")
    twin_name = person("001190543210", "Trần Ngọc Ánh", dt.date(1990, 7, 21), "Nữ")  # namesake, other province
    idx = build_population_index(register([anh, twin_name]))
    row = dict(record("Trần Ngọc Ánh", dt.date(1990, 7, 21), "Nữ", id_kind="unusable"), national_id="7.91901E+10")
    plain = record("Trần Ngọc Ánh", dt.date(1990, 7, 21), "Nữ")
    recs = records([row, plain]).with_columns(pl.Series("national_id", ["7.91901E+10", None]))
    res = match_records(recs, idx).results
    # with the rounded ID the namesake is told apart; without any ID the two stay a near tie
    assert res["proposed_id"][0] == anh["person_id"] and "id_prefix=agrees" in res["reason"][0]
    assert res["status"][1] == "ambiguous"
    assert res["score"][0] > res["score"][1]


def test_a_row_without_a_date_takes_the_birth_year_its_rounded_id_still_says():
    """No date of birth and an ID Excel rounded: digits 4-6 of the ID still give the century and the
    year, so the row is found by the passes keyed on the year and scored as a row giving its year
    only; a namesake born in another year is told apart."""
    anh = person("079190123456", "Trần Ngọc Ánh", dt.date(1990, 7, 21), "Nữ")
    older = person("079185654321", "Trần Ngọc Ánh", dt.date(1985, 3, 2), "Nữ")
    idx = build_population_index(register([anh, older]))
    row = dict(record("Trần Ngọc Ánh", None, "Nữ", id_kind="unusable"), national_id=excel_general(anh["person_id"]))
    res = match_records(records([row]).with_columns(pl.Series("national_id", [row["national_id"]])), idx).results
    assert res["proposed_id"][0] == anh["person_id"]
    assert "dob=year_only" in res["reason"][0] and "id_prefix=agrees" in res["reason"][0]


@settings(max_examples=200, deadline=None)
@given(true_id=ids)
def test_the_year_read_from_a_rounded_id_is_the_holders_unless_the_rounding_carried(true_id):
    from rules.matching.features import record_features

    row = dict(record("Trần Ngọc Ánh", None, "Nữ", id_kind="unusable"))
    recs = records([row]).with_columns(pl.Series("national_id", [excel_general(true_id)]))
    feats = record_features(recs)
    d4, yy = int(true_id[3]), int(true_id[4:6])
    year = 1900 + 100 * (d4 // 2) + yy
    z = len(true_id) - len(true_id.lstrip("0"))  # leading zeros the number lost: 6 digits kept from z
    carried = set(true_id[6 : z + 6]) <= {"9"} and int(true_id[z + 6]) >= 5  # rounding reached the year
    assert feats["prec"][0] == "year"
    assert feats["yr"][0] == year or (carried and feats["yr"][0] == year + 1)


def test_a_row_with_its_own_year_keeps_it_whatever_its_rounded_id_says():
    from rules.matching.features import record_features

    row = record("Trần Ngọc Ánh", dt.date(1991, 7, 21), "Nữ", id_kind="unusable")
    feats = record_features(records([row]).with_columns(pl.Series("national_id", ["7.91901E+10"])))
    assert (feats["yr"][0], feats["prec"][0]) == (1991, "day")
