"""Decisions do not depend on how many threads polars runs: a host with more cores must decide every
row as a host with one does (sums whose order follows the thread count could tip a row at the
threshold). Each run is a fresh interpreter, because polars fixes its pool size at import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import hashlib
import polars as pl
from rules.matching import build_population_index, match_records
from rules.normalise import normalise_records
from rules.synth import REFERENCE_DATE, generate_register, generate_sector_records

reg = generate_register("da_nang", 12000, 3)
raw, _ = generate_sector_records(reg, "vaccinations", 2500, 4, profile="harsh")
out = match_records(normalise_records(raw, "vaccinations", today=REFERENCE_DATE), build_population_index(reg)).results
text = out.select(
    pl.col("row_number").cast(pl.Utf8), pl.col("status"), pl.col("person_id"), pl.col("proposed_id"),
    pl.col("score").cast(pl.Utf8), pl.col("flags").list.join("|"),
).write_csv()
print(pl.thread_pool_size(), out["status"].value_counts(sort=True).rows(), hashlib.sha256(text.encode()).hexdigest())
"""


def _decisions(threads: int, cache: Path) -> tuple[str, str]:
    env = {**os.environ, "POLARS_MAX_THREADS": str(threads), "DOISOAT_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=True)
    pool, rest = done.stdout.strip().split(" ", 1)
    assert int(pool) == threads
    return rest.rsplit(" ", 1)[0], rest.rsplit(" ", 1)[1]


def test_every_decision_and_score_is_the_same_on_one_thread_and_on_three(tmp_path):
    counts_1, digest_1 = _decisions(1, tmp_path / "c1")
    counts_3, digest_3 = _decisions(3, tmp_path / "c3")
    assert "ambiguous" in counts_1 and "matched" in counts_1  # a file with decisions near the threshold
    assert (counts_3, digest_3) == (counts_1, digest_1)
