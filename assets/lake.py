"""Read and write the Parquet lake (one file per asset and partition).

``write_table`` checks and casts a frame against its table in ``rules.lake_schema`` before the first
byte is written (a wrong column or type raises ``LakeSchemaError`` naming table and column), so what
the registry and docs/contracts.md say is what the files hold.

Writes go to a temporary name and are renamed into place, so a reader (another step, the sensor, an
analyst's DuckDB scan) never sees half a file. Lake files hold personal data: folders ``0700``,
files ``0600`` (``rules.private``), created owner-only before the first byte is written.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from rules.private import private_temp


def write_parquet(df: pl.DataFrame, path: Path) -> Path:
    # Hidden and not ending in .parquet, so no glob of the lake ever reads a half-written file.
    with private_temp(path) as tmp:
        df.write_parquet(tmp)
    return path


def write_table(table: str, df: pl.DataFrame, path: Path) -> pl.DataFrame:
    """Write ``df`` as lake table ``table`` at ``path`` after ``rules.lake_schema.conform``; returns the
    frame as written (columns in the table's order, declared dtypes), for the table's asset check."""
    from rules.lake_schema import conform, lake_table

    conformed = conform(df, lake_table(table))
    write_parquet(conformed, path)
    return conformed


def read_parquet(path: Path, *, what: str) -> pl.DataFrame:
    """Read a lake file, failing with a message that says which upstream step to run."""
    if not path.exists():
        raise FileNotFoundError(f"{what} not found at {path}: materialise the upstream asset first")
    return pl.read_parquet(path)


def read_optional(path: Path) -> pl.DataFrame | None:
    return pl.read_parquet(path) if path.exists() else None
