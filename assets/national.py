"""The national daily verification step (one run per day, Asia/Ho_Chi_Minh).

``verification_queue`` turns every matched row of every province x sector into a request (idempotent:
the request id is a hash of the row's lineage and proposed person); ``verification_results`` spends
the day's quota through ``rules.verify.run_day`` (allocation persisted once per day, ledger committed
per batch, unused capacity reported with its cause) and writes verified IDs back per partition;
``clearance_forecast`` simulates the policy forward. Only this job writes the queue store.

Lake I/O goes through ``assets.lake`` (local Parquet or Delta on object storage alike): the province x
sector tables (match_results, clean_records in; corrected_records, verified_records out) and the
national tables (daily_allocation per day, verification_results, forecast, forecast_daily). Local
whatever the lake: the register files, the SQLite queue (unless ``DOISOAT_QUEUE_URL``), the operators'
``external_backlog.parquet`` and the forecast page.
"""


from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from assets.audit import REQUEST_AUDIT_COLUMNS, record, transmission_log
from assets.checks import check_spec, schema_check_result, schema_check_results, schema_check_spec
from assets.lake import (
    lake_partitions,
    national_schema,
    read_partition,
    write_national,
    write_partition,
    written_schema,
)
from assets.metadata import count_table
from assets.partitions import daily_partitions
from assets.resources import DataPaths

QUOTA_RESPECTED = "quota_respected"
NOTHING_LOST = "requests_accounted"


def _current_files(paths: DataPaths) -> set[str]:
    """Uploads whose rows are in the current match results; requests of any other file were superseded."""
    layout = paths.layout
    return {sha for province, sector in lake_partitions(layout, "match_results")
            for sha in read_partition(layout, "match_results", province, sector, columns=["file_sha256"])
            ["file_sha256"].unique().to_list()}


DAYS = daily_partitions
NATIONAL = {"group_name": "verification", "owners": ["team:national-verification"]}


def _all(*keys: str) -> list[dg.AssetDep]:
    """Every partition of a province x sector asset feeds one day."""
    return [dg.AssetDep(k, partition_mapping=dg.AllPartitionMapping()) for k in keys]


@dg.multi_asset(
    name="verification_queue",
    partitions_def=DAYS,
    specs=[
        dg.AssetSpec("verification_queue", kinds={"sqlite"}, deps=_all("match_results", "clean_records"), **NATIONAL,
                     description="Every matched row of every province x sector, enqueued once as a verification "
                                 "request."),
        dg.AssetSpec("corrected_records", kinds={"polars", "parquet"}, deps=_all("match_results", "clean_records"),
                     **NATIONAL, description="Clean records as sent to verification: cosmetic name differences "
                                             "fixed from the register."),
    ],
    check_specs=[schema_check_spec("corrected_records", partitions_def=DAYS)],
)
def verification_queue(context: dg.AssetExecutionContext, paths: DataPaths):
    """Every matched row of every province x sector, enqueued once as a verification request."""
    from rules.corrections import FLAG, adopt_register_spelling
    from rules.verify import build_requests, open_queue
    from rules.verify.queue import queue_location

    layout = paths.layout
    store = open_queue(queue_location(paths.queue_store()), create=True)
    added = corrected = 0
    written: list[tuple[pl.DataFrame, Path | pl.Schema]] = []
    registers: dict[str, pl.DataFrame] = {}
    for province, sector in lake_partitions(layout, "match_results"):
        matches = read_partition(layout, "match_results", province, sector)
        records = read_partition(layout, "clean_records", province, sector, what="clean_records")
        if province not in registers:
            files = paths.population_files(province)
            if not files:  # nothing to compare spellings with: enqueue the rows as cleaned
                context.log.warning(f"{province}: no population register; names are sent as cleaned")
            registers[province] = pl.concat(
                [pl.read_parquet(f, columns=["person_id", "full_name"]) for f in files]
            ) if files else pl.DataFrame(schema={"person_id": pl.Utf8, "full_name": pl.Utf8})
        # Cosmetic name differences are fixed from the register before any quota is spent.
        records = adopt_register_spelling(records, matches, registers[province])
        corrected += int(records[FLAG].sum())
        records = write_partition(layout, "corrected_records", records, province, sector)
        written.append((records, written_schema(layout, "corrected_records", province, sector)))
        added += store.enqueue(build_requests(matches, records))
    withdrawn = store.withdraw_superseded(_current_files(paths))
    states = store.state_counts()
    backlog = store.backlog_by_unit()
    context.log.info(f"enqueued {added} new requests; {backlog.height} units have a backlog")
    yield dg.MaterializeResult(
        asset_key="verification_queue",
        metadata={
            "new_requests": added,
            "withdrawn_superseded": withdrawn,
            "units_with_backlog": backlog.height,
            "backlog": int(backlog["backlog"].sum()) if backlog.height else 0,
            "requests_by_state": count_table(states, "state"),
        },
    )
    yield dg.MaterializeResult(
        asset_key="corrected_records",
        metadata={"partitions": len(written), "rows": sum(f.height for f, _ in written),
                  "names_spelled_from_register": corrected},
        check_results=[schema_check_results("corrected_records", written)],
    )


@dg.multi_asset(
    name="verification_results",
    partitions_def=DAYS,
    specs=[
        dg.AssetSpec("verification_results", kinds={"sqlite", "parquet"}, deps=["verification_queue"], **NATIONAL,
                     description="Spend the day's national quota: allocate, send in batches, record the answers."),
        dg.AssetSpec("daily_allocation", kinds={"parquet"}, deps=["verification_queue"], **NATIONAL,
                     description="The national quota's allocation of the day per unit (floor + weighted share)."),
        dg.AssetSpec("verified_records", kinds={"polars", "parquet"}, deps=["verification_queue", "corrected_records"],
                     **NATIONAL, description="Corrected records of every province x sector with their verification "
                                             "outcome written back."),
    ],
    check_specs=[
        check_spec(QUOTA_RESPECTED, "verification_results", "The day's allocation and answers stay within the "
                   "national daily quota.", partitions_def=DAYS, blocking=True),
        check_spec(NOTHING_LOST, "verification_results", "No request is lost: the store holds at least as many "
                   "requests as before and none of the day's is left allocated or sent without an answer.",
                   partitions_def=DAYS, blocking=True),
        *(schema_check_spec(t, partitions_def=DAYS)
          for t in ("verification_results", "daily_allocation", "verified_records")),
    ],
)
def verification_results(context: dg.AssetExecutionContext, paths: DataPaths):
    """Spend the day's national quota: allocate, send in batches, record answers, write verified IDs back."""
    from assets.verification_service import build_service
    from rules.quota import QuotaPolicy
    from rules.verify import VerificationConfig, open_queue, run_day, write_back
    from rules.verify.queue import queue_location

    day = str(context.partition_key)
    store = open_queue(queue_location(paths.queue_store()), create=True)
    policy = QuotaPolicy.from_yaml(paths.policy_path())
    config = VerificationConfig.from_yaml(paths.policy_path())
    store.withdraw_superseded(_current_files(paths))  # also when this asset runs on its own
    before = store.total_requests()
    external = paths.external_backlog()
    if external.exists():  # other installations' backlogs (counts) share the national quota
        store.set_external_backlogs(day, pl.read_parquet(external))
    report = run_day(store, day, policy, build_service(paths), batch_size=config.batch_size,
                     audit=transmission_log(paths, context.run.run_id))
    results = store.results()
    record(paths, "verification_requests", day, context.run.run_id, store.requests(day=day), REQUEST_AUDIT_COLUMNS)
    layout = paths.layout
    allocation = write_national(layout, "daily_allocation", store.day_allocation(day), day)
    results = write_national(layout, "verification_results", results)
    verified: list[tuple[pl.DataFrame, Path | pl.Schema]] = []
    for province, sector in lake_partitions(layout, "corrected_records"):
        mine = results.filter((pl.col("province") == province) & (pl.col("sector") == sector))
        corrected = read_partition(layout, "corrected_records", province, sector)
        done = write_partition(layout, "verified_records", write_back(corrected, mine), province, sector)
        verified.append((done, written_schema(layout, "verified_records", province, sector)))
    summary = report.summary()
    after = store.total_requests()
    # Scoped to the day: another day's run (a backfill beside the daily job) may hold its own
    # requests in flight, and a run of this same day still going holds this day's.
    in_flight = report.in_flight if report.other_live_runs == 0 else 0
    yield dg.MaterializeResult(
        asset_key="verification_results",
        metadata={k: v for k, v in summary.items() if v is not None},
        check_results=[
            dg.AssetCheckResult(
                asset_key="verification_results",
                check_name=QUOTA_RESPECTED,
                passed=report.allocated <= report.quota and report.answered_day <= report.quota,
                metadata={"quota": report.quota, "allocated": report.allocated, "answered_day": report.answered_day},
            ),
            # Every request is still there (nothing is ever deleted; a concurrent enqueue may add), and
            # none of this day's was left half-way (allocated or sent, unanswered).
            dg.AssetCheckResult(
                asset_key="verification_results",
                check_name=NOTHING_LOST,
                passed=after >= before and in_flight == 0,
                metadata={"requests_before": before, "requests_after": after, "in_flight": in_flight},
            ),
            schema_check_result("verification_results", results, national_schema(layout, "verification_results")),
        ],
    )
    yield dg.MaterializeResult(
        asset_key="daily_allocation",
        metadata={"units": allocation.height, "allocated": int(allocation["allocated"].sum() or 0),
                  "floor": int(allocation["floor"].sum() or 0)},
        check_results=[schema_check_result("daily_allocation", allocation,
                                           national_schema(layout, "daily_allocation", day))],
    )
    yield dg.MaterializeResult(
        asset_key="verified_records",
        metadata={"partitions": len(verified), "rows": sum(f.height for f, _ in verified),
                  "with_outcome": sum(int(f["verification_status"].is_not_null().sum()) for f, _ in verified)},
        check_results=[schema_check_results("verified_records", verified)],
    )


@dg.multi_asset(
    name="clearance_forecast",
    partitions_def=DAYS,
    specs=[
        dg.AssetSpec("clearance_forecast", kinds={"polars", "html"}, deps=["verification_results", "daily_allocation"],
                     **NATIONAL, description="Days until each unit's verification backlog clears under the current "
                                             "policy and quota."),
        dg.AssetSpec("forecast_daily", kinds={"polars", "parquet"}, deps=["verification_results", "daily_allocation"],
                     **NATIONAL, description="The forecast burn-down: requests still waiting at the end of each day, "
                                             "per series."),
    ],
    check_specs=[schema_check_spec("forecast", asset="clearance_forecast", partitions_def=DAYS),
                 schema_check_spec("forecast_daily", partitions_def=DAYS)],
)
def clearance_forecast(context: dg.AssetExecutionContext, paths: DataPaths):
    """Days until each unit's verification backlog clears under the current policy and quota."""
    from rules.quota import QuotaPolicy
    from rules.quota.forecast import forecast
    from rules.report import write_forecast_page
    from rules.verify import open_queue
    from rules.verify.backlog import national_backlog
    from rules.verify.queue import queue_location

    day = date.fromisoformat(str(context.partition_key))
    store = open_queue(queue_location(paths.queue_store()), create=True)
    # The day's dispatch has run: forecast from the next day on, over the whole country's backlog.
    policy = QuotaPolicy.from_yaml(paths.policy_path())
    result = forecast(national_backlog(store, str(day)), policy, start_day=day + timedelta(days=1))
    layout = paths.layout
    units = write_national(layout, "forecast", result.units)
    daily = write_national(layout, "forecast_daily", result.daily)
    html = write_forecast_page(result, paths.forecast_html())
    # Last step of the day: old Delta versions beyond the retention window go (nothing on a local lake).
    from rules.lake_store import retention_hours, vacuum

    vacuumed = vacuum(layout, retention_hours())
    yield dg.MaterializeResult(
        asset_key="forecast_daily",
        metadata={"rows": daily.height, "series": daily["series"].n_unique()},
        check_results=[schema_check_result("forecast_daily", daily, national_schema(layout, "forecast_daily"))],
    )
    yield dg.MaterializeResult(
        asset_key="clearance_forecast",
        check_results=[schema_check_result("forecast", units, national_schema(layout, "forecast"),
                                           asset="clearance_forecast")],
        metadata={
            "units_with_backlog": result.units.height,
            "total_backlog": result.total_backlog,
            "national_clearance_date": str(result.national_date or f"not within {result.horizon_days} days"),
            "chart": dg.MetadataValue.path(str(html)),
            "lake_files_vacuumed": sum(vacuumed.values()),
        }
    )
