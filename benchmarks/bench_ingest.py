"""Ingest benchmark: read + map + validate a 1M-row CSV and a 1M-row xlsx; time, rows/s, peak RSS.

Targets on the 2-core dev machine: CSV >= 1,000,000 rows/s, xlsx >= 150,000 rows/s, peak RSS
<= 3 GB. "read + map + validate" is ``read_upload`` (decode, sniff, header detection, mapping,
lineage) plus ``validate_records``; the normaliser in between is timed and shown separately
(``benchmarks/bench_normalise.py`` is its own benchmark), and so is the whole ``process_upload``.
Each format runs in a fresh child process so that its peak RSS is its own.

    .venv/bin/python benchmarks/bench_ingest.py [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Hữu", "Minh", "Ngọc", "Thanh", "Đức", "Thu", "Quốc", "Gia"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Hà", "Hải", "Hương", "Khánh", "Linh", "Nam", "Phúc", "Thảo", "Tuấn"]


def make_frame(n: int, seed: int = 7) -> pl.DataFrame:
    """Realistic student list: ~1.5 % blank names, ~1 % bad dates, IDs as 12-digit text."""
    rng = np.random.default_rng(seed)
    names = (pl.Series(FAMILY).gather(rng.integers(0, len(FAMILY), n)) + " "
             + pl.Series(MIDDLE).gather(rng.integers(0, len(MIDDLE), n)) + " "
             + pl.Series(GIVEN).gather(rng.integers(0, len(GIVEN), n)))
    names = pl.select(pl.when(pl.Series(rng.random(n) < 0.015)).then(pl.lit("")).otherwise(names)).to_series()
    day, month, year = rng.integers(1, 29, n), rng.integers(1, 13, n), rng.integers(2008, 2020, n)
    dob = pl.Series([f"{d:02d}/{m:02d}/{y}" for d, m, y in zip(day[:5000], month[:5000], year[:5000], strict=True)])
    dob = dob.gather(rng.integers(0, 5000, n))
    dob = pl.select(pl.when(pl.Series(rng.random(n) < 0.01)).then(pl.lit("không rõ")).otherwise(dob)).to_series()
    ids = pl.Series(rng.integers(1, 96, n)).cast(pl.String).str.zfill(3) + pl.Series(
        rng.integers(0, 10**9, n)).cast(pl.String).str.zfill(9)
    return pl.DataFrame({
        "STT": pl.int_range(1, n + 1, eager=True).cast(pl.String),
        "Họ và tên": names,
        "Ngày sinh": dob,
        "Giới tính": pl.Series(["Nam", "Nữ"]).gather(rng.integers(0, 2, n)),
        "Số định danh cá nhân": ids,
        "Lớp": pl.Series(["6A1", "7A2", "8A3", "9A4"]).gather(rng.integers(0, 4, n)),
    })


def write_csv(df: pl.DataFrame, path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write("UBND TỈNH LÂM ĐỒNG\nDANH SÁCH HỌC SINH NĂM HỌC 2025-2026\n\n")
        df.write_csv(fh)


def write_xlsx(df: pl.DataFrame, path: Path) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    ws = wb.add_worksheet("DS")
    ws.write_row(0, 0, ["DANH SÁCH HỌC SINH NĂM HỌC 2025-2026"])
    ws.write_row(2, 0, df.columns)
    for i, row in enumerate(df.iter_rows(), start=3):
        ws.write_number(i, 0, int(row[0]))
        ws.write_row(i, 1, row[1:])
    wb.close()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def cpu_s() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def run_case(path: str, queue) -> None:
    """Child process: time the phases on one file; send the figures back."""
    from rules.ingest import read_upload
    from rules.normalise import normalise_records
    from rules.validate import validate_records

    rss0 = peak_rss_mb()
    c0, t0 = cpu_s(), time.perf_counter()
    up = read_upload(path, province="lam_dong", sector="students", unit="bench")
    c1, t1 = cpu_s(), time.perf_counter()
    normalised = normalise_records(up.raw, "students")
    c2, t2 = cpu_s(), time.perf_counter()
    valid, bad = validate_records(normalised, "students", headers={f: h for h, f in up.column_map.items()})
    c3, t3 = cpu_s(), time.perf_counter()
    assert up.raw.height == valid.height + bad.height
    queue.put({
        "rows": up.raw.height, "read_map_s": t1 - t0, "normalise_s": t2 - t1, "validate_s": t3 - t2,
        "accepted": valid.height, "rejected": bad.height, "peak_rss_mb": peak_rss_mb(), "start_rss_mb": rss0,
        "cpu_read_map_s": c1 - c0, "cpu_normalise_s": c2 - c1, "cpu_validate_s": c3 - c2,
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, default=None, help="write the generated files here and keep them")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    folder.mkdir(parents=True, exist_ok=True)
    df = make_frame(args.rows)
    files = {"csv": folder / "bench.csv", "xlsx": folder / "bench.xlsx"}
    for kind, path in files.items():
        if not path.exists():
            t = time.perf_counter()
            (write_csv if kind == "csv" else write_xlsx)(df, path)
            print(f"wrote {path.name}: {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t:.1f} s")
    del df
    targets = {"csv": 1_000_000, "xlsx": 150_000}
    ctx = mp.get_context("spawn")
    print(f"\n{'file':5} {'rows':>9} {'read+map':>9} {'validate':>9} {'rows/s (read+map+validate)':>27} "
          f"{'target':>9} {'normalise':>10} {'all rows/s':>11} {'peak RSS':>9}")
    for kind, path in files.items():
        queue = ctx.Queue()
        proc = ctx.Process(target=run_case, args=(str(path), queue))
        proc.start()
        r = queue.get()
        proc.join()
        rmv = r["read_map_s"] + r["validate_s"]
        total = rmv + r["normalise_s"]
        ok = "ok" if r["rows"] / rmv >= targets[kind] else "MISSED"
        print(f"{kind:5} {r['rows']:>9,} {r['read_map_s']:>8.2f}s {r['validate_s']:>8.2f}s "
              f"{r['rows'] / rmv:>27,.0f} {targets[kind]:>9,} {r['normalise_s']:>9.2f}s {r['rows'] / total:>11,.0f} "
              f"{r['peak_rss_mb'] / 1024:>7.2f}GB  {ok}; accepted {r['accepted']:,}, rejected {r['rejected']:,}")
        cpu = r["cpu_read_map_s"] + r["cpu_validate_s"]
        print(f"      CPU time (all threads): read+map {r['cpu_read_map_s']:.2f}s, "
              f"validate {r['cpu_validate_s']:.2f}s, normalise {r['cpu_normalise_s']:.2f}s -> "
              f"{r['rows'] / cpu:,.0f} rows per CPU-second (read+map+validate)")
    print(f"\nload average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(figures above are wall time on a shared machine; CPU-seconds are less sensitive to contention)")
    if args.keep is None:
        for path in files.values():
            path.unlink(missing_ok=True)
        folder.rmdir()


if __name__ == "__main__":
    main()
