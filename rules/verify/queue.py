"""The verification queue's interface: what the daily dispatcher and the assets ask of a queue store.

Two stores implement it: :class:`rules.verify.store.QueueStore` (SQLite, one file per installation,
the embedded default of ``make demo``/``make test``) and :class:`rules.verify.pg_store.PgQueueStore`
(one national PostgreSQL database shared by every installation). :func:`open_queue` picks one from a
location: a ``postgresql://`` URL or a file path. The dispatcher (``rules.verify.dispatch``) speaks
only this interface, so it imports no store and no store imports it.

Owners: each run of a day is ``host:pid:random``; a run whose process is gone on this host (or whose
lease ran out, for other hosts) is dead, and its in-flight batches are re-sent by the next run.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import polars as pl

from rules.errors import UserError
from rules.processes import process_alive
from rules.quota.policy import QuotaPolicy
from rules.verify.model import Answer, Request

WAITING = ("pending", "failed")
ANSWERED = ("verified", "mismatch", "not_found")
HOST = socket.gethostname()
REQUEST_COLUMNS = (
    "request_id",
    "province",
    "sector",
    "unit",
    "person_id",
    "full_name",
    "date_of_birth",
    "gender",
    "enqueued_at",
)
LINEAGE_COLUMNS = ("file_sha256", "sheet", "row_number")
PERSONAL_COLUMNS = ("person_id", "full_name", "date_of_birth", "gender")
BACKLOG_SCHEMA = {
    "unit_key": pl.Utf8,
    "backlog": pl.Int64,
    "oldest_wait_days": pl.Float64,
    "days_since_served": pl.Float64,
}


class StoreError(UserError, RuntimeError):
    """The queue store is missing, corrupt, of another kind, busy or unreachable; the message says what to do."""


def new_owner() -> str:
    """A run's owner id: ``host:pid:random`` (no personal data)."""
    return f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool:
    """False only when ``owner`` ran on this host and its process is gone (other hosts: the lease decides)."""
    host, pid, _ = owner.split(":", 2)
    if host != HOST:
        return True
    return process_alive(int(pid))


@runtime_checkable
class VerificationQueue(Protocol):
    """The operations of a verification queue store (both stores; shapes as in ``store.QueueStore``).

    Every write is one transaction; a day's total sent never exceeds its allocation however many
    runs of the day (processes, hosts) share it.
    """

    # -- the daily dispatcher's steps (rules.verify.dispatch.run_day) --
    def check_integrity(self) -> None: ...
    def join_day(self, day: str, owner: str, lease_s: float) -> None: ...
    def leave_day(self, day: str, owner: str, release: bool) -> None: ...
    def take_orphans(self, owner: str, lease_s: float) -> list[tuple[str, str, int]]:
        """Batches left ``sending`` by dead runs, now owned by ``owner``: ``(batch_id, day, send_number)``."""
        ...
    def allocate_day(self, day: str, policy: QuotaPolicy) -> bool:
        """Persist ``day``'s national allocation once (True if it existed) and mark its requests allocated."""
        ...
    def claim(self, day: str, batch_size: int, owner: str, lease_s: float) -> tuple[str, list[Request]] | None: ...
    def batch_requests(self, batch_id: str) -> list[Request]: ...
    def commit_batch(self, batch_id: str, answers: list[Answer]) -> int:
        """Write the answers; returns how many of the batch's requests were left unanswered (-> failed)."""
        ...
    def fail_batch(self, batch_id: str, back_to: str, cause: str, unsent: bool = False) -> int: ...
    def release_day(self, day: str) -> None: ...
    def day_figures(self, day: str, owner: str, cause: str | None, detail: str) -> dict[str, Any]: ...

    # -- the assets and commands --
    def enqueue(self, requests: pl.DataFrame) -> int: ...
    def withdraw_superseded(self, current_files: set[str]) -> int: ...
    def backlog_by_unit(self, day: date | str | None = None) -> pl.DataFrame: ...
    def state_counts(self) -> dict[str, int]: ...
    def total_requests(self) -> int: ...
    def requests(self, personal_data: bool = True, day: date | str | None = None) -> pl.DataFrame: ...
    def results(self, day: date | str | None = None) -> pl.DataFrame: ...
    def unit_results(self, day: date | str | None = None) -> pl.DataFrame: ...
    def ledger(self) -> pl.DataFrame: ...
    def day_budgets(self) -> pl.DataFrame: ...
    def day_status(self, day: date | str) -> dict[str, Any] | None: ...
    def day_allocation(self, day: date | str) -> pl.DataFrame: ...
    def reused_answers(self) -> int: ...
    def close(self) -> None: ...


def is_url(location: str | Path) -> bool:
    return str(location).startswith(("postgresql://", "postgres://", "postgresql+psycopg2://"))


def open_queue(location: str | Path, create: bool = False, provinces: Iterable[str] | None = None) -> VerificationQueue:
    """The queue store at ``location``: a ``postgresql://user@host:port/db`` URL (the national queue;
    ``provinces`` limits what this installation claims) or a SQLite file path (the embedded default)."""
    if is_url(location):
        from rules.verify.pg_store import PgQueueStore

        return PgQueueStore(str(location), create=create, provinces=provinces)
    from rules.verify.store import QueueStore

    return QueueStore(location, create=create)


QUEUE_URL_ENV = "DOISOAT_QUEUE_URL"


def unit_results_frame(answered: pl.DataFrame, waiting: pl.DataFrame) -> pl.DataFrame:
    """Both stores' ``unit_results``: per-unit answers (``unit_key, verified, mismatch, not_found``)
    beside the waiting count (``unit_key, waiting``), zero where a unit has none of one side."""
    return (
        answered.join(waiting, on="unit_key", how="full", coalesce=True)
        .with_columns(pl.col("verified", "mismatch", "not_found", "waiting").fill_null(0))
        .sort("unit_key")
    )


def shown_location(location: str | Path) -> str:
    """The queue's location as it may be printed: a URL without its password, a file path as is."""
    if not is_url(location):
        return str(location)
    from urllib.parse import urlsplit

    parts = urlsplit(str(location))
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{parts.hostname}:{parts.port or 5432}{parts.path}"


def queue_location(default: str | Path) -> str | Path:
    """The configured queue: ``$DOISOAT_QUEUE_URL`` (``postgresql://user@host:port/db``, the national
    queue; deploy/README.md) when set, else the SQLite file ``default`` (the embedded default)."""
    url = os.environ.get(QUEUE_URL_ENV, "").strip()
    if url and not is_url(url):
        raise StoreError(f"{QUEUE_URL_ENV} must be a postgresql:// URL (or unset for the local SQLite queue)")
    return url or default
