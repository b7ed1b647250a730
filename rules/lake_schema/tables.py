"""Every table of the lake, its columns, primary key and description: the one place they are written.

The frames passing between stages are built from shared column groups (lineage, the raw fields, the
normalised fields), so a column is described once. ``docs/contracts.md`` (section "Lake tables") is
generated from this module (``python -m rules.lake_schema``) and a test keeps the two equal; the analyst
warehouse takes its source dtypes and column comments from here; every write is checked against it.
"""

from __future__ import annotations

import dataclasses

import polars as pl

from rules.lake_schema.model import Column, Table

U, I64, I32, I8, F64 = pl.Utf8, pl.Int64, pl.Int32, pl.Int8, pl.Float64
LIST = pl.List(pl.Utf8)
UTC = pl.Datetime("us", "UTC")


def _c(name: str, dtype: pl.DataType, description: str, **kw) -> Column:
    return Column(name, dtype, description, **kw)


# ------------------------------------------------------------------------------------------ identifiers
PROVINCE = _c("province", U, "2025 province slug (34 units since 1 July 2025), e.g. ho_chi_minh")
SECTOR = _c("sector", U, "students | vaccinations | insurance")
UNIT = _c("unit", U, "submitting unit (school, health unit) as a slug, from the upload's file name")
FILE_NAME = _c("file_name", U, "the upload's file name in the inbox (may hold personal data: never published)",
               personal=True)
FILE_SHA = _c("file_sha256", U, "sha256 of the upload's bytes: the file part of a row's identity")
SHEET = _c("sheet", U, "sheet the rows were read from ('' for csv)")
ROW_NUMBER = _c("row_number", I64, "1-based index over the data rows of the sheet (blank rows not counted)")
EXCEL_ROW = _c("excel_row", I64, "the row number as Excel shows it (title, header and blank rows counted)")
LINEAGE = (FILE_NAME, FILE_SHA, SHEET, ROW_NUMBER, EXCEL_ROW, PROVINCE, SECTOR, UNIT)
# A row's key within its own partition (province x sector): the file's bytes, the sheet, the row.
ROW_KEY = ("file_sha256", "sheet", "row_number")
PARTITION_KEY = ("province", "sector")
# A row's key anywhere in the lake. The same file uploaded to two partitions (two provinces, or two
# sectors) has the same ROW_KEY in both, so every frame that holds rows of several partitions (the
# national second pass, the reconciled counts) keys its joins, merges and dedupes on this one.
LAKE_ROW_KEY = (*PARTITION_KEY, *ROW_KEY)

# --------------------------------------------------------------------------- raw fields (text, as typed)
RAW_FIELDS = (
    _c("full_name", U, "full name as typed", personal=True),
    _c("date_of_birth", U, "date of birth as typed (text)", personal=True),
    _c("gender", U, "gender as typed"),
    _c("national_id", U, "personal ID (CCCD, 12 digits) as typed", personal=True),
    _c("old_id", U, "old ID card number (CMND, 9 digits) as typed", personal=True),
    _c("phone", U, "phone number as typed", personal=True),
)
SECTOR_FIELDS = (  # present only in the tables of their sector
    _c("student_code", U, "students: the school's pupil code", optional=True, personal=True),
    _c("school", U, "students: school name as typed", optional=True),
    _c("class", U, "students: class as typed (e.g. 10A1)", optional=True),
    _c("guardian_name", U, "students: a guardian's name", optional=True, personal=True),
    _c("guardian_phone", U, "students: a guardian's phone", optional=True, personal=True),
    _c("vaccine", U, "vaccinations: vaccine as typed", optional=True),
    _c("dose", U, "vaccinations: dose as typed", optional=True),
    _c("vaccination_date", U, "vaccinations: date of the dose as typed", optional=True),
    _c("insurance_code", U, "insurance: social-insurance code (BHXH)", optional=True, personal=True),
    _c("card_type", U, "insurance: card type as typed", optional=True),
)
EXTRA = _c("extra", U, "columns the header map does not know, as a JSON object {header: value} (nothing dropped)",
           personal=True)
RAW = (*LINEAGE, *RAW_FIELDS, *SECTOR_FIELDS, EXTRA)

# ---------------------------------------------------------------- normalised fields (rules.normalise)
NORMALISED = (
    _c("name_clean", U, "display name: NFC, canonical tone placement, title case", personal=True),
    _c("name_toned", U, "lower-case canonical toned name", personal=True),
    _c("name_key", U, "diacritic-free lower-case name, single spaces (d for đ)", personal=True),
    _c("family_key", U, "folded family name", personal=True),
    _c("middle_key", U, "folded middle name(s), '' when none", personal=True),
    _c("given_key", U, "folded given name", personal=True),
    _c("name_flags", LIST, "repairs made to the name (mojibake_repaired, nfd_fixed, tokens_split, ...)"),
    _c("name_note", U, "remark written inside the name cell, moved out (e.g. '(Bé)')", personal=True),
    _c("dob", pl.Date, "parsed date of birth (first day of the period for month/year precision)", personal=True),
    _c("dob_year", I32, "year of birth"),
    _c("dob_month", I8, "month of birth, null if unknown"),
    _c("dob_day", I8, "day of birth, null if unknown", personal=True),
    _c("dob_precision", U, "day | month | year | null"),
    _c("dob_error", U, "null | missing_date | unparseable_date | impossible_date | date_error_value | "
                       "dob_in_future | dob_implausible_for_sector"),
    _c("dob_flags", LIST, "date warnings (ambiguous_day_month, excel_serial, two_digit_year, ...)"),
    _c("gender_norm", U, "Nam | Nữ | null"),
    _c("gender_error", U, "null | missing_gender | unknown_gender"),
    _c("id_clean", U, "ID digits (12-digit form for a CCCD)", personal=True),
    _c("id_kind", U, "cccd | cmnd9 | cmnd12 | invalid | unusable | missing"),
    _c("id_error", U, "null | id_wrong_length | id_not_digits | id_scientific_notation"),
    _c("id_flags", LIST, "ID repairs and warnings (leading_zero_restored, province_code_unknown, ...)"),
    _c("old_id_clean", U, "old ID digits", personal=True),
    _c("old_id_kind", U, "kind of the old ID (same vocabulary as id_kind)"),
    _c("phone_clean", U, "10-digit phone 0xxxxxxxxx or null", personal=True),
    _c("phone_error", U, "null | phone_invalid"),
)
CLEAN = (*RAW, *NORMALISED)
REJECTION = (
    _c("reason_code", U, "why the row was rejected (rules/reasons.yaml); several joined with ';'"),
    _c("reason_column", U, "the uploader's header of the failing column"),
    _c("message_vi", U, "the reason in Vietnamese, for the uploader"),
    _c("message_en", U, "the reason in English"),
)
CORRECTION = (
    _c("name_as_written", U, "name_clean before the register's spelling was adopted", personal=True),
    _c("name_spelling_from_register", pl.Boolean,
       "true when a cosmetic difference (tone mark, spacing) was fixed from the register before verification"),
)
WRITE_BACK = (
    _c("verification_status", U, "verified | mismatch | not_found | null (not answered yet)"),
    _c("verified_person_id", U, "the person ID the population database confirmed (verified rows only)",
       personal=True),
    _c("verification_differing_fields", U, "fields the population database reported as different (comma list)"),
    _c("verified_at", U, "when the answer came (ISO 8601 text, UTC)"),
)

# ---------------------------------------------------------------------------------------- matching
MATCH = (
    _c("status", U, "matched | ambiguous | unmatched | rejected | matched_by_review | rejected_by_review"),
    _c("person_id", U, "the register person the row is matched to (null unless matched)", personal=True),
    _c("score", F64, "posterior probability (0-1) that the best candidate is the row's person"),
    _c("runner_up_score", F64, "the same for the second candidate"),
    _c("reason", U, "machine-readable comparison levels, e.g. given=exact;family=exact;dob=exact;id=exact"),
    _c("flags", LIST, "match flags (id_corrected, id_belongs_to_other_person, validation_failed, ...)"),
    _c("proposed_id", U, "the ID the match proposes for the row", personal=True),
    _c("same_person_group", I64, "rows of one upload that are the same person share this number"),
    _c("validation_reason", U, "the row's reason_code when it failed validation, else null"),
    _c("dob_year", I32, "year of birth (the row's, for masked analyst views)"),
    _c("gender_norm", U, "Nam | Nữ | null (the row's, for masked analyst views)"),
)
SECOND_PASS = (
    FILE_SHA, SHEET, ROW_NUMBER,
    PROVINCE,  # the row's province: where it was submitted and left unmatched
    SECTOR,
    _c("bucket", U, "birth-year bucket of the decision, e.g. 2010-2014 (null: the row has no birth year)"),
    _c("status", U, "matched | ambiguous | unmatched"),
    _c("person_id", U, "the proposed register person (null unless matched)", personal=True),
    _c("person_province", U, "the proposed person's province in the register (slug)"),
    _c("score", F64, "posterior probability (0-1) that the best candidate is the row's person"),
    _c("reason", U, "comparison levels, or no_birth_year / matched_in_two_buckets / empty_bucket"),
)
CANDIDATES = (
    _c("candidate_rank", I32, "1 = best candidate"),
    _c("candidate_id", U, "the candidate's person ID", personal=True),
    _c("candidate_score", F64, "posterior probability (0-1) that this candidate is the row's person"),
    _c("candidate_reason", U, "comparison levels of the row against this candidate"),
    _c("match_run_id", U, "Dagster run id of the match run that built the queue"),
)

DAY = _c("day", pl.Date, "the verification day (Asia/Ho_Chi_Minh)")
UNIT_KEY = _c("unit_key", U, "province/sector/unit: the unit the national quota is allocated to")

TABLES: tuple[Table, ...] = (
    Table("uploads", "One row per file in the inbox of a province x sector: status, rows read, reader counts.",
          "lake/uploads/<province>/<sector>.parquet", (
              PROVINCE, SECTOR, UNIT, FILE_NAME,
              _c("file_sha256", U, "sha256 of the upload's bytes (null when the file could not be read)"),
              _c("sheet", U, "sheet read ('' for csv, null when the file could not be read)"),
              _c("uploaded_at", UTC, "the file's modification time in the inbox (UTC)"),
              _c("rows_read", I64, "data rows read"),
              _c("blank_rows_skipped", I64, "blank rows between data rows, skipped"),
              _c("footer_rows_skipped", I64, "note, total and signature rows under the list, skipped (their row "
                 "numbers are in error_message)"),
              _c("status", U, "current | superseded | duplicate | failed"),
              _c("error_code", U, "why the file could not be read (null when it was)"),
              _c("error_message", U, "the reader's one-line message for the uploader: why a failed file could not "
                 "be read; for a file read, the footer rows skipped (row numbers), else null"),
              _c("invisible_removed", I64, "cells whose invisible characters were removed"),
              _c("spaces_replaced", I64, "cells whose unusual spaces were replaced"),
              _c("lookalikes_folded", I64, "cells whose look-alike letters were folded"),
              _c("legacy_font_cells", I64, "cells in a legacy Vietnamese font encoding, converted"),
              _c("formulas_evaluated", I64, "formula cells whose value was computed"),
              _c("hidden_sheets_skipped", I64, "hidden sheets not read"),
              _c("superseded_by", U, "file_name of the newer upload of the same list (superseded rows only)",
                 personal=True),
          ), ("province", "sector", "file_name"), "uploads"),
    Table("raw_records", "Every data row of the current uploads, as text, with lineage (contract 3).",
          "lake/raw_records/<province>/<sector>.parquet", RAW, ROW_KEY, "raw_records"),
    Table("clean_records", "Rows that passed validation, with the normalised columns beside the originals.",
          "lake/clean_records/<province>/<sector>.parquet", CLEAN, ROW_KEY, "clean_records"),
    Table("rejected_records", "Rows that failed validation, with the reason (quarantine).",
          "lake/rejected_records/<province>/<sector>.parquet", (*CLEAN, *REJECTION), ROW_KEY, "rejected_records"),
    Table("match_results", "One decision per row read (clean or rejected) with score, reason and flags.",
          "lake/match_results/<province>/<sector>.parquet", (*LINEAGE, *MATCH), ROW_KEY, "match_results"),
    Table("review_queue", "Rows still ambiguous after review, one row per candidate person.",
          "lake/review_queue/<province>/<sector>.parquet", (*LINEAGE, *CANDIDATES),
          (*ROW_KEY, "candidate_rank"), "review_queue"),
    Table("second_pass_input", "National second pass input, one birth-year bucket: the clean rows left unmatched "
          "in their own province that visit the bucket (a row in two buckets is in both partitions).",
          "lake/second_pass_input/all_provinces/<bucket>.parquet",
          # what clean_records holds of the row (the key, province and sector always), then its bucket
          (*(c if c.name in LAKE_ROW_KEY else dataclasses.replace(c, optional=True) for c in CLEAN),
           _c("bucket", U, "birth-year bucket the row visits (its DOB year's or its ID year's)")),
          LAKE_ROW_KEY, "second_pass_input"),
    Table("second_pass", "National second pass, one birth-year bucket: the rows left unmatched in their own "
          "province that visit the bucket, matched against every province's register born in its years.",
          "lake/second_pass/all_provinces/<bucket>.parquet", SECOND_PASS, LAKE_ROW_KEY, "second_pass"),
    Table("second_pass_results", "National second pass merged: one decision per row left unmatched in its own "
          "province (the better of its buckets' decisions), by the row's province and sector.",
          "lake/second_pass_results/<province>/<sector>.parquet", SECOND_PASS, ROW_KEY, "second_pass_results"),
    Table("match_estimates", "The Fellegi-Sunter parameters the partition's match run estimated, per level.",
          "lake/match_estimates/<province>/<sector>.parquet", (
              _c("comparison", U, "compared field (given, family, dob, id, ...)"),
              _c("level", U, "agreement level of the comparison (exact, typo, missing, else, ...)"),
              _c("m", F64, "P(level | same person)"),
              _c("u", F64, "P(level | different people)"),
              _c("match_weight", F64, "log2(m / u)"),
              _c("u_source", U, "sample | start | laplace | register: where u came from"),
          ), ("comparison", "level"), "match_estimates"),
    Table("review_decisions", "The clerical-review ledger: one row per decision ever accepted (append-only).",
          "lake/review_decisions/<province>/<sector>.parquet", (
              _c("decision_id", U, "sha256 of row key, fingerprints, decision and rank"),
              PROVINCE, SECTOR, UNIT, FILE_SHA, SHEET, ROW_NUMBER, EXCEL_ROW,
              _c("fp_match", U, "sha256 over the row's candidates in rank order when decided"),
              _c("fp_register", U, "sha256 over the candidates' register fields when decided"),
              _c("decision", U, "match | none | unsure"),
              _c("chosen_rank", I64, "rank of the candidate the reviewer picked"),
              _c("person_id", U, "the person the reviewer picked", personal=True),
              _c("chosen_score", F64, "score of the picked candidate"),
              _c("chosen_reason", U, "comparison levels of the picked candidate"),
              _c("best_score", F64, "score of the best candidate"),
              _c("best_reason", U, "comparison levels of the best candidate"),
              _c("runner_up_score", F64, "score of the second candidate"),
              _c("n_candidates", I64, "candidates shown"),
              _c("candidate_reasons", LIST, "comparison levels of every candidate shown"),
              _c("reviewer", U, "who decided (as written in the workbook)", personal=True),
              _c("notes", U, "the reviewer's notes", personal=True),
              _c("workbook_id", U, "id of the exported workbook"),
              _c("workbook_sha256", U, "sha256 of the imported workbook file"),
              _c("import_id", U, "id of the import (run id and workbook number)"),
              _c("exported_at", U, "when the workbook was exported (ISO 8601 text)"),
              _c("decided_at", UTC, "when the decision was imported (UTC)"),
          ), ("decision_id",), "review_decisions"),
    Table("corrected_records", "Clean records as sent to verification: cosmetic name differences fixed from "
          "the register.", "lake/corrected_records/<province>/<sector>.parquet", (*CLEAN, *CORRECTION),
          ROW_KEY, "corrected_records"),
    Table("verified_records", "Corrected records with their verification outcome written back.",
          "lake/verified_records/<province>/<sector>.parquet", (*CLEAN, *CORRECTION, *WRITE_BACK),
          ROW_KEY, "verified_records"),
    Table("daily_allocation", "The national quota's allocation of one day, per unit (floor + weighted share).",
          "national/allocation/<day>.parquet", (
              UNIT_KEY,
              _c("backlog", I64, "requests waiting for the unit when the day was allocated"),
              _c("oldest_wait_days", F64, "age in days of the unit's oldest waiting request"),
              _c("floor", I64, "part of the allocation guaranteed as a floor"),
              _c("allocated", I64, "verifications allocated to the unit that day"),
          ), ("unit_key",), "daily_allocation"),
    Table("verification_results", "Every answered verification request (all days).",
          "national/verification_results.parquet", (
              _c("request_id", U, "sha256 of file_sha256|sheet|row_number|person_id (idempotency key)"),
              PROVINCE, SECTOR, UNIT,
              _c("person_id", U, "the person the request asked about", personal=True),
              _c("status", U, "verified | mismatch | not_found"),
              _c("differing_fields", U, "fields reported as different on a mismatch (comma list, '' when none)"),
              _c("answered_at", U, "when the answer came (ISO 8601 text, UTC)"),
              FILE_SHA, SHEET, ROW_NUMBER,
              _c("day", U, "the allocation day the request was sent on (YYYY-MM-DD)"),
          ), ("request_id",), "verification_results"),
    Table("forecast", "Forecast clearance of each unit's backlog under the current policy and quota.",
          "national/forecast.parquet", (
              UNIT_KEY,
              _c("backlog", I64, "requests waiting when the forecast was made"),
              _c("oldest_wait_days", F64, "age in days of the unit's oldest waiting request"),
              _c("days_since_served", F64, "days since the unit last got an allocation"),
              _c("first_day_allocated", I64, "forecast day (1 = tomorrow) the unit first gets an allocation"),
              _c("days_to_clear", I64, "forecast days until the backlog is zero (null: not within the horizon)"),
              _c("clearance_day", pl.Date, "forecast day the backlog reaches zero"),
          ), ("unit_key",), "clearance_forecast"),
    Table("forecast_daily", "Forecast burn-down: requests still waiting at the end of each day, per series.",
          "national/forecast_daily.parquet", (
              _c("date", pl.Date, "forecast day"),
              _c("level", U, "national | province | unit"),
              _c("series", U, "'national', the province slug or the unit_key (see level)"),
              _c("remaining", I64, "requests still waiting at the end of the day"),
          ), ("date", "level", "series"), "forecast_daily"),
)

LAKE_TABLES: dict[str, Table] = {t.name: t for t in TABLES}


def lake_table(name: str) -> Table:
    """The table called ``name`` (``KeyError`` naming the known tables otherwise)."""
    try:
        return LAKE_TABLES[name]
    except KeyError:
        raise KeyError(f"no lake table {name!r}; known: {', '.join(LAKE_TABLES)}") from None
