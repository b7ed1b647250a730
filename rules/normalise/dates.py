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
datetime cell       ``yyyy-mm-dd hh:mm[:ss]`` / ``...T...`` as written by a datetime cell;
                    ``datetime_cell``. The time is dropped.
``ngày d tháng m năm yyyy``  written-out Vietnamese form.
=================== =========================================================================

Errors: ``missing_date`` (null/blank), ``unparseable_date`` (no form matched),
``impossible_date`` (e.g. 31/02/2005, month 13 with day > 12, year outside 1800..today+100).
Warnings (``dob_flags``): ``possible_year_only`` for 01/01/yyyy (a common placeholder for an
unknown day), ``future_date``, ``age_over_120``, plus the form flags above.
"""

from __future__ import annotations

from datetime import date

import polars as pl

DATE_COLUMNS: tuple[str, ...] = (
    "dob",
    "dob_year",
    "dob_month",
    "dob_day",
    "dob_precision",
    "dob_error",
    "dob_flags",
)
_SEP = r"[/\-.]"
_EXCEL_EPOCH = date(1899, 12, 30)


def _days_in_month(y: pl.Expr, m: pl.Expr) -> pl.Expr:
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    return (
        pl.when(m == 2)
        .then(pl.when(leap).then(29).otherwise(28))
        .when(m.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )


def _int(group: pl.Expr) -> pl.Expr:
    return group.cast(pl.Int32, strict=False)


def parse_dates(values: pl.Series, today: date | None = None) -> pl.DataFrame:
    """Parse a Series of date cells (Utf8, Date or Datetime) into the contract's date columns."""
    today = today or date.today()
    if values.dtype == pl.Date or isinstance(values.dtype, pl.Datetime):
        return _from_dates(values.cast(pl.Date), today)
    s = values.cast(pl.Utf8).str.strip_chars()
    df = pl.DataFrame({"s": s})
    yy_now = today.year % 100
    x = pl.col("s")
    dmy = x.str.extract_groups(rf"^(\d{{1,2}}){_SEP}(\d{{1,2}}){_SEP}(\d{{4}})$")
    ymd = x.str.extract_groups(rf"^(\d{{4}}){_SEP}(\d{{1,2}}){_SEP}(\d{{1,2}})$")
    dt = x.str.extract_groups(
        r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(?:Z|[+-]\d{2}:?\d{2})?$"
    )
    d8 = x.str.extract_groups(r"^(\d{4})(\d{2})(\d{2})$")
    dmy2 = x.str.extract_groups(rf"^(\d{{1,2}}){_SEP}(\d{{1,2}}){_SEP}(\d{{2}})$")
    my = x.str.extract_groups(rf"^(\d{{1,2}}){_SEP}(\d{{4}})$")
    ym = x.str.extract_groups(rf"^(\d{{4}}){_SEP}(\d{{1,2}})$")
    yonly = x.str.extract(r"^(\d{4})(?:\.0+)?$", 1)
    serial = x.str.extract(r"^(\d{1,5})(?:\.\d+)?$", 1)
    words = x.str.to_lowercase().str.extract_groups(
        r"^(?:ngày\s*)?(\d{1,2})\s*tháng\s*(\d{1,2})\s*(?:năm\s*)?(\d{4})$"
    )
    df = df.with_columns(
        dmy_d=_int(dmy.struct[0]),
        dmy_m=_int(dmy.struct[1]),
        dmy_y=_int(dmy.struct[2]),
        ymd_y=_int(ymd.struct[0]),
        ymd_m=_int(ymd.struct[1]),
        ymd_d=_int(ymd.struct[2]),
        dt_y=_int(dt.struct[0]),
        dt_m=_int(dt.struct[1]),
        dt_d=_int(dt.struct[2]),
        d8_a=_int(d8.struct[0]),
        d8_b=_int(d8.struct[1]),
        d8_c=_int(d8.struct[2]),
        d2_d=_int(dmy2.struct[0]),
        d2_m=_int(dmy2.struct[1]),
        d2_y=_int(dmy2.struct[2]),
        my_m=_int(my.struct[0]),
        my_y=_int(my.struct[1]),
        ym_y=_int(ym.struct[0]),
        ym_m=_int(ym.struct[1]),
        yo=_int(yonly),
        ser=_int(serial),
        w_d=_int(words.struct[0]),
        w_m=_int(words.struct[1]),
        w_y=_int(words.struct[2]),
    )
    c = pl.col
    # yyyymmdd when that is a valid date, else ddmmyyyy (the CCCD QR form).
    d8_ymd_ok = (
        c("d8_b").is_between(1, 12)
        & c("d8_c").is_between(1, 31)
        & (c("d8_c") <= _days_in_month(c("d8_a"), c("d8_b")))
    )
    d8_raw = x.str.extract(r"^(\d{8})$", 1)
    d8_dd = _int(d8_raw.str.slice(0, 2))
    d8_mm = _int(d8_raw.str.slice(2, 2))
    d8_yy = _int(d8_raw.str.slice(4, 4))
    century_yy = pl.when(c("d2_y") <= yy_now).then(2000 + c("d2_y")).otherwise(1900 + c("d2_y"))
    # Day-first forms: pick (day, month, year) and whether the order was swapped.
    dayfirst_d = pl.coalesce(c("dmy_d"), c("d2_d"), c("w_d"))
    dayfirst_m = pl.coalesce(c("dmy_m"), c("d2_m"), c("w_m"))
    dayfirst_y = pl.coalesce(c("dmy_y"), century_yy, c("w_y"))
    swapped = (dayfirst_m > 12) & dayfirst_d.is_between(1, 12)
    df = df.with_columns(
        form=pl.when(c("s").is_null() | (c("s") == ""))
        .then(pl.lit("missing"))
        .when(c("dmy_d").is_not_null() | c("w_d").is_not_null())
        .then(pl.lit("dmy"))
        .when(c("d2_d").is_not_null())
        .then(pl.lit("dmy2"))
        .when(c("ymd_y").is_not_null())
        .then(pl.lit("ymd"))
        .when(c("dt_y").is_not_null())
        .then(pl.lit("datetime"))
        .when(c("d8_a").is_not_null())
        .then(pl.when(d8_ymd_ok).then(pl.lit("yyyymmdd")).otherwise(pl.lit("ddmmyyyy")))
        .when(c("yo").is_between(1800, 2199))
        .then(pl.lit("year"))
        .when(c("my_m").is_not_null() | c("ym_y").is_not_null())
        .then(pl.lit("month"))
        .when(c("ser").is_not_null())
        .then(pl.lit("serial"))
        .otherwise(pl.lit("unparseable")),
        swapped=swapped,
    )
    form = c("form")
    is_dayfirst = form.is_in(["dmy", "dmy2"])
    y = (
        pl.when(is_dayfirst)
        .then(dayfirst_y)
        .when(form == "ymd")
        .then(c("ymd_y"))
        .when(form == "datetime")
        .then(c("dt_y"))
        .when(form == "yyyymmdd")
        .then(c("d8_a"))
        .when(form == "ddmmyyyy")
        .then(d8_yy)
        .when(form == "month")
        .then(pl.coalesce(c("my_y"), c("ym_y")))
        .when(form == "year")
        .then(c("yo"))
    )
    m = (
        pl.when(is_dayfirst)
        .then(pl.when(c("swapped")).then(dayfirst_d).otherwise(dayfirst_m))
        .when(form == "ymd")
        .then(c("ymd_m"))
        .when(form == "datetime")
        .then(c("dt_m"))
        .when(form == "yyyymmdd")
        .then(c("d8_b"))
        .when(form == "ddmmyyyy")
        .then(d8_mm)
        .when(form == "month")
        .then(pl.coalesce(c("my_m"), c("ym_m")))
    )
    d = (
        pl.when(is_dayfirst)
        .then(pl.when(c("swapped")).then(dayfirst_m).otherwise(dayfirst_d))
        .when(form == "ymd")
        .then(c("ymd_d"))
        .when(form == "datetime")
        .then(c("dt_d"))
        .when(form == "yyyymmdd")
        .then(c("d8_c"))
        .when(form == "ddmmyyyy")
        .then(d8_dd)
    )
    # Excel serial -> date (1900 system with the 1900 leap-year bug).
    ser = c("ser")
    serial_date = (
        pl.when(ser >= 61)
        .then(pl.lit(_EXCEL_EPOCH) + pl.duration(days=ser))
        .when(ser.is_between(1, 59))
        .then(pl.lit(date(1899, 12, 31)) + pl.duration(days=ser))
    )
    df = df.with_columns(y=y, m=m, d=d, serial_date=serial_date.cast(pl.Date))
    df = df.with_columns(
        y=pl.when(form == "serial").then(c("serial_date").dt.year()).otherwise(c("y")),
        m=pl.when(form == "serial").then(c("serial_date").dt.month().cast(pl.Int32)).otherwise(c("m")),
        d=pl.when(form == "serial").then(c("serial_date").dt.day().cast(pl.Int32)).otherwise(c("d")),
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
        .when(form.is_in(["missing", "unparseable"]))
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
    flags = pl.concat_list(
        pl.when(c("swapped") & (form.is_in(["dmy", "dmy2"]))).then(pl.lit("day_month_swapped")),
        pl.when(ok & form.is_in(["dmy", "dmy2"]) & ~c("swapped") & (d <= 12) & (m <= 12) & (d != m)).then(
            pl.lit("ambiguous_day_month")
        ),
        pl.when(ok & (prec == "day") & (d == 1) & (m == 1)).then(pl.lit("possible_year_only")),
        pl.when(form == "serial").then(pl.lit("excel_serial")),
        pl.when(form == "dmy2").then(pl.lit("two_digit_year")),
        pl.when(form == "datetime").then(pl.lit("datetime_cell")),
        pl.when(ok & (c("dob") > pl.lit(today))).then(pl.lit("future_date")),
        pl.when(
            ok & (pl.when(prec == "day").then(c("dob") < pl.lit(age_limit)).otherwise(y < today.year - 120))
        ).then(pl.lit("age_over_120")),
    ).list.drop_nulls()
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
        pl.concat_list(
            pl.when(dob > pl.lit(today)).then(pl.lit("future_date")),
            pl.when(dob < pl.lit(age_limit)).then(pl.lit("age_over_120")),
        )
        .list.drop_nulls()
        .alias("dob_flags"),
    )
