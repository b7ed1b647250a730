"""The national daily verification step (one run per day, Asia/Ho_Chi_Minh).

``verification_queue`` turns every matched row of every province x sector into a request (idempotent:
the request id is a hash of the row's lineage and proposed person); ``verification_results`` spends
the day's quota through ``rules.verify.run_day`` (allocation persisted once per day, ledger committed
per batch, unused capacity reported with its cause) and writes verified IDs back per partition;
``clearance_forecast`` simulates the policy forward. Only this job writes the queue store.
"""


from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from assets.audit import REQUEST_AUDIT_COLUMNS, record, transmission_log
from assets.lake import read_parquet, write_parquet
from assets.partitions import daily_partitions
from assets.resources import DataPaths

QUOTA_RESPECTED = "quota_respected"
NOTHING_LOST = "requests_accounted"


def queue_store_path(paths: DataPaths) -> Path:
    return paths.national("verification_queue.sqlite")


def _current_files(paths: DataPaths) -> set[str]:
    """Uploads whose rows are in the current match results; requests of any other file were superseded."""
    return {sha for _, _, path in _lake_partitions(paths, "match_results")
            for sha in pl.read_parquet(path, columns=["file_sha256"])["file_sha256"].unique().to_list()}


def _lake_partitions(paths: DataPaths, asset: str) -> list[tuple[str, str, Path]]:
    base = paths.base / "lake" / asset
    return [(p.parent.name, p.stem, p) for p in sorted(base.glob("*/*.parquet"))] if base.is_dir() else []


@dg.asset(
    partitions_def=daily_partitions,
    group_name="verification",
    kinds={"sqlite"},
    owners=["team:national-verification"],
    deps=[dg.AssetDep("match_results", partition_mapping=dg.AllPartitionMapping())],
)
def verification_queue(context: dg.AssetExecutionContext, paths: DataPaths) -> dg.MaterializeResult:
    """Every matched row of every province x sector, enqueued once as a verification request."""
    from rules.corrections import FLAG, adopt_register_spelling
    from rules.verify import build_requests, open_queue
    from rules.verify.queue import queue_location

    store = open_queue(queue_location(queue_store_path(paths)), create=True)
    added = corrected = 0
    registers: dict[str, pl.DataFrame] = {}
    for province, sector, path in _lake_partitions(paths, "match_results"):
        matches = pl.read_parquet(path)
        records = read_parquet(paths.lake("clean_records", province, sector), what="clean_records")
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
        write_parquet(records, paths.lake("corrected_records", province, sector))
        added += store.enqueue(build_requests(matches, records))
    withdrawn = store.withdraw_superseded(_current_files(paths))
    states = store.state_counts()
    backlog = store.backlog_by_unit()
    context.log.info(f"enqueued {added} new requests; {backlog.height} units have a backlog")
    return dg.MaterializeResult(
        metadata={
            "new_requests": added,
            "names_spelled_from_register": corrected,
            "withdrawn_superseded": withdrawn,
            "units_with_backlog": backlog.height,
            "backlog": int(backlog["backlog"].sum()) if backlog.height else 0,
            "requests_by_state": dg.MetadataValue.json(states),
        }
    )


@dg.asset(
    partitions_def=daily_partitions,
    group_name="verification",
    kinds={"sqlite", "parquet"},
    owners=["team:national-verification"],
    deps=[verification_queue],
    check_specs=[
        dg.AssetCheckSpec(QUOTA_RESPECTED, asset="verification_results", blocking=True),
        dg.AssetCheckSpec(NOTHING_LOST, asset="verification_results", blocking=True),
    ],
)
def verification_results(context: dg.AssetExecutionContext, paths: DataPaths):
    """Spend the day's national quota: allocate, send in batches, record answers, write verified IDs back."""
    from assets.verification_service import build_service
    from rules.quota import QuotaPolicy
    from rules.verify import VerificationConfig, open_queue, run_day, write_back
    from rules.verify.queue import queue_location

    day = str(context.partition_key)
    store = open_queue(queue_location(queue_store_path(paths)), create=True)
    policy = QuotaPolicy.from_yaml(paths.policy_path())
    config = VerificationConfig.from_yaml(paths.policy_path())
    store.withdraw_superseded(_current_files(paths))  # also when this asset runs on its own
    before = store.total_requests()
    external = paths.national("external_backlog.parquet")
    if external.exists():  # other installations' backlogs (counts) share the national quota
        store.set_external_backlogs(day, pl.read_parquet(external))
    report = run_day(store, day, policy, build_service(paths), batch_size=config.batch_size,
                     audit=transmission_log(paths, context.run_id))
    results = store.results()
    record(paths, "verification_requests", day, context.run_id, store.requests(day=day), REQUEST_AUDIT_COLUMNS)
    write_parquet(store.day_allocation(day), paths.national(f"allocation/{day}.parquet"))
    write_parquet(results, paths.national("verification_results.parquet"))
    for province, sector, path in _lake_partitions(paths, "corrected_records"):
        mine = results.filter((pl.col("province") == province) & (pl.col("sector") == sector))
        write_parquet(write_back(pl.read_parquet(path), mine), paths.lake("verified_records", province, sector))
    summary = report.summary()
    after = store.total_requests()
    # Scoped to the day: another day's run (a backfill beside the daily job) may hold its own
    # requests in flight, and a run of this same day still going holds this day's.
    in_flight = report.in_flight if report.other_live_runs == 0 else 0
    return dg.MaterializeResult(
        metadata={k: v for k, v in summary.items() if v is not None},
        check_results=[
            dg.AssetCheckResult(
                check_name=QUOTA_RESPECTED,
                passed=report.allocated <= report.quota and report.answered_day <= report.quota,
                metadata={"quota": report.quota, "allocated": report.allocated, "answered_day": report.answered_day},
            ),
            # Every request is still there (nothing is ever deleted; a concurrent enqueue may add), and
            # none of this day's was left half-way (allocated or sent, unanswered).
            dg.AssetCheckResult(
                check_name=NOTHING_LOST,
                passed=after >= before and in_flight == 0,
                metadata={"requests_before": before, "requests_after": after, "in_flight": in_flight},
            ),
        ],
    )


@dg.asset(
    partitions_def=daily_partitions,
    group_name="verification",
    kinds={"polars", "html"},
    owners=["team:national-verification"],
    deps=[verification_results],
)
def clearance_forecast(context: dg.AssetExecutionContext, paths: DataPaths) -> dg.MaterializeResult:
    """Days until each unit's verification backlog clears under the current policy and quota."""
    from assets.verification_service import national_backlog
    from rules.quota import QuotaPolicy
    from rules.quota.chart import burn_down_html
    from rules.quota.forecast import forecast
    from rules.verify import open_queue
    from rules.verify.queue import queue_location

    day = date.fromisoformat(str(context.partition_key))
    store = open_queue(queue_location(queue_store_path(paths)), create=True)
    # The day's dispatch has run: forecast from the next day on, over the whole country's backlog.
    policy = QuotaPolicy.from_yaml(paths.policy_path())
    result = forecast(national_backlog(store, str(day)), policy, start_day=day + timedelta(days=1))
    write_parquet(result.units, paths.national("forecast.parquet"))
    write_parquet(result.daily, paths.national("forecast_daily.parquet"))
    html = burn_down_html(result, paths.national("forecast.html"))
    return dg.MaterializeResult(
        metadata={
            "units_with_backlog": result.units.height,
            "total_backlog": result.total_backlog,
            "national_clearance_date": str(result.national_date or f"not within {result.horizon_days} days"),
            "chart": dg.MetadataValue.path(str(html)),
        }
    )
