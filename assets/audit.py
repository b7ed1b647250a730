"""The operators' audit log (Decree 13/2023 Art. 38: processing of personal data is logged).

Two parts, both under ``data/operator/audit/`` (folders ``0700``, files ``0600``: personal IDs, for
operators only; the analyst warehouse never reads them):

- ``transmissions.jsonl``: every batch sent to the verification service, recorded *before* it is
  sent and its outcome after, append-only and hash-chained (``rules.verify.audit_log``). Check it
  with ``doisoat verify-audit`` (also cross-checked against the queue's ledger).
- ``<kind>/<partition>/<run_id>.parquet``: per run, every match decision and the day's requests
  with their final state. Query with DuckDB:
  ``SELECT * FROM read_parquet('data/operator/audit/**/*.parquet', union_by_name=true)``.
"""

from __future__ import annotations

import polars as pl

from assets.resources import DataPaths
from rules.audit import record as rules_record
from rules.verify.audit_log import TransmissionLog

MATCH_AUDIT_COLUMNS = ("province", "sector", "unit", "file_sha256", "sheet", "row_number", "status",
                       "person_id", "score", "reason")
REQUEST_AUDIT_COLUMNS = ("request_id", "province", "sector", "unit", "person_id", "batch_id", "state",
                         "status", "differing_fields", "attempts", "enqueued_at", "answered_at")


def transmission_log(paths: DataPaths, run_id: str | None = None) -> TransmissionLog:
    """The hash-chained log of every batch sent (the dispatcher writes it before each send)."""
    return TransmissionLog(paths.transmissions(), run_id=run_id)


def record(paths: DataPaths, kind: str, partition: str, run_id: str, frame: pl.DataFrame,
           columns: tuple[str, ...]) -> int:
    """Append ``frame`` (only ``columns``) to the audit log of ``kind`` for this run (``rules.audit.record``)."""
    return rules_record(paths.layout, kind, partition, run_id, frame, columns)
