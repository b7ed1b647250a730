"""Run one national day: allocate once, dispatch in batches, commit the ledger per batch.

The steps of :func:`run_day`, each a short ``BEGIN IMMEDIATE`` transaction on the queue store:

1. **Recover** batches left ``sending`` by a run that died (its process is gone or its lease ran
   out): re-send them with the *same* batch id and request ids (idempotency keys), so the service
   answers them from its record instead of verifying or charging them again; then commit.
2. **Allocate** the day once (allocated-but-unsent requests of *other* days go back to waiting only
   when no run of that day is alive, so a backfill beside the daily job never takes its requests):
   the first run computes the national allocation (``rules.quota``) over
   the waiting backlog and persists it (``day_budget``, ``day_allocation``); every later or
   concurrent run of that day reuses it. Waiting requests are marked ``allocated`` up to each unit's
   allocation minus what the day already holds, oldest first, so the day's total never exceeds its
   quota however many runs there are.
3. **Dispatch**: claim up to ``batch_size`` allocated requests (-> ``sent``, ledger ``sending``),
   record them in the transmission audit (before they leave), call the service, commit the answers
   (ledger ``committed``; waiting requests identical to an answered one take its answer).
   Concurrent runs share the claims.
4. **Stop early** on :class:`QuotaExceeded` (429) or :class:`ServiceUnavailable` (outage, breaker):
   the batch's and the day's unsent requests go back to waiting, and the unused capacity is stored
   with its cause in ``day_budget`` and returned in the :class:`DayReport`. :class:`BadResponse`
   marks the batch ``failed`` (retried later) and dispatch continues, up to ``max_bad_batches`` in a row.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime

import polars as pl

from rules import interrupts
from rules.processes import process_alive
from rules.quota.allocate import allocate
from rules.quota.policy import QuotaPolicy
from rules.verify.audit_log import TransmissionLog
from rules.verify.model import (
    Answer,
    BadResponse,
    QuotaExceeded,
    Request,
    ServiceUnavailable,
    VerificationService,
)
from rules.verify.store import ANSWERED, QueueStore, backlog_frame, external_frame, reuse_for_batch

_HOST = socket.gethostname()
_RELEASE_DAY = "UPDATE requests SET state = 'pending', alloc_day = NULL WHERE alloc_day = ? AND state = 'allocated'"


@dataclass
class DayReport:
    """What one run of a day did. ``unused`` = allocated but not answered, with ``stop_cause``."""

    day: str
    quota: int
    backlog_at_allocation: int
    allocated: int
    answered_day: int  # all runs of the day so far
    sent_this_run: int
    answered_this_run: int
    unused: int
    idle_capacity: int  # quota the backlog could not use (backlog < quota)
    # None | quota_exceeded | service_unavailable | bad_response | max_batches | failed_requests
    # | audit_unavailable | interrupted
    stop_cause: str | None
    stop_detail: str = ""
    reused_allocation: bool = False
    recovered_batches: int = 0
    batches: int = 0
    failed_batches: int = 0
    in_flight: int = 0  # the day's requests still allocated or sent when this run ended
    other_live_runs: int = 0  # other runs of the same day still going (they hold the in-flight ones)
    per_unit: pl.DataFrame = field(default_factory=pl.DataFrame)

    @property
    def failed(self) -> bool:
        """The day spent less than its allocation because something failed (not because it ran out
        of work, and not because it was asked to stop after ``max_batches``)."""
        return self.unused > 0 and self.stop_cause not in (None, "max_batches")

    def line(self) -> str:
        """One summary line for the operator (counts and the cause; no personal data)."""
        text = (f"verification {self.day}: allocated {self.allocated:,} of quota {self.quota:,}, "
                f"answered {self.answered_day:,} ({self.answered_this_run:,} this run, {self.batches} batches, "
                f"{self.failed_batches} failed)")
        if self.unused:
            text += f", unused {self.unused:,}"
            if self.stop_cause:
                text += f" because {self.stop_cause}" + (f": {self.stop_detail}" if self.stop_detail else "")
        return text

    def summary(self) -> dict:
        """Counts only (safe for logs and Dagster metadata)."""
        d = asdict(self)
        d.pop("per_unit")
        return d


def today(policy: QuotaPolicy) -> date:
    """The current day in the policy's time zone (Asia/Ho_Chi_Minh): the day a run belongs to."""
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(policy.timezone)).date()


def run_day(
    store: QueueStore,
    day: date | str,
    policy: QuotaPolicy,
    service: VerificationService,
    batch_size: int = 500,
    max_batches: int | None = None,
    max_bad_batches: int = 3,
    lease_s: float = 600.0,
    audit: TransmissionLog | None = None,
) -> DayReport:
    """Run (or resume) ``day``'s dispatch; safe to call again and from several processes at once,
    also for different days at once (each day's allocated requests are its own).

    ``audit``: every batch is recorded there before it is sent and its outcome after; if the record
    cannot be written the batch is not sent (``stop_cause = audit_unavailable``).
    A stop request (SIGTERM/SIGINT, :mod:`rules.interrupts`) ends the run between two steps: the
    batch in flight goes back to waiting and :class:`rules.interrupts.Interrupted` is raised.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    day = str(day)
    owner = f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    store.check_integrity()
    _join_day(store, day, owner, lease_s)
    try:
        recovered = _recover(store, day, service, owner, lease_s, audit)
        reused = _allocate_day(store, day, policy)
        sent = answered = batches = failed = bad_in_row = 0
        cause: str | None = None
        detail = ""
        while True:
            if interrupts.stop_requested():
                raise interrupts.Interrupted(f"verification of {day}")
            if max_batches is not None and batches >= max_batches:
                cause, detail = "max_batches", f"stopped after {batches} batches as asked"
                break
            claim = _claim(store, day, batch_size, owner, lease_s)
            if claim is None:
                break
            batch_id, batch = claim
            if audit is not None:
                try:
                    audit.sent(day, batch_id, 1, owner, ((r.request_id, r.person_id) for r in batch))
                except Exception as exc:
                    _fail(store, batch_id, "pending", "audit_unavailable", unsent=True)
                    cause, detail = "audit_unavailable", str(exc)
                    break
            batches += 1
            sent += len(batch)
            try:
                answers = service.verify(batch, idempotency_key=batch_id)
            except QuotaExceeded as exc:
                _fail(store, batch_id, "pending", "quota_exceeded", audit=audit, day=day)
                failed += 1
                cause, detail = "quota_exceeded", str(exc)
                break
            except ServiceUnavailable as exc:
                _fail(store, batch_id, "failed", "service_unavailable", audit=audit, day=day)
                failed += 1
                cause, detail = "service_unavailable", str(exc)
                break
            except BadResponse as exc:
                _fail(store, batch_id, "failed", "bad_response", audit=audit, day=day)
                failed += 1
                bad_in_row += 1
                if bad_in_row >= max_bad_batches:
                    cause, detail = "bad_response", f"{bad_in_row} batches in a row answered badly: {exc}"
                    break
                continue
            except BaseException:
                _fail(store, batch_id, "failed", "client_error", audit=audit, day=day)
                raise
            bad_in_row = 0
            _commit(store, batch_id, answers, audit=audit, day=day)
            answered += len(answers)
        if cause is not None:
            _release(store, day)
        return _report(store, day, owner, cause, detail, reused, recovered, batches, failed, sent, answered)
    except BaseException:
        # Interrupted or crashed: what this run allocated but did not send waits again, unless
        # another run of the day is still working on it.
        with interrupts.shielded():
            _leave_day(store, day, owner, release=True)
        raise
    finally:
        with interrupts.shielded():
            _leave_day(store, day, owner, release=False)


# -- steps -----------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _owner_alive(owner: str) -> bool:
    host, pid, _ = owner.split(":", 2)
    if host != _HOST:
        return True  # cannot tell: rely on the lease
    return process_alive(int(pid))


def _join_day(store: QueueStore, day: str, owner: str, lease_s: float) -> None:
    """Register this run as working on ``day`` (other days then leave the day's allocation alone)."""
    with store.transaction() as con:
        con.execute("INSERT OR REPLACE INTO day_run VALUES (?, ?, ?)", (day, owner, time.time() + lease_s))


def _live_runs(con, day: str, exclude: str | None = None) -> int:
    rows = con.execute("SELECT owner, lease_until FROM day_run WHERE day = ?", (day,)).fetchall()
    return sum(1 for o, lease in rows if o != exclude and lease >= time.time() and _owner_alive(o))


def _leave_day(store: QueueStore, day: str, owner: str, release: bool) -> None:
    try:
        with store.transaction() as con:
            con.execute("DELETE FROM day_run WHERE day = ? AND owner = ?", (day, owner))
            if release and _live_runs(con, day) == 0:
                con.execute(
                    _RELEASE_DAY,
                    (day,),
                )
    except Exception:  # best effort on the way out; the next run of any day recovers
        pass


def _recover(
    store: QueueStore, day: str, service: VerificationService, owner: str, lease_s: float,
    audit: TransmissionLog | None,
) -> int:
    """Re-send batches whose sender died mid-flight, with their original idempotency keys."""
    with store.transaction() as con:
        rows = con.execute(
            "SELECT batch_id, owner, lease_until, day, sends FROM ledger WHERE state = 'sending'"
        ).fetchall()
        orphans = [(b, d, n + 1) for b, o, lease, d, n in rows if lease < time.time() or not _owner_alive(o)]
        for b, _, _ in orphans:
            con.execute(
                "UPDATE ledger SET owner = ?, lease_until = ?, sends = sends + 1 WHERE batch_id = ?",
                (owner, time.time() + lease_s, b),
            )
    done = 0
    for batch_id, batch_day, send in orphans:
        batch = _batch_requests(store, batch_id)
        if audit is not None:
            try:
                audit.sent(batch_day, batch_id, send, owner, ((r.request_id, r.person_id) for r in batch))
            except Exception:
                _fail(store, batch_id, "failed", "audit_unavailable", unsent=True)
                continue
        try:
            answers = service.verify(batch, idempotency_key=batch_id)
        except (ServiceUnavailable, QuotaExceeded, BadResponse):
            _fail(store, batch_id, "failed", "recovery_failed", audit=audit, day=batch_day)
            continue
        except BaseException:
            _fail(store, batch_id, "failed", "client_error", audit=audit, day=batch_day)
            raise
        _commit(store, batch_id, answers, audit=audit, day=batch_day)
        done += 1
    return done


def _allocate_day(store: QueueStore, day: str, policy: QuotaPolicy) -> bool:
    """Persist the day's allocation once; top up its claimable requests. Returns True if reused."""
    with store.transaction() as con:
        # Allocations of other days that were never sent go back to waiting - but only when no run
        # of that day is alive: a backfill beside the daily job must not take the other's requests.
        stale_days = [
            d for (d,) in con.execute(
                "SELECT DISTINCT alloc_day FROM requests WHERE state = 'allocated' AND alloc_day <> ?", (day,)
            ).fetchall()
        ]
        for other in stale_days:
            if _live_runs(con, other) == 0:
                con.execute(
                    _RELEASE_DAY,
                    (other,),
                )
        reused = con.execute("SELECT 1 FROM day_budget WHERE day = ?", (day,)).fetchone() is not None
        if not reused:
            # National: this store's units and the other installations' backlogs (counts) share the quota.
            external = external_frame(con, day)
            national = pl.concat([backlog_frame(con, day), external]) if external.height else backlog_frame(con, day)
            alloc = allocate(national, policy)
            con.executemany(
                "INSERT INTO day_allocation VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (day, *row)
                    for row in alloc.select("unit_key", "backlog", "oldest_wait_days", "floor", "allocated").iter_rows()
                ),
            )
            # ``allocated`` is what this installation may spend; the external units' shares are theirs.
            local = alloc.filter(~pl.col("unit_key").is_in(external["unit_key"].to_list()))
            con.execute(
                "INSERT INTO day_budget (day, quota, allocated, created_at, policy) VALUES (?, ?, ?, ?, ?)",
                (day, policy.quota, int(local["allocated"].sum()), _now(), json.dumps(asdict(policy))),
            )
        con.execute("UPDATE day_budget SET runs = runs + 1 WHERE day = ?", (day,))
        needs = con.execute(
            """
            SELECT a.unit_key, a.allocated - COALESCE(u.n, 0) AS need
            FROM day_allocation a LEFT JOIN (
                SELECT unit_key, COUNT(*) AS n FROM requests WHERE alloc_day = ? GROUP BY unit_key
            ) u ON u.unit_key = a.unit_key
            WHERE a.day = ? AND a.allocated - COALESCE(u.n, 0) > 0
              AND a.unit_key IN (SELECT unit_key FROM request_units)
            """,
            (day, day),
        ).fetchall()
        # Per unit, the oldest ``need`` waiting requests: two ordered index ranges (pending, failed)
        # read only as far as needed, so allocation costs what it allocates, not the whole backlog.
        pick = (
            "SELECT request_id FROM ("
            " SELECT * FROM (SELECT request_id, enqueued_at FROM requests WHERE state = 'pending' AND unit_key = ?1"
            "                ORDER BY enqueued_at, request_id LIMIT ?2)"
            " UNION ALL"
            " SELECT * FROM (SELECT request_id, enqueued_at FROM requests WHERE state = 'failed' AND unit_key = ?1"
            "                ORDER BY enqueued_at, request_id LIMIT ?2)"
            ") ORDER BY enqueued_at, request_id LIMIT ?2"
        )
        for unit_key, need in needs:
            ids = [(day, r[0]) for r in con.execute(pick, (unit_key, need)).fetchall()]
            con.executemany("UPDATE requests SET state = 'allocated', alloc_day = ? WHERE request_id = ?", ids)
    return reused


def _claim(
    store: QueueStore, day: str, batch_size: int, owner: str, lease_s: float
) -> tuple[str, list[Request]] | None:
    """Move up to ``batch_size`` allocated requests to ``sent`` under a new ledger row."""
    batch_id = uuid.uuid4().hex
    with store.transaction() as con:
        ids = [
            r[0]
            for r in con.execute(
                "SELECT request_id FROM requests WHERE alloc_day = ? AND state = 'allocated' "
                "ORDER BY unit_key, enqueued_at, request_id LIMIT ?",
                (day, batch_size),
            ).fetchall()
        ]
        if not ids:
            return None
        con.executemany(
            "UPDATE requests SET state = 'sent', batch_id = ?, attempts = attempts + 1 WHERE request_id = ?",
            ((batch_id, i) for i in ids),
        )
        con.execute(
            "INSERT INTO ledger (batch_id, day, n, state, owner, lease_until, created_at, sends) "
            "VALUES (?, ?, ?, 'sending', ?, ?, ?, 1)",
            (batch_id, day, len(ids), owner, time.time() + lease_s, _now()),
        )
        con.execute(
            "UPDATE day_run SET lease_until = ? WHERE day = ? AND owner = ?", (time.time() + lease_s, day, owner)
        )
    return batch_id, _batch_requests(store, batch_id)


def _batch_requests(store: QueueStore, batch_id: str) -> list[Request]:
    with store.connect() as con:
        rows = con.execute(
            "SELECT request_id, person_id, full_name, date_of_birth, gender FROM requests "
            "WHERE batch_id = ? AND +state = 'sent' ORDER BY request_id",
            (batch_id,),
        ).fetchall()
    return [Request(*row) for row in rows]


def _commit(
    store: QueueStore, batch_id: str, answers: list[Answer], audit: TransmissionLog | None = None, day: str = ""
) -> None:
    """Write a batch's answers and mark its ledger row committed, in one transaction.

    A request the service left unanswered (a service that answers only part of a batch) goes back
    to ``failed`` rather than staying ``sent`` for ever.
    """
    with store.transaction() as con:
        con.executemany(
            "UPDATE requests SET state = ?, status = ?, differing_fields = ?, answered_at = ? "
            "WHERE request_id = ? AND batch_id = ? AND state = 'sent'",
            ((a.status, a.status, a.differing_fields, a.answered_at, a.request_id, batch_id) for a in answers),
        )
        left = con.execute(
            "UPDATE requests SET state = 'failed', alloc_day = NULL, batch_id = NULL "
            "WHERE batch_id = ? AND +state = 'sent'",
            (batch_id,),
        ).rowcount
        con.execute(
            "UPDATE ledger SET state = 'committed', finished_at = ?, cause = ? WHERE batch_id = ?",
            (_now(), f"{left} unanswered" if left else None, batch_id),
        )
        reuse_for_batch(con, batch_id)
    if audit is not None:
        audit.outcome(day, batch_id, "answered", len(answers), f"{left} unanswered" if left else None)


def _fail(
    store: QueueStore, batch_id: str, back_to: str, cause: str, *, unsent: bool = False,
    audit: TransmissionLog | None = None, day: str = "",
) -> None:
    """Return an unanswered batch's requests to waiting (``pending`` or ``failed``); ledger ``failed``.

    ``unsent``: the batch never left (its audit record could not be written), so its send is not
    counted. Runs shielded: it must finish even while the process is being stopped.
    """
    with interrupts.shielded(), store.transaction() as con:
        n = con.execute(
            "UPDATE requests SET state = ?, alloc_day = NULL, batch_id = NULL WHERE batch_id = ? AND +state = 'sent'",
            (back_to, batch_id),
        ).rowcount
        con.execute(
            "UPDATE ledger SET state = 'failed', finished_at = ?, cause = ?, sends = sends - ? WHERE batch_id = ?",
            (_now(), cause, 1 if unsent else 0, batch_id),
        )
    if audit is not None and not unsent:
        with contextlib.suppress(Exception):  # the send itself is already recorded
            audit.outcome(day, batch_id, "failed", n, cause)


def _release(store: QueueStore, day: str) -> None:
    """The day stopped early: its allocated-but-unsent requests wait again (nothing is dropped)."""
    with store.transaction() as con:
        con.execute(
            "UPDATE requests SET state = 'pending', alloc_day = NULL WHERE state = 'allocated' AND alloc_day = ?",
            (day,),
        )


def _report(
    store: QueueStore,
    day: str,
    owner: str,
    cause: str | None,
    detail: str,
    reused: bool,
    recovered: int,
    batches: int,
    failed: int,
    sent: int,
    answered: int,
) -> DayReport:
    with store.transaction() as con:
        quota, allocated = con.execute("SELECT quota, allocated FROM day_budget WHERE day = ?", (day,)).fetchone()
        backlog, national_allocated = con.execute(
            "SELECT COALESCE(SUM(backlog), 0), COALESCE(SUM(allocated), 0) FROM day_allocation WHERE day = ? "
            "AND unit_key NOT IN (SELECT unit_key FROM external_backlog WHERE day = ?)",
            (day, day),
        ).fetchone()
        national_allocated += con.execute(
            "SELECT COALESCE(SUM(a.allocated), 0) FROM day_allocation a JOIN external_backlog e "
            "ON e.day = a.day AND e.unit_key = a.unit_key WHERE a.day = ?",
            (day,),
        ).fetchone()[0]
        done = con.execute(
            f"SELECT COUNT(*) FROM requests WHERE alloc_day = ? AND state IN {ANSWERED}", (day,)
        ).fetchone()[0]
        unused = allocated - done
        in_flight = con.execute(
            "SELECT COUNT(*) FROM requests WHERE alloc_day = ? AND state IN ('allocated', 'sent')", (day,)
        ).fetchone()[0]
        if cause is None and unused > in_flight:
            # badly answered or unanswered requests went back to waiting: a re-run of the day (or the
            # next day) sends them again
            cause = "failed_requests"
            detail = detail or f"{unused - in_flight} allocated requests failed and wait for a re-run"
        con.execute(
            "UPDATE day_budget SET stop_cause = ?, unused = ?, stop_detail = ? WHERE day = ?",
            (cause if unused else None, unused, (detail or None) if unused else None, day),
        )
        others = _live_runs(con, day, exclude=owner)
    per_unit = (
        store.day_allocation(day)
        .join(
            store.unit_results(day).select("unit_key", "verified", "mismatch", "not_found"), on="unit_key", how="left"
        )
        .with_columns(pl.col("verified", "mismatch", "not_found").fill_null(0))
    )
    return DayReport(
        day=day,
        quota=quota,
        backlog_at_allocation=int(backlog),
        allocated=allocated,
        answered_day=done,
        sent_this_run=sent,
        answered_this_run=answered,
        unused=unused,
        idle_capacity=max(0, quota - national_allocated),
        stop_cause=cause if unused else None,
        stop_detail=detail,
        reused_allocation=reused,
        recovered_batches=recovered,
        batches=batches,
        failed_batches=failed,
        in_flight=in_flight,
        other_live_runs=others,
        per_unit=per_unit,
    )
