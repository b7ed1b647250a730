"""Synthetic, deterministic (per seed) Vietnamese register and sector data for demos, tests and benchmarks.

Public API:
- ``generate_register(province, size, seed) -> pl.DataFrame`` (contracts §1)
- ``generate_sector_records(register, sector, n_rows, seed, absent_share=0.07) -> (records, truth)``
- ``NOISE_LABELS`` and ``noise_rates()`` (rates in ``noise_rates.yaml``)
"""

from rules.synth.noise import NOISE_LABELS, noise_rates
from rules.synth.register import REFERENCE_DATE, generate_register
from rules.synth.sector import generate_sector_records

__all__ = ["NOISE_LABELS", "REFERENCE_DATE", "generate_register", "generate_sector_records", "noise_rates"]
