"""Which verification service the daily job talks to, from ``rules/quota/quota.yaml``.

``service: simulator`` (the embedded default) answers from the registers under ``data/population``;
``service: http`` calls a real endpoint with retries, backoff and a circuit breaker.
"""

from __future__ import annotations

from assets.resources import DataPaths


def build_service(paths: DataPaths):
    from rules.verify import HttpVerificationService, SimulatedService, VerificationConfig

    config = VerificationConfig.from_yaml()
    if config.service == "http":
        return HttpVerificationService(config.http)
    return SimulatedService(paths.population_dir())
