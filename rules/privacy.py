"""Masking of personal data for analyst outputs (Decree 13/2023: data minimisation).

Analysts get counts, masked IDs (first three and last two digits: ``079*******12``; the first three
are the public province-of-registration code), name initials and birth years, never the full values.
These are polars expressions so they run vectorised inside the publishing SQL's input frames.
"""

from __future__ import annotations

import polars as pl


def mask_id(expr: pl.Expr) -> pl.Expr:
    """``079203001234`` -> ``079*******34``; a 9-digit CMND -> ``02*****89``; short or empty -> null."""
    digits = expr.cast(pl.Utf8).str.replace_all(r"\D", "")
    n = digits.str.len_chars()
    head = pl.when(n >= 12).then(3).otherwise(2)
    return (
        pl.when(n >= 9)
        .then(
            pl.concat_str(
                digits.str.slice(0, head),
                pl.lit("*").repeat_by(n - head - 2).list.join(""),
                digits.str.slice(-2),
            )
        )
        .otherwise(None)
    )


def initials(expr: pl.Expr) -> pl.Expr:
    """``Nguyễn Thị Hoà`` -> ``N.T.H.``: enough to eyeball a row, not enough to identify a person."""
    return (
        expr.cast(pl.Utf8)
        .str.strip_chars()
        .str.split(" ")
        .list.eval(pl.element().filter(pl.element() != "").str.slice(0, 1).str.to_uppercase() + ".")
        .list.join("")
    )


def birth_year(expr: pl.Expr) -> pl.Expr:
    """Year only, from a Date column."""
    return expr.dt.year()
