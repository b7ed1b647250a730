"""Demo backlogs: many units across the 34 provinces, with HCMC's large student backlog.

Counts only (no personal data), for the demo summary and the benchmark: the allocation, the floor
and the forecast must all be visible. About 1,000 units; HCMC's student units hold 56,000 waiting
requests between them (the figure of the brief), dominated by one city-wide unit; many small units
hold a handful of requests, so the per-unit floor shows; waits range over a month so ageing shows.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from rules.provinces import PROVINCE_SLUGS
from rules.sectors import SECTORS

HCMC_STUDENT_BACKLOG = 56_000
UNITS_PER_SECTOR = {"students": (15, 40), "vaccinations": (3, 10), "insurance": (2, 6)}
UNIT_PREFIX = {"students": "thpt", "vaccinations": "tyt", "insurance": "bhxh"}


def demo_backlogs(seed: int = 0) -> pl.DataFrame:
    """``unit, backlog, oldest_wait_days`` for a national demo day (deterministic in ``seed``)."""
    rng = np.random.default_rng(seed)
    units: list[str] = []
    backlog: list[np.ndarray] = []
    for province in PROVINCE_SLUGS:
        for sector in SECTORS:
            lo, hi = UNITS_PER_SECTOR[sector]
            k = int(rng.integers(lo, hi + 1))
            units += [f"{province}/{sector}/{UNIT_PREFIX[sector]}_{i:03d}" for i in range(k)]
            if province == "ho_chi_minh" and sector == "students":
                shares = rng.dirichlet(np.ones(k - 1) * 2.0)
                rest = np.floor(shares * HCMC_STUDENT_BACKLOG * 0.3).astype(np.int64)
                big = HCMC_STUDENT_BACKLOG - int(rest.sum())
                units[-k] = f"{province}/{sector}/so_gddt_tp_hcm"
                backlog.append(np.concatenate([[big], rest]))
            else:
                small = rng.random(k) < 0.3  # a third of the units have only a handful waiting
                sizes = np.where(small, rng.integers(1, 12, k), rng.lognormal(5.4, 0.9, k).astype(np.int64))
                backlog.append(sizes.astype(np.int64))
    values = np.concatenate(backlog)
    waits = rng.integers(0, 31, len(values)).astype(np.float64)
    return pl.DataFrame({"unit": units, "backlog": values, "oldest_wait_days": waits}).sort("unit")
