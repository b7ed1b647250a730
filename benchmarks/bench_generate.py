"""Benchmark the synthetic generator: register and sector records at 1M and 10M people.

Usage: ``python benchmarks/bench_generate.py [--sizes 1000000 10000000] [--rows-share 0.1] [--sector vaccinations]``

Each size runs in its own child process so that the peak RSS (``ru_maxrss``) belongs to that size
alone. Target on the 2-core dev machine: a 10M-person register in <= 5 min and <= 10 GB peak RSS.
Prints wall times, rows/s and peak RSS; the figures depend on machine load (note contention).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def run_one(size: int, rows: int, sector: str, province: str, seed: int) -> dict[str, float]:
    from rules.synth import generate_register, generate_sector_records

    t0 = time.perf_counter()
    register = generate_register(province, size, seed)
    t_reg = time.perf_counter() - t0
    rss_reg = _peak_rss_gb()
    t1 = time.perf_counter()
    records, truth = generate_sector_records(register, sector, rows, seed)
    t_rec = time.perf_counter() - t1
    assert register.height == size and records.height == truth.height == rows
    return {
        "size": size,
        "register_s": round(t_reg, 2),
        "register_rows_per_s": round(size / t_reg),
        "peak_rss_after_register_gb": round(rss_reg, 2),
        "sector": sector,
        "records": rows,
        "records_s": round(t_rec, 2),
        "records_rows_per_s": round(rows / t_rec),
        "peak_rss_gb": round(_peak_rss_gb(), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--rows-share", type=float, default=0.1, help="sector rows as a share of the size")
    ap.add_argument("--sector", default="vaccinations")
    ap.add_argument("--province", default="ho_chi_minh")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.single:
        size = args.sizes[0]
        print(json.dumps(run_one(size, int(size * args.rows_share), args.sector, args.province, args.seed)))
        return
    for size in args.sizes:
        cmd = [
            sys.executable,
            __file__,
            "--single",
            "--sizes",
            str(size),
            "--rows-share",
            str(args.rows_share),
            "--sector",
            args.sector,
            "--province",
            args.province,
            "--seed",
            str(args.seed),
        ]
        t0 = time.perf_counter()
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(
            f"size={r['size']:>11,}  register {r['register_s']:>7.1f} s ({r['register_rows_per_s']:>9,} rows/s, "
            f"peak RSS {r['peak_rss_after_register_gb']:.2f} GB)  |  {r['sector']} {r['records']:>9,} rows "
            f"{r['records_s']:>6.1f} s ({r['records_rows_per_s']:>8,} rows/s)  |  peak RSS {r['peak_rss_gb']:.2f} GB"
            f"  |  process wall {time.perf_counter() - t0:.1f} s"
        )


if __name__ == "__main__":
    main()
