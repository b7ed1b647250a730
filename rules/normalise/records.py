"""Whole-frame normalisation: sector records and the population register (contracts.md §4).

Each field is normalised by its building block; the results are added beside the original
columns, which are never overwritten. Re-running on an already normalised frame recomputes the
added columns from the originals, so the output is the same (idempotent).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from rules.normalise.dates import parse_dates
from rules.normalise.gender import normalise_genders
from rules.normalise.ids import normalise_ids
from rules.normalise.names import normalise_names
from rules.normalise.phones import normalise_phones
from rules.sectors import check_sector

INPUT_FIELDS: tuple[str, ...] = ("full_name", "date_of_birth", "gender", "national_id", "old_id", "phone")


def _column(df: pl.DataFrame, name: str) -> pl.Series:
    """The column, or an all-null Utf8 column when the file had none."""
    if name in df.columns:
        return df.get_column(name)
    return pl.repeat(None, df.height, dtype=pl.Utf8, eager=True).alias(name)


def normalise_records(df: pl.DataFrame, sector: str, today: date | None = None) -> pl.DataFrame:
    """Add the normalised name, date, gender, ID, old-ID and phone columns to raw sector records.

    ``sector`` selects the gender code table (e.g. insurance 1 = Nam, 2 = Nữ); ``today`` fixes
    the two-digit-year century and the future/age checks (default: the current date).
    """
    check_sector(sector)
    today = today or date.today()
    names = normalise_names(_column(df, "full_name"))
    dates = parse_dates(_column(df, "date_of_birth"), today=today)
    genders = normalise_genders(_column(df, "gender"), sector)
    ids = normalise_ids(
        _column(df, "national_id"), "national_id", genders.get_column("gender_norm"), dates.get_column("dob_year")
    )
    old = normalise_ids(_column(df, "old_id"), role="old_id").select(
        pl.col("id_clean").alias("old_id_clean"), pl.col("id_kind").alias("old_id_kind")
    )
    phones = normalise_phones(_column(df, "phone"))
    added = pl.concat([names, dates, genders, ids, old, phones], how="horizontal")
    return df.with_columns(added.get_columns())


def normalise_register(df: pl.DataFrame, today: date | None = None) -> pl.DataFrame:
    """Add name, date, gender and ID columns to the population register (contracts.md §1, §4).

    The register is authoritative clean NFC text, so mojibake/legacy repair is skipped; tone
    style, case and spacing are still canonicalised so that keys agree with sector records.
    ``person_id`` is classified like ``national_id`` and ``old_id`` like an old ID.
    """
    today = today or date.today()
    names = normalise_names(_column(df, "full_name"), repair=False)
    dates = parse_dates(_column(df, "date_of_birth"), today=today)
    genders = normalise_genders(_column(df, "gender"), None).select("gender_norm")
    ids = normalise_ids(
        _column(df, "person_id"), "national_id", genders.get_column("gender_norm"), dates.get_column("dob_year")
    )
    old = normalise_ids(_column(df, "old_id"), role="old_id").select(
        pl.col("id_clean").alias("old_id_clean"), pl.col("id_kind").alias("old_id_kind")
    )
    added = pl.concat([names, dates, genders, ids, old], how="horizontal")
    return df.with_columns(added.get_columns())
