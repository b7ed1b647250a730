"""Vectorised parsing of birth dates typed in sector files (contract docs/contracts.md §4, dates).

Accepted text forms (after trimming; ``/``, ``-`` and ``.`` are interchangeable separators):

=================== =========================================================================
``dd/mm/yyyy``      also ``d/m/yyyy``; the Vietnamese order. If the month is > 12 and the day
                    <= 12 the value is read as ``mm/dd/yyyy`` (US order) with ``day_month_swapped``.
                    When both are <= 12 and differ, ``ambiguous_day_month`` is set (not swapped).
``yyyy-mm-dd``      ISO; ``yyyy/mm/dd`` too.
``yyyymmdd``        health-insurance exports; ``ddmmyyyy`` (CCCD QR) when yyyymmdd is impossible.
``dd/mm/yy``        ``two_digit_year``. Century rule: the latest year not after ``today``
                    (yy <= today's yy -> 20yy, else 19yy), because a birth date is never future.
``mm/yyyy``         month precision (also ``yyyy-mm``); ``dob`` = first day of the month.
``yyyy``            year precision (1800-2199, also ``yyyy.0``); ``dob`` = 1 January; not a day.
Excel serial        any other integer of 1-5 digits (optionally ``.0``/fraction): 1900 system with
                    Excel's leap-year bug (serial 60 = the non-existent 29 Feb 1900 -> impossible;
                    1-59 count from 31 Dec 1899, >= 61 from 30 Dec 1899). ``excel_serial``.
datetime cell       ``yyyy-mm-dd hh:mm[:ss]`` / ``...T...`` as written by a datetime cell, and
                    ``dd/mm/yyyy hh:mm[:ss]`` as a day-first export writes one; ``datetime_cell``.
                    The time is dropped. A serial's time fraction too (``41157.5``, ``41157.25``).
``ngày d tháng m năm yyyy``  written-out Vietnamese form.
=================== =========================================================================

Errors: ``missing_date`` (null/blank), ``unparseable_date`` (no form matched),
``impossible_date`` (e.g. 31/02/2005, month 13 with day > 12, year outside 1800..today+100),
``date_error_value``: the cell shows a spreadsheet error value (``#REF!``, ``#VALUE!``, ``#N/A``,
``#DIV/0!``, … as Excel shows them, a formula's cached error included; LibreOffice's ``Err:502``):
the formula behind it is broken, so no date is read from it, whatever the cell's neighbours hold.
Warnings (``dob_flags``): ``possible_year_only`` for 01/01/yyyy (a common placeholder for an
unknown day), ``future_date``, ``age_over_120``, plus the form flags above.

For a sector's records (:func:`check_plausible_age`, called by ``normalise_records``) a date that
parsed but cannot be the birth date of the list's person is an error too: ``dob_in_future`` (after
the processing day) and ``dob_implausible_for_sector`` (an age outside the sector's range,
``plausible_age`` in ``rules/reasons.yaml``): the row is rejected, its date still used for matching.
A month or a year alone is wrong only when every day of it is. The register is not checked (its
dates are the reference).
"""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from rules.clock import vietnam_today
from rules.normalise.flaglist import flag_list
from rules.normalise.unique import unique_apply

DATE_COLUMNS: tuple[str, ...] = (
    "dob",
    "dob_year",
    "dob_month",
    "dob_day",
    "dob_precision",
    "dob_error",
    "dob_flags",
)
_EXCEL_EPOCH = date(1899, 12, 30)


def _days_in_month(y: pl.Expr, m: pl.Expr) -> pl.Expr:
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    return (
        pl.when(m == 2).then(pl.when(leap).then(29).otherwise(28)).when(m.is_in([4, 6, 9, 11])).then(30).otherwise(31)
    )


def parse_dates(values: pl.Series, today: date | None = None) -> pl.DataFrame:
    """Parse a Series of date cells (Utf8, Date or Datetime) into the contract's date columns.

    Text cells are parsed once per distinct value (birth dates repeat a lot).
    """
    today = today or vietnam_today()
    if values.dtype == pl.Date or isinstance(values.dtype, pl.Datetime):
        return _from_dates(values.cast(pl.Date), today)
    return unique_apply(values.cast(pl.Utf8), lambda u: _parse_text(u, today))


# One pass: up to three digit groups with one separator kind, an optional time part.
_NUMERIC = re.compile(
    r"^(\d{1,8})(?:([/.\-])(\d{1,4})(?:[/.\-](\d{1,4}))?)?"
    r"((?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?:Z|[+-]\d{2}:?\d{2})?)?$"
).pattern
_WORDS = r"^(?:ngày\s*)?(\d{1,2})\s*tháng\s*(\d{1,2})\s*(?:năm\s*)?(\d{4})$"
# Spreadsheet error values as shown in the cell (Excel's, then LibreOffice's "Err:nnn").
ERROR_VALUE = (r"(?i)^(?:#(?:NULL!|DIV/0!|VALUE!|REF!|NAME\?|NUM!|N/A|GETTING_DATA|SPILL!|CALC!|FIELD!|"
               r"BLOCKED!|CONNECT!|BUSY!|UNKNOWN!|EXTERNAL!|PYTHON!)|Err:\d{3})$")


def _parse_text(values: pl.Series, today: date) -> pl.DataFrame:
    c = pl.col
    yy_now = today.year % 100
    # a 5-digit serial day with its time as a fraction of any length (41157.4166666667): the day
    df = pl.DataFrame({"s": values.str.strip_chars().str.replace(r"^(\d{5})\.\d+$", "$1")})
    g = c("s").str.extract_groups(_NUMERIC)
    if values.str.contains("th", literal=True).any():  # written-out form ("ngày ... tháng ...")
        w = c("s").str.to_lowercase().str.extract_groups(_WORDS)
    else:
        w = pl.lit(None, dtype=pl.Struct({"1": pl.Utf8, "2": pl.Utf8, "3": pl.Utf8}))
    df = df.with_columns(
        a=g.struct[0],
        sep=g.struct[1],
        b=g.struct[2],
        cc=g.struct[3],
        time=g.struct[4],
        w_d=w.struct[0].cast(pl.Int32, strict=False),
        w_m=w.struct[1].cast(pl.Int32, strict=False),
        w_y=w.struct[2].cast(pl.Int32, strict=False),
    )
    la, lb, lc = c("a").str.len_chars(), c("b").str.len_chars(), c("cc").str.len_chars()
    a_i, b_i, c_i = (x.cast(pl.Int32, strict=False) for x in (c("a"), c("b"), c("cc")))
    three = c("cc").is_not_null()
    two = c("b").is_not_null() & ~three
    one = c("a").is_not_null() & c("b").is_null()
    has_time = c("time").is_not_null()
    # yyyymmdd when valid, else ddmmyyyy (the CCCD QR form).
    a8y, a8m, a8d = (c("a").str.slice(k, n).cast(pl.Int32, strict=False) for k, n in ((0, 4), (4, 2), (6, 2)))
    ymd8_ok = a8m.is_between(1, 12) & a8d.is_between(1, 31) & (a8d <= _days_in_month(a8y, a8m))
    form = (
        pl.when(c("s").is_null() | (c("s") == ""))
        .then(pl.lit("missing"))
        .when(c("s").str.contains(ERROR_VALUE))
        .then(pl.lit("error_value"))
        .when(c("w_d").is_not_null())
        .then(pl.lit("dmy"))
        .when(has_time & three & (la == 4) & (c("sep") == "-"))
        .then(pl.lit("datetime"))
        .when(has_time & three & (la <= 2) & (lb <= 2) & (lc == 4))
        .then(pl.lit("dmy"))  # a date cell exported day first with its time, 05/09/2012 00:00:00
        .when(has_time)
        .then(pl.lit("unparseable"))
        .when(three & (la <= 2) & (lb <= 2) & (lc == 4))
        .then(pl.lit("dmy"))
        .when(three & (la <= 2) & (lb <= 2) & (lc == 2))
        .then(pl.lit("dmy2"))
        .when(three & (la == 4) & (lb <= 2) & (lc <= 2))
        .then(pl.lit("ymd"))
        .when(two & (c("sep") == ".") & c("b").str.contains(r"^0+$") & (la <= 5))
        .then(pl.when((la == 4) & a_i.is_between(1800, 2199)).then(pl.lit("year")).otherwise(pl.lit("serial")))
        .when(two & (c("sep") == ".") & (la <= 5) & ((lb > 2) | (la == 5)))
        .then(pl.lit("serial"))  # a serial with a time fraction, e.g. 38426.5 or 38426.125
        .when(two & (la <= 2) & (lb == 4))
        .then(pl.lit("month_my"))
        .when(two & (la == 4) & (lb <= 2))
        .then(pl.lit("month_ym"))
        .when(one & (la == 8))
        .then(pl.when(ymd8_ok).then(pl.lit("yyyymmdd")).otherwise(pl.lit("ddmmyyyy")))
        .when(one & (la == 4) & a_i.is_between(1800, 2199))
        .then(pl.lit("year"))
        .when(one & (la <= 5))
        .then(pl.lit("serial"))
        .otherwise(pl.lit("unparseable"))
    )
    df = df.with_columns(form=form)
    f = c("form")
    century_yy = pl.when(c_i <= yy_now).then(2000 + c_i).otherwise(1900 + c_i)
    # Day-first forms: (day, month, year); US order when the month cannot be a month.
    df_d = pl.coalesce(c("w_d"), a_i)
    df_m = pl.coalesce(c("w_m"), b_i)
    swapped = f.is_in(["dmy", "dmy2"]) & (df_m > 12) & df_d.is_between(1, 12)
    df = df.with_columns(swapped=swapped.fill_null(False))
    sw = c("swapped")
    y = (
        pl.when(f == "dmy")
        .then(pl.coalesce(c("w_y"), c_i))
        .when(f == "dmy2")
        .then(century_yy)
        .when(f.is_in(["ymd", "datetime", "month_ym", "year"]))
        .then(a_i)
        .when(f == "month_my")
        .then(b_i)
        .when(f == "yyyymmdd")
        .then(a8y)
        .when(f == "ddmmyyyy")
        .then(c("a").str.slice(4, 4).cast(pl.Int32, strict=False))
    )
    m = (
        pl.when(f.is_in(["dmy", "dmy2"]))
        .then(pl.when(sw).then(df_d).otherwise(df_m))
        .when(f.is_in(["ymd", "datetime", "month_ym"]))
        .then(b_i)
        .when(f == "month_my")
        .then(a_i)
        .when(f == "yyyymmdd")
        .then(a8m)
        .when(f == "ddmmyyyy")
        .then(c("a").str.slice(2, 2).cast(pl.Int32, strict=False))
    )
    d = (
        pl.when(f.is_in(["dmy", "dmy2"]))
        .then(pl.when(sw).then(df_m).otherwise(df_d))
        .when(f.is_in(["ymd", "datetime"]))
        .then(c_i)
        .when(f == "yyyymmdd")
        .then(a8d)
        .when(f == "ddmmyyyy")
        .then(c("a").str.slice(0, 2).cast(pl.Int32, strict=False))
    )
    # Excel serial -> date (1900 system with the 1900 leap-year bug).
    ser = pl.when(f == "serial").then(a_i)
    serial_date = (
        pl.when(ser >= 61)
        .then(pl.lit(_EXCEL_EPOCH) + pl.duration(days=ser))
        .when(ser.is_between(1, 59))
        .then(pl.lit(date(1899, 12, 31)) + pl.duration(days=ser))
    )
    df = df.with_columns(y=y, m=m, d=d, serial_date=serial_date.cast(pl.Date))
    df = df.with_columns(
        form=pl.when(f.str.starts_with("month")).then(pl.lit("month")).otherwise(f),
        y=pl.when(f == "serial").then(c("serial_date").dt.year().cast(pl.Int32)).otherwise(c("y")),
        m=pl.when(f == "serial").then(c("serial_date").dt.month().cast(pl.Int32)).otherwise(c("m")),
        d=pl.when(f == "serial").then(c("serial_date").dt.day().cast(pl.Int32)).otherwise(c("d")),
    )
    return _finish(df, today)


def _finish(df: pl.DataFrame, today: date) -> pl.DataFrame:
    """Validate (y, m, d), build the Date and the error/flag columns."""
    c = pl.col
    form, y, m, d = c("form"), c("y"), c("m"), c("d")
    precision = (
        pl.when(form == "year")
        .then(pl.lit("year"))
        .when(form == "month")
        .then(pl.lit("month"))
        .when(form.is_in(["missing", "unparseable", "error_value"]))
        .then(pl.lit(None, dtype=pl.Utf8))
        .otherwise(pl.lit("day"))
    )
    df = df.with_columns(precision=precision)
    prec = c("precision")
    year_ok = y.is_between(1800, today.year + 100)
    month_ok = pl.when(prec == "year").then(True).otherwise(m.is_between(1, 12))
    day_ok = pl.when(prec != "day").then(True).otherwise(d.is_between(1, 31) & (d <= _days_in_month(y, m)))
    valid = year_ok & month_ok & day_ok
    error = (
        pl.when(form == "missing")
        .then(pl.lit("missing_date"))
        .when(form == "unparseable")
        .then(pl.lit("unparseable_date"))
        .when(form == "error_value")
        .then(pl.lit("date_error_value"))
        .when(~valid.fill_null(False))
        .then(pl.lit("impossible_date"))
    )
    df = df.with_columns(dob_error=error)
    ok = c("dob_error").is_null()
    safe_y = pl.when(ok).then(y).otherwise(2000)
    safe_m = pl.when(ok & (prec != "year")).then(m).otherwise(1)
    safe_d = pl.when(ok & (prec == "day")).then(d).otherwise(1)
    dob = pl.when(ok).then(pl.date(safe_y, safe_m, safe_d))
    df = df.with_columns(dob=dob)
    age_limit = date(today.year - 120, today.month, min(today.day, 28))
    flags = flag_list(
        [
            ("day_month_swapped", c("swapped") & form.is_in(["dmy", "dmy2"])),
            (
                "ambiguous_day_month",
                ok & form.is_in(["dmy", "dmy2"]) & ~c("swapped") & (d <= 12) & (m <= 12) & (d != m),
            ),
            ("possible_year_only", ok & (prec == "day") & (d == 1) & (m == 1)),
            ("excel_serial", form == "serial"),
            ("two_digit_year", form == "dmy2"),
            ("datetime_cell", (form == "datetime") | ((form == "dmy") & c("time").is_not_null())),
            ("future_date", ok & (c("dob") > pl.lit(today))),
            (
                "age_over_120",
                ok & pl.when(prec == "day").then(c("dob") < pl.lit(age_limit)).otherwise(y < today.year - 120),
            ),
        ]
    )
    return df.select(
        c("dob"),
        pl.when(ok).then(y).cast(pl.Int32).alias("dob_year"),
        pl.when(ok & (prec != "year")).then(m).cast(pl.Int8).alias("dob_month"),
        pl.when(ok & (prec == "day")).then(d).cast(pl.Int8).alias("dob_day"),
        pl.when(ok).then(prec).alias("dob_precision"),
        c("dob_error"),
        flags.alias("dob_flags"),
    )


def _from_dates(values: pl.Series, today: date) -> pl.DataFrame:
    """Columns for a Series that is already a Date (the register; typed Excel date cells)."""
    df = pl.DataFrame({"dob": values})
    dob = pl.col("dob")
    age_limit = date(today.year - 120, today.month, min(today.day, 28))
    return df.select(
        dob,
        dob.dt.year().cast(pl.Int32).alias("dob_year"),
        dob.dt.month().cast(pl.Int8).alias("dob_month"),
        dob.dt.day().cast(pl.Int8).alias("dob_day"),
        pl.when(dob.is_not_null()).then(pl.lit("day")).alias("dob_precision"),
        pl.when(dob.is_null()).then(pl.lit("missing_date")).alias("dob_error"),
        flag_list([("future_date", dob > pl.lit(today)), ("age_over_120", dob < pl.lit(age_limit))]).alias("dob_flags"),
    )


def _years_before(day: date, years: int) -> date:
    """The same day ``years`` years earlier; 28 February for a 29 February that year has not."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 2, 28)


def check_plausible_age(dates: pl.DataFrame, today: date, min_age: int, max_age: int) -> pl.DataFrame:
    """``dates`` (the columns of :func:`parse_dates`) with ``dob_error`` set to ``dob_in_future`` for
    a birth date after ``today`` and to ``dob_implausible_for_sector`` for an age (completed years on
    ``today``) below ``min_age`` or above ``max_age``. The row is rejected (the uploader fixes the date)
    but the date itself is kept for matching: it parsed, and a year typed one digit wrong (2031 for
    2013) is still evidence of the person (the matcher's one-digit-off level), where a null date is none.

    A date of month or year precision is judged by its earliest day (future, too young) and its latest
    day (too old), so it is wrong only when every day it may stand for is.
    """
    c = pl.col
    earliest = c("dob")
    latest = (
        pl.when(c("dob_precision") == "year").then(pl.date(c("dob_year"), 12, 31))
        .when(c("dob_precision") == "month").then(c("dob").dt.month_end())
        .otherwise(c("dob"))
    )
    # completed years on `today`: born on or before _years_before(today, n) means at least n years old
    too_old = latest <= pl.lit(_years_before(today, max_age + 1))
    too_young = earliest > pl.lit(_years_before(today, min_age))
    error = (
        pl.when(c("dob_error").is_not_null()).then(c("dob_error"))
        .when(earliest > pl.lit(today)).then(pl.lit("dob_in_future"))
        .when(too_old | too_young).then(pl.lit("dob_implausible_for_sector"))
        .otherwise(c("dob_error"))
    )
    return dates.with_columns(dob_error=error).select(dates.columns)
