"""The durable verification queue: one SQLite file holding requests, day budgets and the batch ledger.

Why SQLite (stdlib) rather than DuckDB or Parquet: the queue's hard promises are about concurrent and
interrupted writers. SQLite in WAL mode with ``BEGIN IMMEDIATE`` serialises writers *across
processes*, so two runs of the same day that start at once take turns on the day's budget and can
never both spend it; every batch claim and every batch result is one committed transaction, so a
``kill -9`` loses at most an in-flight batch, which the ledger names and the next run re-sends with
the same idempotency keys. DuckDB allows one writing process per file (a second run would fail to
open it) and Parquet has no transactions. The store is small (counts and request fields); analysts
get results through the lake/warehouse, never this file. Only the national daily job writes it.

Tables: ``requests`` (one row per request, its state and answer), ``day_budget`` (one row per day:
the quota and what was allocated, why capacity went unused), ``day_allocation`` (the persisted
per-unit allocation of a day, so a re-run reuses it), ``ledger`` (one row per batch: ``sending`` ->
``committed`` | ``failed``, with owner and lease for crash recovery), ``day_run`` (the live runs of
each day, so another day's run never takes a running day's allocation), ``request_files`` /
``request_units`` (the distinct files and units, so withdrawal and external backlogs never scan the
requests), ``meta`` (schema version).

Scale (issue 11): every operation is an index lookup or an ordered index range over the rows it
changes - new requests, a superseded file's waiting rows, a unit's oldest waiting rows, a batch -
never a scan of the answered history, which grows by the day's quota every day. Only the day's
allocation counts the waiting backlog per unit (linear, once a day). ``benchmarks/bench_queue.py``
measures it; ``tests/rules/test_verify_scaling.py`` pins it by query plans and VM steps. A
SIGTERM/SIGINT aborts a running statement within milliseconds (``rules.interrupts``); its
transaction is rolled back. The file and its WAL are owner-only (``0600``).

Request states: ``pending -> allocated -> sent -> verified | mismatch | not_found``; a batch that
could not be answered goes ``sent -> failed``, and ``failed`` requests wait like ``pending`` ones
(they are retried by a later allocation). A waiting request whose upload was superseded by a
corrected file becomes ``withdrawn`` (kept, never sent), and one that asks exactly what an answered
request asked takes that answer without being sent (``batch_id = 'reused'``). Messages never contain
personal data.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from rules import interrupts
from rules.clock import vietnam_today
from rules.private import private_dir, private_file
from rules.quota.allocate import allocate
from rules.quota.policy import QuotaPolicy
from rules.verify.model import Answer, Request
from rules.verify.queue import (  # the columns are the queue's (both stores), re-exported here
    ANSWERED,
    BACKLOG_SCHEMA,
    LINEAGE_COLUMNS,
    PERSONAL_COLUMNS,
    REQUEST_COLUMNS,
    WAITING,
    StoreError,
    owner_alive,
    unit_results_frame,
)

SCHEMA_VERSION = "1"
APP_ID = "doisoat-verification-queue"
_RELEASE_DAY = "UPDATE requests SET state = 'pending', alloc_day = NULL WHERE alloc_day = ? AND state = 'allocated'"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, province TEXT NOT NULL, sector TEXT NOT NULL, unit TEXT NOT NULL,
    unit_key TEXT NOT NULL, person_id TEXT NOT NULL, full_name TEXT, date_of_birth TEXT, gender TEXT,
    enqueued_at TEXT NOT NULL, file_sha256 TEXT, sheet TEXT, row_number INTEGER,
    state TEXT NOT NULL DEFAULT 'pending', alloc_day TEXT, batch_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, status TEXT, differing_fields TEXT, answered_at TEXT
);
CREATE TABLE IF NOT EXISTS day_budget (
    day TEXT PRIMARY KEY, quota INTEGER NOT NULL, allocated INTEGER NOT NULL, created_at TEXT NOT NULL,
    policy TEXT NOT NULL, runs INTEGER NOT NULL DEFAULT 0, stop_cause TEXT, unused INTEGER
);
CREATE TABLE IF NOT EXISTS day_allocation (
    day TEXT NOT NULL, unit_key TEXT NOT NULL, backlog INTEGER NOT NULL, oldest_wait_days REAL NOT NULL,
    floor INTEGER NOT NULL, allocated INTEGER NOT NULL, PRIMARY KEY (day, unit_key)
);
CREATE INDEX IF NOT EXISTS day_allocation_unit ON day_allocation (unit_key, day);
CREATE TABLE IF NOT EXISTS external_backlog (
    day TEXT NOT NULL, unit_key TEXT NOT NULL, backlog INTEGER NOT NULL, oldest_wait_days REAL NOT NULL,
    PRIMARY KEY (day, unit_key)
);
CREATE TABLE IF NOT EXISTS ledger (
    batch_id TEXT PRIMARY KEY, day TEXT NOT NULL, n INTEGER NOT NULL, state TEXT NOT NULL,
    owner TEXT NOT NULL, lease_until REAL NOT NULL, created_at TEXT NOT NULL, finished_at TEXT,
    sends INTEGER NOT NULL DEFAULT 0, cause TEXT
);
"""

# Added after schema 1 shipped; created (idempotently) on every open, so old stores gain them.
# Every queue operation is one of these index lookups or ordered range scans (issue 11: the day
# after a big day was quadratic): waiting requests by unit in allocation order, a day's requests in
# claim order, a person's identical requests (answer reuse), a file's requests (withdrawal).
# The person and batch indexes do not carry ``state``, so a state change rewrites fewer index pages
# (at millions of rows every page touched is a cache miss); the day index holds only rows allocated
# to a day; statements that reach rows by batch write ``+state`` so the planner keeps to that index.
_INDEXES = """
DROP INDEX IF EXISTS requests_waiting;
DROP INDEX IF EXISTS requests_day;
DROP INDEX IF EXISTS requests_batch_state;
DROP INDEX IF EXISTS requests_day_order;
DROP INDEX IF EXISTS requests_twin;
DROP INDEX IF EXISTS requests_file;
DROP INDEX IF EXISTS requests_of_file;
CREATE INDEX IF NOT EXISTS requests_batch ON requests (batch_id);
CREATE INDEX IF NOT EXISTS requests_queue ON requests (state, unit_key, enqueued_at, request_id);
CREATE INDEX IF NOT EXISTS requests_of_day ON requests (alloc_day, state, unit_key, enqueued_at, request_id)
    WHERE alloc_day IS NOT NULL;
CREATE INDEX IF NOT EXISTS requests_person ON requests (person_id, full_name, date_of_birth, gender);
CREATE INDEX IF NOT EXISTS requests_file_state ON requests (file_sha256, state);
CREATE TABLE IF NOT EXISTS request_files (file_sha256 TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS request_units (unit_key TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS day_run (
    day TEXT NOT NULL, owner TEXT NOT NULL, lease_until REAL NOT NULL, PRIMARY KEY (day, owner)
);
"""
_BACKFILL = """
INSERT OR IGNORE INTO request_files SELECT DISTINCT file_sha256 FROM requests WHERE file_sha256 IS NOT NULL;
INSERT OR IGNORE INTO request_units SELECT DISTINCT unit_key FROM requests;
"""
# Scratch tables of one transaction (per connection, never on disk with the queue).
_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS touched (request_id TEXT PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS reuse (rid TEXT PRIMARY KEY, twin TEXT NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS current_files (sha TEXT PRIMARY KEY);
"""


_EXTERNAL_SCHEMA = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS external_backlog") :].split(";")[0]
_ADDED_COLUMNS = {("day_budget", "stop_detail"): "TEXT"}



def backlog_frame(con: sqlite3.Connection, day: str) -> pl.DataFrame:
    """The waiting backlog per unit as of ``day`` (shared by the store and the dispatcher's allocation)."""
    rows = con.execute(
        "SELECT r.unit_key, COUNT(*), "
        "MAX(0.0, julianday(?) - julianday(substr(MIN(r.enqueued_at), 1, 10))), "
        "(SELECT MAX(0.0, julianday(?) - julianday(MAX(a.day))) FROM day_allocation a "
        " WHERE a.unit_key = r.unit_key AND a.allocated > 0 AND a.day < ?) "
        f"FROM requests r WHERE r.state IN {WAITING} GROUP BY r.unit_key ORDER BY r.unit_key",
        (day, day, day),
    ).fetchall()
    return pl.DataFrame(rows, schema=BACKLOG_SCHEMA, orient="row")


def _reuse_answers(con: sqlite3.Connection) -> int:
    """Waiting requests listed in the temp table ``touched`` that ask exactly what an answered
    request already asked (same person, name, birth date and gender: a corrected file's unchanged
    rows, a re-sent list) take the latest such answer at once (``batch_id = 'reused'``, no allocation
    day): the national quota is never spent twice on it. Empties ``touched``.

    Cost: one ``requests_person`` index probe per touched request, so an enqueue costs what it adds,
    not what the store already holds (the old window over every answered request was quadratic
    across days).
    """
    con.execute("DELETE FROM reuse")
    con.execute(
        f"""
        INSERT INTO reuse (rid, twin)
        SELECT rid, twin FROM (
            SELECT w.request_id AS rid, (
                SELECT a.request_id FROM requests a
                WHERE a.person_id = w.person_id AND a.full_name IS w.full_name
                  AND a.date_of_birth IS w.date_of_birth AND a.gender IS w.gender AND a.state IN {ANSWERED}
                ORDER BY a.answered_at DESC, a.request_id LIMIT 1
            ) AS twin
            FROM touched t CROSS JOIN requests w ON w.request_id = t.request_id  -- CROSS: touched drives
            WHERE w.state IN {WAITING}
        ) WHERE twin IS NOT NULL
        """
    )
    reused = con.execute(
        """
        UPDATE requests SET (state, status, differing_fields, answered_at, batch_id) = (
            SELECT a.state, a.status, a.differing_fields, a.answered_at, 'reused'
            FROM reuse x JOIN requests a ON a.request_id = x.twin WHERE x.rid = requests.request_id
        )
        WHERE request_id IN (SELECT rid FROM reuse)
        """
    ).rowcount
    con.execute("DELETE FROM touched")
    con.execute("DELETE FROM reuse")
    return reused


def reuse_for_batch(con: sqlite3.Connection, batch_id: str) -> int:
    """After a batch is answered: waiting requests identical to one of its requests take its answer
    (a twin enqueued while the first was in flight). Index probes per batch request only."""
    con.execute("DELETE FROM touched")
    con.execute(
        f"""
        INSERT OR IGNORE INTO touched
        SELECT w.request_id FROM requests b CROSS JOIN requests w
          ON w.person_id = b.person_id AND w.full_name IS b.full_name AND w.date_of_birth IS b.date_of_birth
         AND w.gender IS b.gender AND w.state IN {WAITING}
        WHERE b.batch_id = ? AND +b.state IN {ANSWERED}
        """,
        (batch_id,),
    )
    return _reuse_answers(con)


def external_frame(con: sqlite3.Connection, day: str) -> pl.DataFrame:
    """Backlogs of units dispatched by other installations, as counts, for ``day``'s national allocation."""
    rows = con.execute(
        "SELECT unit_key, backlog, oldest_wait_days, NULL FROM external_backlog WHERE day = ? AND backlog > 0 "
        "ORDER BY unit_key",
        (day,),
    ).fetchall()
    return pl.DataFrame(rows, schema=BACKLOG_SCHEMA, orient="row")


class QueueStore:
    """Handle on the queue file (the SQLite :class:`rules.verify.queue.VerificationQueue`). Cheap to
    create; each thread keeps its own connection.

    ``QueueStore(path, create=True)`` creates a new store; without ``create`` a missing file is an
    error (a silently new, empty queue would hide lost state).
    """

    def __init__(self, path: str | Path, create: bool = False, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        if not self.path.exists():
            if not create:
                raise StoreError(
                    f"queue store {self.path} not found; create it (QueueStore(path, create=True) / run the "
                    "daily job once) or point the configuration at the existing store"
                )
            private_file(self.path)  # owner-only before SQLite writes a byte (it copies the mode to -wal/-shm)
            with self.connect() as con:
                con.execute("PRAGMA journal_mode=WAL")
                con.executescript(_SCHEMA)
                con.execute("INSERT OR IGNORE INTO meta VALUES ('app', ?), ('schema', ?)", (APP_ID, SCHEMA_VERSION))
        else:
            private_dir(self.path.parent)  # stores written before issue 11 were world-readable
            private_file(self.path)
        self._check()
        self._migrate()

    def _migrate(self) -> None:
        """Bring a schema-1 store up to date: later tables, columns and indexes (idempotent)."""
        with self.transaction() as con:
            con.execute(_EXTERNAL_SCHEMA)
            fresh = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'request_files'").fetchone() is None
            for statement in _INDEXES.split(";"):
                if statement.strip():
                    con.execute(statement)
            if fresh:
                for statement in _BACKFILL.split(";"):
                    if statement.strip():
                        con.execute(statement)
            for (table, column), kind in _ADDED_COLUMNS.items():
                names = {r[1] for r in con.execute(f"PRAGMA table_info({table})").fetchall()}
                if column not in names:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                private_file(side)

    # -- connections -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """This thread's autocommit connection (transactions are explicit: see :meth:`transaction`).

        Kept open for the life of the handle: closing the last connection checkpoints the WAL,
        which per batch would cost more than the batch itself.
        """
        con = getattr(self._local, "con", None)
        if con is None or self._local.pid != os.getpid():  # a forked child needs its own connection
            try:
                con = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
                con.execute("PRAGMA synchronous=NORMAL")
                con.execute("PRAGMA wal_autocheckpoint=20000")  # ~80 MB: checkpoint rarely, not per batch
                con.execute("PRAGMA cache_size=-131072")  # up to 128 MB of pages: indexes stay in memory
                con.execute("PRAGMA mmap_size=8589934592")  # reads straight from the OS cache, no copies
                con.execute("PRAGMA temp_store=MEMORY")
                con.executescript(_TEMP)
                interrupts.watch(con)  # SIGTERM/SIGINT abort a long statement (rolled back)
            except sqlite3.DatabaseError as exc:
                raise self._wrap(exc) from None
            self._local.con, self._local.pid = con, os.getpid()
        try:
            yield con
        except sqlite3.DatabaseError as exc:
            if interrupts.is_interrupt(exc):
                raise interrupts.Interrupted("the verification queue step") from None
            raise self._wrap(exc) from None

    def close(self) -> None:
        """Close this thread's connection (optional; a new one opens on the next operation)."""
        con = getattr(self._local, "con", None)
        if con is not None and self._local.pid == os.getpid():
            con.close()
        self._local.con = None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``: takes the write lock first, so writers never interleave."""
        with self.connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                # An interrupted write statement has already rolled its transaction back.
                if con.in_transaction:
                    with interrupts.shielded():
                        con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _wrap(self, exc: sqlite3.DatabaseError) -> StoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(
                f"queue store {self.path} stayed locked by another run for "
                f"{self.busy_timeout_s:.0f} s; wait for it to finish and run again"
            )
        if "not a database" in text or "malformed" in text or "no such table" in text:
            return StoreError(
                f"queue store {self.path} is corrupt or not a doisoat queue ({text}); "
                "restore it from a backup or move it away and re-enqueue"
            )
        if "unable to open" in text or "readonly" in text:
            return StoreError(f"cannot open queue store {self.path} ({text}); check the path and permissions")
        return StoreError(f"queue store {self.path}: {text}")

    def _check(self) -> None:
        try:
            with self.connect() as con:
                meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        except StoreError:
            raise
        if meta.get("app") != APP_ID:
            raise StoreError(f"{self.path} is not a doisoat verification queue; point the job at the right file")
        if meta.get("schema") != SCHEMA_VERSION:
            raise StoreError(
                f"queue store {self.path} has schema {meta.get('schema')!r}, this code needs "
                f"{SCHEMA_VERSION!r}; migrate it or use a matching doisoat version"
            )

    def check_integrity(self) -> None:
        """``PRAGMA quick_check``: refuse a damaged file before anything is sent from it."""
        with self.connect() as con:
            problems = [r[0] for r in con.execute("PRAGMA quick_check(5)").fetchall()]
        if problems != ["ok"]:
            raise StoreError(
                f"queue store {self.path} is corrupt ({len(problems)} problem(s) found by quick_check); "
                "restore it from a backup or move it away and re-enqueue"
            )

    # -- writing -----------------------------------------------------------------------------------
    def enqueue(self, requests: pl.DataFrame) -> int:
        """Add requests (contract 7 columns, optional lineage); idempotent on ``request_id``.

        Returns how many were new. A request already in the store, in any state, is left untouched.
        """
        missing = [c for c in REQUEST_COLUMNS if c not in requests.columns]
        if missing:
            raise ValueError(f"requests frame lacks column(s) {', '.join(missing)} (contract 7)")
        if len(requests) == 0:
            return 0
        for col in ("request_id", "person_id", "province", "sector", "unit", "enqueued_at"):
            if requests[col].null_count():
                raise ValueError(f"requests frame has {requests[col].null_count()} null `{col}` value(s)")
        frame = requests.select(
            *[pl.col(c).cast(pl.Utf8) for c in REQUEST_COLUMNS],
            *[
                (pl.col(c) if c in requests.columns else pl.lit(None))
                .cast(pl.Int64 if c == "row_number" else pl.Utf8)
                .alias(c)
                for c in LINEAGE_COLUMNS
            ],
        ).with_columns(unit_key=pl.concat_str(["province", "sector", "unit"], separator="/"))
        cols = [*REQUEST_COLUMNS, *LINEAGE_COLUMNS, "unit_key"]
        with self.transaction() as con:
            con.execute("DROP TABLE IF EXISTS temp.incoming")
            con.execute(f"CREATE TEMP TABLE incoming ({', '.join(cols)})")
            marks = ", ".join("?" * len(cols))
            con.executemany(f"INSERT INTO incoming VALUES ({marks})", frame.select(cols).iter_rows())
            # Only the requests not yet in the store (a primary-key probe each) are added and considered.
            con.execute("DELETE FROM touched")
            con.execute(
                "INSERT OR IGNORE INTO touched SELECT request_id FROM incoming i "
                "WHERE NOT EXISTS (SELECT 1 FROM requests r WHERE r.request_id = i.request_id)"
            )
            added = con.execute(
                f"INSERT OR IGNORE INTO requests ({', '.join(cols)}) SELECT {', '.join(cols)} FROM incoming "
                "WHERE request_id IN (SELECT request_id FROM touched)"
            ).rowcount
            con.execute(
                "INSERT OR IGNORE INTO request_files SELECT DISTINCT file_sha256 FROM incoming "
                "WHERE file_sha256 IS NOT NULL"
            )
            con.execute("INSERT OR IGNORE INTO request_units SELECT DISTINCT unit_key FROM incoming")
            con.execute("DROP TABLE temp.incoming")
            _reuse_answers(con)
            return added

    # -- reading -----------------------------------------------------------------------------------
    def _frame(self, sql: str, params: tuple = (), schema: dict | None = None) -> pl.DataFrame:
        with self.connect() as con:
            cur = con.execute(sql, params)
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        return pl.DataFrame(rows, schema=schema or names, orient="row")

    def backlog_by_unit(self, day: date | str | None = None) -> pl.DataFrame:
        """Waiting requests per unit as of ``day``: ``unit_key, backlog, oldest_wait_days,
        days_since_served`` (null if the unit was never allocated anything before ``day``).

        ``unit_key`` is ``province/sector/unit``; the frame goes straight into ``allocate``/``forecast``.
        """
        with self.connect() as con:
            return backlog_frame(con, str(day or vietnam_today()))

    def reused_answers(self) -> int:
        """Requests answered from an earlier identical request (no quota spent)."""
        with self.connect() as con:
            return con.execute("SELECT COUNT(*) FROM requests WHERE batch_id = 'reused'").fetchone()[0]

    def withdraw_superseded(self, current_files: set[str]) -> int:
        """Requests still waiting whose upload is no longer current (a corrected file superseded it)
        become ``withdrawn``: never sent, so no quota is spent twice on one person, and kept for the
        record (nothing is deleted). Returns how many were withdrawn."""
        with self.transaction() as con:
            con.execute("DELETE FROM current_files")
            con.executemany("INSERT OR IGNORE INTO current_files VALUES (?)", ((sha,) for sha in current_files))
            # Per superseded file, an index range on (file_sha256, state): only its waiting rows are read.
            withdrawn = con.execute(
                f"UPDATE requests SET state = 'withdrawn' WHERE state IN {WAITING} AND file_sha256 IN ("
                "SELECT file_sha256 FROM request_files WHERE file_sha256 NOT IN (SELECT sha FROM current_files))"
            ).rowcount
            # A file that is current again (its correction was taken back) waits again.
            con.execute("DELETE FROM touched")
            con.execute(
                "INSERT OR IGNORE INTO touched SELECT request_id FROM requests "
                "WHERE state = 'withdrawn' AND file_sha256 IN (SELECT sha FROM current_files)"
            )
            con.execute(
                "UPDATE requests SET state = 'pending' WHERE request_id IN (SELECT request_id FROM touched)"
            )
            _reuse_answers(con)
            return withdrawn

    def set_external_backlogs(self, day: date | str, backlogs: pl.DataFrame) -> bool:
        """Record ``day``'s backlogs of units whose requests other installations send (counts only).

        The quota is national: the day's allocation is computed over this store's units *and* these,
        and only this store's share is dispatched here. ``backlogs``: ``unit_key`` (or ``unit``),
        ``backlog``, ``oldest_wait_days``. Units that have requests in this store are ignored (this
        store knows them better). Once the day is allocated the allocation is fixed: returns False and
        changes nothing.
        """
        key = "unit_key" if "unit_key" in backlogs.columns else "unit"
        frame = backlogs.select(
            pl.col(key).cast(pl.Utf8).alias("unit_key"),
            pl.col("backlog").cast(pl.Int64),
            pl.col("oldest_wait_days").cast(pl.Float64).fill_null(0.0)
            if "oldest_wait_days" in backlogs.columns else pl.lit(0.0).alias("oldest_wait_days"),
        )
        if frame["backlog"].lt(0).any() or frame["unit_key"].is_duplicated().any():
            raise ValueError("external backlogs need unique unit keys and backlogs >= 0")
        day = str(day)
        with self.transaction() as con:
            if con.execute("SELECT 1 FROM day_budget WHERE day = ?", (day,)).fetchone():
                return False
            local = {r[0] for r in con.execute("SELECT unit_key FROM request_units").fetchall()}
            con.execute("DELETE FROM external_backlog WHERE day = ?", (day,))
            con.executemany(
                "INSERT INTO external_backlog VALUES (?, ?, ?, ?)",
                ((day, *row) for row in frame.filter(~pl.col("unit_key").is_in(list(local))).iter_rows()),
            )
        return True

    def external_units(self, day: date | str) -> pl.DataFrame:
        """``day``'s external backlogs with what the national allocation gave them."""
        return self._frame(
            "SELECT e.unit_key, e.backlog, e.oldest_wait_days, COALESCE(a.allocated, 0) AS allocated "
            "FROM external_backlog e LEFT JOIN day_allocation a ON a.day = e.day AND a.unit_key = e.unit_key "
            "WHERE e.day = ? ORDER BY e.unit_key",
            (str(day),),
            schema={"unit_key": pl.Utf8, "backlog": pl.Int64, "oldest_wait_days": pl.Float64, "allocated": pl.Int64},
        )

    def total_requests(self) -> int:
        """How many requests the store holds (the primary key's size; nothing is ever deleted)."""
        with self.connect() as con:
            return con.execute("SELECT COUNT(*) FROM requests").fetchone()[0]

    def state_counts(self) -> dict[str, int]:
        with self.connect() as con:
            return dict(con.execute("SELECT state, COUNT(*) FROM requests GROUP BY state").fetchall())

    def requests(self, personal_data: bool = True, day: date | str | None = None) -> pl.DataFrame:
        """Every request with its state (or only those allocated to ``day``: an index range). With
        ``personal_data=False`` the person's id, name, birth date and gender are left out (for
        aggregates such as the analyst warehouse)."""
        with self.connect() as con:
            names = [r[1] for r in con.execute("PRAGMA table_info(requests)").fetchall()]
        keep = names if personal_data else [n for n in names if n not in PERSONAL_COLUMNS]
        where, params = ("WHERE alloc_day = ?", (str(day),)) if day else ("", ())
        return self._frame(f"SELECT {', '.join(keep)} FROM requests {where} ORDER BY request_id", params)

    def results(self, day: date | str | None = None) -> pl.DataFrame:
        """Answered requests: ``request_id, province, sector, unit, person_id, status, differing_fields,
        answered_at, file_sha256, sheet, row_number, day`` (optionally one allocation day)."""
        where = f"state IN {ANSWERED}" + (" AND alloc_day = ?" if day else "")
        return self._frame(
            "SELECT request_id, province, sector, unit, person_id, status, COALESCE(differing_fields, '') "
            "AS differing_fields, answered_at, file_sha256, sheet, row_number, alloc_day AS day "
            f"FROM requests WHERE {where} ORDER BY request_id",
            (str(day),) if day else (),
            schema={
                "request_id": pl.Utf8,
                "province": pl.Utf8,
                "sector": pl.Utf8,
                "unit": pl.Utf8,
                "person_id": pl.Utf8,
                "status": pl.Utf8,
                "differing_fields": pl.Utf8,
                "answered_at": pl.Utf8,
                "file_sha256": pl.Utf8,
                "sheet": pl.Utf8,
                "row_number": pl.Int64,
                "day": pl.Utf8,
            },
        )

    def unit_results(self, day: date | str | None = None) -> pl.DataFrame:
        """Per-unit result counts: ``unit_key, verified, mismatch, not_found, waiting``.

        With ``day`` the answers are those of that day (an index range on the day), the waiting
        counts a covering-index scan of waiting requests: never a scan of every answered request.
        """
        schema = {"unit_key": pl.Utf8, "verified": pl.Int64, "mismatch": pl.Int64, "not_found": pl.Int64}
        where, params = ("WHERE alloc_day = ?", (str(day),)) if day else (f"WHERE state IN {ANSWERED}", ())
        answered = self._frame(
            "SELECT unit_key, SUM(state = 'verified'), SUM(state = 'mismatch'), SUM(state = 'not_found') "
            f"FROM requests {where} GROUP BY unit_key",
            params,
            schema=schema,
        )
        waiting = self._frame(
            f"SELECT unit_key, COUNT(*) FROM requests WHERE state IN {WAITING} GROUP BY unit_key",
            schema={"unit_key": pl.Utf8, "waiting": pl.Int64},
        )
        return unit_results_frame(answered, waiting)

    def ledger(self) -> pl.DataFrame:
        """One row per batch ever sent: ``batch_id, day, n, state, owner, sends, cause, ...``."""
        return self._frame("SELECT * FROM ledger ORDER BY created_at, batch_id")

    def day_budgets(self) -> pl.DataFrame:
        return self._frame("SELECT * FROM day_budget ORDER BY day")

    def day_status(self, day: date | str) -> dict[str, Any] | None:
        """The day's figures for the operator's summary line (counts only), or None if never run:
        ``quota, allocated, answered, unused, in_flight, stop_cause, stop_detail, runs``."""
        day = str(day)
        with self.connect() as con:
            row = con.execute(
                "SELECT quota, allocated, unused, stop_cause, stop_detail, runs FROM day_budget WHERE day = ?", (day,)
            ).fetchone()
            if row is None:
                return None
            counts = dict(con.execute(
                "SELECT state, COUNT(*) FROM requests WHERE alloc_day = ? GROUP BY state", (day,)
            ).fetchall())
        quota, allocated, unused, cause, detail, runs = row
        answered = sum(counts.get(s, 0) for s in ANSWERED)
        return {"day": day, "quota": quota, "allocated": allocated, "answered": answered,
                "unused": allocated - answered if unused is None else unused,
                "in_flight": counts.get("allocated", 0) + counts.get("sent", 0),
                "stop_cause": cause, "stop_detail": detail, "runs": runs}

    def day_allocation(self, day: date | str) -> pl.DataFrame:
        """The persisted allocation of ``day``: ``unit_key, backlog, oldest_wait_days, floor, allocated``."""
        return self._frame(
            "SELECT unit_key, backlog, oldest_wait_days, floor, allocated FROM day_allocation "
            "WHERE day = ? ORDER BY unit_key",
            (str(day),),
            schema={
                "unit_key": pl.Utf8,
                "backlog": pl.Int64,
                "oldest_wait_days": pl.Float64,
                "floor": pl.Int64,
                "allocated": pl.Int64,
            },
        )

    # -- the dispatcher's steps (rules.verify.dispatch.run_day); each one BEGIN IMMEDIATE transaction --
    def _live_runs(self, con: sqlite3.Connection, day: str, exclude: str | None = None) -> int:
        rows = con.execute("SELECT owner, lease_until FROM day_run WHERE day = ?", (day,)).fetchall()
        return sum(1 for o, lease in rows if o != exclude and lease >= time.time() and owner_alive(o))

    def join_day(self, day: str, owner: str, lease_s: float) -> None:
        """Register a run as working on ``day`` (other days then leave the day's allocation alone)."""
        with self.transaction() as con:
            con.execute("INSERT OR REPLACE INTO day_run VALUES (?, ?, ?)", (day, owner, time.time() + lease_s))

    def leave_day(self, day: str, owner: str, release: bool) -> None:
        """Unregister a run; with ``release`` and no other live run, the day's unsent requests wait again."""
        try:
            with self.transaction() as con:
                con.execute("DELETE FROM day_run WHERE day = ? AND owner = ?", (day, owner))
                if release and self._live_runs(con, day) == 0:
                    con.execute(_RELEASE_DAY, (day,))
        except Exception:  # best effort on the way out; the next run of any day recovers
            pass

    def take_orphans(self, owner: str, lease_s: float) -> list[tuple[str, str, int]]:
        """Batches left ``sending`` by a dead run (process gone or lease out), now ``owner``'s."""
        with self.transaction() as con:
            rows = con.execute(
                "SELECT batch_id, owner, lease_until, day, sends FROM ledger WHERE state = 'sending'"
            ).fetchall()
            orphans = [(b, d, n + 1) for b, o, lease, d, n in rows if lease < time.time() or not owner_alive(o)]
            for b, _, _ in orphans:
                con.execute(
                    "UPDATE ledger SET owner = ?, lease_until = ?, sends = sends + 1 WHERE batch_id = ?",
                    (owner, time.time() + lease_s, b),
                )
        return orphans

    def allocate_day(self, day: str, policy: QuotaPolicy) -> bool:
        """Persist the day's allocation once; top up its claimable requests. Returns True if reused."""
        with self.transaction() as con:
            # Allocations of other days that were never sent go back to waiting - but only when no run
            # of that day is alive: a backfill beside the daily job must not take the other's requests.
            stale_days = [
                d for (d,) in con.execute(
                    "SELECT DISTINCT alloc_day FROM requests WHERE state = 'allocated' AND alloc_day <> ?", (day,)
                ).fetchall()
            ]
            for other in stale_days:
                if self._live_runs(con, other) == 0:
                    con.execute(_RELEASE_DAY, (other,))
            reused = con.execute("SELECT 1 FROM day_budget WHERE day = ?", (day,)).fetchone() is not None
            if not reused:
                # National: this store's units and the other installations' backlogs (counts) share the quota.
                external = external_frame(con, day)
                local_backlog = backlog_frame(con, day)
                national = pl.concat([local_backlog, external]) if external.height else local_backlog
                alloc = allocate(national, policy)
                con.executemany(
                    "INSERT INTO day_allocation VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        (day, *row)
                        for row in alloc.select(
                            "unit_key", "backlog", "oldest_wait_days", "floor", "allocated"
                        ).iter_rows()
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
                " SELECT * FROM (SELECT request_id, enqueued_at FROM requests WHERE state = 'pending'"
                "                AND unit_key = ?1 ORDER BY enqueued_at, request_id LIMIT ?2)"
                " UNION ALL"
                " SELECT * FROM (SELECT request_id, enqueued_at FROM requests WHERE state = 'failed'"
                "                AND unit_key = ?1 ORDER BY enqueued_at, request_id LIMIT ?2)"
                ") ORDER BY enqueued_at, request_id LIMIT ?2"
            )
            for unit_key, need in needs:
                ids = [(day, r[0]) for r in con.execute(pick, (unit_key, need)).fetchall()]
                con.executemany("UPDATE requests SET state = 'allocated', alloc_day = ? WHERE request_id = ?", ids)
        return reused

    def claim(self, day: str, batch_size: int, owner: str, lease_s: float) -> tuple[str, list[Request]] | None:
        """Move up to ``batch_size`` allocated requests to ``sent`` under a new ledger row."""
        batch_id = uuid.uuid4().hex
        with self.transaction() as con:
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
        return batch_id, self.batch_requests(batch_id)

    def batch_requests(self, batch_id: str) -> list[Request]:
        with self.connect() as con:
            rows = con.execute(
                "SELECT request_id, person_id, full_name, date_of_birth, gender FROM requests "
                "WHERE batch_id = ? AND +state = 'sent' ORDER BY request_id",
                (batch_id,),
            ).fetchall()
        return [Request(*row) for row in rows]

    def commit_batch(self, batch_id: str, answers: list[Answer]) -> int:
        """Write a batch's answers and mark its ledger row committed, in one transaction.

        A request the service left unanswered goes back to ``failed`` rather than staying ``sent``
        for ever; returns how many.
        """
        with self.transaction() as con:
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
        return left

    def fail_batch(self, batch_id: str, back_to: str, cause: str, unsent: bool = False) -> int:
        """Return an unanswered batch's requests to waiting (``pending`` or ``failed``); ledger ``failed``.

        ``unsent``: the batch never left, so its send is not counted. Returns how many requests.
        """
        with interrupts.shielded(), self.transaction() as con:
            n = con.execute(
                "UPDATE requests SET state = ?, alloc_day = NULL, batch_id = NULL "
                "WHERE batch_id = ? AND +state = 'sent'",
                (back_to, batch_id),
            ).rowcount
            con.execute(
                "UPDATE ledger SET state = 'failed', finished_at = ?, cause = ?, sends = sends - ? WHERE batch_id = ?",
                (_now(), cause, 1 if unsent else 0, batch_id),
            )
        return n

    def release_day(self, day: str) -> None:
        """The day stopped early: its allocated-but-unsent requests wait again (nothing is dropped)."""
        with self.transaction() as con:
            con.execute(_RELEASE_DAY, (day,))

    def day_figures(self, day: str, owner: str, cause: str | None, detail: str) -> dict[str, Any]:
        """Record how the day stands (cause of unused capacity) and return its figures for the report."""
        with self.transaction() as con:
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
            in_flight = con.execute(
                "SELECT COUNT(*) FROM requests WHERE alloc_day = ? AND state IN ('allocated', 'sent')", (day,)
            ).fetchone()[0]
            cause, detail = _stop_cause(allocated - done, in_flight, cause, detail)
            unused = allocated - done
            con.execute(
                "UPDATE day_budget SET stop_cause = ?, unused = ?, stop_detail = ? WHERE day = ?",
                (cause if unused else None, unused, (detail or None) if unused else None, day),
            )
            others = self._live_runs(con, day, exclude=owner)
        return {"quota": quota, "allocated": allocated, "backlog": int(backlog),
                "national_allocated": int(national_allocated), "answered": done, "unused": unused,
                "in_flight": in_flight, "cause": cause, "detail": detail, "others": others}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _stop_cause(unused: int, in_flight: int, cause: str | None, detail: str) -> tuple[str | None, str]:
    """Badly answered or unanswered requests went back to waiting: a re-run of the day (or the next
    day) sends them again; name that as the cause when nothing else stopped the run."""
    if cause is None and unused > in_flight:
        return "failed_requests", detail or f"{unused - in_flight} allocated requests failed and wait for a re-run"
    return cause, detail
