"""From match results to verification requests, and from answers back to a unit's cleaned records.

Both are pure functions on frames (no store, no I/O), so the assets can call them per partition.

- :func:`build_requests`: every ``matched`` (or ``matched_by_review``) row (contract 6) becomes one
  request (contract 7). A
  field that is null (or a birth date known only to the month/year) is sent as null and not
  compared by the service. The
  ``request_id`` is ``sha256(file_sha256|sheet|row_number|person_id)``, computed vectorised by
  DuckDB, so the same row proposed for the same person always has the same idempotency key and
  re-enqueueing a re-processed file adds nothing.
- :func:`write_back`: joins answers onto the cleaned records on the lineage key
  (``file_sha256``, ``sheet``, ``row_number``) and adds ``verification_status``,
  ``verified_person_id`` (only when verified) and ``verification_differing_fields``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import polars as pl

from rules.verify.store import LINEAGE_COLUMNS, REQUEST_COLUMNS

_NAME_SOURCES = ("name_clean", "full_name")
_DOB_SOURCES = ("dob", "date_of_birth")
_GENDER_SOURCES = ("gender_norm", "gender")


def build_requests(
    matches: pl.DataFrame, records: pl.DataFrame | None = None, enqueued_at: datetime | None = None
) -> pl.DataFrame:
    """Requests for the ``matched`` rows of ``matches``.

    The fields to confirm come from ``records`` (the normalised rows of contract 4, joined on the
    lineage key) or, if ``records`` is None, from ``matches`` itself; the first present of
    ``name_clean``/``full_name``, ``dob``/``date_of_birth``, ``gender_norm``/``gender`` is used.
    Returns the contract-7 columns plus the lineage key.
    """
    need = ["status", "person_id", "province", "sector", "unit", *LINEAGE_COLUMNS]
    missing = [c for c in need if c not in matches.columns]
    if missing:
        raise ValueError(f"match results lack column(s) {', '.join(missing)} (contract 6)")
    # a row that failed validation was matched with the fields it had, but is not verified until fixed
    unverifiable = (
        pl.col("flags").list.contains("validation_failed").fill_null(False)
        if "flags" in matches.columns
        else pl.lit(False)
    )
    # matched_by_review: a reviewer picked the person (rules.review); verified like an automatic match
    rows = matches.filter(pl.col("status").is_in(["matched", "matched_by_review"]) & ~unverifiable).with_columns(
        pl.col("sheet").fill_null("")
    )
    source = rows
    if records is not None:
        rows = rows.select(need)
        extra = ("dob_precision",) if "dob_precision" in records.columns else ()
        fields = [c for c in (*_NAME_SOURCES, *_DOB_SOURCES, *_GENDER_SOURCES, *extra) if c in records.columns]
        source = rows.join(
            records.select(*LINEAGE_COLUMNS, *fields)
            .with_columns(pl.col("sheet").fill_null(""))
            .unique(list(LINEAGE_COLUMNS), keep="first"),
            on=list(LINEAGE_COLUMNS),
            how="left",
        )
    stamp = (enqueued_at or datetime.now(UTC)).isoformat(timespec="seconds")
    # a birth date known only to the month or year is not sent: comparing its stand-in first day
    # would report a mismatch the register cannot explain
    day_precise = pl.col("dob_precision").fill_null("day") == "day" if "dob_precision" in source.columns else True
    out = source.with_columns(
        full_name=_first(source, _NAME_SOURCES).cast(pl.Utf8),
        date_of_birth=pl.when(day_precise).then(_first(source, _DOB_SOURCES).cast(pl.Utf8).str.slice(0, 10)),
        gender=_first(source, _GENDER_SOURCES).cast(pl.Utf8),
        enqueued_at=pl.lit(stamp),
    )
    ids = duckdb.sql(
        "SELECT sha256(concat_ws('|', file_sha256, sheet, CAST(row_number AS VARCHAR), person_id)) "
        "AS request_id "
        "FROM out"
    ).pl()
    return out.with_columns(request_id=ids["request_id"]).select(*REQUEST_COLUMNS, *LINEAGE_COLUMNS)


def _first(frame: pl.DataFrame, names: tuple[str, ...]) -> pl.Expr:
    present = [n for n in names if n in frame.columns]
    return pl.coalesce([pl.col(n).cast(pl.Utf8) for n in present]) if present else pl.lit(None, pl.Utf8)


def write_back(records: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """The unit's cleaned records with their verification outcome (rows without one get nulls).

    ``results`` as returned by ``QueueStore.results()``. Only ``verified`` rows get a
    ``verified_person_id``; mismatches keep the proposed id out and list the differing fields.
    """
    missing = [c for c in LINEAGE_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"records lack lineage column(s) {', '.join(missing)} (contract 3)")
    answers = (
        results.filter(pl.col("file_sha256").is_not_null())
        .sort("answered_at", descending=True)
        .unique(list(LINEAGE_COLUMNS), keep="first")
        .select(
            *[pl.col(c) for c in LINEAGE_COLUMNS],
            pl.col("status").alias("verification_status"),
            pl.when(pl.col("status") == "verified").then(pl.col("person_id")).alias("verified_person_id"),
            pl.col("differing_fields").alias("verification_differing_fields"),
            pl.col("answered_at").alias("verified_at"),
        )
    )
    keyed = records.with_columns(pl.col("sheet").fill_null(""), pl.col("row_number").cast(pl.Int64))
    return keyed.join(answers, on=list(LINEAGE_COLUMNS), how="left", maintain_order="left")
