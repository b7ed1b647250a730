"""The transmission audit records every batch that left the machine, before it left, and shows
tampering (issue 11: requests whose batch was sent but failed - 1,500 people's data - were missing
from the audit log).

Faults come from the local verify-server (rules.verify.server): 503s until retries run out, an
answer lost after processing, a 429, malformed answers, a full outage. Whatever happens, every
request id that reached the server is in a ``sent`` record of the hash-chained log.
"""

from __future__ import annotations

import json

import pytest

from rules.quota import QuotaPolicy
from rules.verify import Faults, HttpConfig, HttpVerificationService, QueueStore, run_day, serve
from rules.verify.audit_log import TransmissionLog, records, verify_chain
from tests.rules.test_verify_support import register, requests

DAY = "2026-11-23"


def client(url: str) -> HttpVerificationService:
    return HttpVerificationService(HttpConfig(endpoint=url, read_timeout_s=5, max_attempts=2, backoff_base_s=0.01,
                                              backoff_max_s=0.02, breaker_failures=50))


def audited(log: TransmissionLog) -> dict[str, int]:
    out: dict[str, int] = {}
    for rec in records(log.path):
        if rec["event"] == "sent":
            for request_id, _person in rec["requests"]:
                out[request_id] = out.get(request_id, 0) + 1
    return out


def ledger_sends(store: QueueStore) -> dict[str, int]:
    ledger = store.ledger()
    return dict(zip(ledger["batch_id"].to_list(), ledger["sends"].to_list(), strict=True))


@pytest.mark.parametrize(
    ("faults", "cause"),
    [
        (Faults(error_5xx=4), "service_unavailable"),  # two calls x two attempts, then the day stops
        (Faults(drop=1), None),  # processed, answer lost: the data left; the re-send is audited too
        (Faults(quota_limit=45), "quota_exceeded"),
        (Faults(malformed=3), {"bad_response", "failed_requests"}),
        (Faults(outage=True), "service_unavailable"),
    ],
    ids=["5xx", "lost-answer", "429", "malformed", "outage"],
)
def test_every_request_that_reached_the_service_is_audited(tmp_path, faults, cause):
    store = QueueStore(tmp_path / "q.sqlite", create=True)
    store.enqueue(requests())
    log = TransmissionLog(tmp_path / "operator" / "transmissions.jsonl", run_id="run-1")
    with serve(register(), faults=faults) as srv:
        report = run_day(store, DAY, QuotaPolicy(quota=100, floor_per_unit=5), client(srv.url), batch_size=10,
                         max_bad_batches=3, audit=log)
        received = dict(srv.stats.received)
    assert received, "the fault scenario sent nothing"
    sent = audited(log)
    missing = set(received) - set(sent)
    assert not missing, f"{len(missing)} requests reached the service without an audit record"
    if cause:
        assert report.stop_cause in ({cause} if isinstance(cause, str) else cause) and report.failed_batches >= 1
    # every send has its outcome, and the chain is intact and agrees with the ledger
    events = [r["event"] for r in records(log.path)]
    assert events.count("sent") == events.count("answered") + events.count("failed")
    check = verify_chain(log.path, ledger_sends(store))
    assert check.ok, check.problems


def test_a_record_is_written_before_the_batch_is_sent(tmp_path):
    store = QueueStore(tmp_path / "q.sqlite", create=True)
    store.enqueue(requests())
    log = TransmissionLog(tmp_path / "t.jsonl")
    seen_at_send: list[int] = []

    class Peek:
        def verify(self, batch, idempotency_key=None):
            ids = {r.request_id for r in batch}
            seen_at_send.append(len(ids & set(audited(log))))
            raise ConnectionResetError("the line dropped mid-call")

    with pytest.raises(ConnectionResetError):
        run_day(store, DAY, QuotaPolicy(quota=20, floor_per_unit=5), Peek(), batch_size=10, audit=log)
    assert seen_at_send == [10]  # all ten were on record when the call began
    assert [r["event"] for r in records(log.path)] == ["sent", "failed"]
    assert store.state_counts().get("sent", 0) == 0


def test_no_batch_is_sent_when_the_audit_cannot_be_written(tmp_path):
    store = QueueStore(tmp_path / "q.sqlite", create=True)
    store.enqueue(requests())
    blocked = tmp_path / "not_a_folder"
    blocked.write_text("")  # the audit's folder is a file: every append fails (as on a full or read-only disk)
    calls = []

    class Count:
        def verify(self, batch, idempotency_key=None):
            calls.append(len(batch))
            return []

    report = run_day(store, DAY, QuotaPolicy(quota=20, floor_per_unit=5), Count(), batch_size=10,
                     audit=TransmissionLog(blocked / "sub" / "t.jsonl"))
    assert calls == [] and report.stop_cause == "audit_unavailable" and "nothing was sent" in report.stop_detail
    assert store.state_counts().get("sent", 0) == 0 and store.ledger()["sends"].to_list() == [0]


@pytest.fixture
def chain(tmp_path) -> TransmissionLog:
    log = TransmissionLog(tmp_path / "t.jsonl")
    for i in range(6):
        log.sent(DAY, f"batch{i}", 1, "host:1:x", [(f"r{i}a", "079000000001"), (f"r{i}b", "079000000002")])
        log.outcome(DAY, f"batch{i}", "answered", 2)
    assert verify_chain(log.path).ok
    return log


def _rewrite(log: TransmissionLog, change) -> None:
    lines = log.path.read_text().splitlines()
    lines = change(lines)
    log.path.write_text("\n".join(lines) + "\n")


def test_an_edited_record_is_detected(chain):
    def edit(lines):
        rec = json.loads(lines[4])
        rec["requests"][0][1] = "079999999999"  # someone rewrites whose data was sent
        lines[4] = json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
        return lines

    _rewrite(chain, edit)
    report = verify_chain(chain.path)
    assert not report.ok and any("edited" in p for p in report.problems), report.problems
    assert "079" not in report.line()  # the report names records, never personal data


def test_an_edited_record_with_a_recomputed_hash_breaks_the_next_link(chain):
    from rules.verify.audit_log import _digest

    def edit(lines):
        rec = json.loads(lines[4])
        rec["n"] = 1
        rec["hash"] = _digest(rec)
        lines[4] = json.dumps(rec)
        return lines

    _rewrite(chain, edit)
    report = verify_chain(chain.path)
    assert not report.ok and any("link" in p for p in report.problems), report.problems


def test_a_deleted_record_is_detected(chain):
    _rewrite(chain, lambda lines: lines[:3] + lines[4:])
    report = verify_chain(chain.path)
    assert not report.ok and any("seq" in p for p in report.problems), report.problems


def test_a_cut_tail_is_caught_against_the_ledger(chain):
    _rewrite(chain, lambda lines: lines[:-2])  # the last batch's records removed
    assert verify_chain(chain.path).ok  # the chain alone cannot see a clean cut ...
    sends = {f"batch{i}": 1 for i in range(6)}
    report = verify_chain(chain.path, sends)  # ... the queue's ledger can
    assert not report.ok and any("batch5" in p for p in report.problems), report.problems


def test_appends_continue_the_chain_across_handles_and_processes(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "t.jsonl"
    code = ("import sys; from rules.verify.audit_log import TransmissionLog\n"
            "log = TransmissionLog(sys.argv[1])\n"
            "for i in range(40): log.outcome('d', f'{sys.argv[2]}{i}', 'answered', 1)\n")
    root = Path(__file__).resolve().parents[2]
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), tag], cwd=root) for tag in "ab"]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    report = verify_chain(path)
    assert report.ok and report.records == 80, report.problems


@pytest.fixture
def installation(tmp_path):
    """A data folder whose queue sent batches and whose audit logged them."""
    from rules.layout import DataLayout

    where = DataLayout.at(tmp_path / "data")
    where.queue_store().parent.mkdir(parents=True)
    store = QueueStore(where.queue_store(), create=True)
    store.enqueue(requests())
    log = TransmissionLog(where.transmissions(), run_id="run-1")
    with serve(register()) as srv:
        run_day(store, DAY, QuotaPolicy(quota=30, floor_per_unit=5), client(srv.url), batch_size=10, audit=log)
    ledger = store.ledger()
    assert ledger["sends"].sum() >= 2 and set(ledger["state"]) == {"committed"}
    assert verify_chain(log.path).ok  # the ledger beside the log is found and agrees
    return log, ledger


@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_an_emptied_or_deleted_log_is_caught_against_the_ledger(installation, how):
    log, ledger = installation
    if how == "emptied":
        log.path.write_bytes(b"")
    else:
        log.path.unlink()
    # No ledger counts given: the check finds the queue of the log's own data folder.
    report = verify_chain(log.path)
    assert not report.ok, report.line()
    assert f"counts {ledger['sends'].sum()} send(s)" in report.line()
    assert ("empty" if how == "emptied" else "does not exist") in report.line()


def test_a_cut_outcome_record_is_caught_against_the_ledger(installation):
    log, _ = installation
    _rewrite(log, lambda lines: lines[:-1])  # only the last batch's outcome record removed
    report = verify_chain(log.path)
    assert not report.ok and any("no outcome record" in p for p in report.problems), report.problems
    assert "079" not in report.line()


def test_a_log_without_a_queue_beside_it_is_checked_as_a_chain(tmp_path):
    from rules.layout import DataLayout

    where = DataLayout.at(tmp_path / "data")
    log = TransmissionLog(where.transmissions())
    log.sent(DAY, "b1", 1, "host:1:x", [("r1", "079000000001")])
    log.outcome(DAY, "b1", "answered", 1)
    assert verify_chain(log.path).ok  # no queue yet: nothing to compare with
    assert verify_chain(tmp_path / "missing.jsonl").ok
