"""Read and write the lake: the one module the assets, the warehouse build and the national step use.

The lake is local Parquet (the embedded default, one file per table and partition) or Delta tables on
object storage when the layout's lake root is a URI (``s3://bucket/prefix``); the backends and the
table-level calls live in ``rules.lake_store`` (no Dagster there, so ``rules.review.service`` uses the
same calls) and are chosen by :func:`store`. Every call here works on either lake: no step of the
pipeline addresses a lake file by path any more.

``write_partition`` / ``write_national`` check and cast a frame against its table in ``rules.lake_schema``
before the first byte is written (a wrong column or type raises ``LakeSchemaError`` naming table and
column). A partition is replaced whole: locally by a rename of a hidden owner-only temporary file
(``rules.private``), on Delta by one commit (readers see the old or the new partition, never a mix).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from rules.lake_store import (
    CURRENT,
    WRITTEN_COLUMNS,
    LakeStore,
    national_keys,
    national_schema,
    open_lake,
    read_national,
    read_table,
    read_table_partition,
    stored_schema,
    table_partitions,
    write_national,
    write_table,
)
from rules.layout import DataLayout
from rules.private import private_temp

__all__ = ["CURRENT", "WRITTEN_COLUMNS", "lake_partitions", "national_keys", "national_schema", "read_lake_table",
           "read_national", "read_partition", "read_partition_optional", "store", "write_national", "write_parquet",
           "write_partition", "written_schema"]


def store(layout: DataLayout) -> LakeStore:
    """The lake store of ``layout`` (local Parquet, or Delta when the lake root is a URI)."""
    return open_lake(layout)


def write_partition(layout: DataLayout, table: str, df: pl.DataFrame, province: str, sector: str) -> pl.DataFrame:
    """Replace partition ``province x sector`` of lake table ``table`` with ``df`` (``rules.lake_store.write_table``);
    returns the frame as written (the table's column order and dtypes)."""
    return write_table(layout, table, df, province, sector)


def read_partition(layout: DataLayout, table: str, province: str, sector: str, *, what: str | None = None,
                   columns: Sequence[str] | None = None) -> pl.DataFrame:
    """A partition's rows, failing with a message that says which upstream step to run."""
    df = read_partition_optional(layout, table, province, sector, columns=columns)
    if df is None:
        raise FileNotFoundError(f"{what or table} not found for {province}/{sector} in the lake at "
                                f"{layout.lake_location}: materialise the upstream asset first")
    return df


def read_partition_optional(layout: DataLayout, table: str, province: str, sector: str,
                            columns: Sequence[str] | None = None) -> pl.DataFrame | None:
    """A partition's rows, or None if it was never written."""
    return read_table_partition(layout, table, province, sector, columns)


def read_lake_table(layout: DataLayout, table: str, columns: Sequence[str] | None = None) -> pl.DataFrame | None:
    """Every province x sector partition of ``table`` in one frame (None if there is none)."""
    return read_table(layout, table, columns)


def lake_partitions(layout: DataLayout, table: str) -> list[tuple[str, str]]:
    """``(province, sector)`` of every partition ``table`` holds (sorted)."""
    return table_partitions(layout, table)


def written_schema(layout: DataLayout, table: str, province: str, sector: str) -> Path | pl.Schema:
    """What the schema check reads back: the local file (its Parquet footer is read), or the partition's
    schema as stored on object storage."""
    return stored_schema(layout, table, province, sector)


def write_parquet(df: pl.DataFrame, path: Path) -> Path:
    """Write one local Parquet file owner-only and atomically (tests build local lakes with it)."""
    # Hidden and not ending in .parquet, so no glob of the lake ever reads a half-written file.
    with private_temp(path) as tmp:
        df.write_parquet(tmp)
    return path

