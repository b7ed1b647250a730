"""The lake's storage backends: local Parquet files (the embedded default) or Delta tables on object storage.

One small interface, :class:`LakeStore`, so the assets, the warehouse build and the national step read
and write the lake the same way wherever it is (no Dagster here; ``assets.lake`` and ``rules.review.service`` call it).
A lake table is split into ``province x sector`` partitions; a write replaces one partition whole::

    store = open_lake(layout)              # chosen from DataLayout.lake_location
    store.write("clean_records", df, "hcm", "students")      # replaces that partition atomically
    store.read("clean_records", "hcm", "students")           # -> DataFrame, or None if never written
    store.read_all("clean_records")                          # every partition, one frame (or None)
    store.partitions("clean_records")                        # [("hcm", "students"), ...]

* :class:`LocalParquetStore`: ``<lake>/<table>/<province>/<sector>.parquet`` (``DataLayout.lake``), written
  owner-only to a hidden temporary name and renamed into place (``rules.private.private_temp``).
* :class:`DeltaStore`: one Delta Lake table per lake table at ``<lake uri>/<table>`` (``deltalake``:
  delta-rs, no JVM), partitioned by two added columns :data:`PARTITION_COLUMNS`. A write is one Delta
  commit ``mode="overwrite", predicate="lake_province = 'p' AND lake_sector = 's'"``: the partition's old
  files are removed and the new ones added in the same log entry, so a reader (which reads one version
  of the log) sees either the old partition or the new one, never a mix. Concurrent writers are
  serialised by the object store's conditional put (S3 ``If-None-Match`` on the log entry); a writer
  that loses the race gets ``CommitFailedError`` and retries (:data:`COMMIT_RETRIES`), so writers of
  different partitions all land and two writers of one partition leave exactly one of their frames.

Credentials and the endpoint come from the usual environment variables (:data:`ENV_OPTIONS`, e.g.
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``), never from a
file of ours; see ``deploy/README.md``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

import polars as pl

from rules.layout import DataLayout

PROVINCE, SECTOR = "lake_province", "lake_sector"
PARTITION_COLUMNS = (PROVINCE, SECTOR)  # added by DeltaStore on write, dropped on read
COMMIT_RETRIES = 40  # a lost commit race is retried with jittered backoff (0.05 s .. 1 s)

# Environment variables passed to delta-rs as storage options (the names object_store understands).
ENV_OPTIONS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
               "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ALLOW_HTTP", "AWS_S3_CONDITIONAL_PUT",
               "AWS_S3_ALLOW_UNSAFE_RENAME", "AWS_S3_LOCKING_PROVIDER", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST")


class LakeStore(Protocol):
    """Read and write province x sector partitions of lake tables (see the module docstring)."""

    location: str

    def write(self, table: str, df: pl.DataFrame, province: str, sector: str) -> None:
        """Replace the partition with ``df`` (atomically: readers see the old or the new rows)."""

    def read(self, table: str, province: str, sector: str,
             columns: Sequence[str] | None = None) -> pl.DataFrame | None:
        """The partition's rows, or None if it was never written (Delta: None only while the table does
        not exist; a partition never written, or written empty, reads as zero rows)."""

    def read_all(self, table: str, columns: Sequence[str] | None = None) -> pl.DataFrame | None:
        """Every partition of ``table`` in one frame (None if the table has none)."""

    def partitions(self, table: str) -> list[tuple[str, str]]:
        """``(province, sector)`` of every partition the table holds, sorted."""

    def schema(self, table: str, province: str, sector: str) -> pl.Schema | None:
        """The stored column types of a partition (without reading its rows), or None if absent."""


def open_lake(layout: DataLayout, environ: Mapping[str, str] | None = None) -> LakeStore:
    """The store of ``layout``'s lake: Delta on object storage when the lake root is a URI, else local Parquet."""
    if layout.lake_is_remote:
        return DeltaStore(layout, storage_options_from_env(os.environ if environ is None else environ))
    return LocalParquetStore(layout)


def storage_options_from_env(environ: Mapping[str, str]) -> dict[str, str]:
    """delta-rs storage options from :data:`ENV_OPTIONS`. Commits use S3 conditional put (``etag``) unless
    the environment chooses otherwise; a plain-``http://`` endpoint (a local test server) is allowed."""
    opts = {k: environ[k] for k in ENV_OPTIONS if environ.get(k)}
    if "AWS_S3_LOCKING_PROVIDER" not in opts and "AWS_S3_ALLOW_UNSAFE_RENAME" not in opts:
        opts.setdefault("AWS_S3_CONDITIONAL_PUT", "etag")
    if opts.get("AWS_ENDPOINT_URL", "").startswith("http://"):
        opts.setdefault("AWS_ALLOW_HTTP", "true")
    if "AWS_REGION" not in opts and "AWS_DEFAULT_REGION" in opts:
        opts["AWS_REGION"] = opts["AWS_DEFAULT_REGION"]
    return opts


class LocalParquetStore:
    """The embedded default: one Parquet file per partition under the layout's local lake."""

    def __init__(self, layout: DataLayout) -> None:
        self.layout = layout
        self.location = layout.lake_location

    def write(self, table: str, df: pl.DataFrame, province: str, sector: str) -> None:
        from rules.private import private_temp

        path = self.layout.lake(table, province, sector)
        # Owner-only folder and file (made before the first byte); hidden and not ending in .parquet,
        # so no glob of the lake ever reads a half-written file.
        with private_temp(path) as tmp:
            df.write_parquet(tmp)

    def read(self, table: str, province: str, sector: str,
             columns: Sequence[str] | None = None) -> pl.DataFrame | None:
        path = self.layout.lake(table, province, sector)
        return pl.read_parquet(path, columns=list(columns) if columns else None) if path.exists() else None

    def read_all(self, table: str, columns: Sequence[str] | None = None) -> pl.DataFrame | None:
        frames = [pl.read_parquet(path, columns=list(columns) if columns else None)
                  for _, _, path in self.layout.lake_partitions(table)]
        return pl.concat(frames, how="diagonal_relaxed") if frames else None

    def partitions(self, table: str) -> list[tuple[str, str]]:
        return [(p, s) for p, s, _ in self.layout.lake_partitions(table)]

    def schema(self, table: str, province: str, sector: str) -> pl.Schema | None:
        path = self.layout.lake(table, province, sector)
        return pl.read_parquet_schema(path) if path.exists() else None


class DeltaStore:
    """Lake tables as Delta tables on object storage (``s3://bucket/prefix``), one per lake table."""

    def __init__(self, layout: DataLayout, storage_options: Mapping[str, str]) -> None:
        self.layout = layout
        self.location = layout.lake_location
        self.storage_options = dict(storage_options)

    def _uri(self, table: str) -> str:
        return self.layout.lake_table_uri(table)

    def _open(self, table: str):
        """The table's latest version, or None if the table does not exist yet."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        try:
            return DeltaTable(self._uri(table), storage_options=self.storage_options)
        except TableNotFoundError:
            return None

    def write(self, table: str, df: pl.DataFrame, province: str, sector: str) -> None:
        from deltalake import write_deltalake
        from deltalake.exceptions import DeltaError

        data = df.with_columns(pl.lit(province, pl.Utf8).alias(PROVINCE), pl.lit(sector, pl.Utf8).alias(SECTOR))
        arrow = data.to_arrow(compat_level=pl.CompatLevel.oldest())  # plain string/large types delta-rs knows
        predicate = f"{PROVINCE} = {_sql_text(province)} AND {SECTOR} = {_sql_text(sector)}"
        for attempt in range(COMMIT_RETRIES):
            try:
                write_deltalake(self._uri(table), arrow, mode="overwrite", predicate=predicate,
                                partition_by=list(PARTITION_COLUMNS), storage_options=self.storage_options)
                return
            except DeltaError as exc:
                if attempt == COMMIT_RETRIES - 1 or not _lost_race(exc):
                    raise
                time.sleep(min(1.0, 0.05 * 2 ** min(attempt, 5)) * random.uniform(0.5, 1.0))

    def read(self, table: str, province: str, sector: str,
             columns: Sequence[str] | None = None) -> pl.DataFrame | None:
        dt = self._open(table)
        if dt is None:
            return None
        # A partition written with zero rows holds no file in Delta: it reads as zero rows of the table's
        # columns (never None once the table exists).
        # The partition's files are picked from the log (no row filter: 3x faster on 1M rows).
        dataset = dt.to_pyarrow_dataset(file_pruning_predicate=[(PROVINCE, "=", province), (SECTOR, "=", sector)])
        return _drop_partitions(pl.DataFrame(dataset.to_table(columns=list(columns) if columns else None)))

    def read_all(self, table: str, columns: Sequence[str] | None = None) -> pl.DataFrame | None:
        dt = self._open(table)
        if dt is None:
            return None
        return _drop_partitions(pl.DataFrame(dt.to_pyarrow_table(columns=_with_partitions(columns))))

    def partitions(self, table: str) -> list[tuple[str, str]]:
        dt = self._open(table)
        return self._partitions_of(dt) if dt is not None else []

    def schema(self, table: str, province: str, sector: str) -> pl.Schema | None:
        dt = self._open(table)
        if dt is None:
            return None
        import pyarrow as pa

        empty = pl.DataFrame(pa.schema(dt.schema().to_arrow()).empty_table())
        return _drop_partitions(empty).schema

    @staticmethod
    def _partitions_of(dt) -> list[tuple[str, str]]:
        found = dt.partitions()
        return sorted({(p[PROVINCE], p[SECTOR]) for p in found})


def _lost_race(exc: BaseException) -> bool:
    """A commit another writer won (delta-rs ``CommitFailedError``, or the log entry / the table's first
    version already written by someone else): safe to retry from the start."""
    from deltalake.exceptions import CommitFailedError

    text = str(exc).lower()
    return isinstance(exc, CommitFailedError) or "already exists" in text or "conflict" in text


def _sql_text(value: str) -> str:
    """A SQL string literal (quotes doubled): province and sector codes are data, never trusted SQL."""
    return "'" + value.replace("'", "''") + "'"


def _with_partitions(columns: Sequence[str] | None) -> list[str] | None:
    return [*columns, *PARTITION_COLUMNS] if columns else None


def _drop_partitions(df: pl.DataFrame) -> pl.DataFrame:
    return df.drop([c for c in PARTITION_COLUMNS if c in df.columns])
