"""Hostile uploads: refusal time and peak memory of ``doisoat upload`` per attack, and the error report
of a 1M-row upload with 1% bad rows (issue 11, class 4). Each upload runs in a child process under an
address-space limit of 4 GiB; the figure that matters is its peak RSS (target: under 2 GiB).

    flock /tmp/doisoat-heavy.lock .venv/bin/python benchmarks/bench_hostile.py [--rows 1000000]

The hostile files are the builders of ``tests/security/hostile.py`` (built here, never committed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rules.ingest.report import error_report_path
from tests.security.hostile import grid_bomb, lying_directory, run_limited, shared_string_bomb, zip_bomb


def big_upload(path: Path, rows: int) -> Path:
    """A student list of ``rows`` rows, 1% of them without a name (rejected)."""
    i = pl.int_range(0, rows, eager=True)
    names = pl.select(pl.when(i % 100 == 0).then(pl.lit("")).otherwise(
        pl.lit("Nguyễn Văn ") + (i % 997).cast(pl.String))).to_series()
    frame = pl.DataFrame({"STT": (i + 1).cast(pl.String), "Họ và tên": names,
                          "Ngày sinh": pl.Series(["05/09/2012"] * rows),
                          "Số định danh cá nhân": "0792" + (i + 10**7).cast(pl.String).str.zfill(8)})
    frame.write_csv(path)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_hostile_"))
    cases = [
        ("zip bomb (300 MiB of rows)", lambda p: zip_bomb(p / "zip_bomb.xlsx", 300)),
        ("128 MiB shared string", lambda p: shared_string_bomb(p / "shared.xlsx", 128)),
        ("lying zip directory", lambda p: lying_directory(p / "lying.xlsx", 300)),
        ("grid bomb A1 + ZZ1000000", lambda p: grid_bomb(p / "grid_zz.xlsx", "ZZ1000000")),
        ("grid A1 + Z1048576 (largest allowed)", lambda p: grid_bomb(p / "grid_z.xlsx", "Z1048576")),
        (f"{args.rows:,}-row CSV, 1% bad rows", lambda p: big_upload(p / "thpt_x__big.csv", args.rows)),
    ]
    print(f"{'case':40} {'file':>10} {'exit':>5} {'time':>8} {'peak RSS':>10}  outcome")
    for label, build in cases:
        path = build(folder)
        t = time.perf_counter()
        r = run_limited(["upload", str(path), "--province", "ha_noi", "--sector", "students", "--no-inbox"],
                        data=folder, timeout=1800)
        took = time.perf_counter() - t
        line = (r["stderr"].strip().splitlines() or r["stdout"].strip().splitlines() or [""])[0]
        outcome = line.split("]")[0] + "]" if line.startswith("doisoat upload: [") else line[:60]
        report = error_report_path(path)
        if report.exists():
            from openpyxl import load_workbook

            wb = load_workbook(report, read_only=True)
            n = sum(1 for _ in wb[wb.sheetnames[0]].iter_rows()) - 1
            outcome += f"; report {report.stat().st_size / 1e6:.1f} MB, {n:,} rows"
        peak = f"{r['maxrss_mib']:,.0f} MiB" if r["maxrss_mib"] else "?"
        print(f"{label:40} {path.stat().st_size / 1e6:>8.1f}MB {r['rc']:>5} {took:>7.1f}s {peak:>10}  {outcome}")
        path.unlink()


if __name__ == "__main__":
    main()
