"""``match_file``: what ``doisoat match`` runs: one input file against a register, one output file.

The input goes through the same reader, normaliser and validator as uploads. Rows rejected by
validation (a missing birth date, an ID Excel turned into 7.92E+10, an unreadable gender, ...) still
go through the matcher with the fields they have (an unusable field is ``missing``, neutral): a person
is proposed, the row keeps its rejection reason (``validation_reason``) and carries the flag
``validation_failed`` so it is not verified until the uploader fixes it. Only rows with neither a
name nor an ID skip matching (``status = 'rejected'``). The output has exactly one row per input data
row, in input order. Errors name files and columns, never cell values. Caches (register index,
parameter estimates) live in our cache folder (``rules.layout.user_cache()``), never beside an input.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl

from rules.errors import MissingInputError, OptionError
from rules.ingest.formats import READ_SUFFIXES
from rules.layout import user_estimates_cache, user_index_cache
from rules.matching.config import MatchConfig
from rules.matching.engine import RESULT_COLUMNS, MatchOutput, match_records
from rules.matching.index import load_or_build_index, register_paths_of
from rules.private import private_file

VALIDATION_FAILED = "validation_failed"

ORDER_COLUMNS = ("file_sha256", "sheet", "row_number")


def combine_with_rejected(results: pl.DataFrame, rejected: pl.DataFrame) -> pl.DataFrame:
    """Append validation rejects (contracts §5) as ``status='rejected'``, ``reason=<reason_code>``.

    The combined frame is in input order: files in order of first appearance, then sheet and data
    row number, so every row read appears exactly once.
    """
    if rejected is None or rejected.height == 0:
        return in_input_order(results)
    lineage = [c for c in results.columns if c not in RESULT_COLUMNS and c in rejected.columns]
    reason = pl.col("reason_code").cast(pl.Utf8) if "reason_code" in rejected.columns else pl.lit(None, pl.Utf8)
    rej = rejected.select(
        *lineage,
        pl.lit("rejected").alias("status"),
        pl.lit(None, pl.Utf8).alias("person_id"),
        pl.lit(None, pl.Float64).alias("score"),
        pl.lit(None, pl.Float64).alias("runner_up_score"),
        reason.alias("reason"),
        pl.lit([], pl.List(pl.Utf8)).alias("flags"),
        pl.lit(None, pl.Utf8).alias("proposed_id"),
        pl.lit(None, pl.Int64).alias("same_person_group"),
        reason.alias("validation_reason"),
    )
    return in_input_order(pl.concat([results, rej], how="diagonal_relaxed"))


def in_input_order(both: pl.DataFrame) -> pl.DataFrame:
    """Rows in input order: files in order of first appearance, then sheet and data row number
    (the matcher's results come valid rows first, then the rejected rows it matched)."""
    keys = [c for c in ORDER_COLUMNS if c in both.columns]
    if not keys:
        return both
    if "file_sha256" in keys:
        # files in order of first appearance
        both = both.with_row_index("_i").with_columns(pl.col("_i").min().over("file_sha256").alias("_file_order"))
        keys = ["_file_order", *keys[1:]]
    return both.sort(keys, maintain_order=True).drop("_file_order", "_i", strict=False)


def matchable(rejected: pl.DataFrame) -> pl.Series:
    """Rejected rows that still carry something to match on: a name or an ID (bool per row)."""
    n = rejected.height
    name = (
        rejected["name_key"].cast(pl.Utf8).str.strip_chars().fill_null("") != ""
        if "name_key" in rejected.columns
        else pl.Series([False] * n)
    )
    ident = pl.Series([False] * n)
    for col in ("id_clean", "old_id_clean"):
        if col in rejected.columns:
            ident = ident | (rejected[col].cast(pl.Utf8).fill_null("") != "")
    return (name | ident).fill_null(False)


def match_with_rejected(
    valid: pl.DataFrame,
    rejected: pl.DataFrame | None,
    index: pl.DataFrame,
    config: MatchConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
    cache_dir: str | Path | None = None,
    labels: tuple[dict, object] | None = None,
) -> MatchOutput:
    """Match valid rows and the rejected rows that have a name or an ID, in one run (one estimation).

    ``labels``: clerical-review pairs blended into the estimates (see ``match_records``).

    Rejected rows that were matched carry ``validation_failed`` in ``flags`` and their reason code in
    ``validation_reason``; the others join as ``rejected``. ``results`` has one row per row of
    ``valid`` + ``rejected``, in input order (lineage keys). ``stats['validation_failed_matched']``
    counts the rejected rows that went through the matcher.
    """
    rejected = rejected if rejected is not None else valid.head(0)
    ok = matchable(rejected) if rejected.height else pl.Series([], dtype=pl.Boolean)
    to_match_rej = rejected.filter(ok) if rejected.height else rejected
    skip = rejected.filter(~ok) if rejected.height else rejected
    common = [c for c in valid.columns if c in to_match_rej.columns] if to_match_rej.height else valid.columns
    both = (
        pl.concat([valid.select(common), to_match_rej.select(common)], how="diagonal_relaxed")
        if to_match_rej.height
        else valid
    )
    output = match_records(both, index, config, progress=progress, cache_dir=cache_dir, labels=labels)
    res = output.results
    if to_match_rej.height:
        n_valid = valid.height
        failed = pl.Series([False] * n_valid + [True] * to_match_rej.height)
        codes = pl.concat(
            [pl.Series([None] * n_valid, dtype=pl.Utf8), to_match_rej["reason_code"].cast(pl.Utf8)]
        )
        res = res.with_columns(
            pl.when(failed)
            .then(pl.col("flags").list.concat(pl.lit([VALIDATION_FAILED], pl.List(pl.Utf8))))
            .otherwise(pl.col("flags"))
            .alias("flags"),
            codes.alias("validation_reason"),
        )
    output.results = combine_with_rejected(res, skip)
    output.stats["rejected"] = rejected.height
    output.stats["validation_failed_matched"] = to_match_rej.height
    output.stats["skipped_no_name_no_id"] = skip.height
    return output


def _normalise_and_validate(raw: pl.DataFrame, sector: str, headers=None) -> tuple[pl.DataFrame, pl.DataFrame]:
    from rules.normalise import normalise_records
    from rules.validate import validate_records

    normalised = normalise_records(raw, sector)
    return validate_records(normalised, sector, headers=headers)


def read_input(path: str | Path, sector: str, province: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid normalised records, rejected rows) of one input file (xlsx/csv/parquet)."""
    path = Path(path)
    if not path.exists():
        raise MissingInputError(f"input file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        df = pl.read_parquet(path)
        if "name_key" in df.columns and "dob_precision" in df.columns:  # already normalised
            return df, df.head(0)
        if "row_number" not in df.columns:
            df = df.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))
        return _normalise_and_validate(df, sector)
    if suffix in READ_SUFFIXES:
        from rules.ingest import read_upload

        upload = read_upload(path, province=province or "ho_chi_minh", sector=sector)
        return _normalise_and_validate(upload.raw, sector, headers=_field_headers(upload.column_map))
    raise OptionError(f"unsupported input type {suffix!r} for {path.name}: use .xlsx, .csv or .parquet")


def _field_headers(column_map: dict[str, str]) -> dict[str, str]:
    """canonical field -> the uploader's header (for rejection messages)."""
    return {field: header for header, field in column_map.items()}


OUTPUT_SUFFIXES = (".parquet", ".csv")


def write_output(results: pl.DataFrame, out: str | Path) -> None:
    """Parquet or CSV by extension; in CSV the ``flags`` list is written as ``a;b``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix in (".parquet", ".csv"):
        private_file(out)  # IDs and names: owner-only before the first byte (the writers keep the mode)
    if suffix == ".parquet":
        results.write_parquet(out)
    elif suffix == ".csv":
        from rules.outputs import write_csv

        write_csv(results, out)  # lists as a;b, formula-like names neutralised
    else:
        raise OptionError(f"unsupported output type {suffix!r}: use .parquet or .csv")


def _progress_bar(enabled: bool) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A stderr progress callback (tqdm when installed) and a function that closes it."""
    if not enabled:
        return None, lambda: None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is normally installed

        def simple(done: int, total: int) -> None:
            print(f"\rmatching {done:,}/{total:,} rows", end="", file=sys.stderr, flush=True)

        return simple, lambda: print(file=sys.stderr)
    bar: dict[str, tqdm] = {}

    def update(done: int, total: int) -> None:
        if "b" not in bar:
            bar["b"] = tqdm(total=total, unit="rows", desc="matching", file=sys.stderr, leave=False)
        bar["b"].n = done
        bar["b"].refresh()

    return update, lambda: bar["b"].close() if "b" in bar else None


def match_file(
    population: str | Path,
    input: str | Path,  # the CLI calls it --input
    sector: str,
    out: str | Path,
    progress: bool = True,
    index_dir: str | Path | None = None,
    config: MatchConfig | None = None,
) -> MatchOutput:
    """Match one sector file against a register and write one output row per input data row.

    ``population``: a register Parquet file or a folder of them; its index is cached in
    ``index_dir`` (default: ``rules.layout.user_index_cache()``, never beside the register, which may be on a
    read-only share) and rebuilt when it changes; parameter estimates go to ``user_estimates_cache()``.
    """
    if Path(out).suffix.lower() not in OUTPUT_SUFFIXES:  # refuse before minutes of matching, not after
        raise OptionError(f"unsupported output type {Path(out).suffix!r}: use .parquet or .csv")
    paths = register_paths_of(population)
    index_dir = Path(index_dir) if index_dir else user_index_cache()
    index = load_or_build_index(paths, index_dir)
    province = _main_province(index)
    valid, rejected = read_input(input, sector, province)
    callback, close = _progress_bar(progress)
    try:
        output = match_with_rejected(valid, rejected, index, config, callback, user_estimates_cache())
    finally:
        close()
    write_output(output.results, out)
    return output


def _main_province(index: pl.DataFrame) -> str | None:
    """Slug of the register's most common province (the uploads' province for the reader)."""
    prov = index["prov"].drop_nulls() if "prov" in index.columns else pl.Series([], dtype=pl.Utf8)
    if prov.len() == 0:
        return None
    return prov.mode().sort()[0]
