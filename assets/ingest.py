"""Ingest and clean: sector uploads of one province x sector -> raw, clean and rejected records.

Thin on purpose: reading, header mapping, normalisation and validation are ``rules`` functions; the
assets pick the files, apply the supersede rule, write the lake and report counts (never values).
"""


import dagster as dg
import polars as pl

from assets.checks import check_spec, schema_check_result, schema_check_spec
from assets.lake import read_partition, write_partition, written_schema
from assets.metadata import count_table, reason_counts, reason_histogram
from assets.partitions import province_sector_of, province_sector_partitions
from assets.resources import DataPaths
from rules.ingest.batch import READER_COUNTS, mark_uploads, read_inbox
from rules.ingest.lineage import rows_as_listed

ROWS_RECONCILE = "rows_reconcile"
ALL_FILES_READABLE = "all_files_readable"
PARTITIONS = province_sector_partitions
INGEST = {"group_name": "ingest", "owners": ["team:provincial-data"]}


@dg.multi_asset(
    name="raw_records",
    partitions_def=PARTITIONS,
    specs=[
        dg.AssetSpec("raw_records", kinds={"polars", "parquet"}, **INGEST,
                     description="Every data row of the current uploads in the inbox, as text, with lineage "
                                 "(file hash, sheet, row)."),
        dg.AssetSpec("uploads", kinds={"polars", "parquet"}, **INGEST,
                     description="One row per inbox file: status (current / superseded / duplicate / failed), "
                                 "rows read, reader counts."),
    ],
    check_specs=[
        check_spec(ALL_FILES_READABLE, "uploads", "Every file in the inbox could be read (a failed file gets "
                   "an error report; the others are processed anyway).", partitions_def=PARTITIONS),
        schema_check_spec("raw_records", partitions_def=PARTITIONS),
        schema_check_spec("uploads", partitions_def=PARTITIONS),
    ],
)
def raw_records(context: dg.AssetExecutionContext, paths: DataPaths):
    """Read the partition's inbox: the uploads table (every file) and the raw rows of the current ones."""
    province, sector = province_sector_of(context)
    inbox = read_inbox(paths.inbox(province, sector), province=province, sector=sector,
                       reports_dir=paths.error_reports(province, sector))
    for notice in inbox.notices:  # files named by their public label only
        context.log.warning(f"{province}/{sector}: {notice}")
    uploads = mark_uploads(inbox.uploads)
    current = uploads.filter(pl.col("status") == "current")
    raw = rows_as_listed(inbox.raw_for(current), current)  # the copy counted names the rows (rule 1)
    layout = paths.layout
    raw = write_partition(layout, "raw_records", raw, province, sector)
    uploads = write_partition(layout, "uploads", uploads, province, sector)
    failed = uploads.filter(pl.col("status") == "failed")
    context.log.info(f"{province}/{sector}: {uploads.height} files, {raw.height} rows from {current.height} current")
    yield dg.MaterializeResult(
        asset_key="raw_records",
        metadata={"rows_read": raw.height, "files_current": current.height},
        check_results=[schema_check_result("raw_records", raw,
                                           written_schema(layout, "raw_records", province, sector))],
    )
    yield dg.MaterializeResult(
        asset_key="uploads",
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
        check_results=[
            dg.AssetCheckResult(
                asset_key="uploads",
                check_name=ALL_FILES_READABLE,
                passed=failed.height == 0,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"failed_files": failed.height,
                          "error_codes": dg.MetadataValue.json(failed["error_code"].value_counts().to_dicts())},
            ),
            schema_check_result("uploads", uploads, written_schema(layout, "uploads", province, sector)),
        ],
    )


@dg.multi_asset(
    name="clean_records",
    partitions_def=PARTITIONS,
    specs=[
        dg.AssetSpec("clean_records", kinds={"polars", "pandera", "parquet"}, deps=["raw_records"], **INGEST,
                     description="Normalised rows that passed validation, the originals kept beside them."),
        dg.AssetSpec("rejected_records", kinds={"polars", "parquet"}, deps=["raw_records"], **INGEST,
                     description="Rows that failed validation, quarantined with a reason (an error report per "
                                 "file goes back to the uploader)."),
    ],
    check_specs=[
        check_spec(ROWS_RECONCILE, "clean_records", "Every raw row is either accepted (clean_records) or "
                   "quarantined (rejected_records): rows read = accepted + rejected.", partitions_def=PARTITIONS,
                   blocking=True),
        schema_check_spec("clean_records", partitions_def=PARTITIONS),
        schema_check_spec("rejected_records", partitions_def=PARTITIONS),
    ],
)
def clean_records(context: dg.AssetExecutionContext, paths: DataPaths):
    """Normalised, validated rows; failing rows go to quarantine with a reason and an error report per file."""
    from rules.ingest.batch import write_error_reports
    from rules.normalise import normalise_records, summarise_flags
    from rules.validate import validate_records

    province, sector = province_sector_of(context)
    layout = paths.layout
    raw = read_partition(layout, "raw_records", province, sector, what="raw_records")
    normalised = normalise_records(raw, sector)
    valid, quarantined = validate_records(normalised, sector)
    valid = write_partition(layout, "clean_records", valid, province, sector)
    quarantined = write_partition(layout, "rejected_records", quarantined, province, sector)
    reports = write_error_reports(raw, quarantined, paths.inbox(province, sector),
                                  paths.error_reports(province, sector))
    reconciled = raw.height == valid.height + quarantined.height
    yield dg.MaterializeResult(
        asset_key="clean_records",
        metadata={
            "rows_read": raw.height,
            "accepted": valid.height,
            "rejected": quarantined.height,
            "warnings_and_flags": count_table(summarise_flags(normalised), "flag", total=raw.height),
        },
        check_results=[
            dg.AssetCheckResult(
                asset_key="clean_records",
                check_name=ROWS_RECONCILE,
                passed=reconciled,
                metadata={"rows_read": raw.height, "accepted": valid.height, "rejected": quarantined.height},
            ),
            schema_check_result("clean_records", valid,
                                written_schema(layout, "clean_records", province, sector)),
        ],
    )
    yield dg.MaterializeResult(
        asset_key="rejected_records",
        metadata={
            "rejected": quarantined.height,
            "rejected_by_reason": count_table(reason_counts(quarantined), "reason", total=raw.height),
            "reason_histogram": reason_histogram(quarantined),
            "error_reports": len(reports),
        },
        check_results=[schema_check_result("rejected_records", quarantined,
                                           written_schema(layout, "rejected_records", province, sector))],
    )
