"""Benchmark the verification queue the day after a big day (issue 11: it was quadratic).

A store holding ``--answered`` answered and ``--waiting`` waiting requests, then the daily
operations, each timed: enqueue of ``--new`` requests (a tenth of them identical to answered ones,
so they take the earlier answer), withdrawal of the waiting requests of superseded files, the day's
allocation and the dispatch of the day's quota with the in-process simulator. Then the same at a
quarter of every size: an operation that is linear in what it touches takes ~4x longer at full
size; a quadratic one would take ~16x. Run heavy (about 3 GB, several minutes)::

    flock /tmp/doisoat-heavy.lock .venv/bin/python benchmarks/bench_queue.py
    .venv/bin/python benchmarks/bench_queue.py --answered 200000 --waiting 100000 --new 10000 --quota 20000
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rules.quota import QuotaPolicy
from rules.verify import QueueStore, SimulatedService, run_day
from rules.verify.dispatch import _allocate_day
from rules.verify.store import LINEAGE_COLUMNS, REQUEST_COLUMNS

UNITS = 2_000
ROWS_PER_FILE = 250  # an upload (one class list) is enqueued as one block of consecutive rows
DAY = "2026-11-24"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def people(start: int, n: int) -> pl.DataFrame:
    """Persons ``start .. start+n``: id, name, birth date, gender (synthetic, vectorised)."""
    i = pl.int_range(start, start + n, eager=True, dtype=pl.Int64)
    return pl.DataFrame({"i": i}).with_columns(
        person_id=pl.format("079{}", pl.col("i").cast(pl.Utf8).str.zfill(9)),
        full_name=pl.format("Nguyễn Văn {}", pl.col("i")),
        date_of_birth=(pl.date(2008, 1, 1) + pl.duration(days=pl.col("i") % 3650)).cast(pl.Utf8),
        gender=pl.when(pl.col("i") % 2 == 0).then(pl.lit("Nam")).otherwise(pl.lit("Nữ")),
    )


def request_frame(persons: pl.DataFrame, tag: str, enqueued: str) -> pl.DataFrame:
    """One request per person: ids unique per ``tag``; files of ``ROWS_PER_FILE`` consecutive rows
    (as uploads arrive), spread over the units in turn."""
    file = pl.col("i") // ROWS_PER_FILE
    return persons.with_columns(
        request_id=pl.format("{}-{}", pl.lit(tag), pl.col("i").cast(pl.Utf8).str.zfill(9)),
        province=pl.lit("ho_chi_minh"),
        sector=pl.lit("students"),
        unit=pl.format("school_{}", file % UNITS),
        enqueued_at=pl.lit(enqueued),
        file_sha256=pl.format("{}-file-{}", pl.lit(tag), file),
        sheet=pl.lit(""),
        row_number=pl.col("i"),
    ).drop("i")


def build(path: Path, answered: int, waiting: int) -> QueueStore:
    """The history, loaded in bulk (secondary indexes dropped, rows inserted in key order, indexes
    rebuilt by sorting): the benchmark times the day's operations, not this set-up."""
    store = QueueStore(path, create=True)
    with store.connect() as con:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'requests' AND sql IS NOT NULL")]
        for name in names:
            con.execute(f"DROP INDEX {name}")
        con.execute("PRAGMA cache_size=-1000000")
    cols = [*REQUEST_COLUMNS, *LINEAGE_COLUMNS, "unit_key", "state", "status", "answered_at", "alloc_day", "batch_id"]
    chunk = 500_000
    for start in range(0, answered + waiting, chunk):
        n = min(chunk, answered + waiting - start)
        done = pl.col("row_number") < answered
        frame = request_frame(people(start, n), "old", "2026-10-01T08:00:00+00:00").with_columns(
            unit_key=pl.concat_str(["province", "sector", "unit"], separator="/"),
            state=pl.when(done).then(pl.lit("verified")).otherwise(pl.lit("pending")),
            status=pl.when(done).then(pl.lit("verified")),
            answered_at=pl.when(done).then(pl.lit("2026-10-02T00:00:00Z")),
            alloc_day=pl.when(done).then(pl.lit("2026-10-02")),
            batch_id=pl.when(done).then(pl.lit("history")),
        ).sort("request_id")
        with store.transaction() as con:
            con.executemany(f"INSERT INTO requests ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            frame.select(cols).iter_rows())
            con.executemany("INSERT OR IGNORE INTO request_files VALUES (?)",
                            frame.select(pl.col("file_sha256").unique()).iter_rows())
            con.executemany("INSERT OR IGNORE INTO request_units VALUES (?)",
                            frame.select(pl.col("unit_key").unique()).iter_rows())
    store.close()
    return QueueStore(path)  # recreates the indexes (sorting, not random inserts)


CPU: dict[str, float] = {}


def timed(label: str, fn) -> tuple[float, object]:
    """Wall time of ``fn``; its CPU time goes to ``CPU[label]`` (the machine is shared: CPU time is
    the steadier figure, and the one the scaling line compares)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    CPU[label] = time.process_time() - c
    return time.perf_counter() - t, out


def scenario(answered: int, waiting: int, new: int, quota: int, workdir: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    store = build(workdir / f"queue-{answered}.sqlite", answered, waiting)
    setup = time.perf_counter() - t0
    print(f"\nstore: {answered:,} answered + {waiting:,} waiting requests (built in {setup:.0f} s), "
          f"{UNITS:,} units")
    times: dict[str, float] = {}
    # Enqueue: 90 % new people, 10 % identical to answered requests (they take the earlier answer).
    twins = request_frame(people(0, new // 10), "new", "2026-11-23T08:00:00+00:00")
    fresh = request_frame(people(answered + waiting, new - new // 10), "new", "2026-11-23T08:00:00+00:00")
    times["enqueue"], added = timed("enqueue", lambda: store.enqueue(pl.concat([twins, fresh])))
    reused = store.reused_answers()
    print(f"  enqueue {new:,} new requests: {times['enqueue']:.2f} s, cpu {CPU['enqueue']:.2f} s ({added:,} added, "
          f"{reused:,} took an earlier answer)")
    # Withdrawal: every tenth file still waiting was superseded by a corrected file.
    files = {f for (f,) in store._frame("SELECT file_sha256 FROM request_files").iter_rows()}
    first, last = answered // ROWS_PER_FILE, (answered + waiting) // ROWS_PER_FILE
    superseded = {f"old-file-{f}" for f in range(first, last, 10)}
    times["withdraw"], withdrawn = timed("withdraw", lambda: store.withdraw_superseded(files - superseded))
    print(f"  withdrawal of {len(superseded):,} superseded files: {times['withdraw']:.2f} s, "
          f"cpu {CPU['withdraw']:.2f} s ({withdrawn:,} withdrawn)")
    policy = QuotaPolicy(quota=quota, floor_per_unit=20)
    times["allocate"], _ = timed("allocate", lambda: _allocate_day(store, DAY, policy))
    allocated = store.day_budgets()["allocated"][0]
    print(f"  the day's allocation (quota {quota:,}): {times['allocate']:.2f} s, cpu {CPU['allocate']:.2f} s "
          f"({allocated:,} allocated)")
    register = people(answered, waiting + new)
    service = SimulatedService(register)
    times["dispatch"], report = timed("dispatch", lambda: run_day(store, DAY, policy, service, batch_size=500))
    print(f"  dispatch with the simulator: {times['dispatch']:.2f} s, cpu {CPU['dispatch']:.2f} s "
          f"({report.answered_day:,} answered in {report.batches} batches, "
          f"{report.answered_day / times['dispatch']:,.0f} requests/s)")
    store.close()
    return {op: CPU[op] for op in times} | {f"{op}_wall": t for op, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--answered", type=int, default=2_000_000)
    ap.add_argument("--waiting", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=100_000)
    ap.add_argument("--quota", type=int, default=200_000)
    ap.add_argument("--scale", type=int, default=4, help="the small run divides every size by this")
    args = ap.parse_args()
    k = args.scale
    with tempfile.TemporaryDirectory(prefix="bench_queue_") as tmp:
        small = scenario(args.answered // k, args.waiting // k, args.new // k, args.quota // k, Path(tmp))
        full = scenario(args.answered, args.waiting, args.new, args.quota, Path(tmp))
    print(f"\nscaling, CPU seconds (every size x{k}; linear ~x{k}, quadratic ~x{k * k}; wall in brackets):")
    for op in ("enqueue", "withdraw", "allocate", "dispatch"):
        ratio = full[op] / max(small[op], 1e-9)
        verdict = "linear" if ratio <= k * 1.75 else "WORSE THAN LINEAR"
        print(f"  {op:<9} {small[op]:7.2f} s -> {full[op]:7.2f} s  x{ratio:4.1f}  {verdict}  "
              f"[{small[op + '_wall']:.2f} s -> {full[op + '_wall']:.2f} s]")
    print(f"peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
