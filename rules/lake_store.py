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

Above the stores, the table-level calls every step uses (:func:`write_table`, :func:`read_table_partition`,
:func:`read_table`, :func:`table_partitions`, :func:`stored_schema`) check a frame against its table in
``rules.lake_schema`` before the first byte is written, and on Delta pad the optional columns a sector
lacks (one schema per Delta table, so concurrent writers never race on a schema change). National
tables (:data:`NATIONAL_TABLES`: the day's allocation, the verification results, the forecast) are
lake tables too: local files under ``national/`` as before, on Delta partition ``national x <key>``
(:func:`write_national`, :func:`read_national`, :func:`national_keys`). :func:`vacuum` removes the files
old Delta versions left behind once they are older than a retention window.

Credentials and the endpoint come from the usual environment variables (:data:`ENV_OPTIONS`, e.g.
``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``), never from a
file of ours; see ``deploy/README.md``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import polars as pl

from rules.errors import UserError
from rules.layout import DataLayout, check_lake_root, redacted_uri

PROVINCE, SECTOR = "lake_province", "lake_sector"
PARTITION_COLUMNS = (PROVINCE, SECTOR)  # added by DeltaStore on write, dropped on read
DEFAULT_RETENTION_HOURS = 168  # vacuum keeps a week of old versions (a reader's snapshot stays readable)
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

    def vacuum(self, table: str, retention_hours: float) -> list[str]:
        """Delete files no version newer than ``retention_hours`` needs; returns the files deleted."""


def open_lake(layout: DataLayout, environ: Mapping[str, str] | None = None) -> LakeStore:
    """The store of ``layout``'s lake: Delta on object storage when the lake root is a URI, else local Parquet.

    A lake root given explicitly that cannot be the lake (``DOISOAT_LAKE`` a typo, a file, an unknown
    scheme) is refused here, before anything is read or written (``rules.layout.check_lake_root``): read as
    an empty lake it would publish an empty analyst file."""
    check_lake_root(layout.lake_root)
    if layout.lake_is_remote:
        _quiet_aws_logs()
        return DeltaStore(layout, storage_options_from_env(os.environ if environ is None else environ))
    return LocalParquetStore(layout)


class LakeAccessError(UserError):
    """The lake on object storage cannot be read or written (no credentials, no such bucket, the endpoint
    unreachable, access denied): the message names the lake (without credentials), the cause and what to set."""


def _quiet_aws_logs() -> None:
    """delta-rs logs AWS SDK warnings straight to stderr (three multi-line IMDS blobs when no credentials
    are set); the cause is in the error we raise, so keep its logger to errors. Must run before the first
    ``import deltalake`` (its logger reads ``RUST_LOG`` once); an operator's own ``RUST_LOG`` wins."""
    os.environ.setdefault("RUST_LOG", "warn,aws_config=error,aws_runtime=error,aws_smithy_runtime=error")


def _access_error(location: str, exc: BaseException, environ: Mapping[str, str] | None = None) -> LakeAccessError:
    """One line for an object-storage failure: which lake, the cause, and what to set (never a credential)."""
    import re

    env = os.environ if environ is None else environ
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    flat = " ".join(part.strip(" ↳") for part in text.splitlines() if part.strip(" ↳"))
    low = flat.lower()
    endpoint = env.get("AWS_ENDPOINT_URL") or ""
    where = f"AWS_ENDPOINT_URL={endpoint}" if endpoint else "AWS_ENDPOINT_URL (unset: AWS itself)"
    bucket = redacted_uri(location).split("://", 1)[-1].split("/", 1)[0]
    if "nosuchbucket" in low or "bucket does not exist" in low:
        cause = f"bucket {bucket!r} not found"
        todo = f"create the bucket, or fix DOISOAT_LAKE (or {where} if the bucket is on another server)"
    elif "credential" in low:
        cause = "no credentials"
        todo = ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_REGION; AWS_ENDPOINT_URL for a "
                "server other than AWS), or run where an instance role provides them")
    elif any(k in low for k in ("error sending request", "connect", "dns error", "timed out", "timeout")):
        cause = "the endpoint is unreachable"
        todo = f"check {where} and that the server is up"
    elif any(k in low for k in ("403", "forbidden", "accessdenied", "access denied", "invalidaccesskeyid",
                                "signaturedoesnotmatch")):
        cause = "access denied"
        todo = "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN and the bucket's policy"
    else:
        cause = flat[:200] or type(exc).__name__
        todo = f"check DOISOAT_LAKE, {where} and the AWS_* credentials"
    return LakeAccessError(f"the lake at {redacted_uri(location)} cannot be reached: {cause}; {todo}")


@contextmanager
def _reaching(location: str) -> Iterator[None]:
    """Object-storage errors (delta-rs raises a bare ``OSError`` with the cause) as :class:`LakeAccessError`."""
    try:
        yield
    except OSError as exc:
        raise _access_error(location, exc) from None


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

    def vacuum(self, table: str, retention_hours: float) -> list[str]:
        """Nothing to do: a local partition is replaced by a rename, no old version stays behind."""
        return []


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
            with _reaching(self.location):
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
                with _reaching(self.location):
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
        with _reaching(self.location):
            dataset = dt.to_pyarrow_dataset(file_pruning_predicate=[(PROVINCE, "=", province), (SECTOR, "=", sector)])
            table_ = dataset.to_table(columns=list(columns) if columns else None)
        return _drop_partitions(pl.DataFrame(table_))

    def read_all(self, table: str, columns: Sequence[str] | None = None) -> pl.DataFrame | None:
        dt = self._open(table)
        if dt is None:
            return None
        with _reaching(self.location):
            arrow = dt.to_pyarrow_table(columns=_with_partitions(columns))
        return _drop_partitions(pl.DataFrame(arrow))

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

    def vacuum(self, table: str, retention_hours: float) -> list[str]:
        """delta-rs ``vacuum``: delete the data files no longer referenced by the current version and
        removed from the log more than ``retention_hours`` ago. A reader that opened a version older than
        the window may then fail to find a file, so the window must exceed the longest read (a warehouse
        build, a national day): the default :data:`DEFAULT_RETENTION_HOURS` is a week. Below delta-rs'
        own minimum (one week) its check is lifted explicitly: the window is ours to choose."""
        dt = self._open(table)
        if dt is None:
            return []
        hours = max(0, int(retention_hours))
        with _reaching(self.location):
            return list(dt.vacuum(retention_hours=hours, dry_run=False, enforce_retention_duration=False))

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


# --- lake tables: checked, padded, read back as written ------------------------------------------------
# On object storage, the columns a partition was written with (comma-separated, one value per partition,
# so Parquet's run-length encoding stores it once per file): the Delta table holds every column of the
# lake table, and this tells a reader which optional ones the writer really had.
WRITTEN_COLUMNS = "lake_written_columns"


def write_table(layout: DataLayout, table: str, df: pl.DataFrame, province: str, sector: str) -> pl.DataFrame:
    """Replace partition ``province x sector`` of lake table ``table`` with ``df`` after
    ``rules.lake_schema.conform`` (raises ``LakeSchemaError`` naming table and column before any byte is
    written); returns the frame as written (the table's column order and dtypes).

    On object storage every column of the table is written (an optional column a sector lacks as
    nulls) plus :data:`WRITTEN_COLUMNS`, so the Delta table keeps one schema and concurrent writers never
    race on a schema change; reads drop the padding again."""
    from rules.lake_schema import conform, lake_table

    t = lake_table(table)
    conformed = conform(df, t)
    store = open_lake(layout)
    if layout.lake_is_remote:
        missing = [c for c in t.columns if c.name not in conformed.columns]
        full = (conformed.with_columns([pl.lit(None, c.dtype).alias(c.name) for c in missing])
                .select(*t.column_names, pl.lit(",".join(conformed.columns), pl.Utf8).alias(WRITTEN_COLUMNS)))
        store.write(table, full, province, sector)
    else:
        store.write(table, conformed, province, sector)
    return conformed


def read_table_partition(layout: DataLayout, table: str, province: str, sector: str,
                         columns: Sequence[str] | None = None) -> pl.DataFrame | None:
    """A partition's rows with the columns it was written with, or None if it was never written."""
    return _as_written(table, open_lake(layout).read(table, province, sector, _plus_written(layout, columns)))


def read_table(layout: DataLayout, table: str, columns: Sequence[str] | None = None) -> pl.DataFrame | None:
    """Every partition of ``table`` in one frame (None if there is none)."""
    return _as_written(table, open_lake(layout).read_all(table, _plus_written(layout, columns)))


def table_partitions(layout: DataLayout, table: str) -> list[tuple[str, str]]:
    """``(province, sector)`` of every partition ``table`` holds (sorted; national tables excluded)."""
    return [ps for ps in open_lake(layout).partitions(table) if ps[0] != NATIONAL]


def stored_schema(layout: DataLayout, table: str, province: str, sector: str) -> Path | pl.Schema:
    """What a schema check reads back: the local file (its Parquet footer is read), or the partition's
    schema as stored on object storage."""
    if not layout.lake_is_remote:
        return _local_file(layout, table, province, sector)
    stored = open_lake(layout).schema(table, province, sector) or pl.Schema()
    return pl.Schema({k: v for k, v in stored.items() if k != WRITTEN_COLUMNS})


def _plus_written(layout: DataLayout, columns: Sequence[str] | None) -> list[str] | None:
    """A column selection on Delta also reads :data:`WRITTEN_COLUMNS` (dropped again by :func:`_as_written`)."""
    if not columns:
        return None
    return [*columns, WRITTEN_COLUMNS] if layout.lake_is_remote else list(columns)


def _as_written(table: str, df: pl.DataFrame | None) -> pl.DataFrame | None:
    """On object storage, drop the optional columns :func:`write_table` padded with nulls (those no
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


# --- national tables --------------------------------------------------------------------------------------
NATIONAL = "national"  # the "province" of a national table's partitions on Delta
CURRENT = "current"    # the key of a national table that holds one current version
# National lake tables -> the name of their key (None: one current version). Locally each is a file of
# ``DataLayout`` under ``national/`` (the allocation one per day); on Delta the partition national x key.
NATIONAL_TABLES: dict[str, str | None] = {"daily_allocation": "day", "verification_results": None,
                                          "forecast": None, "forecast_daily": None}


def _local_file(layout: DataLayout, table: str, province: str, sector: str) -> Path:
    """The local file of a partition: ``DataLayout.lake`` or, for a national table, its national file."""
    if province != NATIONAL:
        return layout.lake(table, province, sector)
    if table == "daily_allocation":
        return layout.allocation(sector)
    return {"verification_results": layout.verification_results, "forecast": layout.forecast,
            "forecast_daily": layout.forecast_daily}[table]()


def write_national(layout: DataLayout, table: str, df: pl.DataFrame, key: str = CURRENT) -> pl.DataFrame:
    """Write national table ``table`` (one of :data:`NATIONAL_TABLES`) for ``key`` (the day of an
    allocation; :data:`CURRENT` otherwise), checked like :func:`write_table`; returns the frame as written."""
    if layout.lake_is_remote:
        return write_table(layout, table, df, NATIONAL, key)
    from rules.lake_schema import conform, lake_table
    from rules.private import private_temp

    conformed = conform(df, lake_table(table))
    with private_temp(_local_file(layout, table, NATIONAL, key)) as tmp:
        conformed.write_parquet(tmp)
    return conformed


def read_national(layout: DataLayout, table: str, key: str = CURRENT) -> pl.DataFrame | None:
    """A national table's rows for ``key``, or None if never written."""
    if layout.lake_is_remote:
        return read_table_partition(layout, table, NATIONAL, key)
    path = _local_file(layout, table, NATIONAL, key)
    return pl.read_parquet(path) if path.exists() else None


def national_keys(layout: DataLayout, table: str) -> list[str]:
    """The keys a national table holds (sorted): the days of the allocation."""
    if layout.lake_is_remote:
        return [s for p, s in open_lake(layout).partitions(table) if p == NATIONAL]
    if table == "daily_allocation":
        folder = layout.allocation_dir()
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.is_dir() else []
    return [CURRENT] if _local_file(layout, table, NATIONAL, CURRENT).exists() else []


def national_schema(layout: DataLayout, table: str, key: str = CURRENT) -> Path | pl.Schema:
    """What a schema check reads back of a national table (see :func:`stored_schema`)."""
    return stored_schema(layout, table, NATIONAL, key)


# --- retention ----------------------------------------------------------------------------------------------
RETENTION_ENV = "DOISOAT_LAKE_RETENTION_HOURS"


def retention_hours(environ: Mapping[str, str] | None = None) -> float:
    """The vacuum window in hours: ``$DOISOAT_LAKE_RETENTION_HOURS`` or :data:`DEFAULT_RETENTION_HOURS`
    (a week). Raises ``OptionError`` (one line) for a value that is not a number >= 0."""
    from rules.errors import OptionError

    value = (os.environ if environ is None else environ).get(RETENTION_ENV, "").strip()
    if not value:
        return float(DEFAULT_RETENTION_HOURS)
    try:
        hours = float(value)
    except ValueError:
        hours = -1.0
    if not hours >= 0:
        raise OptionError(f"{RETENTION_ENV}={value!r}: give the hours of old lake versions to keep (a number >= 0)")
    return hours


def vacuum(layout: DataLayout, hours: float = DEFAULT_RETENTION_HOURS,
           tables: Sequence[str] | None = None) -> dict[str, int]:
    """Delete the files of old Delta versions removed more than ``hours`` ago from every lake table (or
    ``tables``); returns the number of files deleted per table (tables with none left out). The current
    version of every table is untouched and stays readable; on the local lake there is nothing to do
    (``{}``). The national daily job calls it last (``assets.national.clearance_forecast``, window from
    :func:`retention_hours`)."""
    from rules.lake_schema import LAKE_TABLES

    if not layout.lake_is_remote:
        return {}
    store = open_lake(layout)
    removed = {t: len(store.vacuum(t, hours)) for t in (tables or list(LAKE_TABLES))}
    return {t: n for t, n in removed.items() if n}
