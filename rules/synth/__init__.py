"""Synthetic, deterministic (per seed) Vietnamese register and sector data for demos, tests and benchmarks.

Public API:
- ``generate_register(province, size, seed) -> pl.DataFrame`` (contracts §1)
- ``generate_sector_records(register, sector, n_rows, seed, absent_share=0.07) -> (records, truth)``
- ``write_province(out_dir, province, size, seed, rows_per_sector=None, units_per_sector=None) -> dict``
  (contracts §2 folder layout: register, xlsx/csv uploads, truth files, ``manifest.json``)
- ``NOISE_LABELS`` and ``noise_rates()`` (rates in ``noise_rates.yaml``)
"""

from rules.synth.noise import NOISE_LABELS, noise_rates
from rules.synth.register import REFERENCE_DATE, generate_register
from rules.synth.sector import generate_sector_records
from rules.synth.writer import write_province

__all__ = [
    "NOISE_LABELS",
    "REFERENCE_DATE",
    "generate_register",
    "generate_sector_records",
    "noise_rates",
    "write_province",
]
