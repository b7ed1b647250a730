"""Run one national day: allocate once, dispatch in batches, commit the ledger per batch.

The steps of :func:`run_day`, each one short transaction of the queue store (any
:class:`rules.verify.queue.VerificationQueue`: the SQLite file or the national PostgreSQL queue; this
module holds the state machine, the stores hold every SQL statement):

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
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

import polars as pl

from rules import interrupts
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
from rules.verify.queue import VerificationQueue, new_owner


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
    store: VerificationQueue,
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
    owner = new_owner()
    store.check_integrity()
    store.join_day(day, owner, lease_s)
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
            store.release_day(day)
        return _report(store, day, owner, cause, detail, reused, recovered, batches, failed, sent, answered)
    except BaseException:
        # Interrupted or crashed: what this run allocated but did not send waits again, unless
        # another run of the day is still working on it.
        with interrupts.shielded():
            store.leave_day(day, owner, release=True)
        raise
    finally:
        with interrupts.shielded():
            store.leave_day(day, owner, release=False)


# -- steps (thin: the SQL of each lives in the store) ---------------------------------------------
def _recover(
    store: VerificationQueue, day: str, service: VerificationService, owner: str, lease_s: float,
    audit: TransmissionLog | None,
) -> int:
    """Re-send batches whose sender died mid-flight, with their original idempotency keys."""
    done = 0
    for batch_id, batch_day, send in store.take_orphans(owner, lease_s):
        batch = store.batch_requests(batch_id)
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


def _allocate_day(store: VerificationQueue, day: str, policy: QuotaPolicy) -> bool:
    """Persist the day's allocation once; top up its claimable requests. Returns True if reused."""
    return store.allocate_day(day, policy)


def _claim(
    store: VerificationQueue, day: str, batch_size: int, owner: str, lease_s: float
) -> tuple[str, list[Request]] | None:
    """Move up to ``batch_size`` allocated requests to ``sent`` under a new ledger row."""
    return store.claim(day, batch_size, owner, lease_s)


def _commit(
    store: VerificationQueue, batch_id: str, answers: list[Answer], audit: TransmissionLog | None = None,
    day: str = "",
) -> None:
    """Write a batch's answers (one store transaction), then record the outcome in the audit."""
    left = store.commit_batch(batch_id, answers)
    if audit is not None:
        audit.outcome(day, batch_id, "answered", len(answers), f"{left} unanswered" if left else None)


def _fail(
    store: VerificationQueue, batch_id: str, back_to: str, cause: str, *, unsent: bool = False,
    audit: TransmissionLog | None = None, day: str = "",
) -> None:
    """Return an unanswered batch's requests to waiting (``pending`` or ``failed``); ledger ``failed``.

    ``unsent``: the batch never left (its audit record could not be written), so its send is not
    counted. Runs shielded: it must finish even while the process is being stopped.
    """
    with interrupts.shielded():
        n = store.fail_batch(batch_id, back_to, cause, unsent=unsent)
    if audit is not None and not unsent:
        with contextlib.suppress(Exception):  # the send itself is already recorded
            audit.outcome(day, batch_id, "failed", n, cause)


def _report(
    store: VerificationQueue,
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
    f = store.day_figures(day, owner, cause, detail)
    per_unit = (
        store.day_allocation(day)
        .join(
            store.unit_results(day).select("unit_key", "verified", "mismatch", "not_found"), on="unit_key", how="left"
        )
        .with_columns(pl.col("verified", "mismatch", "not_found").fill_null(0))
    )
    return DayReport(
        day=day,
        quota=f["quota"],
        backlog_at_allocation=f["backlog"],
        allocated=f["allocated"],
        answered_day=f["answered"],
        sent_this_run=sent,
        answered_this_run=answered,
        unused=f["unused"],
        idle_capacity=max(0, f["quota"] - f["national_allocated"]),
        stop_cause=f["cause"] if f["unused"] else None,
        stop_detail=f["detail"],
        reused_allocation=reused,
        recovered_batches=recovered,
        batches=batches,
        failed_batches=failed,
        in_flight=f["in_flight"],
        other_live_runs=f["others"],
        per_unit=per_unit,
    )
