"""Build the analyst DuckDB file from the lake and the national outputs, then swap it in atomically.

The file is built under a temporary name and ``os.replace``d over ``warehouse/doisoat.duckdb``, so an
analyst with an open session keeps reading the previous version and a new session sees the new one
(docs/decisions.md, "the analyst file": DuckDB has one writer, and readers block writers of the same file).

Privacy: only aggregates and masked row-level decisions go in. IDs are masked (``079*******34``),
names never enter, birth dates are reduced to the year. ``tests/pipelines/test_demo_end_to_end.py``
scans every text column of every table against the register; ``tests/assets/test_warehouse_columns.py``
checks that every column carries a comment.

Sources: what each warehouse table reads from the lake is declared in ``LAKE_SOURCES`` (columns only;
their dtypes and descriptions come from ``rules.lake_schema``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from assets.lake import national_keys, read_lake_table, read_national
from rules.errors import UserError
from rules.lake_schema import lake_table
from rules.layout import DataLayout, redacted_uri
from rules.privacy import mask_id
from rules.processes import process_alive

# What each source takes from its lake table (rules.lake_schema owns the dtypes): only these columns
# enter the file, so no name, birth date or unmasked ID can (person IDs are masked below).
LAKE_SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "uploads": ("uploads", ("province", "sector", "unit", "file_name", "file_sha256", "status", "uploaded_at",
                            "rows_read", "blank_rows_skipped", "footer_rows_skipped", "error_code")),
    "clean": ("clean_records", ("province", "sector", "unit", "file_sha256", "id_kind", "id_flags", "dob_flags",
                                "dob_precision", "name_flags")),
    "rejected": ("rejected_records", ("province", "sector", "unit", "file_name", "file_sha256", "reason_code",
                                      "message_vi", "message_en")),
    "matches": ("match_results", ("province", "sector", "unit", "file_sha256", "row_number", "status", "person_id",
                                  "proposed_id", "score", "reason", "flags", "dob_year", "gender_norm",
                                  "runner_up_score")),
    "review": ("review_queue", ("province", "sector", "unit", "file_sha256", "sheet", "row_number")),
    # the clerical-review ledger without reviewer, notes or person IDs (rules.review.decisions)
    "review_decisions": ("review_decisions", ("province", "sector", "unit", "file_sha256", "sheet", "row_number",
                                              "decision", "chosen_rank", "chosen_reason", "best_score",
                                              "decided_at")),
    # Fellegi-Sunter parameters estimated per province x sector run (rules.matching.estimate)
    "match_estimates": ("match_estimates", ("comparison", "level", "m", "u", "match_weight")),
    "allocation": ("daily_allocation", ("unit_key", "backlog", "floor", "allocated")),
    "forecast": ("forecast", ("backlog", "clearance_day", "days_to_clear")),
    "forecast_daily": ("forecast_daily", ("date", "level", "series", "remaining")),
}
# Columns a source adds to its lake table: the day of an allocation file is its name; the forecast's
# unit_key is read as ``unit`` (``_unit_named``).
_ADDED: dict[str, dict[str, pl.DataType]] = {"allocation": {"day": pl.Utf8}, "forecast": {"unit": pl.Utf8}}
# The queue store's exports (rules.verify.store owns them): requests without personal data, day budgets.
STORE_SOURCES: dict[str, dict[str, pl.DataType]] = {
    "requests": {"province": pl.Utf8, "sector": pl.Utf8, "unit": pl.Utf8, "state": pl.Utf8,
                 "status": pl.Utf8, "differing_fields": pl.Utf8, "enqueued_at": pl.Utf8,
                 "answered_at": pl.Utf8},
    "budgets": {"day": pl.Utf8, "quota": pl.Int64, "allocated": pl.Int64, "stop_cause": pl.Utf8,
                "unused": pl.Int64},
}
# Every source's schema, so an empty lake still yields every table (with zero rows).
SOURCE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    **{name: {**_ADDED.get(name, {}), **lake_table(table).schema(columns)}
       for name, (table, columns) in LAKE_SOURCES.items()},
    **STORE_SOURCES,
}


class EmptyLakeError(UserError):
    """Publishing would replace an analyst file that holds rows with one built from a lake holding no table
    at all (a wrong ``DOISOAT_LAKE``, an unmounted share): the old file is kept."""


@dataclass
class WarehouseSources:
    """The frames the warehouse is built from (any may be empty).

    ``lake_tables``: how many of the lake's province x sector tables held anything (None: not read from
    a lake, e.g. frames a test built); ``lake``: where the lake is, for messages."""

    frames: dict[str, pl.DataFrame]
    lake_tables: int | None = None
    lake: str = ""

    @classmethod
    def from_layout(cls, layout: DataLayout, queue: pl.DataFrame | None = None,
                    budgets: pl.DataFrame | None = None) -> WarehouseSources:
        # Lake tables (national ones too) through assets.lake: local Parquet or Delta on object storage alike.
        # (rules.lake_store.open_lake refuses a DOISOAT_LAKE that names no usable lake before anything is read.)
        partitioned = {
            name: read_lake_table(layout, LAKE_SOURCES[name][0])
            for name in ("uploads", "clean", "rejected", "matches", "review", "review_decisions", "match_estimates")
        }
        frames = partitioned | {
            "allocation": _allocations(layout),
            "forecast": _unit_named(read_national(layout, "forecast")),
            "forecast_daily": read_national(layout, "forecast_daily"),
            "requests": queue,
            "budgets": budgets,
        }
        # The province x sector tables: the national ones live under national/ on a local lake.
        lake_tables = sum(df is not None for df in partitioned.values())
        return cls({k: _conform(v, SOURCE_SCHEMAS[k]) for k, v in frames.items()}, lake_tables,
                   redacted_uri(layout.lake_location))


def _allocations(layout: DataLayout) -> pl.DataFrame | None:
    """Every day's allocation, with its ``day`` (the key it was written under)."""
    frames = [df.with_columns(day=pl.lit(day)) for day in national_keys(layout, "daily_allocation")
              if (df := read_national(layout, "daily_allocation", day)) is not None]
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


def _unit_named(df: pl.DataFrame | None) -> pl.DataFrame | None:
    """The forecast keys units by the national ``unit_key``; the warehouse splits it from ``unit``."""
    if df is not None and "unit_key" in df.columns and "unit" not in df.columns:
        return df.rename({"unit_key": "unit"})
    return df


def _conform(df: pl.DataFrame | None, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Keep exactly the columns the warehouse uses, cast to their types; absent ones become null."""
    if df is None:
        return pl.DataFrame(schema=schema)
    return df.select(
        [(pl.col(c).cast(t, strict=False) if c in df.columns else pl.lit(None, t)).alias(c)
         for c, t in schema.items()]
    )


TABLES: list[tuple[str, str, str]] = [
    ("uploads", "One row per uploaded file: unit, status and rows read / accepted / rejected.", """
        SELECT u.province, u.sector, u.unit, u.file_label, u.file_id, u.status,
               u.uploaded_at, u.error_code, u.rows_read, u.blank_rows_skipped,
               coalesce(u.footer_rows_skipped, 0) AS footer_rows_skipped,
               coalesce(a.accepted, 0) AS accepted, coalesce(r.rejected, 0) AS rejected
        FROM src_uploads u
        -- by partition too: the same file uploaded to two partitions is two sets of rows
        LEFT JOIN (SELECT province, sector, file_sha256, count(*) AS accepted FROM src_clean GROUP BY ALL) a
            USING (province, sector, file_sha256)
        LEFT JOIN (SELECT province, sector, file_sha256, count(*) AS rejected FROM src_rejected GROUP BY ALL) r
            USING (province, sector, file_sha256)
    """),
    ("rejections", "Rejected rows by unit, file and reason (Vietnamese and English message).", """
        SELECT province, sector, unit, file_label, file_id, reason_code, any_value(message_vi) AS message_vi,
               any_value(message_en) AS message_en, count(*) AS rows
        -- a row with several reasons counts once under each; codes and messages split in step
        FROM (SELECT province, sector, unit, file_label, file_id,
                     unnest(string_split(reason_code, ';')) AS reason_code,
                     unnest(string_split(message_vi, ' ; ')) AS message_vi,
                     unnest(string_split(message_en, ' ; ')) AS message_en FROM src_rejected)
        GROUP BY province, sector, unit, file_label, file_id, reason_code
    """),
    ("match_outcomes", "Match decisions by unit and sector: matched, ambiguous, unmatched, rejected.", """
        SELECT province, sector, unit, status, count(*) AS rows, round(avg(score), 4) AS mean_score
        FROM src_matches GROUP BY ALL
    """),
    ("match_flags", "Flags raised while matching (e.g. id_corrected, id_belongs_to_other_person).", """
        SELECT province, sector, unit, flag, count(*) AS rows
        FROM (SELECT province, sector, unit, unnest(flags) AS flag FROM src_matches) GROUP BY ALL
    """),
    ("match_decisions", "Row-level decisions, masked: IDs as 079*******34, birth year only, no names.", """
        SELECT province, sector, unit, file_id, row_number, status,
               round(score, 4) AS score, reason, flags, person_id_masked, proposed_id_masked,
               dob_year AS birth_year, gender_norm AS gender
        FROM src_matches_masked
    """),
    ("review_queue_size", "Rows waiting for clerical review (ambiguous matches) per unit.", """
        SELECT province, sector, unit, count(DISTINCT (file_sha256, sheet, row_number)) AS rows_to_review,
               count(*) AS candidates
        FROM src_review GROUP BY ALL
    """),
    ("review_backlog", "Clerical review per unit: rows waiting, rows decided by reviewers, throughput.", """
        WITH q AS (SELECT province, sector, unit, count(DISTINCT (file_sha256, sheet, row_number)) AS waiting
                   FROM src_review GROUP BY ALL),
             m AS (SELECT province, sector, unit,
                          count(*) FILTER (WHERE status = 'matched_by_review') AS matched_by_review,
                          count(*) FILTER (WHERE status = 'rejected_by_review') AS rejected_by_review
                   FROM src_matches GROUP BY ALL),
             d AS (SELECT province, sector, unit, count(*) AS decisions,
                          count(*) FILTER (WHERE decision = 'unsure') AS not_sure,
                          count(DISTINCT CAST(decided_at AS DATE)) AS review_days,
                          max(CAST(decided_at AS DATE)) AS last_decision_day
                   FROM src_review_decisions GROUP BY ALL)
        SELECT province, sector, unit, coalesce(waiting, 0) AS waiting,
               coalesce(matched_by_review, 0) AS matched_by_review,
               coalesce(rejected_by_review, 0) AS rejected_by_review, coalesce(not_sure, 0) AS not_sure,
               coalesce(decisions, 0) AS decisions, last_decision_day,
               round(coalesce(decisions, 0) / greatest(coalesce(review_days, 0), 1), 1) AS decisions_per_review_day
        FROM m FULL JOIN q USING (province, sector, unit) FULL JOIN d USING (province, sector, unit)
        WHERE coalesce(waiting, 0) + coalesce(matched_by_review, 0) + coalesce(rejected_by_review, 0)
              + coalesce(decisions, 0) > 0
    """),
    ("review_activity", "Clerical-review decisions per unit and day (throughput).", """
        SELECT province, sector, unit, CAST(decided_at AS DATE) AS day,
               count(*) FILTER (WHERE decision = 'match') AS matched_by_review,
               count(*) FILTER (WHERE decision = 'none') AS rejected_by_review,
               count(*) FILTER (WHERE decision = 'unsure') AS not_sure, count(*) AS decisions
        FROM src_review_decisions GROUP BY ALL
    """),
    ("data_quality", "Data-quality indicators per unit: missing IDs, ID structure warnings, date problems.",
     """
        WITH c AS (
            SELECT province, sector, unit, id_kind, dob_precision,
                   coalesce(id_flags, []) AS id_flags, coalesce(dob_flags, []) AS dob_flags,
                   coalesce(name_flags, []) AS name_flags
            FROM src_clean)
        SELECT province, sector, unit, count(*) AS accepted_rows,
               count(*) FILTER (WHERE id_kind IS NULL OR id_kind = 'missing') AS missing_id,
               count(*) FILTER (WHERE id_kind LIKE 'cmnd%') AS old_cmnd_only,
               count(*) FILTER (WHERE list_contains(id_flags, 'leading_zero_restored')) AS id_leading_zero_restored,
               count(*) FILTER (WHERE list_has_any(id_flags, ['province_code_unknown', 'century_digit_unusual',
                                 'gender_digit_mismatch', 'birth_year_mismatch'])) AS id_structure_warnings,
               count(*) FILTER (WHERE dob_precision IN ('year', 'month')) AS dob_not_full,
               count(*) FILTER (WHERE len(dob_flags) > 0) AS dob_flagged,
               count(*) FILTER (WHERE len(name_flags) > 0) AS names_repaired
        FROM c GROUP BY ALL
    """),
    ("verification_backlog", "Verification requests per unit and state (pending, sent, verified, …).", """
        SELECT province, sector, unit, province || '/' || sector || '/' || unit AS unit_key,
               count(*) FILTER (WHERE state IN ('pending', 'failed')) AS waiting,
               count(*) FILTER (WHERE state IN ('allocated', 'sent')) AS in_flight,
               count(*) FILTER (WHERE status = 'verified') AS verified,
               count(*) FILTER (WHERE status = 'mismatch') AS mismatch,
               count(*) FILTER (WHERE status = 'not_found') AS not_found,
               count(*) FILTER (WHERE state = 'withdrawn') AS withdrawn,
               count(*) AS requests
        FROM src_requests GROUP BY ALL
    """),
    ("daily_allocation", "The national quota's allocation per day and unit (floor + weighted share).", """
        SELECT CAST(day AS DATE) AS day, unit_key, backlog, floor, allocated FROM src_allocation
    """),
    ("quota_usage", "Per day: national quota, this installation's allocation, what the other provinces got, "
     "capacity left unused and why.", """
        SELECT CAST(b.day AS DATE) AS day, b.quota, b.allocated,
               CAST(greatest(coalesce(a.total, 0) - b.allocated, 0) AS BIGINT) AS allocated_elsewhere,
               b.unused, b.stop_cause
        FROM src_budgets b LEFT JOIN (SELECT day, sum(allocated) AS total FROM src_allocation GROUP BY day) a
        USING (day)
    """),
    ("verification_outcomes", "Verification answers by province and sector.", """
        SELECT province, sector, status, count(*) AS rows FROM src_requests WHERE status IS NOT NULL GROUP BY ALL
    """),
    ("mismatch_fields", "Which fields differ when the population database answers mismatch.", """
        SELECT province, sector, field, count(*) AS rows
        FROM (SELECT province, sector, unnest(string_split(differing_fields, ',')) AS field
              FROM src_requests WHERE status = 'mismatch' AND differing_fields IS NOT NULL)
        GROUP BY ALL
    """),
    ("forecast", "Forecast clearance day of each unit's backlog under the current policy and quota.", """
        SELECT unit AS unit_key, split_part(unit, '/', 1) AS province, split_part(unit, '/', 2) AS sector,
               split_part(unit, '/', 3) AS unit, backlog, clearance_day, days_to_clear
        FROM src_forecast
    """),
    ("forecast_daily", "Forecast burn-down: requests still waiting at the end of each day, for the country, "
     "each province and the largest units (level national / province / unit).", """
        SELECT date, level, series, remaining FROM src_forecast_daily
    """),
]

VIEWS: list[tuple[str, str, str]] = [
    ("largest_backlogs", "Units by verification backlog, largest first.", """
        SELECT unit_key, province, sector, unit, waiting, in_flight, verified FROM verification_backlog
        ORDER BY waiting DESC, unit_key
    """),
    ("unit_scorecard", "Per unit: rows accepted and rejected, matched share, review queue, backlog.", """
        SELECT m.province, m.sector, m.unit,
               CAST(sum(rows) AS BIGINT) AS rows,
               CAST(coalesce(sum(rows) FILTER (WHERE status = 'matched'), 0) AS BIGINT) AS matched,
               CAST(coalesce(sum(rows) FILTER (WHERE status = 'rejected'), 0) AS BIGINT) AS rejected,
               round(coalesce(sum(rows) FILTER (WHERE status = 'matched'), 0) / sum(rows), 4) AS matched_share
        FROM match_outcomes m GROUP BY ALL
    """),
]

# Column comments. A column is documented by (1) its table's own entry below, (2) a warehouse-wide
# entry (names meaning the same in every table), (3) the lake column it is copied from
# (rules.lake_schema, via the table's sources), (4) a lake column of that name that means the same in
# every lake table (province, sector, unit, unit_key). A test fails when any column of any table or
# view of the file has no comment.
COLUMN_DOCS = {
    "file_id": "12 hex digits standing for the upload (keyed pseudonym of its sha256: only this deployment can "
               "compute it)",
    "file_label": "the upload's name as slugs, IDs, dates and person names masked (x); file_id tells uploads apart",
    "rows": "number of rows",
    "person_id_masked": "personal ID proposed by the match, masked (first 3 and last 2 digits)",
    "proposed_id_masked": "the ID the match proposes for the row, masked",
    "birth_year": "year of birth only (no full date of birth in this file)",
    "gender": "Nam | Nữ | null (normalised)",
    "waiting": "requests pending or failed (waiting for quota)",
    "in_flight": "requests allocated or sent, not answered yet",
    "verified": "requests the population database confirmed",
    "withdrawn": "requests of uploads superseded by a corrected file before they were sent (never sent)",
    "allocated": "verifications allocated (to the unit, or to this installation) on that day",
    "allocated_elsewhere": "the national quota's share that went to provinces processed by other installations",
    "floor": "part of the allocation guaranteed as a floor",
    "clearance_day": "forecast day the backlog reaches zero",
    "matched_by_review": "rows a reviewer matched to one of the candidates",
    "rejected_by_review": "rows a reviewer said match none of the candidates",
    "not_sure": "review decisions 'not sure' (the row stays waiting)",
    "decisions": "review decisions imported",
    "level": "forecast series level: national | province | unit (series is then 'national', the province slug "
             "or the unit_key)",
}
TABLE_COLUMN_DOCS: dict[str, dict[str, str]] = {
    "uploads": {"status": "current | superseded (a newer file of the same list replaced it) | duplicate (same "
                          "content as another file) | failed (could not be read: see error_code)",
                "error_code": "why the file could not be read (null when it was read)",
                "footer_rows_skipped": "note, total and signature rows under the list, skipped as not people "
                                       "(rows_read counts the others)",
                "accepted": "rows of the file that passed validation",
                "rejected": "rows of the file rejected by validation (see rejections)"},
    "rejections": {"rows": "rows rejected for this reason (a row with several reasons counts once under each)",
                   "reason_code": "machine-readable rejection reason (see rules/reasons.yaml)"},
    "match_outcomes": {"status": "matched | ambiguous | unmatched | rejected | matched_by_review | "
                                 "rejected_by_review",
                       "mean_score": "mean match score (0-1) of the rows with this status"},
    "match_flags": {"flag": "a flag raised while matching, e.g. id_corrected, id_belongs_to_other_person",
                    "rows": "rows carrying the flag"},
    "match_decisions": {"status": "matched | ambiguous | unmatched | rejected | matched_by_review | "
                                  "rejected_by_review",
                        "score": "match score 0-1 (posterior that the proposed person is the row's)"},
    "review_queue_size": {"rows_to_review": "ambiguous rows waiting for clerical review",
                          "candidates": "candidate people shown for them (several per row)"},
    "review_backlog": {"waiting": "ambiguous rows waiting for clerical review",
                       "last_decision_day": "day of the latest review decision",
                       "decisions_per_review_day": "decisions per day on which reviewers decided anything"},
    "review_activity": {"day": "day the decisions were imported"},
    "review_label_levels": {"comparison": "compared field (given, family, dob, id, ...)",
                            "level": "agreement level of the comparison",
                            "m_em": "m estimated without labels (EM over the runs, or the configured start)",
                            "n_lab": "reviewed pairs of this comparison (labels)",
                            "n_level": "reviewed true pairs at this level",
                            "m_lab": "m measured on the reviewed pairs",
                            "m_blended": "m blended from labels and EM: (n_level + k m_em) / (n_lab + k)"},
    "review_precision": {"band_low": "lowest best score of the band measured",
                         "band_high": "highest best score of the band measured",
                         "reviewed": "reviewed rows with a best score in the band",
                         "best_confirmed": "of them, rows whose best candidate the reviewer confirmed",
                         "precision": "best_confirmed / reviewed",
                         "ci_low": "lower bound of the 95% Wilson interval of precision",
                         "ci_high": "upper bound of the 95% Wilson interval of precision",
                         "model_expected": "precision the model's scores predict (their mean)"},
    "review_threshold_whatif": {"threshold": "a lower match threshold",
                                "extra_matches": "rows that would become matched at that threshold",
                                "est_wrong": "expected wrong matches among them (from reviewed rows)",
                                "est_error_rate": "est_wrong / extra_matches",
                                "measured_share": "share of the extra rows whose score bin has reviewed rows"},
    "data_quality": {"accepted_rows": "rows that passed validation",
                     "missing_id": "accepted rows without a usable personal ID",
                     "old_cmnd_only": "rows identified only by an old CMND number",
                     "id_leading_zero_restored": "IDs whose lost leading zero was restored",
                     "id_structure_warnings": "IDs whose structure disagrees (province code, century, gender or "
                                              "birth-year digits)",
                     "dob_not_full": "birth dates known only to the month or year",
                     "dob_flagged": "birth dates with a warning (day/month ambiguous, Excel serial, ...)",
                     "names_repaired": "names repaired (encoding, spaces, tone marks, notes moved out)"},
    "verification_backlog": {"mismatch": "answers: the database holds other values for some fields",
                             "not_found": "answers: the database has no such person",
                             "requests": "requests ever made for the unit"},
    "daily_allocation": {"day": "the verification day", "backlog": "requests waiting for the unit that day",
                         "allocated": "verifications allocated to the unit that day"},
    "quota_usage": {"day": "the verification day", "quota": "the national daily quota",
                    "allocated": "verifications allocated to this installation's units that day",
                    "unused": "allocated but not answered (outage, rate limit): see stop_cause",
                    "stop_cause": "why the day stopped early (e.g. service_unavailable, quota_exceeded); "
                                  "null when the day was fully spent"},
    "verification_outcomes": {"status": "the population database's answer: verified | mismatch | not_found",
                              "rows": "requests with this answer"},
    "mismatch_fields": {"field": "a field the population database reported as different (full_name, "
                                 "date_of_birth, gender)",
                        "rows": "mismatch answers naming the field"},
    "forecast": {"backlog": "requests waiting when the forecast was made",
                 "days_to_clear": "forecast days until the backlog is zero (null: not within the horizon)"},
    "forecast_daily": {"date": "forecast day", "level": "national | province | unit",
                       "series": "'national', the province slug or the unit_key (see level)",
                       "remaining": "requests still waiting at the end of the day"},
    "largest_backlogs": {},
    "unit_scorecard": {"rows": "rows read (every match outcome)", "matched": "rows matched automatically",
                       "rejected": "rows rejected (neither a usable name nor an ID)",
                       "matched_share": "matched / rows"},
}
# The lake tables each warehouse table copies columns from (their rules.lake_schema descriptions apply).
TABLE_SOURCES: dict[str, tuple[str, ...]] = {
    "uploads": ("uploads",), "rejections": ("rejected_records",), "match_outcomes": ("match_results",),
    "match_flags": ("match_results",), "match_decisions": ("match_results",), "review_activity": (),
    "forecast": ("forecast",), "forecast_daily": ("forecast_daily",), "daily_allocation": ("daily_allocation",),
}


def column_doc(table: str, column: str) -> str | None:
    """The comment of ``table.column`` (None when nothing documents it: a test forbids that)."""
    from rules.lake_schema import LAKE_TABLES

    doc = TABLE_COLUMN_DOCS.get(table, {}).get(column) or COLUMN_DOCS.get(column)
    for source in TABLE_SOURCES.get(table, ()):
        if doc is None and column in LAKE_TABLES[source].column_names:
            doc = LAKE_TABLES[source].column(column).description
    if doc is None:
        meanings = {t.column(column).description for t in LAKE_TABLES.values() if column in t.column_names}
        doc = meanings.pop() if len(meanings) == 1 else None
    return doc


def build_warehouse(sources: WarehouseSources, target: Path) -> dict[str, int]:
    """Write every table and view into a new file and swap it over ``target``. Returns row counts."""
    _refuse_emptying(sources, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.building")
    _remove_build(tmp)
    try:
        counts = _build(sources, tmp)
        os.replace(tmp, target)
    finally:
        _remove_build(tmp)  # a failed build (disk full, bad source) leaves no .building / .wal behind
    return counts


def _refuse_emptying(sources: WarehouseSources, target: Path) -> None:
    """Never swap an empty lake's file over one that holds rows: a lake with no table at all next to an
    analyst file with rows means the lake was not found (a wrong ``DOISOAT_LAKE``, a share not mounted),
    not that the data went away. A fresh installation (no file yet, or a file without rows) still
    publishes its empty file; to publish an emptied lake on purpose, the old file is deleted first."""
    if sources.lake_tables != 0 or not target.exists():
        return
    held = file_rows(target)
    if held:
        raise EmptyLakeError(
            f"the lake at {sources.lake} holds no tables but the analyst file {target} holds {held:,} rows: "
            "kept the old file; check DOISOAT_LAKE (and that the lake's disk or share is mounted), or delete "
            "the old file to publish an empty lake on purpose")


def file_rows(path: Path) -> int:
    """Rows in every table of an analyst file (0 when it cannot be read: a damaged file may be replaced)."""
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return 0
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()").fetchall()]
        return sum(con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names)
    except duckdb.Error:
        return 0
    finally:
        con.close()


def _remove_build(tmp: Path) -> None:
    for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
        with contextlib.suppress(OSError):  # never hides why a build failed, never fails a publish
            leftover.unlink(missing_ok=True)  # that worked; a leftover goes with remove_leftovers


def remove_leftovers(target: Path) -> int:
    """Remove half-built files of publishes whose process is gone (killed mid-build). Never raises:
    what cannot be removed (a folder at such a name) is left where it is."""
    removed = 0
    for path in target.parent.glob(f".{target.name}.*.building*"):
        pid = path.name[len(target.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                continue
            removed += 1
    return removed


def _build(sources: WarehouseSources, tmp: Path) -> dict[str, int]:
    frames = {name: _published(_conform(sources.frames.get(name), schema))
              for name, schema in SOURCE_SCHEMAS.items()}
    matches = frames["matches"]
    frames["matches_masked"] = matches.with_columns(
        mask_id(pl.col("person_id")).alias("person_id_masked"),
        mask_id(pl.col("proposed_id")).alias("proposed_id_masked"),
    ).drop("person_id", "proposed_id")
    counts: dict[str, int] = {}
    con = duckdb.connect(str(tmp))
    try:
        for name, frame in frames.items():
            con.register(f"src_{name}", frame)
        for name, doc, sql in TABLES:
            con.execute(f"CREATE TABLE {name} AS {sql}")
            con.execute(f"COMMENT ON TABLE {name} IS '{_quote(doc)}'")
            counts[name] = con.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            _comment_columns(con, name)
        for name, frame in _review_label_frames(frames).items():  # aggregates computed in Python
            con.register("_review_frame", frame)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _review_frame")
            con.unregister("_review_frame")
            con.execute(f"COMMENT ON TABLE {name} IS '{_quote(REVIEW_LABEL_DOCS[name])}'")
            _comment_columns(con, name)
            counts[name] = frame.height
        for name, doc, sql in VIEWS:
            con.execute(f"CREATE VIEW {name} AS {sql}")
            con.execute(f"COMMENT ON VIEW {name} IS '{_quote(doc)}'")
            _comment_columns(con, name)
        for name in frames:
            con.unregister(f"src_{name}")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return counts


def _published(df: pl.DataFrame) -> pl.DataFrame:
    """Free text chosen by uploaders, made fit for analysts (rules.ingest.inbox is the rule's owner):
    ``file_name`` becomes ``file_label`` (slugs, IDs / dates / person names masked) and a unit that is
    not a safe slug (data from before the rule) is rebuilt with ``unit_slug``. ``file_sha256`` gets
    ``file_id``, a keyed pseudonym (rules.pseudonym): a plain prefix of the sha256 would let anyone
    holding a copy of an upload find its rows. Python runs per distinct name, not per row."""
    from rules.ingest.inbox import public_label, unit_slug, unsafe_unit
    from rules.pseudonym import pseudonym

    if "file_sha256" in df.columns:
        shas = [h for h in df["file_sha256"].unique().to_list() if h is not None]
        df = df.with_columns(pl.col("file_sha256").replace_strict(
            {h: pseudonym("file-id", h, 12) for h in shas}, default=None, return_dtype=pl.Utf8).alias("file_id"))

    if "file_name" in df.columns:
        names = [n for n in df["file_name"].unique().to_list() if n is not None]
        df = df.with_columns(pl.col("file_name").replace_strict(
            {n: public_label(n) for n in names}, default=None, return_dtype=pl.Utf8).alias("file_label")
        ).drop("file_name")
    for column in ("unit", "unit_key"):  # a unit_key is province/sector/unit: its last part is the unit
        if column not in df.columns:
            continue
        bad = {}
        for value in df[column].unique().to_list():
            head, _, unit = (value or "").rpartition("/")
            if value is not None and unsafe_unit(unit):
                bad[value] = f"{head}/{unit_slug(unit)}" if head else unit_slug(unit)
        if bad:
            df = df.with_columns(pl.col(column).replace(bad))
    return df


REVIEW_LABEL_DOCS = {
    "review_label_levels": "Reviewed pairs as labels: m per comparison level (configured / EM, labelled, blended).",
    "review_precision": "Measured precision of the best candidate among reviewed rows near the match threshold.",
    "review_threshold_whatif": "What-if: more rows matched at a lower threshold, with the expected wrong ones.",
}


def _review_label_frames(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    from rules.review.service import label_tables

    decisions, matches = frames["review_decisions"], frames["matches"]
    tables = label_tables(decisions, matches, frames["match_estimates"])
    out = {"review_label_levels": tables["levels"], "review_precision": tables["precision"],
           "review_threshold_whatif": tables["what_if"]}
    if decisions.height == 0:  # nothing reviewed yet: no labels to speak of (same columns, no rows)
        out["review_label_levels"] = out["review_label_levels"].clear()
        out["review_precision"] = out["review_precision"].clear()
    if matches.height == 0:
        out["review_threshold_whatif"] = out["review_threshold_whatif"].clear()
    return out


def _comment_columns(con: duckdb.DuckDBPyConnection, table: str) -> None:
    columns = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    for column in columns:
        doc = column_doc(table, column)
        if doc:
            con.execute(f"COMMENT ON COLUMN {table}.{column} IS '{_quote(doc)}'")


def _quote(text: str) -> str:
    return text.replace("'", "''")
