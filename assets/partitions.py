"""Partition definitions shared by assets, jobs, schedules and sensors: the installation's own.

Province x sector covers ingest -> clean -> match (one run per uploaded list's province and sector);
the national verification steps are daily (Asia/Ho_Chi_Minh) because the quota is national and is
allocated in one computation per day.

Both the provinces and the days are *dynamic* partitions, kept in the Dagster instance: a
one-province installation shows 3 province x sector partitions (not 34 x 3 with 99 "missing") and
the days from its first verification day on (not every day since a fixed date). Whoever starts a
run adds the keys first (:func:`add_province`, :func:`add_days`): the ``doisoat`` runner, the inbox
sensors (as dynamic-partition requests) and the schedules. Province and sector names come from
``rules`` so they never drift from the tables.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from rules.provinces import PROVINCE_SLUGS
from rules.sectors import SECTORS

PROVINCE_PARTITIONS = "province"
DAY_PARTITIONS = "day"
# No verification day can precede the national rollout of the programme's quota.
FIRST_POSSIBLE_DAY = date(2026, 1, 1)

province_partitions = dg.DynamicPartitionsDefinition(name=PROVINCE_PARTITIONS)
sector_partitions = dg.StaticPartitionsDefinition(list(SECTORS))
province_sector_partitions = dg.MultiPartitionsDefinition(
    {"province": province_partitions, "sector": sector_partitions}
)
daily_partitions = dg.DynamicPartitionsDefinition(name=DAY_PARTITIONS)


def province_sector_of(context: dg.AssetExecutionContext) -> tuple[str, str]:
    """(province, sector) of the running partition, whether the key arrived as str or MultiPartitionKey."""
    key = province_sector_partitions.get_partition_key_from_str(str(context.partition_key))
    dims = key.keys_by_dimension
    return dims["province"], dims["sector"]


def partition_key(province: str, sector: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"province": province, "sector": sector})


def add_province(instance: dg.DagsterInstance, province: str) -> bool:
    """Make ``province`` a partition of this installation; True when it was new.

    Raises ValueError for a name that is not a province slug (a typo must not become a partition).
    """
    if province not in PROVINCE_SLUGS:
        raise ValueError(f"{province!r} is not a province slug (see `doisoat provinces`)")
    if instance.has_dynamic_partition(PROVINCE_PARTITIONS, province):
        return False
    instance.add_dynamic_partitions(PROVINCE_PARTITIONS, [province])
    return True


def days_to_add(existing: list[str], day: date) -> list[str]:
    """The day keys to add so the days run without a gap from the installation's first day to ``day``.

    ``existing`` are the keys already there (YYYY-MM-DD). A day before the first extends the range
    back; a day after the last fills the days between (they show as missing: no verification ran).
    """
    have = {date.fromisoformat(d) for d in existing}
    first = min([*have, day])
    last = max([*have, day])
    span = (last - first).days + 1
    return [(first + timedelta(days=i)).isoformat() for i in range(span)
            if first + timedelta(days=i) not in have]


def add_days(instance: dg.DagsterInstance, day: date) -> list[str]:
    """Add ``day`` (and the days between it and the installation's other days) as partitions.

    Dynamic partitions keep their insertion order, which is the order the UI shows: a day before the
    first is added by re-adding the later keys after it (their runs and materialisations stay).
    """
    existing = list(instance.get_dynamic_partitions(DAY_PARTITIONS))
    new = days_to_add(existing, day)
    if new and existing and min(new) < min(existing):
        for key in existing:
            instance.delete_dynamic_partition(DAY_PARTITIONS, key)
        instance.add_dynamic_partitions(DAY_PARTITIONS, sorted([*existing, *new]))
    elif new:
        instance.add_dynamic_partitions(DAY_PARTITIONS, new)
    return new
