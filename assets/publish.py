"""Publish: the only writer of the analyst DuckDB file (pool ``duckdb_write``, one slot)."""


import dagster as dg

from assets.resources import DataPaths
from assets.warehouse import LAKE_SOURCES, WarehouseSources, build_warehouse
from rules.lake_schema import lake_table

# The assets the file is built from: the writer of each lake table it reads (rules.lake_schema), and
# the verification queue (its requests and day budgets).
WAREHOUSE_INPUTS = sorted({lake_table(table).written_by for table, _ in LAKE_SOURCES.values()}
                          | {"verification_queue"})


@dg.asset(
    group_name="publish",
    kinds={"duckdb"},
    owners=["team:analysts"],
    pool="duckdb_write",
    deps=[dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in WAREHOUSE_INPUTS],
)
def analyst_warehouse(context: dg.AssetExecutionContext, paths: DataPaths) -> dg.MaterializeResult:
    """The analyst DuckDB file: documented tables and views, masked or aggregated, swapped in atomically."""
    from rules.verify import open_queue
    from rules.verify.queue import is_url, queue_location

    store_path = paths.queue_store()
    location = queue_location(store_path)
    queue = budgets = None
    if is_url(location) or store_path.exists():
        store = open_queue(location)
        queue, budgets = store.requests(personal_data=False), store.day_budgets()
    sources = WarehouseSources.from_layout(paths.layout, queue, budgets)
    counts = build_warehouse(sources, paths.warehouse())
    return dg.MaterializeResult(
        metadata={"path": dg.MetadataValue.path(str(paths.warehouse())),
                  **{f"rows_{name}": n for name, n in counts.items()}}
    )
