"""Which uploads are current: the supersede rule, as one pure function over a table of uploads.

The rule (documented for uploaders and operators):

1. **Same content, no change.** Uploads are identified by the SHA-256 of the file bytes. A file
   whose hash was seen before (any name, any unit) is a ``duplicate``: only the earliest copy
   counts, so uploading the same file twice changes nothing.
2. **Newest wins per unit and sector.** Among the remaining readable uploads of one
   (province, sector, unit), the one with the latest ``uploaded_at`` is ``current`` and every
   earlier one is ``superseded`` (its rows leave the clean data on the next run). Ties on time go
   to the larger file name, then the larger hash, so the choice is deterministic. A corrected
   file or the error report sent back therefore replaces the whole earlier file: it must contain
   all rows, not only the fixed ones. A unit that sends several lists (one per class) uses a
   distinct unit prefix per list (``thpt_lqd_10a__…``).
3. **A broken file replaces nothing.** Uploads that failed to read (``error_code`` not null) are
   ``failed`` and never supersede a readable upload.
"""

from __future__ import annotations

import polars as pl

UPLOAD_KEY = ("province", "sector", "unit")
STATUSES = ("current", "superseded", "duplicate", "failed")


def supersede(uploads: pl.DataFrame) -> pl.DataFrame:
    """Add ``status`` and ``superseded_by`` (sha256 of the current upload, or null) to ``uploads``.

    Needs ``file_sha256``, ``file_name``, ``uploaded_at`` and ``province``, ``sector``, ``unit``;
    ``error_code`` (null when the file read fine) is optional. Row order is kept.
    """
    df = uploads.with_row_index("_i")
    failed = pl.col("error_code").is_not_null() if "error_code" in df.columns else pl.lit(False)
    df = df.with_columns(failed.alias("_failed"))
    first_seen = (
        df.sort("uploaded_at", "file_name", "_i")
        .group_by("file_sha256", maintain_order=True)
        .agg(pl.col("_i").first().alias("_first"))
    )
    df = df.join(first_seen, on="file_sha256", how="left").with_columns(
        (pl.col("_i") != pl.col("_first")).alias("_dup")
    )
    live = df.filter(~pl.col("_failed") & ~pl.col("_dup"))
    newest = (
        live.sort("uploaded_at", "file_name", "file_sha256")
        .group_by(list(UPLOAD_KEY), maintain_order=True)
        .agg(pl.col("file_sha256").last().alias("_current"))
    )
    df = df.join(newest, on=list(UPLOAD_KEY), how="left", nulls_equal=True)
    status = (
        pl.when(pl.col("_failed")).then(pl.lit("failed"))
        .when(pl.col("_dup")).then(pl.lit("duplicate"))
        .when(pl.col("file_sha256") == pl.col("_current")).then(pl.lit("current"))
        .otherwise(pl.lit("superseded"))
    )
    out = df.with_columns(
        status.alias("status"),
        pl.when(status == "superseded").then(pl.col("_current")).otherwise(None).alias("superseded_by"),
    )
    return out.sort("_i").drop("_i", "_failed", "_first", "_dup", "_current")


def current_shas(uploads: pl.DataFrame) -> list[str]:
    """Hashes of the uploads whose rows belong in the clean data."""
    return supersede(uploads).filter(pl.col("status") == "current")["file_sha256"].to_list()
