"""The national backlog: what still waits after a day, here and in the other installations.

One rule shared by the forecast asset (``assets.national.clearance_forecast``) and the command line
(``doisoat forecast``): this store's own backlog per unit plus the other installations' backlogs
(counts, ``rules.layout.DataLayout.external_backlog``) less what the day's national allocation gave
them, each a day older.
"""

from __future__ import annotations

import polars as pl


def national_backlog(store, day: str) -> pl.DataFrame:
    """``unit_key, backlog, oldest_wait_days`` still waiting after ``day`` across the country.

    ``store``: a ``rules.verify.QueueStore`` (its ``backlog_by_unit()`` and ``external_units(day)``).
    External units whose allocation covered their backlog are left out; backlogs are never negative.
    """
    local = store.backlog_by_unit().select("unit_key", "backlog", "oldest_wait_days")
    external = store.external_units(day).select(
        "unit_key", (pl.col("backlog") - pl.col("allocated")).clip(lower_bound=0).alias("backlog"),
        (pl.col("oldest_wait_days") + 1).alias("oldest_wait_days"),
    ).filter(pl.col("backlog") > 0)
    return pl.concat([local, external])
