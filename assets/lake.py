"""Read and write the Parquet lake (one file per asset and partition).

Writes go to a temporary name and are renamed into place, so a reader (another step, the sensor, an
analyst's DuckDB scan) never sees half a file.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl


def write_parquet(df: pl.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Hidden and not ending in .parquet, so no glob of the lake ever reads a half-written file.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    df.write_parquet(tmp)
    os.replace(tmp, path)
    return path


def read_parquet(path: Path, *, what: str) -> pl.DataFrame:
    """Read a lake file, failing with a message that says which upstream step to run."""
    if not path.exists():
        raise FileNotFoundError(f"{what} not found at {path}: materialise the upstream asset first")
    return pl.read_parquet(path)


def read_optional(path: Path) -> pl.DataFrame | None:
    return pl.read_parquet(path) if path.exists() else None
