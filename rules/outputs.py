"""Files we write for people to open in a spreadsheet: text that cannot turn into a formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula by
Excel and LibreOffice when a CSV is opened (CSV injection, OWASP). File names, sheet names and
headers are chosen by uploaders, so every CSV the project writes passes :func:`write_csv`, which
prefixes such text with ``'`` (shown as text, the usual defence), and every xlsx writer writes
strings as text cells (``write_string``, ``strings_to_formulas=False``) and passes names chosen by
uploaders through :func:`neutralise_formula`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PREFIX_PATTERN = r"^[=+\-@\t\r]"


def neutralise_formula(text: str) -> str:
    """``=HYPERLINK(...)`` -> ``'=HYPERLINK(...)``; other text unchanged."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def neutralise_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column with formula-like values prefixed by ``'`` (vectorised; other columns kept)."""
    exprs = [
        pl.when(pl.col(c).str.contains(_PREFIX_PATTERN)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c, t in frame.schema.items() if t == pl.String
    ]
    return frame.with_columns(exprs) if exprs else frame


def write_csv(frame: pl.DataFrame, path: str | Path) -> None:
    """A CSV for people: list columns joined with ``;``, formula-like text neutralised."""
    flat = frame.with_columns(
        pl.col(c).cast(pl.List(pl.String)).list.join(";") for c, t in frame.schema.items() if isinstance(t, pl.List)
    )
    neutralise_frame(flat).write_csv(path)
