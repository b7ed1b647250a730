"""Publish: the only writer of the analyst DuckDB file (pool ``duckdb_write``, one slot)."""


import dagster as dg

from assets.national import queue_store_path
from assets.resources import DataPaths
from assets.warehouse import WarehouseSources, build_warehouse


@dg.asset(
    group_name="publish",
    kinds={"duckdb"},
    owners=["team:analysts"],
    pool="duckdb_write",
    deps=[dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping())
          for key in ("match_results", "review_queue", "clearance_forecast")],
)
def analyst_warehouse(context: dg.AssetExecutionContext, paths: DataPaths) -> dg.MaterializeResult:
    """The analyst DuckDB file: documented tables and views, masked or aggregated, swapped in atomically."""
    from rules.verify import open_queue
    from rules.verify.queue import is_url, queue_location

    store_path = queue_store_path(paths)
    location = queue_location(store_path)
    queue = budgets = None
    if is_url(location) or store_path.exists():
        store = open_queue(location)
        queue, budgets = store.requests(personal_data=False), store.day_budgets()
    sources = WarehouseSources.from_dirs(paths.base / "lake", paths.base / "national", queue, budgets)
    counts = build_warehouse(sources, paths.warehouse())
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(paths.warehouse())),
                  **{f"rows_{name}": n for name, n in counts.items()}}
    )
