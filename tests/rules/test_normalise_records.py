"""normalise_records / normalise_register / summarise_flags: contract columns (contracts.md §4)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from rules.normalise import normalise_records, normalise_register, summarise_flags

TODAY = date(2026, 11, 23)
L = pl.List(pl.Utf8)
CONTRACT = {
    "name_clean": pl.Utf8,
    "name_toned": pl.Utf8,
    "name_key": pl.Utf8,
    "family_key": pl.Utf8,
    "middle_key": pl.Utf8,
    "given_key": pl.Utf8,
    "name_flags": L,
    "name_note": pl.Utf8,
    "dob": pl.Date,
    "dob_year": pl.Int32,
    "dob_month": pl.Int8,
    "dob_day": pl.Int8,
    "dob_precision": pl.Utf8,
    "dob_error": pl.Utf8,
    "dob_flags": L,
    "gender_norm": pl.Utf8,
    "gender_error": pl.Utf8,
    "id_clean": pl.Utf8,
    "id_kind": pl.Utf8,
    "id_error": pl.Utf8,
    "id_flags": L,
    "old_id_clean": pl.Utf8,
    "old_id_kind": pl.Utf8,
    "phone_clean": pl.Utf8,
    "phone_error": pl.Utf8,
}


def _raw() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "file_name": ["a.xlsx"] * 4,
            "row_number": [1, 2, 3, 4],
            "full_name": ["  NGUYỄN văn hoà ", "Trần Thị Thuỷ", None, "Lê Văn An"],
            "date_of_birth": ["14/03/2005", "2006", "31/02/2005", "38425"],
            "gender": ["1", "2", "", "nam"],
            "national_id": ["79205001234", "079306001234", "7.92031E+10", "079 205 001 234"],
            "old_id": [None, "23456789", None, "079205001234"],
            "phone": ["+84 912 345 678", "01688123456", None, "12"],
            "student_code": ["HS1", "HS2", "HS3", "HS4"],
        }
    )


def test_contract_columns_and_dtypes() -> None:
    raw = _raw()
    out = normalise_records(raw, "insurance", today=TODAY)
    assert out.columns == raw.columns + list(CONTRACT)
    assert {c: out.schema[c] for c in CONTRACT} == CONTRACT
    assert out.select(raw.columns).equals(raw)  # originals never overwritten
    assert out.height == raw.height


def test_values_row_by_row() -> None:
    out = normalise_records(_raw(), "insurance", today=TODAY).to_dicts()
    first, second, third, fourth = out
    assert first["name_clean"] == "Nguyễn Văn Hòa" and first["name_key"] == "nguyen van hoa"
    assert set(first["name_flags"]) == {"tone_style_fixed", "spaces_fixed"}
    assert first["dob"] == date(2005, 3, 14) and first["gender_norm"] == "Nam"
    assert first["id_clean"] == "079205001234" and first["id_flags"] == ["leading_zero_restored"]
    assert first["phone_clean"] == "0912345678"
    assert second["dob_precision"] == "year" and second["gender_norm"] == "Nữ"
    assert second["id_kind"] == "cccd" and second["id_flags"] == []  # 3 = Nữ, 06 = 2006: consistent
    assert (second["old_id_clean"], second["old_id_kind"]) == ("023456789", "cmnd9")
    assert second["phone_clean"] == "0388123456"
    assert third["name_clean"] is None and third["dob_error"] == "impossible_date"
    assert third["gender_error"] == "missing_gender"
    assert (third["id_kind"], third["id_error"]) == ("unusable", "id_scientific_notation")
    assert third["phone_clean"] is None and third["phone_error"] is None
    assert fourth["dob"] == date(2005, 3, 14) and fourth["dob_flags"] == ["excel_serial"]
    assert fourth["id_flags"] == ["separators_removed"] and fourth["old_id_kind"] == "cmnd12"
    assert fourth["phone_error"] == "phone_invalid"


def test_missing_columns_are_treated_as_empty() -> None:
    out = normalise_records(pl.DataFrame({"full_name": ["An"]}), "students", today=TODAY)
    row = out.row(0, named=True)
    assert row["dob_error"] == "missing_date" and row["gender_error"] == "missing_gender"
    assert row["id_kind"] == "missing" and row["old_id_kind"] == "missing" and row["phone_clean"] is None


def test_sector_selects_gender_codes_and_is_checked() -> None:
    df = pl.DataFrame({"gender": ["1"]})
    assert normalise_records(df, "insurance", today=TODAY)["gender_norm"].to_list() == ["Nam"]
    assert normalise_records(df, "students", today=TODAY)["gender_error"].to_list() == ["unknown_gender"]
    with pytest.raises(ValueError, match="unknown sector"):
        normalise_records(df, "police", today=TODAY)


def test_running_twice_gives_the_same_frame() -> None:
    once = normalise_records(_raw(), "insurance", today=TODAY)
    twice = normalise_records(once, "insurance", today=TODAY)
    assert twice.equals(once)


def test_empty_frame() -> None:
    out = normalise_records(pl.DataFrame(schema={"full_name": pl.Utf8}), "students", today=TODAY)
    assert out.height == 0 and set(CONTRACT) <= set(out.columns)


def test_register() -> None:
    reg = pl.DataFrame(
        {
            "person_id": ["079205001234", "001190001234"],
            "full_name": ["Nguyễn Văn Hoà", "Lê Thị Lan"],
            "date_of_birth": [date(2005, 3, 14), date(1991, 1, 2)],
            "gender": ["Nam", "Nữ"],
            "old_id": [None, "012345678"],
            "province": ["Hồ Chí Minh", "Hà Nội"],
        }
    )
    out = normalise_register(reg, today=TODAY)
    assert out.select(reg.columns).equals(reg)
    row0, row1 = out.to_dicts()
    assert row0["name_clean"] == "Nguyễn Văn Hòa" and row0["name_key"] == "nguyen van hoa"
    assert (row0["dob"], row0["dob_precision"], row0["dob_day"]) == (date(2005, 3, 14), "day", 14)
    assert row0["id_kind"] == "cccd" and row0["id_flags"] == [] and row0["gender_norm"] == "Nam"
    assert row1["id_flags"] == ["birth_year_mismatch"]  # 90 in the ID, born 1991
    assert (row1["old_id_clean"], row1["old_id_kind"]) == ("012345678", "cmnd9")
    for col in ("name_clean", "name_key", "family_key", "given_key", "dob", "dob_year", "id_clean", "id_kind"):
        assert out.schema[col] == CONTRACT[col]


def test_summarise_flags_counts_codes_only() -> None:
    out = normalise_records(_raw(), "insurance", today=TODAY)
    counts = summarise_flags(out)
    assert counts == {
        "excel_serial": 1,
        "id_scientific_notation": 1,
        "impossible_date": 1,
        "leading_zero_restored": 1,
        "missing_gender": 1,
        "phone_invalid": 1,
        "separators_removed": 1,
        "spaces_fixed": 1,
        "tone_style_fixed": 2,
    }
    assert all(isinstance(v, int) for v in counts.values())
    assert summarise_flags(pl.DataFrame({"x": [1]})) == {}
