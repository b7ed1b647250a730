"""Which verification service the daily job talks to, and the national backlog it shares the quota with.

``service: simulator`` (the embedded default) answers from the registers under ``data/population``;
``service: http`` calls a real endpoint with retries, backoff and a circuit breaker.
"""

from __future__ import annotations

import polars as pl

from assets.resources import DataPaths


def build_service(paths: DataPaths):
    from rules.verify import HttpVerificationService, SimulatedService, VerificationConfig

    config = VerificationConfig.from_yaml(paths.policy_path())
    if config.service == "http":
        return HttpVerificationService(config.http)
    return SimulatedService(paths.population_dir())


def national_backlog(store, day: str) -> pl.DataFrame:
    """What still waits after ``day``: this store's backlog plus the other installations' backlogs
    less what ``day``'s national allocation gave them (``unit_key, backlog, oldest_wait_days``)."""
    local = store.backlog_by_unit().select("unit_key", "backlog", "oldest_wait_days")
    external = store.external_units(day).select(
        "unit_key", (pl.col("backlog") - pl.col("allocated")).clip(lower_bound=0).alias("backlog"),
        (pl.col("oldest_wait_days") + 1).alias("oldest_wait_days"),
    ).filter(pl.col("backlog") > 0)
    return pl.concat([local, external])
