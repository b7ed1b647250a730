"""Build the configured verification service (``verification.service`` in ``quota.yaml``).

service = make_service(VerificationConfig.from_yaml(), register_df)
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from rules.verify.http_client import ConfigError, HttpVerificationService, VerificationConfig
from rules.verify.model import VerificationService
from rules.verify.register import RegisterIndex
from rules.verify.simulator import SimulatedService


def make_service(
    config: VerificationConfig, register: pl.DataFrame | str | Path | RegisterIndex | None = None
) -> VerificationService:
    """The simulator (needs the register) or the HTTP client (needs ``verification.http``)."""
    if config.service == "simulator":
        if register is None:
            raise ConfigError("verification.service is simulator, which needs the population register")
        return SimulatedService(register)
    if config.http is None:
        raise ConfigError("verification.service is http but verification.http is missing; add endpoint etc.")
    return HttpVerificationService(config.http)
