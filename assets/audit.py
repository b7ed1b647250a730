"""The operators' audit log (Decree 13/2023 Art. 38: processing of personal data is logged).

Every match decision and every verification request sent is recorded with time, unit, Dagster run
id and outcome, as Parquet under ``data/operator/audit/<kind>/…/<run_id>.parquet``. It holds personal
IDs and lives beside the lake for operators only; the analyst warehouse never reads it. Query it
with DuckDB: ``SELECT * FROM read_parquet('data/operator/audit/**/*.parquet', union_by_name=true)``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from assets.lake import write_parquet
from assets.resources import DataPaths

MATCH_AUDIT_COLUMNS = ("province", "sector", "unit", "file_sha256", "sheet", "row_number", "status",
                       "person_id", "score", "reason")
REQUEST_AUDIT_COLUMNS = ("request_id", "province", "sector", "unit", "person_id", "batch_id", "state",
                         "status", "differing_fields", "attempts", "enqueued_at", "answered_at")


def audit_dir(paths: DataPaths) -> str:
    return str(paths.base / "operator" / "audit")


def record(paths: DataPaths, kind: str, partition: str, run_id: str, frame: pl.DataFrame,
           columns: tuple[str, ...]) -> int:
    """Append ``frame`` (only ``columns``) to the audit log of ``kind`` for this run."""
    keep = [c for c in columns if c in frame.columns]
    stamped = frame.select(keep).with_columns(
        pl.lit(datetime.now(UTC)).alias("recorded_at"), pl.lit(run_id).alias("run_id"), pl.lit(kind).alias("kind")
    )
    write_parquet(stamped, paths.base / "operator" / "audit" / kind / partition / f"{run_id}.parquet")
    return stamped.height
