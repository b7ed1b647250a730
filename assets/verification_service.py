"""Which verification service the daily job talks to (the national backlog: ``rules.verify.backlog``).

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
    from rules.errors import MissingInputError

    # The simulator answers from every register this installation holds (one file or a folder each).
    files = [f for province in paths.population_provinces() for f in paths.population_files(province)]
    if not files:
        raise MissingInputError(f"no population register under {paths.population_dir()}: the simulator answers "
                                "from it (or set verification.service: http in the policy file)")
    return SimulatedService(pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed"))

