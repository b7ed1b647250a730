"""Vectorised cleaning and classification of ID numbers (contract docs/contracts.md §4, national_id).

Rules (domain README §1.4), in order:
- trim; strip an Excel text-prefix quote; empty -> kind ``missing``.
- scientific notation (``7.92031E+10``): if the mantissa still holds every digit (as many
  decimals as the exponent) the number is rebuilt (``float_repaired``); if digits were lost it is
  kind ``unusable`` with ``id_scientific_notation`` - never guessed.
- a float cell (``79203001234.0``) -> its integer digits (``float_repaired``).
- digits lost on the way through a number: a 10- or 11-digit value (a 12-digit ID whose leading
  zeros a number cell dropped), or a 12-digit one without a leading zero (rounded up for display),
  with at most 6 significant digits left, ``79203100000``: what Excel
  keeps when a number shown as ``7.92031E+10`` is saved or retyped as displayed. Kind ``unusable`` /
  ``id_scientific_notation``, never padded into a wrong ID. A real ID ends in that many zeros once
  in 100,000 (10,000 for the ``00x`` provinces), and only as a number cell: typed as Text it keeps
  its leading zero, has 12 digits and is read as it is.
- spaces, dots, dashes, underscores and slashes removed (``separators_removed``).
- anything but ASCII digits left -> ``invalid`` / ``id_not_digits``.
- length, for a ``national_id`` column: 12 -> ``cccd``; 11 or 10 -> left-padded with zeros to 12
  when the padded prefix is one of the 63 CCCD province codes (every code starts with 0, Excel
  drops it) -> ``cccd`` + ``leading_zero_restored``, else ``invalid``; 9 -> ``cmnd9``; 8 ->
  ``cmnd9`` after restoring one leading zero (CMND prefixes 01-09 exist); other -> ``invalid`` /
  ``id_wrong_length``.
- for an ``old_id`` column the same, except that a 12-digit value is ``cmnd12`` (a 12-digit CMND
  and a CCCD cannot be told apart by their digits; the column says which one was meant).

Structural checks of a 12-digit number are *warnings* (README 1.1: numbers re-established after
July 2024 may differ): ``province_code_unknown``, ``century_digit_unusual``,
``gender_digit_mismatch`` and ``birth_year_mismatch`` (the last two need the normalised gender and
birth year; :func:`id_structure_flags` gives the digit-4-6 checks as an expression).
"""

from __future__ import annotations

from functools import cache
from typing import Literal

import polars as pl

from rules.normalise.flaglist import flag_list
from rules.provinces import cccd_codes

ID_COLUMNS: tuple[str, ...] = ("id_clean", "id_kind", "id_error", "id_flags")
LOST_DIGITS_KEPT = 6  # significant digits Excel's General format shows in scientific notation
IdRole = Literal["national_id", "old_id"]


@cache
def province_codes() -> tuple[str, ...]:
    """The 63 three-digit CCCD province codes (Circular 07/2016 Appendix 1)."""
    return tuple(sorted(cccd_codes()))


def normalise_ids(
    values: pl.Series,
    role: IdRole = "national_id",
    gender: pl.Series | None = None,
    dob_year: pl.Series | None = None,
) -> pl.DataFrame:
    """Clean and classify ID cells; returns ``id_clean``, ``id_kind``, ``id_error``, ``id_flags``.

    With ``gender`` (Nam/Nữ) and ``dob_year`` (same length) the structural checks of digits 4-6
    are added to ``id_flags``.
    """
    if role not in ("national_id", "old_id"):
        raise ValueError(f"unknown id role {role!r}; use 'national_id' or 'old_id'")
    codes = list(province_codes())
    c = pl.col
    raw = values.cast(pl.Utf8)
    # Fast path: cells that are already bare digits (the vast majority) skip the repair regexes.
    plain = raw.str.contains(r"^[0-9]+$").fill_null(False)
    df = pl.DataFrame(
        {
            "digits": pl.select(pl.when(plain).then(raw)).to_series(),
            "all_digits": plain,
            "missing": raw.is_null(),
            "sci_lost": pl.repeat(False, len(raw), eager=True),
            "sci_bad": pl.repeat(False, len(raw), eager=True),
            "float_fixed": pl.repeat(False, len(raw), eager=True),
            "sep_fixed": pl.repeat(False, len(raw), eager=True),
        }
    )
    idx = (~plain & raw.is_not_null()).arg_true()
    if idx.len():
        fixed = _repair_cells(raw.gather(idx))
        df = df.with_columns(df.get_column(col).scatter(idx, fixed.get_column(col)) for col in fixed.columns)
    d = c("digits")
    n = d.str.len_chars()
    # Kinds as small integers while computing (integer compares are far cheaper than strings).
    missing, unusable, invalid, twelve, cmnd9 = range(5)
    short = n.is_in([10, 11])
    pad_ok = pl.when(short).then(d.str.zfill(12).str.slice(0, 3).is_in(codes))
    # a number that kept at most 6 significant digits: the rest were lost, not zeros (see above)
    # (12 digits without a leading zero too: 9.5E+10 shown with one digit is 1E+11, 100000000000)
    truncated = ((short | ((n == 12) & ~d.str.starts_with("0"))) & c("all_digits")
                 & (d.str.strip_chars_end("0").str.len_chars() <= LOST_DIGITS_KEPT))
    kind = (
        pl.when(c("missing"))
        .then(missing)
        .when(c("sci_lost") | truncated.fill_null(False))
        .then(unusable)
        .when(~c("all_digits"))
        .then(invalid)
        .when((n == 12) | (short & pad_ok))
        .then(twelve)
        .when(n.is_in([8, 9]))
        .then(cmnd9)
        .otherwise(invalid)
        .cast(pl.UInt8)
    )
    df = df.with_columns(_k=kind, _n=n)
    k, n = c("_k"), c("_n")
    clean = (
        pl.when((k == twelve) & (n == 12))
        .then(d)
        .when(k == twelve)
        .then(d.str.zfill(12))
        .when((k == cmnd9) & (n == 8))
        .then(d.str.zfill(9))
        .when((k == cmnd9) | ((k == invalid) & c("all_digits")))
        .then(d)
    )
    error_codes = pl.Series([None, "id_scientific_notation", "id_wrong_length", None, None], dtype=pl.Utf8)
    error = (
        pl.when((k == invalid) & (~c("all_digits") | c("sci_bad")))
        .then(pl.lit("id_not_digits"))
        .otherwise(pl.lit(error_codes).gather(k))
    )
    twelve_name = "cccd" if role == "national_id" else "cmnd12"
    kind_names = pl.Series(["missing", "unusable", "invalid", twelve_name, "cmnd9"], dtype=pl.Utf8)
    df = df.with_columns(
        id_clean=clean,
        id_kind=pl.lit(kind_names).gather(k),
        id_error=error,
        _g=gender if gender is not None else pl.repeat(None, len(raw), dtype=pl.Utf8, eager=True),
        _y=dob_year if dob_year is not None else pl.repeat(None, len(raw), dtype=pl.Int32, eager=True),
    )
    is_cccd = (k == twelve) if role == "national_id" else pl.repeat(False, len(raw))
    flags = flag_list(
        [
            ("leading_zero_restored", (k.is_in([twelve, cmnd9])) & (n < pl.when(k == twelve).then(12).otherwise(9))),
            ("float_repaired", c("float_fixed")),
            ("separators_removed", c("sep_fixed")),
            *_structure_checks(c("id_clean"), is_cccd, c("_g"), c("_y")),
        ]
    )
    return df.select("id_clean", "id_kind", "id_error", flags.alias("id_flags"))


# an ID Excel wrote in scientific notation: integer part, decimals (the mantissa's digits), exponent
SCIENTIFIC_ID = r"^(\d+)(?:[.,](\d*))?[eE]\+?(\d+)$"
ID_QUOTES = "'\"`’‘"  # an Excel text-prefix quote and its look-alikes around a typed ID


def _repair_cells(raw: pl.Series) -> pl.DataFrame:
    """Digits and repair flags for cells that are not bare digits (quotes, floats, separators)."""
    c = pl.col
    df = pl.DataFrame({"raw": raw}).with_columns(t=c("raw").str.strip_chars().str.strip_chars(ID_QUOTES))
    sci = c("t").str.extract_groups(SCIENTIFIC_ID)
    df = df.with_columns(
        sci_int=sci.struct[0],
        sci_frac=sci.struct[1].fill_null(""),
        sci_exp=sci.struct[2].cast(pl.Int32, strict=False),
        flt=c("t").str.extract(r"^(\d+)[.,]0+$", 1),
        sep=c("t").str.replace_all(r"[\s.\-_/]", ""),
    )
    is_sci = c("sci_int").is_not_null()
    frac_len = c("sci_frac").str.len_chars().cast(pl.Int32)
    sci_exact = is_sci & (frac_len == c("sci_exp"))
    sci_lost = is_sci & (frac_len < c("sci_exp"))
    digits = (
        pl.when(sci_exact)
        .then((c("sci_int") + c("sci_frac")).str.strip_chars_start("0"))
        .when(is_sci)
        .then(pl.lit(None, dtype=pl.Utf8))
        .when(c("flt").is_not_null())
        .then(c("flt"))
        .otherwise(c("sep"))
    )
    missing = c("t").is_null() | (c("t") == "")
    return df.with_columns(digits=digits).select(
        "digits",
        c("digits").str.contains(r"^[0-9]+$").fill_null(False).alias("all_digits"),
        missing.alias("missing"),
        sci_lost.alias("sci_lost"),
        (is_sci & ~sci_exact & ~sci_lost).alias("sci_bad"),
        ((sci_exact | c("flt").is_not_null()) & ~missing).alias("float_fixed"),
        (~is_sci & c("flt").is_null() & (c("sep") != c("t")) & ~missing).alias("sep_fixed"),
    )


def _structure_checks(
    id_clean: pl.Expr, is_cccd: pl.Expr, gender: pl.Expr, dob_year: pl.Expr
) -> list[tuple[str, pl.Expr]]:
    """Warnings from digits 1-6 of a 12-digit personal ID (Circular 07/2016 Art. 7).

    digits 1-3: one of the 63 province codes; digit 4: even = Nam, odd = Nữ, century =
    1900 + 100 * (d4 // 2); digits 5-6 = year % 100. Only 0-3 occur for living people
    (``century_digit_unusual`` otherwise). Computed on the number as an integer: one parse per
    row instead of several substrings.
    """
    number = pl.when(is_cccd).then(id_clean.cast(pl.Int64, strict=False))
    province = number // 1_000_000_000
    d4 = (number // 100_000_000) % 10
    id_year = _id_year(number, d4)
    codes = [int(code) for code in province_codes()]
    return [
        ("province_code_unknown", is_cccd & ~province.is_in(codes)),
        ("century_digit_unusual", is_cccd & (d4 > 3)),
        ("gender_digit_mismatch", is_cccd & gender.is_not_null() & ((d4 % 2 == 1) != (gender == "Nữ"))),
        ("birth_year_mismatch", is_cccd & dob_year.is_not_null() & (id_year != dob_year)),
    ]


def _id_year(number: pl.Expr, d4: pl.Expr) -> pl.Expr:
    return 1900 + 100 * (d4 // 2) + (number // 1_000_000) % 100


def cccd_birth_year(id_clean: pl.Expr, id_kind: pl.Expr) -> pl.Expr:
    """Birth year encoded in a 12-digit personal ID (digit 4 = century and gender, digits 5-6 = year
    % 100), as Int32; null unless ``id_kind`` is ``cccd`` and the century digit is one of 0-3 (living
    people). The same arithmetic as the ``birth_year_mismatch`` check."""
    number = pl.when(id_kind == "cccd").then(id_clean.cast(pl.Int64, strict=False))
    d4 = (number // 100_000_000) % 10
    return pl.when(d4 <= 3).then(_id_year(number, d4)).cast(pl.Int32)


def id_structure_flags(id_clean: pl.Expr, id_kind: pl.Expr, gender: pl.Expr, dob_year: pl.Expr) -> pl.Expr:
    """The structural warnings alone, as a List[Utf8] expression (for callers with their own frame)."""
    return flag_list(_structure_checks(id_clean, id_kind == "cccd", gender, dob_year)[1:])
