"""Dates: every accepted form, Excel serials (1900 leap-year bug), precision, errors and flags."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from rules.normalise import parse_dates

TODAY = date(2026, 11, 23)


def _one(cell: str | None) -> dict:
    return parse_dates(pl.Series([cell], dtype=pl.Utf8), today=TODAY).row(0, named=True)


@pytest.mark.parametrize(
    ("cell", "expected", "flags"),
    [
        ("14/03/2005", date(2005, 3, 14), []),
        ("4/3/2005", date(2005, 3, 4), ["ambiguous_day_month"]),
        ("14-03-2005", date(2005, 3, 14), []),
        ("14.03.2005", date(2005, 3, 14), []),
        ("2005-03-14", date(2005, 3, 14), []),
        ("2005/3/14", date(2005, 3, 14), []),
        ("20050314", date(2005, 3, 14), []),  # health-insurance yyyymmdd
        ("14032005", date(2005, 3, 14), []),  # CCCD QR ddmmyyyy
        ("14/03/05", date(2005, 3, 14), ["two_digit_year"]),
        ("14/03/26", date(2026, 3, 14), ["two_digit_year"]),  # yy <= today's yy -> 20yy
        ("14/03/27", date(1927, 3, 14), ["two_digit_year"]),  # else 19yy
        ("2005-03-14 00:00:00", date(2005, 3, 14), ["datetime_cell"]),
        ("2005-03-14T08:30:00", date(2005, 3, 14), ["datetime_cell"]),
        ("ngày 14 tháng 3 năm 2005", date(2005, 3, 14), []),
        ("03/14/2005", date(2005, 3, 14), ["day_month_swapped"]),
        ("01/01/2005", date(2005, 1, 1), ["possible_year_only"]),
        (" 14/03/2005 ", date(2005, 3, 14), []),
    ],
)
def test_day_precision_forms(cell: str, expected: date, flags: list[str]) -> None:
    row = _one(cell)
    assert row["dob"] == expected
    assert (row["dob_year"], row["dob_month"], row["dob_day"]) == (expected.year, expected.month, expected.day)
    assert row["dob_precision"] == "day" and row["dob_error"] is None
    assert row["dob_flags"] == flags


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        ("1", date(1900, 1, 1)),
        ("59", date(1900, 2, 28)),
        ("61", date(1900, 3, 1)),  # Excel's fictitious 29/02/1900 is serial 60
        ("36526", date(2000, 1, 1)),
        ("38425", date(2005, 3, 14)),
        ("38425.0", date(2005, 3, 14)),
        ("45000", date(2023, 3, 15)),
    ],
)
def test_excel_serials(serial: str, expected: date) -> None:
    row = _one(serial)
    assert row["dob"] == expected
    assert "excel_serial" in row["dob_flags"]


def test_excel_serial_60_is_the_fictitious_leap_day() -> None:
    row = _one("60")
    assert row["dob"] is None and row["dob_error"] == "impossible_date"


@pytest.mark.parametrize(
    ("cell", "precision", "dob", "month"),
    [
        ("2005", "year", date(2005, 1, 1), None),
        ("2005.0", "year", date(2005, 1, 1), None),
        ("03/2005", "month", date(2005, 3, 1), 3),
        ("3-2005", "month", date(2005, 3, 1), 3),
        ("2005-03", "month", date(2005, 3, 1), 3),
    ],
)
def test_partial_precision(cell: str, precision: str, dob: date, month: int | None) -> None:
    row = _one(cell)
    assert row["dob_precision"] == precision
    assert row["dob"] == dob
    assert row["dob_month"] == month
    assert row["dob_day"] is None
    assert "possible_year_only" not in row["dob_flags"]  # year-only is not turned into 01/01


@pytest.mark.parametrize(
    ("cell", "error"),
    [
        (None, "missing_date"),
        ("", "missing_date"),
        ("   ", "missing_date"),
        ("abc", "unparseable_date"),
        ("14/03/2005 abc", "unparseable_date"),
        ("31/02/2005", "impossible_date"),
        ("29/02/2023", "impossible_date"),
        ("13/13/2005", "impossible_date"),
        ("00/01/2005", "impossible_date"),
        ("1/1/0005", "impossible_date"),
        ("2005-13-01", "impossible_date"),
    ],
)
def test_errors(cell: str | None, error: str) -> None:
    row = _one(cell)
    assert row["dob_error"] == error
    assert row["dob"] is None and row["dob_year"] is None and row["dob_precision"] is None


def test_leap_day_is_valid_in_a_leap_year() -> None:
    assert _one("29/02/2024")["dob"] == date(2024, 2, 29)
    assert _one("29/02/2000")["dob"] == date(2000, 2, 29)
    assert _one("29/02/1900")["dob_error"] == "impossible_date"


def test_future_and_very_old_dates_are_flagged_not_rejected() -> None:
    future = _one("01/12/2026")
    assert future["dob"] == date(2026, 12, 1) and "future_date" in future["dob_flags"]
    old = _one("15/06/1900")
    assert old["dob_error"] is None and "age_over_120" in old["dob_flags"]
    assert "age_over_120" in _one("1890")["dob_flags"]
    assert "age_over_120" not in _one("1950")["dob_flags"]


def test_date_and_datetime_columns_are_accepted() -> None:
    dates = pl.Series([date(2005, 3, 14), None])
    out = parse_dates(dates, today=TODAY)
    assert out["dob"].to_list() == [date(2005, 3, 14), None]
    assert out["dob_precision"].to_list() == ["day", None]
    assert out["dob_error"].to_list() == [None, "missing_date"]
    dts = parse_dates(pl.Series([datetime(2005, 3, 14, 10, 0)]), today=TODAY)
    assert dts["dob"].to_list() == [date(2005, 3, 14)]


def test_output_dtypes_follow_the_contract() -> None:
    out = parse_dates(pl.Series(["14/03/2005", "2005", None]), today=TODAY)
    assert out.schema == pl.Schema(
        {
            "dob": pl.Date,
            "dob_year": pl.Int32,
            "dob_month": pl.Int8,
            "dob_day": pl.Int8,
            "dob_precision": pl.Utf8,
            "dob_error": pl.Utf8,
            "dob_flags": pl.List(pl.Utf8),
        }
    )
