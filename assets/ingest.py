"""Ingest and clean: sector uploads of one province x sector -> raw, clean and rejected records.

Thin on purpose: reading, header mapping, normalisation and validation are ``rules`` functions; the
assets pick the files, apply the supersede rule, write the lake and report counts (never values).
"""


import dagster as dg
import polars as pl

from assets.lake import read_parquet, write_parquet
from assets.metadata import count_table, reason_counts, reason_histogram
from assets.partitions import province_sector_of, province_sector_partitions
from assets.resources import DataPaths
from assets.uploads import READER_COUNTS, mark_uploads, read_inbox

ROWS_RECONCILE = "rows_reconcile"
ALL_FILES_READABLE = "all_files_readable"


@dg.asset(
    partitions_def=province_sector_partitions,
    group_name="ingest",
    kinds={"polars", "parquet"},
    owners=["team:provincial-data"],
    check_specs=[dg.AssetCheckSpec(ALL_FILES_READABLE, asset="raw_records")],
)
def raw_records(context: dg.AssetExecutionContext, paths: DataPaths):
    """Every data row of the current uploads in the inbox, as text, with lineage (file hash, sheet, row)."""
    province, sector = province_sector_of(context)
    inbox = read_inbox(paths.inbox(province, sector), province=province, sector=sector,
                       reports_dir=paths.error_reports(province, sector))
    uploads = mark_uploads(inbox.uploads)
    current = uploads.filter(pl.col("status") == "current")
    raw = inbox.raw_for(current)
    write_parquet(raw, paths.lake("raw_records", province, sector))
    write_parquet(uploads, paths.lake("uploads", province, sector))
    failed = uploads.filter(pl.col("status") == "failed")
    context.log.info(f"{province}/{sector}: {uploads.height} files, {raw.height} rows from {current.height} current")
    return dg.MaterializeResult(
        metadata={
            "files": uploads.height,
            "files_current": current.height,
            "files_superseded": int((uploads["status"] == "superseded").sum()),
            "files_duplicate": int((uploads["status"] == "duplicate").sum()),
            "files_failed": failed.height,
            "rows_read": raw.height,
            "blank_rows_skipped": int(uploads["blank_rows_skipped"].sum() or 0),
            **{k: int(uploads[k].sum() or 0) for k in READER_COUNTS},
        },
        check_results=[dg.AssetCheckResult(
            check_name=ALL_FILES_READABLE,
            passed=failed.height == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"failed_files": failed.height,
                      "error_codes": dg.MetadataValue.json(failed["error_code"].value_counts().to_dicts())},
        )],
    )


@dg.asset(
    partitions_def=province_sector_partitions,
    group_name="ingest",
    kinds={"polars", "pandera", "parquet"},
    owners=["team:provincial-data"],
    deps=[raw_records],
    check_specs=[dg.AssetCheckSpec(ROWS_RECONCILE, asset="clean_records", blocking=True)],
)
def clean_records(context: dg.AssetExecutionContext, paths: DataPaths):
    """Normalised, validated rows; failing rows go to quarantine with a reason and an error report per file."""
    from assets.uploads import write_error_reports
    from rules.normalise import normalise_records, summarise_flags
    from rules.validate import validate_records

    province, sector = province_sector_of(context)
    raw = read_parquet(paths.lake("raw_records", province, sector), what="raw_records")
    normalised = normalise_records(raw, sector)
    valid, quarantined = validate_records(normalised, sector)
    write_parquet(valid, paths.lake("clean_records", province, sector))
    write_parquet(quarantined, paths.lake("rejected_records", province, sector))
    reports = write_error_reports(raw, quarantined, paths.inbox(province, sector),
                                  paths.error_reports(province, sector))
    return dg.MaterializeResult(
        metadata={
            "rows_read": raw.height,
            "accepted": valid.height,
            "rejected": quarantined.height,
            "rejected_by_reason": count_table(reason_counts(quarantined), "reason", total=raw.height),
            "reason_histogram": reason_histogram(quarantined),
            "warnings_and_flags": count_table(summarise_flags(normalised), "flag", total=raw.height),
            "error_reports": len(reports),
        },
        check_results=[dg.AssetCheckResult(
            check_name=ROWS_RECONCILE,
            passed=raw.height == valid.height + quarantined.height,
            metadata={"rows_read": raw.height, "accepted": valid.height, "rejected": quarantined.height},
        )],
    )
