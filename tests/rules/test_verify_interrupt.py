"""SIGTERM stops a queue operation promptly and cleanly, in a real child process.

Issue 11: a long SQLite statement ignored SIGTERM for more than 18 minutes (Python runs signal
handlers only between bytecodes). Now a progress handler lets the signal in, the statement is
aborted and rolled back, the process exits with one line and status 143, and the queue is exactly
as it was after its last committed step.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

from rules import interrupts
from rules.verify import QueueStore
from tests.rules.test_verify_support import register, requests

ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import sys, time
import polars as pl
from rules import interrupts
from rules.quota import QuotaPolicy
from rules.verify import QueueStore, SimulatedService, run_day

interrupts.install()
store = QueueStore(sys.argv[1])
mode = sys.argv[2]
try:
    if mode == "statement":
        # One statement that would run for many minutes (hundreds of millions of rows), in a transaction.
        with store.transaction() as con:
            print("ready", flush=True)
            con.execute(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 400000000) "
                "INSERT INTO requests (request_id, province, sector, unit, unit_key, person_id, enqueued_at) "
                "SELECT 'junk-' || x, 'p', 's', 'u', 'p/s/u', 'id', '2026' FROM c"
            )
    else:
        class Slow(SimulatedService):
            def verify(self, batch, idempotency_key=None):
                print("ready", flush=True)
                time.sleep(60)  # a service that hangs: the stop must not wait for it
                return super().verify(batch, idempotency_key)
        run_day(store, "2026-11-23", QuotaPolicy(quota=100, floor_per_unit=5),
                Slow(pl.read_parquet(sys.argv[3])), batch_size=20)
    print("finished without a stop", flush=True)
except (KeyboardInterrupt, interrupts.Interrupted):
    print(f"doisoat: {interrupts.Interrupted('the queue step')}", file=sys.stderr)
    sys.exit(interrupts.exit_code())
"""


def run_and_term(args: list[str]) -> tuple[int, str, float]:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.5)  # well inside the long step
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err, time.monotonic() - sent


def test_sigterm_aborts_a_long_statement_and_rolls_it_back(tmp_path):
    path = tmp_path / "q.sqlite"
    store = QueueStore(path, create=True)
    store.enqueue(requests())
    before = store.state_counts()
    code, err, took = run_and_term([str(path), "statement"])
    assert code == 143, err
    assert took < 5, f"the stop took {took:.1f} s"
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "stopped by SIGTERM" in lines[0] and "rolled back" in lines[0], err
    again = QueueStore(path)
    again.check_integrity()
    assert again.state_counts() == before  # not one junk row committed


def test_sigterm_during_a_batch_returns_it_to_waiting(tmp_path):
    path = tmp_path / "q.sqlite"
    reg = tmp_path / "register.parquet"
    register().write_parquet(reg)
    store = QueueStore(path, create=True)
    store.enqueue(requests())
    total = sum(store.state_counts().values())
    code, err, took = run_and_term([str(path), "dispatch", str(reg)])
    assert code == 143 and took < 5, (code, took, err)
    assert len(err.strip().splitlines()) == 1, err
    again = QueueStore(path)
    states = again.state_counts()
    assert sum(states.values()) == total
    assert states.get("sent", 0) == 0 and states.get("allocated", 0) == 0, states  # nothing left half-way
    ledger = again.ledger()
    assert ledger["state"].to_list() == ["failed"] and ledger["cause"].to_list() == ["client_error"]
    # The next run sends the interrupted batch's requests again.
    from rules.quota import QuotaPolicy
    from rules.verify import SimulatedService, run_day

    report = run_day(again, "2026-11-23", QuotaPolicy(quota=100, floor_per_unit=5), SimulatedService(register()))
    assert report.answered_day == report.allocated and report.allocated > 0


def test_a_stop_request_aborts_statements_in_this_process_too(tmp_path):
    store = QueueStore(tmp_path / "q.sqlite", create=True)
    store.enqueue(requests())
    interrupts.request_stop("SIGTERM")
    try:
        try:
            store.enqueue(requests(3000).with_columns(request_id=pl.col("request_id") + "x"))
        except interrupts.Interrupted as exc:
            assert "SIGTERM" in str(exc)
        else:
            raise AssertionError("the enqueue was not stopped")
    finally:
        interrupts.reset()
    assert sum(store.state_counts().values()) == len(requests())
