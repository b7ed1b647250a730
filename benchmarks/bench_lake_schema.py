"""What the lake's write check costs: ``conform`` and the primary-key check on a match_results frame.

Prints CPU seconds for N rows (default 2,000,000, about a large province's student list several times
over). ``python benchmarks/bench_lake_schema.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from rules.lake_schema import conform, key_problems, lake_table


def frame(rows: int) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    t = lake_table("match_results")
    base = {
        "file_sha256": pl.Series(rng.integers(0, 50, rows)).cast(pl.Utf8),
        "sheet": pl.Series([""] * rows),
        "row_number": pl.Series(np.arange(rows)),
        "score": pl.Series(rng.random(rows)),
        "dob_year": pl.Series(rng.integers(1950, 2020, rows), dtype=pl.Int64),  # cast to Int32 on write
        "status": pl.Series(rng.choice(["matched", "unmatched"], rows)),
    }
    return pl.DataFrame({c.name: base.get(c.name, pl.Series([None] * rows, dtype=c.dtype)) for c in t.columns})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    rows = parser.parse_args().rows
    df = frame(rows)
    t = lake_table("match_results")
    c0 = time.process_time()
    out = conform(df, t)
    c1 = time.process_time()
    problems = key_problems(out, t)
    c2 = time.process_time()
    print(f"match_results, {rows:,} rows: conform {c1 - c0:.3f} s CPU, primary-key check {c2 - c1:.3f} s CPU "
          f"({problems or 'key unique'})")


if __name__ == "__main__":
    main()
