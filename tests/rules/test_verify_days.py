"""Two days at once (a backfill beside the daily job), in two real processes.

Issue 11: the second day's run returned the first's allocated-but-unsent requests to pending and
took them; the first then reported a false ``failed_requests`` and failed its blocking check. A
day's allocation is now its own while a run of that day is alive.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from rules.verify import Faults, QueueStore, serve
from tests.rules.test_verify_support import register, requests

ROOT = Path(__file__).resolve().parents[2]
WORKER = """
import json, sys
from rules.quota import QuotaPolicy
from rules.verify import HttpConfig, HttpVerificationService, QueueStore, run_day
store_path, url, day = sys.argv[1], sys.argv[2], sys.argv[3]
svc = HttpVerificationService(HttpConfig(endpoint=url, read_timeout_s=10, backoff_base_s=0.05))
report = run_day(QueueStore(store_path), day, QuotaPolicy(quota=100, floor_per_unit=5), svc, batch_size=10)
print(json.dumps(report.summary()))
"""


def spawn(store: Path, url: str, day: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, str(store), url, day], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_backfill_beside_the_daily_run_never_takes_the_other_days_requests(tmp_path):
    path = tmp_path / "q.sqlite"
    QueueStore(path, create=True).enqueue(requests())
    with serve(register(), faults=Faults(latency_s=0.5)) as srv:
        daily = spawn(path, srv.url, "2026-11-24")
        store = QueueStore(path)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the daily run has allocated and is sending its batches
            if not store.requests(day="2026-11-24").filter(pl.col("state") == "allocated").is_empty():
                break
            time.sleep(0.02)
        else:
            raise AssertionError("the daily run never allocated")
        backfill = spawn(path, srv.url, "2026-11-23")
        outs = [p.communicate(timeout=120) for p in (daily, backfill)]
        assert all(p.returncode == 0 for p in (daily, backfill)), [e for _, e in outs]
        assert set(srv.stats.processed.values()) == {1}  # nothing verified twice
    reports = [json.loads(o.strip().splitlines()[-1]) for o, _ in outs]
    for r in reports:
        # each day spent its own allocation in full, with no false failure
        assert r["stop_cause"] is None and r["unused"] == 0, r
        assert r["answered_day"] == r["allocated"] == 100, r
        assert r["in_flight"] == 0
    store = QueueStore(path)
    for day in ("2026-11-23", "2026-11-24"):
        status = store.day_status(day)
        assert status["answered"] == 100 and status["in_flight"] == 0 and status["stop_cause"] is None
    assert sum(store.state_counts().values()) == len(requests())


def test_an_abandoned_days_allocation_waits_again_for_the_next_day(tmp_path):
    """A day whose run died (no live run) does not keep its allocated requests for ever."""
    from rules.quota import QuotaPolicy
    from rules.verify import SimulatedService, run_day
    from rules.verify.dispatch import _allocate_day

    store = QueueStore(tmp_path / "q.sqlite", create=True)
    store.enqueue(requests())
    _allocate_day(store, "2026-11-23", QuotaPolicy(quota=100, floor_per_unit=5))  # then the process died
    with store.transaction() as con:
        con.execute("INSERT INTO day_run VALUES ('2026-11-23', 'elsewhere:999999999:dead', 0)")  # lease long gone
    report = run_day(store, "2026-11-24", QuotaPolicy(quota=300, floor_per_unit=5), SimulatedService(register()))
    assert report.allocated == len(requests()) and report.answered_day == len(requests())
    assert store.day_status("2026-11-23")["in_flight"] == 0
