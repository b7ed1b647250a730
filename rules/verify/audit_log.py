"""The transmission audit: every batch of personal data sent to the verification service, recorded
*before* it is sent, in an append-only, hash-chained JSON Lines file.

Why: Decree 13/2023 requires a record of every transfer of personal data. The old per-run audit
was written after the day, from the requests that ended the day answered, so a batch that was sent
but then failed (an outage, a 429, a bad answer: the data had left the machine) was never recorded.
Here the record is appended and flushed to disk before the HTTP call, and the outcome follows as a
second record.

Tamper evidence: each record carries ``seq`` (1, 2, ...), ``prev`` (the previous record's ``hash``,
64 zeros for the first) and its own ``hash`` = SHA-256 of the canonical JSON of the record without
``hash``. Editing a record changes its hash; deleting one breaks the next record's ``prev`` and the
``seq`` run; a cut tail, an emptied or a deleted log is caught by :func:`verify_chain` against the
queue's ledger (every send the ledger counts must be in the log, and every batch the ledger says ended
must have its outcome record after its send). Appends from several processes (two days at once) are
serialised with an exclusive ``flock`` on the file, so the chain stays linear.

Records (personal data: operators only, file ``0600``)::

    {"seq", "prev", "hash", "at", "event": "sent", "day", "batch_id", "send": 1, "owner", "run_id",
     "n", "requests": [[request_id, person_id], ...]}
    {"seq", "prev", "hash", "at", "event": "answered" | "failed", "day", "batch_id", "n", "cause"}
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rules.private import private_file

GENESIS = "0" * 64


class AuditError(RuntimeError):
    """The audit log cannot be written (the batch is then not sent) or is unreadable."""


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class TransmissionLog:
    """Append-only hash-chained log at ``path`` (created owner-only)."""

    def __init__(self, path: str | Path, run_id: str | None = None) -> None:
        self.path = Path(path)
        self.run_id = run_id

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Append one record (``seq``, ``prev``, ``hash``, ``at`` are added) and fsync it."""
        try:
            private_file(self.path)
            with open(self.path, "r+b") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    last = _last_record(fh)
                    full = {
                        **record,
                        "seq": (last["seq"] + 1) if last else 1,
                        "prev": last["hash"] if last else GENESIS,
                        "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                        "run_id": record.get("run_id", self.run_id),
                    }
                    full["hash"] = _digest(full)
                    fh.seek(0, os.SEEK_END)
                    fh.write(json.dumps(full, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")
                    fh.flush()
                    os.fsync(fh.fileno())
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        except OSError as exc:
            raise AuditError(
                f"cannot append to the transmission audit {self.path} ({exc.strerror or exc}); "
                "nothing was sent: free the disk or fix the folder's permissions and run again"
            ) from None
        return full

    def sent(self, day: str, batch_id: str, send: int, owner: str, requests: Iterable[tuple[str, str]]) -> None:
        """Record a batch about to be sent: its request ids and the person ids they carry."""
        pairs = [list(p) for p in requests]
        self.append({"event": "sent", "day": day, "batch_id": batch_id, "send": send, "owner": owner,
                     "n": len(pairs), "requests": pairs})

    def outcome(self, day: str, batch_id: str, event: str, n: int, cause: str | None = None) -> None:
        self.append({"event": event, "day": day, "batch_id": batch_id, "n": n, "cause": cause})


def _last_record(fh) -> dict[str, Any] | None:
    """The last complete line of the file (read backwards: constant cost however long the log)."""
    fh.seek(0, os.SEEK_END)
    end = fh.tell()
    if end == 0:
        return None
    chunk, pos, tail = 1 << 16, end, b""
    while pos > 0:
        step = min(chunk, pos)
        pos -= step
        fh.seek(pos)
        tail = fh.read(step) + tail
        lines = tail.rstrip(b"\n").split(b"\n")
        if len(lines) > 1 or pos == 0:
            try:
                return json.loads(lines[-1])
            except ValueError:
                raise AuditError(f"the transmission audit {fh.name} ends with a damaged record; run "
                                 "`doisoat verify-audit` and restore it from a backup") from None
    return None


def records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every record in order (a damaged line is yielded as ``{"_damaged": line_number}``)."""
    with open(path, "rb") as fh:
        for number, line in enumerate(fh, 1):
            try:
                yield json.loads(line)
            except ValueError:
                yield {"_damaged": number}


@dataclass
class ChainReport:
    """Result of :func:`verify_chain`: ``ok``, records checked, and the problems (counts, no personal data)."""

    ok: bool
    records: int
    sends: int
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.ok:
            return f"audit chain intact: {self.records:,} records, {self.sends:,} batch sends"
        more = f" (+{len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        return f"audit chain BROKEN: {'; '.join(self.problems[:3])}{more}"


ENDED = ("committed", "failed")  # ledger states of a batch whose outcome the audit must hold
OUTCOMES = ("answered", "failed")  # audit events closing a batch's send


def verify_chain(path: str | Path, ledger_sends: dict[str, int] | None = None, *,
                 ledger: Any = None) -> ChainReport:
    """Recompute every hash and link, and check the log's end against the queue's ledger (a hash chain
    alone cannot see a clean cut of its tail, nor an emptied or deleted log).

    ``ledger``: the queue's ledger (a frame with ``batch_id, state, sends, created_at``); by default that
    of the installation the log belongs to (:func:`installation_ledger`: the SQLite queue of the same data
    folder), so the comparison runs whenever there is a queue, also when the log is empty or missing.
    ``ledger_sends`` (batch id -> sends) adds counts a caller read itself. Checked: every send the ledger
    counts is in a ``sent`` record, and every batch the ledger says ended (committed / failed) after a
    send has an outcome record after its last send (else the log's last records were cut)."""
    path = Path(path)
    if ledger is None:
        ledger = installation_ledger(path)
    problems: list[str] = []
    prev, expected_seq, n, sends = GENESIS, 1, 0, 0
    seen: dict[str, int] = {}
    last_event: dict[str, str] = {}
    first_at = ""
    for rec in records(path) if path.exists() else ():
        n += 1
        if "_damaged" in rec:
            problems.append(f"line {rec['_damaged']} is not a record")
            continue
        if n == 1:
            first_at = str(rec.get("at") or "")
        seq = rec.get("seq")
        if seq != expected_seq:
            problems.append(f"record {n}: seq {seq} where {expected_seq} was expected (records deleted or reordered)")
        if rec.get("prev") != prev:
            problems.append(f"record {n} (seq {seq}): link to the previous record is broken")
        if _digest(rec) != rec.get("hash"):
            problems.append(f"record {n} (seq {seq}): content does not match its hash (edited)")
        prev = rec.get("hash", "")
        expected_seq = (seq if isinstance(seq, int) else expected_seq) + 1
        batch = str(rec.get("batch_id", ""))
        last_event[batch] = str(rec.get("event", ""))
        if rec.get("event") == "sent":
            sends += 1
            seen[batch] = seen.get(batch, 0) + 1
    expected, ended = _ledger_expectations(ledger, first_at, set(seen))
    for batch, count in (ledger_sends or {}).items():
        expected[batch] = max(expected.get(batch, 0), count)
    if n == 0 and (missing := sum(expected.values())):
        state = "is empty" if path.exists() else "does not exist"
        problems.append(f"the audit log {state} but the queue's ledger counts {missing} send(s)")
    else:
        for batch, count in expected.items():
            if seen.get(batch, 0) < count:
                problems.append(f"batch {batch[:8]}: the ledger counts {count} send(s), the audit {seen.get(batch, 0)}")
        for batch, state in ended.items():
            if seen.get(batch, 0) and last_event.get(batch) not in OUTCOMES:
                problems.append(f"batch {batch[:8]}: the ledger says it ended ({state}), the audit has no outcome "
                                "record after its send (the log's last records were cut, or the outcome could "
                                "not be written)")
    return ChainReport(ok=not problems, records=n, sends=sends, problems=problems)


def _ledger_expectations(ledger: Any, first_at: str, logged: set[str]) -> tuple[dict[str, int], dict[str, str]]:
    """From the ledger: sends per batch, and the state of batches that ended after a send. A log with
    records covers the batches created since its first record (a queue older than the audit has earlier,
    unrecorded ones) and those it names; an empty or missing log covers every batch."""
    if ledger is None or ledger.height == 0:
        return {}, {}
    import polars as pl

    if first_at:
        ledger = ledger.filter((pl.col("created_at") >= first_at) | pl.col("batch_id").is_in(list(logged)))
    rows = ledger.select("batch_id", "state", "sends").iter_rows()
    expected, ended = {}, {}
    for batch, state, count in rows:
        if count:
            expected[batch] = int(count)
            if state in ENDED:
                ended[batch] = state
    return expected, ended


def installation_ledger(log: str | Path) -> Any:
    """The ledger of the queue beside ``log`` when ``log`` is an installation's transmission audit
    (``<data>/operator/audit/transmissions.jsonl``, ``rules.layout``) and its queue is the SQLite file of
    the same data folder; else None (a log elsewhere, no queue yet, or the national PostgreSQL queue,
    whose ledger holds every installation's batches)."""
    from rules.layout import DataLayout
    from rules.verify.queue import is_url, queue_location

    log = Path(log).resolve()
    if len(log.parents) < 3:
        return None
    where = DataLayout.at(log.parents[2])
    if where.transmissions() != log:
        return None
    store = where.queue_store()
    if is_url(queue_location(store)) or not store.exists():
        return None
    from rules.verify.store import QueueStore

    return QueueStore(store).ledger()
