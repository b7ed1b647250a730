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
    # The simulator answers from every register this installation holds (one file or a folder each).
    population = paths.population_dir()
    provinces = sorted({p.stem if p.is_file() else p.name for p in population.iterdir()
                        if not p.name.startswith(".")}) if population.is_dir() else []
    files = [f for province in provinces for f in paths.population_files(province)]
    if not files:
        raise FileNotFoundError(f"no population register under {population}: the simulator answers "
                                "from it (or set verification.service: http in the policy file)")
    return SimulatedService(pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed"))


def national_backlog(store, day: str) -> pl.DataFrame:
    """What still waits after ``day``: this store's backlog plus the other installations' backlogs
    less what ``day``'s national allocation gave them (``unit_key, backlog, oldest_wait_days``)."""
    local = store.backlog_by_unit().select("unit_key", "backlog", "oldest_wait_days")
    external = store.external_units(day).select(
        "unit_key", (pl.col("backlog") - pl.col("allocated")).clip(lower_bound=0).alias("backlog"),
        (pl.col("oldest_wait_days") + 1).alias("oldest_wait_days"),
    ).filter(pl.col("backlog") > 0)
    return pl.concat([local, external])
