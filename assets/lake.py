"""Read and write the lake: the one module the assets, the warehouse build and the national step use.

The lake is local Parquet (the embedded default, one file per table and partition) or Delta tables on
object storage when the layout's lake root is a URI (``s3://bucket/prefix``); the backends live in
``rules.lake_store`` (no Dagster there) and are chosen by :func:`store`. Partition-level calls
(:func:`write_partition`, :func:`read_partition`, :func:`read_lake_table`, :func:`lake_partitions`) work
on either; the ``Path`` calls below them (:func:`write_table`, :func:`read_parquet`, ...) are the local
lake's and are kept for steps not yet moved (they raise ``RemoteLakeError`` through the layout when the
lake is remote, never write a folder named ``s3:``).

``write_partition`` / ``write_table`` check and cast a frame against its table in ``rules.lake_schema``
before the first byte is written (a wrong column or type raises ``LakeSchemaError`` naming table and
column). A partition is replaced whole: locally by a rename of a hidden owner-only temporary file
(``rules.private``), on Delta by one commit (readers see the old or the new partition, never a mix).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from rules.lake_store import LakeStore, open_lake
from rules.layout import DataLayout
from rules.private import private_temp

# On object storage, the columns a partition was written with (comma-separated, one value per partition,
# so Parquet's run-length encoding stores it once per file): the Delta table holds every column of the
# lake table, and this tells a reader which optional ones the writer really had.
WRITTEN_COLUMNS = "lake_written_columns"


def store(layout: DataLayout) -> LakeStore:
    """The lake store of ``layout`` (local Parquet, or Delta when the lake root is a URI)."""
    return open_lake(layout)


def write_partition(layout: DataLayout, table: str, df: pl.DataFrame, province: str, sector: str) -> pl.DataFrame:
    """Replace partition ``province x sector`` of lake table ``table`` with ``df`` after
    ``rules.lake_schema.conform``; returns the frame as written (the table's column order and dtypes).

    On object storage every column of the table is written (an optional column a sector lacks as
    nulls) plus :data:`WRITTEN_COLUMNS`, so the Delta table keeps one schema and concurrent writers never
    race on a schema change; reads drop the padding again."""
    from rules.lake_schema import conform, lake_table

    t = lake_table(table)
    conformed = conform(df, t)
    if layout.lake_is_remote:
        missing = [c for c in t.columns if c.name not in conformed.columns]
        full = (conformed.with_columns([pl.lit(None, c.dtype).alias(c.name) for c in missing])
                .select(*t.column_names, pl.lit(",".join(conformed.columns), pl.Utf8).alias(WRITTEN_COLUMNS)))
        store(layout).write(table, full, province, sector)
    else:
        store(layout).write(table, conformed, province, sector)
    return conformed


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
    return _as_written(layout, table, store(layout).read(table, province, sector, columns))


def read_lake_table(layout: DataLayout, table: str, columns: Sequence[str] | None = None) -> pl.DataFrame | None:
    """Every partition of ``table`` in one frame (None if there is none)."""
    return _as_written(layout, table, store(layout).read_all(table, columns))


def lake_partitions(layout: DataLayout, table: str) -> list[tuple[str, str]]:
    """``(province, sector)`` of every partition ``table`` holds (sorted)."""
    return store(layout).partitions(table)


def written_schema(layout: DataLayout, table: str, province: str, sector: str) -> Path | pl.Schema:
    """What the schema check reads back: the local file (its Parquet footer is read), or the partition's
    schema as stored on object storage."""
    if not layout.lake_is_remote:
        return layout.lake(table, province, sector)
    stored = store(layout).schema(table, province, sector) or pl.Schema()
    return pl.Schema({k: v for k, v in stored.items() if k != WRITTEN_COLUMNS})


def _as_written(layout: DataLayout, table: str, df: pl.DataFrame | None) -> pl.DataFrame | None:
    """On object storage, drop the optional columns :func:`write_partition` padded with nulls (those no
    partition read was written with), so a frame reads back with the columns it was written with, as
    the local files do (several partitions: the union of their columns, as a diagonal concat gives)."""
    if df is None or WRITTEN_COLUMNS not in df.columns:
        return df
    from rules.lake_schema import lake_table

    t = lake_table(table)
    written = {c for value in df[WRITTEN_COLUMNS].unique().drop_nulls().to_list() for c in value.split(",")}
    padding = [c.name for c in t.columns if c.optional and c.name in df.columns and c.name not in written]
    if df.height == 0:  # a partition written empty holds no file: keep only the required columns
        padding = [c.name for c in t.columns if c.optional and c.name in df.columns]
    return df.drop([*padding, WRITTEN_COLUMNS])


# --- the local lake's files (steps that still address a file) --------------------------------------
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
