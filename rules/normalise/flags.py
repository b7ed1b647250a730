"""Counts of every warning/flag/error code in a normalised frame (counts only, no personal data).

For Dagster metadata and run summaries: the keys are the codes themselves (they are distinct
across columns, e.g. ``impossible_date``, ``tone_style_fixed``, ``id_wrong_length``).
"""

from __future__ import annotations

import polars as pl

ERROR_COLUMNS: tuple[str, ...] = ("dob_error", "gender_error", "id_error", "phone_error")
FLAG_COLUMNS: tuple[str, ...] = ("name_flags", "dob_flags", "id_flags")


def summarise_flags(df: pl.DataFrame) -> dict[str, int]:
    """Return {code: number of rows carrying it} for the error and flag columns present in ``df``."""
    counts: dict[str, int] = {}
    for col in ERROR_COLUMNS + FLAG_COLUMNS:
        if col not in df.columns:
            continue
        s = df.get_column(col)
        if col in FLAG_COLUMNS:
            s = s.list.unique().explode()  # a code counts once per row
        vc = s.drop_nulls().value_counts()
        for code, n in vc.iter_rows():
            counts[str(code)] = counts.get(str(code), 0) + int(n)
    return dict(sorted(counts.items()))
