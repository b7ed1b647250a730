"""The national second pass: rows left unmatched in their own province, against every province's register.

Why buckets: the whole register (100M people) cannot be indexed in one process (the engine needs
~1.1 GB per million people, docs/capacity.md). Both sides are split by birth year instead:

* a register person goes to the bucket of their birth year (``date_of_birth``);
* a row goes to the bucket of its date-of-birth year AND to the bucket of the birth year encoded in
  its 12-digit personal ID (``rules.normalise.ids.cccd_birth_year``) when that is another bucket.

**Guarantee** (tested in ``tests/rules/test_second_pass.py``): every register person whose birth year
equals the row's DOB year or the row's ID year is in the register slice of a bucket the row visits,
so the engine can propose them exactly as a national run would for the passes keyed by the date or
the year. Not guaranteed: a candidate whose birth year is neither (a row whose DOB year AND ID year are
both wrong, the parents of an ``id_household`` pass, a ``dob`` one-digit error that changes the year
and crosses a bucket edge). A row with neither year is reported (``no_birth_year``) or sent to every
bucket, by policy (``rules/second_pass.yaml``).

Term frequencies: the counts of given, family, middle and full names are counted over the WHOLE
national register (summed over the buckets), then rescaled to the bucket (``count x bucket people /
national people``, so that the engine's ``count / index rows`` is the national frequency); the name +
birth-year count is exact within a bucket (a year lives in one bucket); ID counts stay the bucket's.
The name-token counts that pick a row's rarest token (the token passes) are national too, so those
passes key the same blocks as a national run.
The Fellegi-Sunter parameters are estimated by the engine per bucket (u from random row x bucket
pairs, m and the match share by EM over the bucket's pairs): a coherent model of "a person born in
these years"; national estimates would need the national index in one process or an engine hook
that pools EM statistics over buckets (not built).

A row matched in two buckets keeps the better decision (matched > ambiguous > unmatched, then the
higher score, then the earlier bucket); matched in two buckets to two different people it becomes
``ambiguous`` (reason ``matched_in_two_buckets``).

Shapes: rows are normalised records (contracts §4); they come from every province x sector, so a row
is keyed by ``rules.lake_schema.LAKE_ROW_KEY`` (province, sector, file_sha256, sheet, row_number): the
same file uploaded to two partitions keeps one decision in each. Register files are contract 1
Parquet. Nothing here logs personal data.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import Field, model_validator

from rules.config import StrictModel, load_config
from rules.lake_schema import LAKE_ROW_KEY, PARTITION_KEY, ROW_KEY
from rules.matching import index as index_cache
from rules.matching.blocking import PreparedIndex, prepare_index, token_hashes
from rules.matching.config import MatchConfig
from rules.matching.engine import MatchOutput, match_records
from rules.matching.features import person_name_keys
from rules.matching.index import (
    OPTIONAL_COLUMNS,
    REQUIRED_REGISTER_COLUMNS,
    RegisterError,
    build_population_index,
    register_schema,
)
from rules.normalise.ids import cccd_birth_year
from rules.private import private_dir, private_file

# beside the other policies (rules/matching/*.yaml are match configs only)
POLICY_FILE = Path(__file__).resolve().parents[1] / "second_pass.yaml"
# name counts that are national (rescaled to the bucket); name + year counts are exact per bucket
NATIONAL_NAME_COUNTS: dict[str, str] = {"gk": "gk_n", "fk": "fk_n", "mk": "mk_n", "nk": "nk_n"}
NO_BIRTH_YEAR = "no_birth_year"
TWO_BUCKETS = "matched_in_two_buckets"
STATUS_RANK = {"matched": 0, "ambiguous": 1, "unmatched": 2}


class NationalPolicy(StrictModel):
    """Policy of the second pass (``rules/second_pass.yaml``): bucket width and range, rows with no year."""

    bucket_years: int = Field(default=5, ge=1, le=200)
    first_year: int = 1900
    last_year: int = 2029
    no_year: Literal["report", "every_bucket"] = "report"
    statuses: tuple[str, ...] = ("unmatched",)

    @model_validator(mode="after")
    def _range(self) -> NationalPolicy:
        if self.last_year < self.first_year:
            raise ValueError("last_year must not be before first_year")
        return self

    @property
    def n_buckets(self) -> int:
        return (self.last_year - self.first_year) // self.bucket_years + 1

    def bucket_keys(self) -> list[str]:
        """Bucket names ``YYYY-YYYY`` (first and last year of each), in year order: the partitions."""
        out = []
        for i in range(self.n_buckets):
            lo = self.first_year + i * self.bucket_years
            out.append(f"{lo}-{min(lo + self.bucket_years - 1, self.last_year)}")
        return out

    def bucket_of(self, year: pl.Expr) -> pl.Expr:
        """Bucket name of a birth-year expression (null stays null); years outside the range are
        clamped into the first or last bucket, on both sides alike."""
        i = ((year.clip(self.first_year, self.last_year) - self.first_year) // self.bucket_years).cast(pl.Int32)
        keys = pl.Series(self.bucket_keys(), dtype=pl.Utf8)
        return i.replace_strict(list(range(len(keys))), keys, default=None, return_dtype=pl.Utf8)

    def year_range(self, bucket: str) -> tuple[int | None, int | None]:
        """Inclusive birth-year range of ``bucket`` (None = open: the clamped edge buckets)."""
        keys = self.bucket_keys()
        if bucket not in keys:
            raise ValueError(f"unknown bucket {bucket!r}; buckets run from {keys[0]} to {keys[-1]}")
        lo, hi = (int(x) for x in bucket.split("-"))
        return (None if bucket == keys[0] else lo), (None if bucket == keys[-1] else hi)


def load_policy(path: str | Path | None = None) -> NationalPolicy:
    """The second pass's policy (``rules/second_pass.yaml`` by default; unknown keys refused)."""
    return load_config(path or POLICY_FILE, NationalPolicy)


# ------------------------------------------------------------------------------------------ the rows side


def row_years(records: pl.DataFrame) -> pl.DataFrame:
    """``dob_year`` and ``id_year`` (Int32, null when unusable) of normalised records, in row order.

    ``id_year`` comes from a 12-digit CCCD only (``id_kind == cccd``, century digit 0-3).
    """

    def col(name: str, dtype: pl.DataType) -> pl.Expr:
        return pl.col(name) if name in records.columns else pl.lit(None, dtype)

    return records.select(
        col("dob_year", pl.Int32).cast(pl.Int32).alias("dob_year"),
        cccd_birth_year(col("id_clean", pl.Utf8), col("id_kind", pl.Utf8)).alias("id_year"),
    )


def row_buckets(records: pl.DataFrame, policy: NationalPolicy) -> pl.DataFrame:
    """One row per (input row, bucket it visits): ``_row`` (UInt32 position in ``records``), ``bucket``,
    sorted by row then bucket. A row with no usable year visits every bucket only under
    ``no_year: every_bucket``; otherwise it is absent here (see :func:`rows_without_year`)."""
    years = row_years(records).with_row_index("_row")
    both = pl.concat(
        [
            years.select("_row", policy.bucket_of(pl.col("dob_year")).alias("bucket")),
            years.select("_row", policy.bucket_of(pl.col("id_year")).alias("bucket")),
        ]
    ).drop_nulls("bucket")
    if policy.no_year == "every_bucket":
        none = years.filter(pl.col("dob_year").is_null() & pl.col("id_year").is_null()).select("_row")
        every = none.join(pl.DataFrame({"bucket": policy.bucket_keys()}), how="cross")
        both = pl.concat([both, every])
    return both.unique().sort("_row", "bucket")


def rows_without_year(records: pl.DataFrame) -> pl.Series:
    """Positions (UInt32) of rows with neither a DOB year nor an ID year."""
    years = row_years(records).with_row_index("_row")
    return years.filter(pl.col("dob_year").is_null() & pl.col("id_year").is_null())["_row"]


# -------------------------------------------------------------------------------------- the register side


REGISTER_WANTED: tuple[str, ...] = (*REQUIRED_REGISTER_COLUMNS, *OPTIONAL_COLUMNS)
BUCKET_COLUMN = "_bucket"


def _birth_year() -> pl.Expr:
    return pl.col("date_of_birth").cast(pl.Date).dt.year()


def _year_filter(policy: NationalPolicy, bucket: str) -> pl.Expr:
    lo, hi = policy.year_range(bucket)
    year = _birth_year()
    cond = year.is_not_null()
    if lo is not None:
        cond &= year >= lo
    if hi is not None:
        cond &= year <= hi
    return cond


def _union_schema(schemas: Sequence[pl.Schema]) -> pl.Schema:
    """The columns and dtypes of the register files' wanted columns concatenated (``diagonal_relaxed``)."""
    empties = [pl.DataFrame(schema={c: s[c] for c in REGISTER_WANTED if c in s}) for s in schemas]
    return pl.concat(empties, how="diagonal_relaxed").schema


def _conform(df: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    missing = [pl.lit(None, t).alias(c) for c, t in schema.items() if c not in df.columns]
    return df.with_columns(missing).select(list(schema)).cast(dict(schema))


def bucket_register(register_paths: Sequence[str | Path], bucket: str, policy: NationalPolicy) -> pl.DataFrame:
    """The register people of every file born in ``bucket``'s years (contract 1 columns), read with the
    year filter pushed into the Parquet scan: memory is the bucket's, not the nation's. One bucket on its
    own; :func:`build_bucket_indexes` splits the register in one pass instead (:func:`split_register`)."""
    schemas = [register_schema(p) for p in register_paths]
    if not schemas:
        raise RegisterError("no population register files given")
    frames = [
        pl.scan_parquet(p).select([c for c in REGISTER_WANTED if c in s]).filter(_year_filter(policy, bucket)).collect()
        for p, s in zip(register_paths, schemas, strict=True)
    ]
    return _conform(pl.concat(frames, how="diagonal_relaxed"), _union_schema(schemas))


@dataclass
class SplitRegister:
    """The register split by bucket on disk (:func:`split_register`): each bucket's parts in file order."""

    parts: dict[str, list[Path]]
    schema: pl.Schema
    # (idn_s, nk) of every person in the register: parents' names for the guardian comparison come
    # from here (a bucket holds the children of its birth years, not their parents)
    names: pl.DataFrame | None = None

    def bucket(self, bucket: str) -> pl.DataFrame:
        """The bucket's people, the same frame (rows, order, columns, dtypes) as :func:`bucket_register`."""
        paths = self.parts.get(bucket, [])
        if not paths:
            return pl.DataFrame(schema=self.schema)
        return _conform(pl.concat([pl.read_parquet(p) for p in paths], how="diagonal_relaxed"), self.schema)


def split_register(register_paths: Sequence[str | Path], folder: str | Path, policy: NationalPolicy) -> SplitRegister:
    """Read each register file ONCE and write its people to one staging file per bucket they fall in
    (``<folder>/<bucket>/<file no>.parquet``, owner-only): one pass over the national register instead
    of one scan per bucket (a register file is not sorted by birth year, so a per-bucket scan cannot
    skip row groups and reads every file ~26 times). Memory: one register file at a time. Every file is
    checked (``check_register``) before any is read."""
    schemas = [register_schema(p) for p in register_paths]
    if not schemas:
        raise RegisterError("no population register files given")
    folder = Path(folder)
    private_dir(folder)
    parts: dict[str, list[Path]] = {}
    names: list[pl.DataFrame] = []
    for i, (p, s) in enumerate(zip(register_paths, schemas, strict=True)):
        df = pl.read_parquet(p, columns=[c for c in REGISTER_WANTED if c in s])
        names.append(person_name_keys(df))
        df = df.with_columns(policy.bucket_of(_birth_year()).alias(BUCKET_COLUMN)).drop_nulls(BUCKET_COLUMN)
        for (b,), part in df.partition_by(BUCKET_COLUMN, maintain_order=True, as_dict=True).items():
            out = folder / f"{b}/{i:06d}.parquet"  # staging inside the bucket-index folder
            private_dir(out.parent)
            part.drop(BUCKET_COLUMN).write_parquet(private_file(out), compression="lz4")
            parts.setdefault(str(b), []).append(out)
        del df
    return SplitRegister(parts, _union_schema(schemas), pl.concat(names) if names else None)


@dataclass
class NationalCounts:
    """Counts of each name value over the whole national register (``value -> n``) and its size."""

    tables: dict[str, pl.DataFrame]  # feature column -> frame (column, "n": UInt64)
    people: int

    @classmethod
    def of(cls, indexes: Iterable[pl.DataFrame]) -> NationalCounts:
        """Sum the per-bucket value counts of bucket indexes (each person is in one bucket)."""
        parts: dict[str, list[pl.DataFrame]] = {c: [] for c in NATIONAL_NAME_COUNTS}
        people = 0
        for index in indexes:
            people += index.height
            for col in NATIONAL_NAME_COUNTS:
                parts[col].append(index.group_by(col).agg(pl.len().cast(pl.UInt64).alias("n")))
        tables = {
            c: (pl.concat(v).group_by(c).agg(pl.col("n").sum()) if v
                else pl.DataFrame(schema={c: pl.Utf8, "n": pl.UInt64}))
            for c, v in parts.items()
        }
        return cls(tables, people)

    def write(self, folder: Path) -> None:
        private_dir(folder)
        for col, t in self.tables.items():
            t.write_parquet(private_file(folder / f"{col}.parquet"))
        private_file(folder / "people.txt").write_text(f"{self.people}\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> NationalCounts:
        tables = {c: pl.read_parquet(folder / f"{c}.parquet") for c in NATIONAL_NAME_COUNTS}
        return cls(tables, int((folder / "people.txt").read_text(encoding="utf-8")))


def with_national_counts(index: pl.DataFrame, counts: NationalCounts) -> pl.DataFrame:
    """A bucket index whose name counts are the national frequency x the bucket's people (Float64).

    The engine turns a count into a term-frequency u as ``count / index rows``; after this, that is
    ``national count / national people``. Row order (the engine's person key) is kept.
    """
    if index.height == 0 or counts.people == 0:
        return index
    scale = index.height / counts.people
    out = index
    for col, dst in NATIONAL_NAME_COUNTS.items():
        t = counts.tables[col].select(col, (pl.col("n").cast(pl.Float64) * scale).alias("_nat"))
        out = out.join(t, on=col, how="left", maintain_order="left", nulls_equal=True)
        out = out.with_columns(pl.coalesce("_nat", pl.col(dst).cast(pl.Float64)).alias(dst)).drop("_nat")
    return out


def token_counts_of(index: pl.DataFrame, config: MatchConfig) -> pl.DataFrame | None:
    """Register count of each name token (``tok`` hash, ``n``) as the token passes count them; None
    when the config has no token pass."""
    name_col = next((p.index_keys[0] for p in config.passes if p.kind == "token"), None)
    if name_col is None:
        return None
    tok_hash, ok, _ = token_hashes(index, name_col)
    return pl.DataFrame({"tok": tok_hash[ok]}).group_by("tok").agg(pl.len().cast(pl.UInt32).alias("n"))


def sum_token_counts(parts: Iterable[pl.DataFrame | None]) -> pl.DataFrame | None:
    frames = [p for p in parts if p is not None]
    if not frames:
        return None
    return pl.concat(frames).group_by("tok").agg(pl.col("n").sum().cast(pl.UInt32))


def prepare_bucket(index: pl.DataFrame, config: MatchConfig, national_tokens: pl.DataFrame | None) -> PreparedIndex:
    """The bucket's sorted blocking keys, with the NATIONAL token counts: a row's rarest name token is
    then the one a national run picks, so the token passes (keyed by the token and the date or the
    year) give the same blocks as nationally."""
    prepared = prepare_index(index, config)
    if national_tokens is not None and prepared.token_counts is not None:
        prepared.token_counts = national_tokens
    return prepared


def _prepared_folder(folder: Path, bucket: str, config: MatchConfig) -> Path:
    # where rules.matching.index looks for the prepared keys of an index it knows the source of
    return folder / f"population_index_{bucket}.prepared_{index_cache.prepared_fingerprint(config)}"


def build_bucket_indexes(
    register_paths: Sequence[str | Path], folder: str | Path, policy: NationalPolicy, config: MatchConfig | None = None
) -> dict[str, int]:
    """Write one matching index per bucket (``<folder>/<bucket>.parquet``) with national name counts,
    its sorted blocking keys with national token counts (beside it, where the engine reads prepared
    keys), and the counts (``<folder>/counts/``). The register files are read once
    (:func:`split_register`, into a staging folder removed at the end), then two sweeps over the
    buckets, one bucket in memory at a time (plus the count tables). Returns people per bucket.

    Register people without a date of birth are in no bucket (they have no birth year to meet).
    """
    config = config or MatchConfig.default()
    folder = Path(folder)
    private_dir(folder)
    staging = folder / ".split"
    shutil.rmtree(staging, ignore_errors=True)  # a build that died half-way
    split = split_register(register_paths, staging, policy)
    try:
        return _build_from_split(split, folder, policy, config)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _build_from_split(
    split: SplitRegister, folder: Path, policy: NationalPolicy, config: MatchConfig
) -> dict[str, int]:
    sizes: dict[str, int] = {}
    tokens: list[pl.DataFrame | None] = []

    def first_sweep() -> Iterable[pl.DataFrame]:
        for b in policy.bucket_keys():
            index = build_population_index(split.bucket(b), split.names)
            sizes[b] = index.height
            tokens.append(token_counts_of(index, config))
            index.write_parquet(private_file(folder / f".{b}.raw.parquet"), compression="lz4")
            yield index.select(list(NATIONAL_NAME_COUNTS))

    counts = NationalCounts.of(first_sweep())
    counts.write(folder / "counts")
    national_tokens = sum_token_counts(tokens)
    for b in policy.bucket_keys():
        raw = folder / f".{b}.raw.parquet"
        index = with_national_counts(pl.read_parquet(raw), counts)
        tmp = private_file(folder / f".{b}.tmp{os.getpid()}.parquet")
        # one row group: read back as one chunk per column (fast gathers, as the engine's own cache)
        index.write_parquet(tmp, compression="lz4", row_group_size=max(index.height, 1))
        prepared_dir = _prepared_folder(folder, b, config)
        shutil.rmtree(prepared_dir, ignore_errors=True)
        index_cache.write_prepared(prepared_dir, prepare_bucket(index, config, national_tokens))
        os.replace(tmp, folder / f"{b}.parquet")
        raw.unlink()
    return sizes


def load_bucket_index(folder: str | Path, bucket: str) -> pl.DataFrame:
    """A bucket index written by :func:`build_bucket_indexes`; the engine then reads its prepared keys
    (national token counts) instead of sorting them again."""
    folder = Path(folder)
    path = folder / f"{bucket}.parquet"
    if not path.exists():
        raise RegisterError(f"bucket index {bucket} not found in {folder}: build the bucket indexes first")
    index = pl.read_parquet(path)
    index_cache.remember_index(index, folder, bucket)
    return index


# ------------------------------------------------------------------------------------------ matching


SECOND_PASS_COLUMNS: tuple[str, ...] = (
    *ROW_KEY, *PARTITION_KEY, "bucket", "status", "person_id", "person_province", "score", "reason",
)


def match_bucket(
    rows: pl.DataFrame,
    index: pl.DataFrame,
    bucket: str,
    config: MatchConfig | None = None,
) -> tuple[pl.DataFrame, MatchOutput | None]:
    """Match the rows visiting ``bucket`` against its index (:func:`load_bucket_index`). Returns
    ``SECOND_PASS_COLUMNS`` (one row per input row, input order) and the engine's output (None for an
    empty side). Estimates are not cached: a bucket index is keyed by its name, not its content."""
    config = config or MatchConfig.default()
    keys = rows.select(*ROW_KEY, *[c for c in PARTITION_KEY if c in rows.columns])
    if rows.height == 0 or index.height == 0:
        out = keys.with_columns(
            bucket=pl.lit(bucket), status=pl.lit("unmatched"), person_id=pl.lit(None, pl.Utf8),
            person_province=pl.lit(None, pl.Utf8), score=pl.lit(None, pl.Float64),
            reason=pl.lit("empty_bucket" if index.height == 0 else None, pl.Utf8),
        )
        return _shape(out), None
    output = match_records(rows, index, config)
    res = output.results
    homes = index.select(pl.col(config.id_column).alias("person_id"), pl.col("prov").alias("person_province"))
    out = keys.hstack(res.select("status", "person_id", "score", "reason")).with_columns(bucket=pl.lit(bucket))
    homes = homes.unique("person_id", keep="first", maintain_order=True)  # deterministic if an ID repeats
    out = out.join(homes, on="person_id", how="left", maintain_order="left")
    return _shape(out), output


def _shape(df: pl.DataFrame) -> pl.DataFrame:
    # rows without their partition (tests, the benchmark) keep null province and sector: one partition
    missing = [pl.lit(None, pl.Utf8).alias(c) for c in PARTITION_KEY if c not in df.columns]
    df = df.with_columns(missing)
    return df.select(SECOND_PASS_COLUMNS).cast(_empty_schema())


def no_year_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """``SECOND_PASS_COLUMNS`` for rows reported instead of matched (policy ``no_year: report``)."""
    keys = rows.select(*ROW_KEY, *[c for c in PARTITION_KEY if c in rows.columns])
    return _shape(keys.with_columns(
        bucket=pl.lit(None, pl.Utf8), status=pl.lit("unmatched"), person_id=pl.lit(None, pl.Utf8),
        person_province=pl.lit(None, pl.Utf8), score=pl.lit(None, pl.Float64), reason=pl.lit(NO_BIRTH_YEAR),
    ))


def merge_decisions(parts: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """One decision per row (``LAKE_ROW_KEY``: the same file in two partitions keeps one decision in
    each) from the buckets' decisions (``SECOND_PASS_COLUMNS`` each).

    The best: matched > ambiguous > unmatched, then the higher score, then the earlier bucket
    (deterministic whatever the order of ``parts``). Two ``matched`` decisions naming different people
    become ``ambiguous`` (reason ``matched_in_two_buckets``, no person): clerical review decides.
    """
    if not parts:
        return pl.DataFrame(schema={c: t for c, t in _empty_schema().items()})
    df = pl.concat([_shape(p) for p in parts])
    key = list(LAKE_ROW_KEY)
    rank = pl.col("status").replace_strict(STATUS_RANK, default=3, return_dtype=pl.Int8)
    df = df.with_columns(_rank=rank, _score=pl.col("score").fill_null(-1.0), _b=pl.col("bucket").fill_null(""))
    conflict = (
        df.filter(pl.col("status") == "matched")
        .group_by(key).agg(pl.col("person_id").n_unique().alias("_people"))
        .filter(pl.col("_people") > 1).select(*key, pl.lit(True).alias("_conflict"))
    )
    best = df.sort([*key, "_rank", "_score", "_b"], descending=[False] * len(key) + [False, True, False])
    best = best.group_by(key, maintain_order=True).first()
    best = best.join(conflict, on=key, how="left", nulls_equal=True).with_columns(pl.col("_conflict").fill_null(False))
    c = pl.col("_conflict")
    best = best.with_columns(
        status=pl.when(c).then(pl.lit("ambiguous")).otherwise("status"),
        person_id=pl.when(c).then(pl.lit(None, pl.Utf8)).otherwise("person_id"),
        person_province=pl.when(c).then(pl.lit(None, pl.Utf8)).otherwise("person_province"),
        reason=pl.when(c).then(pl.lit(TWO_BUCKETS)).otherwise("reason"),
    )
    return best.select(SECOND_PASS_COLUMNS)


def _empty_schema() -> dict[str, pl.DataType]:
    schema = {c: pl.Utf8 for c in SECOND_PASS_COLUMNS}
    schema.update(row_number=pl.Int64, score=pl.Float64)
    return schema


def second_pass_rows(first_pass: pl.DataFrame, clean: pl.DataFrame, policy: NationalPolicy) -> pl.DataFrame:
    """The clean rows (contracts §4) whose first-pass status is one of ``policy.statuses``, joined on
    ``LAKE_ROW_KEY`` (rejected rows have no clean record and stay where the first pass put them).
    Keyed by partition too, so frames holding several partitions' rows cannot pick each other's."""
    key = list(LAKE_ROW_KEY)
    left = first_pass.filter(pl.col("status").is_in(list(policy.statuses))).select(key).unique(maintain_order=True)
    return clean.join(left, on=key, how="semi", nulls_equal=True)


def run_second_pass(
    rows: pl.DataFrame,
    bucket_dir: str | Path,
    policy: NationalPolicy,
    config: MatchConfig | None = None,
    buckets: Sequence[str] | None = None,
) -> pl.DataFrame:
    """All buckets in this process, one after the other (tests, small data); the pipeline runs one
    Dagster partition per bucket instead. Returns the merged decisions, one per row."""
    folder = Path(bucket_dir)
    visits = row_buckets(rows, policy)
    parts = []
    for b in buckets or policy.bucket_keys():
        sel = visits.filter(pl.col("bucket") == b)["_row"]
        if sel.len() == 0:
            continue
        index = load_bucket_index(folder, b)
        parts.append(match_bucket(rows[sel], index, b, config)[0])
    if policy.no_year == "report":
        parts.append(no_year_rows(rows[rows_without_year(rows)]))
    return merge_decisions(parts)


__all__ = [
    "NO_BIRTH_YEAR",
    "SECOND_PASS_COLUMNS",
    "TWO_BUCKETS",
    "NationalCounts",
    "NationalPolicy",
    "bucket_register",
    "build_bucket_indexes",
    "load_bucket_index",
    "load_policy",
    "match_bucket",
    "merge_decisions",
    "no_year_rows",
    "prepare_bucket",
    "row_buckets",
    "row_years",
    "rows_without_year",
    "run_second_pass",
    "second_pass_rows",
    "split_register",
    "sum_token_counts",
    "token_counts_of",
    "with_national_counts",
]
