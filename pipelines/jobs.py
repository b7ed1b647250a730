"""Jobs: which assets run together. All run in process (docs/decisions.md, "runs in process": a
subprocess per step costs ~4 s of imports, more than our steps themselves)."""

from __future__ import annotations

import dagster as dg

register_job = dg.define_asset_job(
    "register_job",
    selection=dg.AssetSelection.groups("register"),
    description="Normalise a province's population register into the matching index (per province).",
    executor_def=dg.in_process_executor,
)

province_job = dg.define_asset_job(
    "province_job",
    selection=dg.AssetSelection.groups("ingest", "match"),
    description="Ingest, clean and match the uploads of one province x sector.",
    executor_def=dg.in_process_executor,
)

national_job = dg.define_asset_job(
    "national_verification_job",
    selection=dg.AssetSelection.groups("verification"),
    description="The national daily step: enqueue matches, allocate the quota, verify, forecast.",
    executor_def=dg.in_process_executor,
)

publish_job = dg.define_asset_job(
    "publish_job",
    selection=dg.AssetSelection.groups("publish"),
    description="Rebuild the analyst DuckDB file and swap it in atomically.",
    executor_def=dg.in_process_executor,
)

review_import_job = dg.define_asset_job(
    "review_import_job",
    selection=dg.AssetSelection.groups("review"),
    description="Import the filled clerical-review workbooks of a province (inbox/<province>/review/).",
    executor_def=dg.in_process_executor,
)

JOBS = [register_job, province_job, national_job, publish_job, review_import_job]
