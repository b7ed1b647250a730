"""Real processes: two runs of one day at once never overspend; kill -9 mid-dispatch loses nothing.

The dispatch runs in child processes (``python -c``) against the local HTTP server running in this
test process, which counts how often each request id was verified.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from rules.quota import QuotaPolicy
from rules.verify import Faults, HttpConfig, HttpVerificationService, QueueStore, run_day, serve
from tests.rules.test_verify_support import register, requests

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-23"
WORKER = """
import sys
from rules.quota import QuotaPolicy
from rules.verify import HttpConfig, HttpVerificationService, QueueStore, run_day
store_path, url, quota, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
svc = HttpVerificationService(HttpConfig(endpoint=url, read_timeout_s=10, backoff_base_s=0.05))
report = run_day(QueueStore(store_path), "2026-11-23", QuotaPolicy(quota=quota, floor_per_unit=5), svc,
                                        batch_size=batch)
print(report.sent_this_run, report.answered_day)
"""


def spawn(store: Path, url: str, quota: int, batch: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(store), url, str(quota), str(batch)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_running_the_same_day_never_spend_more_than_the_quota(tmp_path):
    path = tmp_path / "q.sqlite"
    QueueStore(path, create=True).enqueue(requests())
    with serve(register(), faults=Faults(latency_s=0.03)) as srv:
        procs = [spawn(path, srv.url, 150, 10) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
        sent = [int(o.split()[0]) for o, _ in outs]
        print("sent per process", sent)
        assert sum(sent) == 150  # the two runs shared the day's 150, neither spent its own
        assert sum(srv.stats.processed.values()) == 150
        assert set(srv.stats.processed.values()) == {1}
    store = QueueStore(path)
    assert store.day_budgets()["allocated"].to_list() == [150]
    assert store.day_budgets()["runs"].to_list() == [2]  # one allocation, reused by the second run
    assert store.results(DAY).height == 150
    assert store.ledger().filter(pl.col("state") == "committed")["n"].sum() == 150


def test_kill_9_mid_dispatch_loses_nothing_and_double_sends_nothing(tmp_path):
    path = tmp_path / "q.sqlite"
    store = QueueStore(path, create=True)
    total = store.enqueue(requests())
    with serve(register(), faults=Faults(latency_s=0.25)) as srv:
        proc = spawn(path, srv.url, 10_000, 20)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # let a few batches commit ...
            if store.ledger().filter(pl.col("state") == "committed").height >= 2:
                break
            time.sleep(0.02)
        srv.faults.latency_s = 30.0  # ... then the service hangs: the next batch stays in flight
        time.sleep(0.6)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL
        in_flight = store.ledger().filter(pl.col("state") == "sending")
        assert in_flight.height == 1  # the ledger names the batch whose answer was never committed
        assert store.state_counts()["sent"] == in_flight["n"].item()

        srv.faults.latency_s = 0.0
        svc = HttpVerificationService(HttpConfig(endpoint=srv.url, backoff_base_s=0.05))
        report = run_day(store, DAY, QuotaPolicy(quota=10_000, floor_per_unit=5), svc, batch_size=50)
        assert report.recovered_batches == 1 and report.unused == 0
        # the in-flight batch was re-sent under its original key; nothing was verified twice
        assert srv.stats.idempotency_keys[in_flight["batch_id"].item()] >= 2
        assert set(srv.stats.processed.values()) == {1}
        assert len(srv.stats.processed) == total
    counts = store.state_counts()
    assert counts == {s: n for s, n in counts.items() if s in ("verified", "mismatch", "not_found")}
    assert sum(counts.values()) == total
    assert set(store.results()["request_id"]) == set(srv.stats.processed)
