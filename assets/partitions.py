"""Partition definitions shared by assets, jobs, schedules and sensors.

Province x sector covers ingest -> clean -> match (one run per uploaded list's province and sector);
the national verification steps are daily (Asia/Ho_Chi_Minh) because the quota is national and is
allocated in one computation per day. Keys come from ``rules`` so they never drift from the tables.
"""

from __future__ import annotations

import dagster as dg

from rules.provinces import PROVINCE_SLUGS
from rules.sectors import SECTORS

province_partitions = dg.StaticPartitionsDefinition(list(PROVINCE_SLUGS))
sector_partitions = dg.StaticPartitionsDefinition(list(SECTORS))
province_sector_partitions = dg.MultiPartitionsDefinition(
    {"province": province_partitions, "sector": sector_partitions}
)
daily_partitions = dg.DailyPartitionsDefinition(
    start_date="2026-01-01", timezone="Asia/Ho_Chi_Minh", end_offset=1
)


def province_sector_of(context: dg.AssetExecutionContext) -> tuple[str, str]:
    """(province, sector) of the running partition, whether the key arrived as str or MultiPartitionKey."""
    key = province_sector_partitions.get_partition_key_from_str(str(context.partition_key))
    dims = key.keys_by_dimension
    return dims["province"], dims["sector"]


def partition_key(province: str, sector: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"province": province, "sector": sector})
