"""Benchmark the verification queue the day after a big day (issue 11: it was quadratic).

A store holding ``--answered`` answered and ``--waiting`` waiting requests, then the daily
operations, each timed: enqueue of ``--new`` requests (a tenth of them identical to answered ones,
so they take the earlier answer), withdrawal of the waiting requests of superseded files, the day's
allocation and the dispatch of the day's quota with the in-process simulator. Then the same at a
quarter of every size: an operation that is linear in what it touches takes ~4x longer at full
size; a quadratic one would take ~16x. Run heavy (about 3 GB, several minutes)::

    flock /tmp/doisoat-heavy.lock .venv/bin/python benchmarks/bench_queue.py
    .venv/bin/python benchmarks/bench_queue.py --answered 200000 --waiting 100000 --new 10000 --quota 20000
    .venv/bin/python benchmarks/bench_queue.py --store postgresql://postgres@127.0.0.1:5432/postgres

``--store URL``: the national queue on PostgreSQL instead (``rules/verify/pg_store.py``); each size gets
a fresh database ``bench_queue_<n>`` on that server, dropped afterwards. The server's work is not in
this process's CPU time, so the scaling line compares wall times for it (run it on a quiet machine).
"""

from __future__ import annotations

import argparse
import io
import os
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


def history(answered: int, waiting: int, cols: list[str]):
    """The history in chunks of at most 500,000 rows (answered first, then waiting), sorted by key."""
    chunk = 500_000
    for start in range(0, answered + waiting, chunk):
        n = min(chunk, answered + waiting - start)
        done = pl.col("row_number") < answered
        yield request_frame(people(start, n), "old", "2026-10-01T08:00:00+00:00").with_columns(
            unit_key=pl.concat_str(["province", "sector", "unit"], separator="/"),
            state=pl.when(done).then(pl.lit("verified")).otherwise(pl.lit("pending")),
            status=pl.when(done).then(pl.lit("verified")),
            answered_at=pl.when(done).then(pl.lit("2026-10-02T00:00:00Z")),
            alloc_day=pl.when(done).then(pl.lit("2026-10-02")),
            batch_id=pl.when(done).then(pl.lit("history")),
        ).sort("request_id").select(cols)


COLS = [*REQUEST_COLUMNS, *LINEAGE_COLUMNS, "unit_key", "state", "status", "answered_at", "alloc_day", "batch_id"]


def build_pg(server: str, answered: int, waiting: int):
    """The history in a fresh database on ``server`` (COPY, then ANALYZE); returns (store, drop)."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg2

    from rules.verify.pg_store import PgQueueStore

    db = f"bench_queue_{answered}_{os.getpid()}"
    parts = urlsplit(server.replace("postgresql+psycopg2://", "postgresql://"))
    admin = psycopg2.connect(server.replace("postgresql+psycopg2://", "postgresql://"))
    admin.autocommit = True
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {db}")
    admin.cursor().execute(f"CREATE DATABASE {db}")
    url = urlunsplit(parts._replace(path=f"/{db}"))
    store = PgQueueStore(url, create=True)
    con = psycopg2.connect(url)
    with con, con.cursor() as cur:
        for frame in history(answered, waiting, COLS):
            buf = io.BytesIO()
            frame.write_csv(buf, include_header=False, null_value="\\N", quote_style="non_numeric")
            buf.seek(0)
            cur.copy_expert(f"COPY requests ({', '.join(COLS)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
        cur.execute("INSERT INTO request_files SELECT DISTINCT file_sha256 FROM requests ON CONFLICT DO NOTHING")
    con.autocommit = True
    con.cursor().execute("VACUUM ANALYZE")
    con.close()

    def drop() -> None:
        store.close()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        admin.close()

    return store, drop


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
    cols = COLS
    for frame in history(answered, waiting, cols):
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


def scenario(
    answered: int, waiting: int, new: int, quota: int, workdir: Path, server: str | None = None
) -> dict[str, float]:
    t0 = time.perf_counter()
    if server:
        store, drop = build_pg(server, answered, waiting)
    else:
        store, drop = build(workdir / f"queue-{answered}.sqlite", answered, waiting), None
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
    if drop is not None:
        drop()
    return {op: CPU[op] for op in times} | {f"{op}_wall": t for op, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--answered", type=int, default=2_000_000)
    ap.add_argument("--waiting", type=int, default=1_000_000)
    ap.add_argument("--new", type=int, default=100_000)
    ap.add_argument("--quota", type=int, default=200_000)
    ap.add_argument("--scale", type=int, default=4, help="the small run divides every size by this")
    ap.add_argument("--store", default=None, metavar="URL",
                    help="a postgresql:// server URL: benchmark the national queue there instead of SQLite")
    args = ap.parse_args()
    k = args.scale
    print(f"store: {'PostgreSQL (national queue)' if args.store else 'SQLite (embedded default)'}; "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench_queue_") as tmp:
        small = scenario(args.answered // k, args.waiting // k, args.new // k, args.quota // k, Path(tmp), args.store)
        full = scenario(args.answered, args.waiting, args.new, args.quota, Path(tmp), args.store)
    what = "wall seconds (the server's CPU is not ours)" if args.store else "CPU seconds"
    print(f"\nscaling, {what} (every size x{k}; linear ~x{k}, quadratic ~x{k * k}; wall in brackets):")
    for op in ("enqueue", "withdraw", "allocate", "dispatch"):
        key = op + "_wall" if args.store else op
        ratio = full[key] / max(small[key], 1e-9)
        verdict = "linear" if ratio <= k * 1.75 else "WORSE THAN LINEAR"
        print(f"  {op:<9} {small[key]:7.2f} s -> {full[key]:7.2f} s  x{ratio:4.1f}  {verdict}  "
              f"[{small[op + '_wall']:.2f} s -> {full[op + '_wall']:.2f} s]")
    print(f"peak RSS {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
