"""A small code location for the production-instance test (tests/deploy/test_dagster_postgres.py).

The real ``analyst_warehouse`` asset and ``publish_job`` (pool ``duckdb_write``) on an empty data
root, and a stand-in for a province x sector run on the real partitions (the real ingest needs
uploads and a register: minutes of set-up for what this test checks, which is the instance: queue,
tag limits, pools, run monitoring). The stand-in sleeps so that runs overlap when the limits allow.
"""

import os
import time

import dagster as dg

from assets.partitions import province_sector_partitions
from assets.publish import analyst_warehouse
from assets.resources import DataPaths
from pipelines.jobs import publish_job

HOLD_S = float(os.environ.get("DOISOAT_TEST_HOLD_S", "2"))


@dg.asset(partitions_def=province_sector_partitions, group_name="ingest")
def partition_stand_in(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Hold the partition for ``HOLD_S`` seconds (what a real run does with CPU, minutes long)."""
    time.sleep(HOLD_S)
    return dg.MaterializeResult(metadata={"held_s": HOLD_S})


province_job = dg.define_asset_job(
    "province_job", selection=[partition_stand_in], partitions_def=province_sector_partitions,
    executor_def=dg.in_process_executor,
)

defs = dg.Definitions(
    assets=[partition_stand_in, analyst_warehouse],
    jobs=[province_job, publish_job],
    resources={"paths": DataPaths(root=os.environ["DOISOAT_DATA"])},
)
