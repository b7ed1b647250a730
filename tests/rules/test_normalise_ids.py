"""ID numbers (domain README §1.4 checks), genders (§5 table) and phones."""

from __future__ import annotations

import polars as pl
import pytest

from rules.normalise import gender_table, id_structure_flags, normalise_genders, normalise_ids, normalise_phones


def _id(cell: str | None, role: str = "national_id", gender: str | None = None, year: int | None = None) -> dict:
    return normalise_ids(
        pl.Series([cell], dtype=pl.Utf8),
        role,  # type: ignore[arg-type]
        pl.Series([gender], dtype=pl.Utf8),
        pl.Series([year], dtype=pl.Int32),
    ).row(0, named=True)


@pytest.mark.parametrize(
    ("cell", "clean", "kind", "flags"),
    [
        ("079205001234", "079205001234", "cccd", []),
        (" 079205001234 ", "079205001234", "cccd", []),
        ("79205001234", "079205001234", "cccd", ["leading_zero_restored"]),  # Excel dropped the 0
        ("1205001234", "001205001234", "cccd", ["leading_zero_restored"]),  # Hà Nội 001
        ("79205001234.0", "079205001234", "cccd", ["leading_zero_restored", "float_repaired"]),
        ("7.9205001234E+10", "079205001234", "cccd", ["leading_zero_restored", "float_repaired"]),
        ("079 205 001 234", "079205001234", "cccd", ["separators_removed"]),
        ("079.205.001.234", "079205001234", "cccd", ["separators_removed"]),
        ("079-205-001-234", "079205001234", "cccd", ["separators_removed"]),
        ("'079205001234", "079205001234", "cccd", []),  # Excel text prefix
        ("123456789", "123456789", "cmnd9", []),
        ("23456789", "023456789", "cmnd9", ["leading_zero_restored"]),
    ],
)
def test_id_cleaning(cell: str, clean: str, kind: str, flags: list[str]) -> None:
    row = _id(cell)
    assert (row["id_clean"], row["id_kind"], row["id_error"]) == (clean, kind, None)
    assert row["id_flags"] == flags


@pytest.mark.parametrize(
    ("cell", "kind", "error", "clean"),
    [
        ("7.92031E+10", "unusable", "id_scientific_notation", None),  # digits lost: never guessed
        ("7,92031E+10", "unusable", "id_scientific_notation", None),
        ("07920500123", "invalid", "id_wrong_length", "07920500123"),  # 11 digits, 0079 is no code
        ("9920500123", "invalid", "id_wrong_length", "9920500123"),  # padded prefix 009 is no code
        ("12345", "invalid", "id_wrong_length", "12345"),
        ("0792050012345", "invalid", "id_wrong_length", "0792050012345"),
        ("CCCD 079205001234", "invalid", "id_not_digits", None),
        ("không có", "invalid", "id_not_digits", None),
        (None, "missing", None, None),
        ("", "missing", None, None),
        ("  ", "missing", None, None),
    ],
)
def test_id_rejections(cell: str | None, kind: str, error: str | None, clean: str | None) -> None:
    row = _id(cell)
    assert (row["id_kind"], row["id_error"], row["id_clean"]) == (kind, error, clean)


def test_old_id_column_reads_twelve_digits_as_cmnd12() -> None:
    assert _id("079205001234", role="old_id")["id_kind"] == "cmnd12"
    assert _id("123456789", role="old_id")["id_kind"] == "cmnd9"
    assert _id("079205001234", role="old_id", gender="Nữ", year=1990)["id_flags"] == []  # no CCCD checks
    with pytest.raises(ValueError, match="unknown id role"):
        normalise_ids(pl.Series(["1"]), "passport")  # type: ignore[arg-type]


# Structure (Circular 07/2016 Art. 7): d4 = gender + century, d5d6 = year % 100. Warnings only.
@pytest.mark.parametrize(
    ("cell", "gender", "year", "flags"),
    [
        ("079205001234", "Nam", 2005, []),
        ("079305001234", "Nữ", 2005, []),
        ("001090001234", "Nam", 1990, []),
        ("001190001234", "Nữ", 1990, []),
        ("079205001234", "Nữ", 2005, ["gender_digit_mismatch"]),
        ("079205001234", "Nam", 2006, ["birth_year_mismatch"]),
        ("079205001234", "Nam", 1905, ["birth_year_mismatch"]),  # right yy, wrong century
        ("079405001234", "Nam", 2105, ["century_digit_unusual"]),
        ("099205001234", "Nam", 2005, ["province_code_unknown"]),  # 099 is not one of the 63 codes
        ("079205001234", None, None, []),  # unknown gender/year: nothing to compare
    ],
)
def test_id_structure_warnings(cell: str, gender: str | None, year: int | None, flags: list[str]) -> None:
    row = _id(cell, gender=gender, year=year)
    assert row["id_kind"] == "cccd" and row["id_error"] is None  # never a rejection
    assert row["id_flags"] == flags


def test_id_structure_flags_expression() -> None:
    df = pl.DataFrame({"id": ["079205001234"], "kind": ["cccd"], "g": ["Nữ"], "y": [2006]})
    out = df.select(id_structure_flags(pl.col("id"), pl.col("kind"), pl.col("g"), pl.col("y")))
    assert out.to_series().to_list() == [["gender_digit_mismatch", "birth_year_mismatch"]]


@pytest.mark.parametrize(
    ("cell", "sector", "expected", "error"),
    [
        ("Nam", "students", "Nam", None),
        ("NAM", "students", "Nam", None),
        ("nam", "vaccinations", "Nam", None),
        ("Nữ", "students", "Nữ", None),
        ("NỮ", "students", "Nữ", None),
        ("nu", "students", "Nữ", None),
        ("Nu", "insurance", "Nữ", None),
        ("M", "students", "Nam", None),
        ("f", "students", "Nữ", None),
        ("Male", "students", "Nam", None),
        ("female", "students", "Nữ", None),
        (" nữ giới ", "students", "Nữ", None),
        ("1", "insurance", "Nam", None),  # GIOI_TINH (CV 3360)
        ("2", "insurance", "Nữ", None),
        ("2.0", "insurance", "Nữ", None),
        ("1", "students", None, "unknown_gender"),  # no numeric convention: never guess
        ("0", "insurance", None, "unknown_gender"),
        ("3", "insurance", None, "unknown_gender"),
        ("x", "students", None, "unknown_gender"),
        ("", "students", None, "missing_gender"),
        (None, "insurance", None, "missing_gender"),
    ],
)
def test_gender_codes(cell: str | None, sector: str, expected: str | None, error: str | None) -> None:
    row = normalise_genders(pl.Series([cell], dtype=pl.Utf8), sector).row(0, named=True)
    assert (row["gender_norm"], row["gender_error"]) == (expected, error)


def test_gender_table_is_data_and_checks_the_sector() -> None:
    assert gender_table("insurance")["1"] == "Nam"
    assert "1" not in gender_table("students")
    with pytest.raises(ValueError, match="unknown sector"):
        gender_table("hospitals")


@pytest.mark.parametrize(
    ("cell", "clean", "error"),
    [
        ("0912345678", "0912345678", None),
        ("091 234 5678", "0912345678", None),
        ("0912.345.678", "0912345678", None),
        ("0975.806.000", "0975806000", None),  # dotted groups ending in zeros are not a float cell
        ("+84 912 345 678", "0912345678", None),
        ("+84912345678", "0912345678", None),
        ("84912345678", "0912345678", None),
        ("0084912345678", "0912345678", None),
        ("912345678", "0912345678", None),  # Excel dropped the leading zero
        ("912345678.0", "0912345678", None),
        ("01688123456", "0388123456", None),  # Viettel 0168 -> 038 (2018)
        ("0168 812 3456", "0388123456", None),
        ("01212345678", "0792345678", None),  # MobiFone 0121 -> 079
        ("01232345678", "0832345678", None),  # VinaPhone 0123 -> 083
        ("+841688123456", "0388123456", None),
        ("02438123456", None, "phone_invalid"),  # landline (11 digits): not a mobile
        ("0112345678", None, "phone_invalid"),
        ("12345", None, "phone_invalid"),
        ("không có", None, "phone_invalid"),
        (None, None, None),
        ("", None, None),
    ],
)
def test_phones(cell: str | None, clean: str | None, error: str | None) -> None:
    row = normalise_phones(pl.Series([cell], dtype=pl.Utf8)).row(0, named=True)
    assert (row["phone_clean"], row["phone_error"]) == (clean, error)
