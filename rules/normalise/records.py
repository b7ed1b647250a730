"""Whole-frame normalisation: sector records and the population register (contracts.md §4).

Each field is normalised by its building block; the results are added beside the original
columns, which are never overwritten. Re-running on an already normalised frame recomputes the
added columns from the originals, so the output is the same (idempotent).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import polars as pl

from rules.clock import vietnam_today
from rules.normalise.dates import check_plausible_age, parse_dates
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


def _other_fields(df: pl.DataFrame, sector: str | None, today: date, id_column: str, phones: bool) -> pl.DataFrame:
    """Dates, gender, IDs (whose structure checks need gender and birth year), old IDs, phones."""
    dates = parse_dates(_column(df, "date_of_birth"), today=today)
    if sector is not None:  # a birth date the list's person cannot have (the register is the reference)
        from rules.validate import plausible_age

        dates = check_plausible_age(dates, today, *plausible_age(sector))
    genders = normalise_genders(_column(df, "gender"), sector)
    if sector is None:  # the register: gender is clean, no gender_error column in the contract
        genders = genders.select("gender_norm")
    ids = normalise_ids(
        _column(df, id_column), "national_id", genders.get_column("gender_norm"), dates.get_column("dob_year")
    )
    old = normalise_ids(_column(df, "old_id"), role="old_id").select(
        pl.col("id_clean").alias("old_id_clean"), pl.col("id_kind").alias("old_id_kind")
    )
    parts = [dates, genders, ids, old]
    if phones:
        parts.append(normalise_phones(_column(df, "phone")))
    return pl.concat(parts, how="horizontal")


def _in_two_lanes(names: Callable[[], pl.DataFrame], rest: Callable[[], pl.DataFrame]) -> pl.DataFrame:
    """Run the name work and the other fields at the same time.

    Eager polars calls on one Series mostly use one core and release the GIL, so two Python
    threads keep both cores busy (names are about half the work).
    """
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="normalise") as pool:
        future = pool.submit(names)
        other = rest()
        return pl.concat([future.result(), other], how="horizontal")


def normalise_records(df: pl.DataFrame, sector: str, today: date | None = None) -> pl.DataFrame:
    """Add the normalised name, date, gender, ID, old-ID and phone columns to raw sector records.

    ``sector`` selects the gender code table (e.g. insurance 1 = Nam, 2 = Nữ) and the plausible age
    of its people; ``today`` (the processing day) fixes the two-digit-year century and the
    future/age checks (default: the current date).
    """
    check_sector(sector)
    day = today or vietnam_today()
    added = _in_two_lanes(
        lambda: normalise_names(_column(df, "full_name")),
        lambda: _other_fields(df, sector, day, "national_id", phones=True),
    )
    return df.with_columns(added.get_columns())


def normalise_register(df: pl.DataFrame, today: date | None = None) -> pl.DataFrame:
    """Add name, date, gender and ID columns to the population register (contracts.md §1, §4).

    The register is authoritative clean NFC text, so mojibake/legacy repair is skipped; tone
    style, case and spacing are still canonicalised so that keys agree with sector records.
    ``person_id`` is classified like ``national_id`` and ``old_id`` like an old ID.
    """
    day = today or vietnam_today()
    added = _in_two_lanes(
        lambda: normalise_names(_column(df, "full_name"), repair=False),
        lambda: _other_fields(df, None, day, "person_id", phones=False),
    )
    return df.with_columns(added.get_columns())
