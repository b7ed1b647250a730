"""One run's rows of the operators' audit log, written owner-only (no Dagster here).

``record`` appends ``frame`` (only the listed columns, stamped with ``recorded_at``, ``run_id`` and
``kind``) as ``DataLayout.audit_file(kind, partition, run_id)``; ``assets.audit`` wraps it for the
assets and documents the log as a whole.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from rules.layout import DataLayout
from rules.private import private_temp


def record(layout: DataLayout, kind: str, partition: str, run_id: str, frame: pl.DataFrame,
           columns: tuple[str, ...]) -> int:
    """Write ``frame`` (only those of ``columns`` it has) as the audit rows of ``kind`` for this run
    (``partition``: ``province/sector`` or a day); returns the number of rows recorded."""
    keep = [c for c in columns if c in frame.columns]
    stamped = frame.select(keep).with_columns(
        pl.lit(datetime.now(UTC)).alias("recorded_at"), pl.lit(run_id).alias("run_id"), pl.lit(kind).alias("kind")
    )
    # Hidden and not ending in .parquet until renamed, so no glob of the log reads a half-written file.
    with private_temp(layout.audit_file(kind, partition, run_id)) as tmp:
        stamped.write_parquet(tmp)
    return stamped.height
