"""The national verification queue on PostgreSQL: one database shared by every installation.

Same interface as the SQLite store (:class:`rules.verify.queue.VerificationQueue`), same tables and
request states (``rules/verify/store.py`` describes them), but one authority for the whole country:

- **every province's real backlog** is in ``requests``, so the once-a-day allocation sees the real
  waiting rows of all 34 provinces (no exchanged counts: ``set_external_backlogs`` is not used);
- **the allocation runs once a day** under ``pg_advisory_xact_lock`` on the day (released at commit):
  the first run of the day computes and stores it, every other run, on any host, reuses it;
- **claims** lock the day's budget row, pick allocated requests with ``FOR UPDATE SKIP LOCKED`` and
  add them to ``day_budget.spent`` in the same transaction; a ``CHECK (spent <= allocated)`` makes
  overspending the day impossible even for a buggy client;
- **a killed installation loses nothing**: its batch stays ``sending`` in the ledger with its owner
  (``host:pid:random``) and lease; the next run on that host (dead pid) or any run after the lease
  re-sends it with the same idempotency key;
- **an outage of the database is survived**: a transaction that fails on a lost connection is
  rolled back by the server and retried on a new connection with backoff for up to ``outage_s``
  seconds, then :class:`StoreError` names the server (never the password). The writes are safe to
  repeat when the connection dropped after the commit but before its acknowledgement: a claim finds
  its own ledger row (same batch id) and returns that batch, a commit or failure of a batch that is no
  longer ``sending`` changes nothing, an enqueue skips the requests it already added.

``provinces``: what this installation dispatches and withdraws (its own provinces); ``None`` = all.
Scale: every operation is an index range or lookup over the rows it changes, except the day's
allocation, which counts the waiting rows per unit once a day (``benchmarks/bench_queue.py --store``).
The database holds names, IDs and birth dates: give its role to the verification job only.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import polars as pl
import psycopg2
import psycopg2.extras

from rules.clock import vietnam_today
from rules.quota.allocate import allocate
from rules.quota.policy import QuotaPolicy
from rules.verify.model import Answer, Request
from rules.verify.queue import (
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
APP_ID = "doisoat-national-verification-queue"
_LOCK_SCHEMA = 7431_0001  # advisory lock keys (application-chosen numbers)
_LOCK_DAY = 7431_0002
_W = "('pending', 'failed')"
_A = "('verified', 'mismatch', 'not_found')"
assert WAITING == ("pending", "failed") and ANSWERED == ("verified", "mismatch", "not_found")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, province TEXT NOT NULL, sector TEXT NOT NULL, unit TEXT NOT NULL,
    unit_key TEXT NOT NULL, person_id TEXT NOT NULL, full_name TEXT, date_of_birth TEXT, gender TEXT,
    enqueued_at TEXT NOT NULL, file_sha256 TEXT, sheet TEXT, row_number BIGINT,
    state TEXT NOT NULL DEFAULT 'pending', alloc_day TEXT, batch_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, status TEXT, differing_fields TEXT, answered_at TEXT
);
CREATE TABLE IF NOT EXISTS day_budget (
    day TEXT PRIMARY KEY, quota INTEGER NOT NULL, allocated INTEGER NOT NULL,
    spent INTEGER NOT NULL DEFAULT 0 CHECK (spent >= 0 AND spent <= allocated),
    created_at TEXT NOT NULL, policy TEXT NOT NULL, runs INTEGER NOT NULL DEFAULT 0, stop_cause TEXT,
    unused INTEGER, stop_detail TEXT
);
CREATE TABLE IF NOT EXISTS day_allocation (
    day TEXT NOT NULL, unit_key TEXT NOT NULL, backlog BIGINT NOT NULL, oldest_wait_days DOUBLE PRECISION NOT NULL,
    floor BIGINT NOT NULL, allocated BIGINT NOT NULL, PRIMARY KEY (day, unit_key)
);
CREATE TABLE IF NOT EXISTS ledger (
    batch_id TEXT PRIMARY KEY, day TEXT NOT NULL, n INTEGER NOT NULL, state TEXT NOT NULL,
    owner TEXT NOT NULL, lease_until DOUBLE PRECISION NOT NULL, created_at TEXT NOT NULL, finished_at TEXT,
    sends INTEGER NOT NULL DEFAULT 0, cause TEXT
);
CREATE TABLE IF NOT EXISTS day_run (
    day TEXT NOT NULL, owner TEXT NOT NULL, lease_until DOUBLE PRECISION NOT NULL, PRIMARY KEY (day, owner)
);
CREATE TABLE IF NOT EXISTS request_files (file_sha256 TEXT PRIMARY KEY);
CREATE INDEX IF NOT EXISTS day_allocation_unit ON day_allocation (unit_key, day);
CREATE INDEX IF NOT EXISTS requests_batch ON requests (batch_id);
CREATE INDEX IF NOT EXISTS requests_queue ON requests (state, unit_key, enqueued_at, request_id);
CREATE INDEX IF NOT EXISTS requests_of_day ON requests (alloc_day, state, unit_key, enqueued_at, request_id)
    WHERE alloc_day IS NOT NULL;
CREATE INDEX IF NOT EXISTS requests_person ON requests (person_id);
CREATE INDEX IF NOT EXISTS requests_file_state ON requests (file_sha256, state);
CREATE INDEX IF NOT EXISTS ledger_sending ON ledger (state) WHERE state = 'sending';
"""

_T = TypeVar("_T")
_RETRY = (psycopg2.OperationalError, psycopg2.InterfaceError)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _same_request(a: str, b: str) -> str:
    """SQL: request ``a`` asks exactly what ``b`` asks (person, name, birth date, gender)."""
    return (f"{a}.person_id = {b}.person_id AND {a}.full_name IS NOT DISTINCT FROM {b}.full_name "
            f"AND {a}.date_of_birth IS NOT DISTINCT FROM {b}.date_of_birth "
            f"AND {a}.gender IS NOT DISTINCT FROM {b}.gender")


def _reuse(cur, touched_sql: str, params: Any = None) -> int:
    """Waiting requests among ``touched_sql`` (a query of ``request_id``) that ask what an answered
    request asked take its latest answer (``batch_id = 'reused'``): no quota spent twice. Index
    probes on ``requests_person`` per touched request."""
    cur.execute(
        f"""
        WITH touched AS ({touched_sql}),
        pairs AS (
            SELECT w.request_id AS rid, (
                SELECT a.request_id FROM requests a WHERE {_same_request('a', 'w')} AND a.state IN {_A}
                ORDER BY a.answered_at DESC, a.request_id LIMIT 1
            ) AS twin
            FROM touched t JOIN requests w ON w.request_id = t.request_id WHERE w.state IN {_W}
        )
        UPDATE requests r SET state = a.state, status = a.status, differing_fields = a.differing_fields,
               answered_at = a.answered_at, batch_id = 'reused'
        FROM pairs p JOIN requests a ON a.request_id = p.twin
        WHERE r.request_id = p.rid AND r.state IN {_W}
        """,
        params,
    )
    return cur.rowcount


class PgQueueStore:
    """Handle on the national queue at ``url`` (``postgresql://user[:password]@host:port/db``).

    ``create=True`` creates the tables when missing (idempotent, safe from several processes at once);
    without it a database that is not a doisoat national queue is refused.
    """

    def __init__(
        self,
        url: str,
        create: bool = False,
        provinces: Iterable[str] | None = None,
        outage_s: float = 120.0,
        connect_timeout_s: int = 5,
    ) -> None:
        self.url = url.replace("postgresql+psycopg2://", "postgresql://", 1)
        parts = urlsplit(self.url)
        self.where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"  # never the password
        self.provinces = sorted(set(provinces)) if provinces is not None else None
        self.outage_s = outage_s
        self.connect_timeout_s = connect_timeout_s
        self._con = None
        self._pid = None
        if create:
            self._run(self._create)
        self._check()

    # -- connections and transactions --------------------------------------------------------------
    def _connection(self):
        import os

        if self._con is None or self._con.closed or self._pid != os.getpid():
            self._con = psycopg2.connect(self.url, connect_timeout=self.connect_timeout_s,
                                         application_name="doisoat-queue")
            self._pid = os.getpid()
        return self._con

    def close(self) -> None:
        import os

        if self._con is not None and not self._con.closed and self._pid == os.getpid():
            self._con.close()
        self._con = None

    def _run(self, fn: Callable[[Any], _T]) -> _T:
        """Run ``fn(cursor)`` as one transaction; on a lost connection retry it (rolled back by the
        server) on a new connection, with backoff, for up to ``outage_s`` seconds."""
        deadline = None
        delay = 0.1
        while True:
            try:
                con = self._connection()
                with con, con.cursor() as cur:
                    return fn(cur)
            except _RETRY as exc:
                self._con = None
                now = time.monotonic()
                deadline = deadline or now + self.outage_s
                if now >= deadline:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    raise StoreError(
                        f"national verification queue {self.where} unreachable for {self.outage_s:.0f} s "
                        f"({first}); start the database or fix the queue URL, then run again (nothing was lost)"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _create(self, cur) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_SCHEMA,))
        cur.execute(_SCHEMA)
        cur.execute(
            "INSERT INTO meta VALUES ('app', %s), ('schema', %s) ON CONFLICT (key) DO NOTHING",
            (APP_ID, SCHEMA_VERSION),
        )

    def _check(self) -> None:
        def read(cur):
            cur.execute("SELECT to_regclass('meta') IS NOT NULL")
            if not cur.fetchone()[0]:
                return {}
            cur.execute("SELECT key, value FROM meta")
            return dict(cur.fetchall())

        meta = self._run(read)
        if meta.get("app") != APP_ID:
            raise StoreError(
                f"{self.where} is not a doisoat national verification queue; create it (create=True / run the "
                "daily job once) or point the queue URL at the right database"
            )
        if meta.get("schema") != SCHEMA_VERSION:
            raise StoreError(f"national queue {self.where} has schema {meta.get('schema')!r}, this code needs "
                             f"{SCHEMA_VERSION!r}; use a matching doisoat version")

    def check_integrity(self) -> None:
        """The server keeps the data consistent; this only checks it answers and is our queue."""
        self._check()

    def _scope(self, alias: str = "") -> tuple[str, tuple]:
        if self.provinces is None:
            return "", ()
        return f" AND {alias}province = ANY(%s)", (self.provinces,)

    def _frame(self, sql: str, params: Any = None, schema: dict | None = None) -> pl.DataFrame:
        def read(cur):
            cur.execute(sql, params)
            return [d[0] for d in cur.description], cur.fetchall()

        names, rows = self._run(read)
        return pl.DataFrame(rows, schema=schema or names, orient="row")

    # -- writing -----------------------------------------------------------------------------------
    def enqueue(self, requests: pl.DataFrame) -> int:
        """Add requests (contract 7 columns, optional lineage); idempotent on ``request_id``. Returns
        how many were new. Loaded with COPY; one index probe per new request for answer reuse."""
        missing = [c for c in REQUEST_COLUMNS if c not in requests.columns]
        if missing:
            raise ValueError(f"requests frame lacks column(s) {', '.join(missing)} (contract 7)")
        if len(requests) == 0:
            return 0
        for col in ("request_id", "person_id", "province", "sector", "unit", "enqueued_at"):
            if requests[col].null_count():
                raise ValueError(f"requests frame has {requests[col].null_count()} null `{col}` value(s)")
        cols = [*REQUEST_COLUMNS, *LINEAGE_COLUMNS, "unit_key"]
        frame = requests.select(
            *[pl.col(c).cast(pl.Utf8) for c in REQUEST_COLUMNS],
            *[
                (pl.col(c) if c in requests.columns else pl.lit(None))
                .cast(pl.Int64 if c == "row_number" else pl.Utf8)
                .alias(c)
                for c in LINEAGE_COLUMNS
            ],
        ).with_columns(unit_key=pl.concat_str(["province", "sector", "unit"], separator="/")).select(cols)
        buf = io.BytesIO()
        frame.write_csv(buf, include_header=False, null_value="\\N", quote_style="non_numeric")
        data = buf.getvalue()

        def tx(cur):
            cur.execute(
                "CREATE TEMP TABLE incoming (LIKE requests INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            cur.copy_expert(
                f"COPY incoming ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", io.BytesIO(data)
            )
            cur.execute(
                f"CREATE TEMP TABLE added ON COMMIT DROP AS WITH ins AS ("
                f" INSERT INTO requests ({', '.join(cols)}) SELECT {', '.join(cols)} FROM incoming"
                f" ON CONFLICT (request_id) DO NOTHING RETURNING request_id) SELECT request_id FROM ins"
            )
            cur.execute("SELECT COUNT(*) FROM added")
            n = cur.fetchone()[0]
            cur.execute(
                "INSERT INTO request_files SELECT DISTINCT file_sha256 FROM incoming WHERE file_sha256 IS NOT NULL "
                "ON CONFLICT DO NOTHING"
            )
            _reuse(cur, "SELECT request_id FROM added")
            return n

        return self._run(tx)

    def withdraw_superseded(self, current_files: set[str]) -> int:
        """Waiting requests (of this installation's provinces) whose upload is no longer current become
        ``withdrawn``; withdrawn ones whose file is current again wait again. Returns how many withdrawn."""
        scope, sp = self._scope()

        def tx(cur):
            cur.execute("CREATE TEMP TABLE current_files (sha TEXT PRIMARY KEY) ON COMMIT DROP")
            psycopg2.extras.execute_values(
                cur, "INSERT INTO current_files VALUES %s ON CONFLICT DO NOTHING", [(s,) for s in current_files]
            )
            cur.execute(
                f"UPDATE requests SET state = 'withdrawn' WHERE state IN {_W} AND file_sha256 IN ("
                "SELECT file_sha256 FROM request_files WHERE file_sha256 NOT IN (SELECT sha FROM current_files))"
                + scope,
                sp,
            )
            withdrawn = cur.rowcount
            cur.execute(
                "CREATE TEMP TABLE back ON COMMIT DROP AS WITH b AS (UPDATE requests SET state = 'pending' "
                "WHERE state = 'withdrawn' AND file_sha256 IN (SELECT sha FROM current_files)" + scope
                + " RETURNING request_id) SELECT request_id FROM b",
                sp,
            )
            _reuse(cur, "SELECT request_id FROM back")
            return withdrawn

        return self._run(tx)

    def set_external_backlogs(self, day: date | str, backlogs: pl.DataFrame) -> bool:
        """Not used: the national queue holds every province's real backlog. Changes nothing; False."""
        return False

    def external_units(self, day: date | str) -> pl.DataFrame:
        """No external units in the national queue (an empty frame of the SQLite store's shape)."""
        return pl.DataFrame(
            schema={"unit_key": pl.Utf8, "backlog": pl.Int64, "oldest_wait_days": pl.Float64, "allocated": pl.Int64}
        )

    # -- the dispatcher's steps --------------------------------------------------------------------
    def _live_runs(self, cur, day: str, exclude: str | None = None) -> int:
        cur.execute("SELECT owner, lease_until FROM day_run WHERE day = %s", (day,))
        return sum(1 for o, lease in cur.fetchall() if o != exclude and lease >= time.time() and owner_alive(o))

    def join_day(self, day: str, owner: str, lease_s: float) -> None:
        self._run(lambda cur: cur.execute(
            "INSERT INTO day_run VALUES (%s, %s, %s) ON CONFLICT (day, owner) DO UPDATE SET lease_until = "
            "EXCLUDED.lease_until", (day, owner, time.time() + lease_s)))

    def leave_day(self, day: str, owner: str, release: bool) -> None:
        def tx(cur):
            cur.execute("DELETE FROM day_run WHERE day = %s AND owner = %s", (day, owner))
            if release and self._live_runs(cur, day) == 0:
                self._release(cur, day)

        with contextlib.suppress(Exception):  # best effort on the way out; the next run of any day recovers
            self._run(tx)

    def _release(self, cur, day: str) -> None:
        scope, sp = self._scope()
        cur.execute(
            "UPDATE requests SET state = 'pending', alloc_day = NULL WHERE alloc_day = %s AND state = 'allocated'"
            + scope,
            (day, *sp),
        )

    def release_day(self, day: str) -> None:
        """The run stopped early: the day's allocated-but-unclaimed requests (of this installation's
        provinces) wait again."""
        self._run(lambda cur: self._release(cur, day))

    def take_orphans(self, owner: str, lease_s: float) -> list[tuple[str, str, int]]:
        """Batches left ``sending`` by a dead run, any installation's, now ``owner``'s (row-locked, so
        two recovering runs never take the same batch)."""
        def tx(cur):
            cur.execute("SELECT batch_id, owner, lease_until, day, sends FROM ledger WHERE state = 'sending' "
                        "FOR UPDATE SKIP LOCKED")
            orphans = [(b, d, n + 1) for b, o, lease, d, n in cur.fetchall()
                       if lease < time.time() or not owner_alive(o)]
            for b, _, _ in orphans:
                cur.execute("UPDATE ledger SET owner = %s, lease_until = %s, sends = sends + 1 WHERE batch_id = %s",
                            (owner, time.time() + lease_s, b))
            return orphans

        return self._run(tx)

    def allocate_day(self, day: str, policy: QuotaPolicy) -> bool:
        """Under the day's advisory lock: compute and store the national allocation if the day has none
        (every province's waiting requests, one computation), then mark each unit's oldest waiting
        requests ``allocated`` up to its share. Returns True if the allocation already existed."""
        def tx(cur):
            cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_DAY, day))
            cur.execute("SELECT DISTINCT alloc_day FROM requests WHERE state = 'allocated' AND alloc_day <> %s",
                        (day,))
            for (other,) in cur.fetchall():
                if self._live_runs(cur, other) == 0:
                    cur.execute("UPDATE requests SET state = 'pending', alloc_day = NULL "
                                "WHERE alloc_day = %s AND state = 'allocated'", (other,))
            cur.execute("SELECT 1 FROM day_budget WHERE day = %s", (day,))
            reused = cur.fetchone() is not None
            if not reused:
                alloc = allocate(self._backlog(cur, day), policy)
                rows = alloc.select("unit_key", "backlog", "oldest_wait_days", "floor", "allocated").iter_rows()
                psycopg2.extras.execute_values(
                    cur, "INSERT INTO day_allocation VALUES %s", [(day, *r) for r in rows], page_size=5000
                )
                cur.execute(
                    "INSERT INTO day_budget (day, quota, allocated, created_at, policy) VALUES (%s, %s, %s, %s, %s)",
                    (day, policy.quota, int(alloc["allocated"].sum()) if alloc.height else 0, _now(),
                     json.dumps(asdict(policy))),
                )
            cur.execute("UPDATE day_budget SET runs = runs + 1 WHERE day = %s", (day,))
            # Per unit the oldest ``need`` waiting requests: two ordered index ranges (pending, failed).
            cur.execute(
                f"""
                WITH have AS (SELECT unit_key, COUNT(*) AS n FROM requests WHERE alloc_day = %(day)s GROUP BY unit_key),
                needs AS (
                    SELECT a.unit_key, a.allocated - COALESCE(h.n, 0) AS need
                    FROM day_allocation a LEFT JOIN have h ON h.unit_key = a.unit_key
                    WHERE a.day = %(day)s AND a.allocated - COALESCE(h.n, 0) > 0
                ),
                picked AS (
                    SELECT p.request_id FROM needs n CROSS JOIN LATERAL (
                        SELECT u.request_id FROM (
                            (SELECT request_id, enqueued_at FROM requests WHERE state = 'pending'
                              AND unit_key = n.unit_key ORDER BY enqueued_at, request_id LIMIT n.need)
                            UNION ALL
                            (SELECT request_id, enqueued_at FROM requests WHERE state = 'failed'
                              AND unit_key = n.unit_key ORDER BY enqueued_at, request_id LIMIT n.need)
                        ) u ORDER BY u.enqueued_at, u.request_id LIMIT n.need
                    ) p
                )
                UPDATE requests r SET state = 'allocated', alloc_day = %(day)s FROM picked
                WHERE r.request_id = picked.request_id AND r.state IN {_W}
                """,
                {"day": day},
            )
            return reused

        return self._run(tx)

    def claim(self, day: str, batch_size: int, owner: str, lease_s: float) -> tuple[str, list[Request]] | None:
        """One transaction: lock the day's budget row, take up to ``batch_size`` allocated requests
        (this installation's provinces) with ``FOR UPDATE SKIP LOCKED``, mark them ``sent``, add them to
        the day's ``spent`` (checked ``<= allocated``) and open their ledger row."""
        batch_id = uuid.uuid4().hex
        scope, sp = self._scope()

        def tx(cur):
            cur.execute("SELECT 1 FROM ledger WHERE batch_id = %s", (batch_id,))
            if cur.fetchone():  # a retry: the first attempt committed, only its acknowledgement was lost
                cur.execute("SELECT request_id, person_id, full_name, date_of_birth, gender FROM requests "
                            "WHERE batch_id = %s AND state = 'sent' ORDER BY request_id", (batch_id,))
                return batch_id, [Request(*r) for r in cur.fetchall()]
            cur.execute("SELECT allocated - spent FROM day_budget WHERE day = %s FOR UPDATE", (day,))
            row = cur.fetchone()
            left = row[0] if row else 0
            if left <= 0:
                return None
            cur.execute(
                "WITH picked AS (SELECT request_id FROM requests WHERE alloc_day = %s AND state = 'allocated'"
                + scope + " ORDER BY unit_key, enqueued_at, request_id LIMIT %s FOR UPDATE SKIP LOCKED) "
                "UPDATE requests r SET state = 'sent', batch_id = %s, attempts = r.attempts + 1 FROM picked "
                "WHERE r.request_id = picked.request_id "
                "RETURNING r.request_id, r.person_id, r.full_name, r.date_of_birth, r.gender",
                (day, *sp, min(batch_size, left), batch_id),
            )
            batch = sorted((Request(*r) for r in cur.fetchall()), key=lambda r: r.request_id)
            if not batch:
                return None
            cur.execute("UPDATE day_budget SET spent = spent + %s WHERE day = %s", (len(batch), day))
            cur.execute(
                "INSERT INTO ledger (batch_id, day, n, state, owner, lease_until, created_at, sends) "
                "VALUES (%s, %s, %s, 'sending', %s, %s, %s, 1)",
                (batch_id, day, len(batch), owner, time.time() + lease_s, _now()),
            )
            cur.execute("UPDATE day_run SET lease_until = %s WHERE day = %s AND owner = %s",
                        (time.time() + lease_s, day, owner))
            return batch_id, batch

        return self._run(tx)

    def batch_requests(self, batch_id: str) -> list[Request]:
        def read(cur):
            cur.execute("SELECT request_id, person_id, full_name, date_of_birth, gender FROM requests "
                        "WHERE batch_id = %s AND state = 'sent' ORDER BY request_id", (batch_id,))
            return [Request(*r) for r in cur.fetchall()]

        return self._run(read)

    def _give_back(self, cur, batch_id: str, n: int) -> None:
        """Requests of a batch that went back to waiting no longer count against the day's budget."""
        if n:
            cur.execute("UPDATE day_budget SET spent = spent - %s WHERE day = (SELECT day FROM ledger "
                        "WHERE batch_id = %s)", (n, batch_id))

    def commit_batch(self, batch_id: str, answers: list[Answer]) -> int:
        """Write a batch's answers, commit its ledger row, reuse its answers for identical waiting
        requests; requests left unanswered go to ``failed``. Returns how many were left. Idempotent."""
        def tx(cur):
            cur.execute("SELECT state FROM ledger WHERE batch_id = %s FOR UPDATE", (batch_id,))
            row = cur.fetchone()
            if row is None or row[0] != "sending":
                return 0  # a retry after a lost acknowledgement: already written
            psycopg2.extras.execute_values(
                cur,
                "UPDATE requests r SET state = v.status, status = v.status, differing_fields = v.fields, "
                "answered_at = v.at FROM (VALUES %s) AS v(request_id, status, fields, at) "
                "WHERE r.request_id = v.request_id AND r.batch_id = " + cur.mogrify("%s", (batch_id,)).decode()
                + " AND r.state = 'sent'",
                [(a.request_id, a.status, a.differing_fields, a.answered_at) for a in answers],
                page_size=5000,
            )
            cur.execute("UPDATE requests SET state = 'failed', alloc_day = NULL, batch_id = NULL "
                        "WHERE batch_id = %s AND state = 'sent'", (batch_id,))
            left = cur.rowcount
            self._give_back(cur, batch_id, left)
            cur.execute("UPDATE ledger SET state = 'committed', finished_at = %s, cause = %s WHERE batch_id = %s",
                        (_now(), f"{left} unanswered" if left else None, batch_id))
            _reuse(cur, f"SELECT w.request_id FROM requests b JOIN requests w ON {_same_request('w', 'b')} "
                        f"AND w.state IN {_W} WHERE b.batch_id = %s AND b.state IN {_A}", (batch_id,))
            return left

        return self._run(tx)

    def fail_batch(self, batch_id: str, back_to: str, cause: str, unsent: bool = False) -> int:
        def tx(cur):
            cur.execute("UPDATE requests SET state = %s, alloc_day = NULL, batch_id = NULL "
                        "WHERE batch_id = %s AND state = 'sent'", (back_to, batch_id))
            n = cur.rowcount
            self._give_back(cur, batch_id, n)
            cur.execute("UPDATE ledger SET state = 'failed', finished_at = %s, cause = %s, sends = sends - %s "
                        "WHERE batch_id = %s AND state = 'sending'", (_now(), cause, 1 if unsent else 0, batch_id))
            return n

        return self._run(tx)

    def day_figures(self, day: str, owner: str, cause: str | None, detail: str) -> dict[str, Any]:
        def tx(cur):
            cur.execute("SELECT quota, allocated FROM day_budget WHERE day = %s", (day,))
            quota, allocated = cur.fetchone()
            cur.execute("SELECT COALESCE(SUM(backlog), 0), COALESCE(SUM(allocated), 0) FROM day_allocation "
                        "WHERE day = %s", (day,))
            backlog, national = cur.fetchone()
            cur.execute(f"SELECT COUNT(*) FILTER (WHERE state IN {_A}), "
                        "COUNT(*) FILTER (WHERE state IN ('allocated', 'sent')) FROM requests WHERE alloc_day = %s",
                        (day,))
            done, in_flight = cur.fetchone()
            unused = allocated - done
            c, d = cause, detail
            if c is None and unused > in_flight:
                c = "failed_requests"
                d = d or f"{unused - in_flight} allocated requests failed and wait for a re-run"
            cur.execute("UPDATE day_budget SET stop_cause = %s, unused = %s, stop_detail = %s WHERE day = %s",
                        (c if unused else None, unused, (d or None) if unused else None, day))
            return {"quota": quota, "allocated": allocated, "backlog": int(backlog),
                    "national_allocated": int(national), "answered": done, "unused": unused,
                    "in_flight": in_flight, "cause": c, "detail": d,
                    "others": self._live_runs(cur, day, exclude=owner)}

        return self._run(tx)

    # -- reading -----------------------------------------------------------------------------------
    @staticmethod
    def _backlog(cur, day: str) -> pl.DataFrame:
        cur.execute(
            f"""
            SELECT r.unit_key, COUNT(*)::bigint,
                   GREATEST(0, %(day)s::date - substr(MIN(r.enqueued_at), 1, 10)::date)::float8,
                   (SELECT GREATEST(0, %(day)s::date - MAX(a.day)::date)::float8 FROM day_allocation a
                     WHERE a.unit_key = r.unit_key AND a.allocated > 0 AND a.day < %(day)s)
            FROM requests r WHERE r.state IN {_W} GROUP BY r.unit_key ORDER BY r.unit_key
            """,
            {"day": day},
        )
        return pl.DataFrame(cur.fetchall(), schema=BACKLOG_SCHEMA, orient="row")

    def backlog_by_unit(self, day: date | str | None = None) -> pl.DataFrame:
        """Every province's waiting requests per unit as of ``day`` (``unit_key, backlog,
        oldest_wait_days, days_since_served``)."""
        return self._run(lambda cur: self._backlog(cur, str(day or vietnam_today())))

    def reused_answers(self) -> int:
        return self._frame("SELECT COUNT(*) AS n FROM requests WHERE batch_id = 'reused'")["n"].item()

    def total_requests(self) -> int:
        return self._frame("SELECT COUNT(*) AS n FROM requests")["n"].item()

    def state_counts(self) -> dict[str, int]:
        f = self._frame("SELECT state, COUNT(*) AS n FROM requests GROUP BY state")
        return dict(zip(f["state"].to_list(), f["n"].to_list(), strict=True))

    def requests(self, personal_data: bool = True, day: date | str | None = None) -> pl.DataFrame:
        names = [*REQUEST_COLUMNS[:4], "unit_key", *REQUEST_COLUMNS[4:], *LINEAGE_COLUMNS, "state", "alloc_day",
                 "batch_id", "attempts", "status", "differing_fields", "answered_at"]
        keep = names if personal_data else [n for n in names if n not in PERSONAL_COLUMNS]
        where, params = ("WHERE alloc_day = %s", (str(day),)) if day else ("", ())
        return self._frame(f"SELECT {', '.join(keep)} FROM requests {where} ORDER BY request_id", params)

    def results(self, day: date | str | None = None) -> pl.DataFrame:
        where = f"state IN {_A}" + (" AND alloc_day = %s" if day else "")
        return self._frame(
            "SELECT request_id, province, sector, unit, person_id, status, COALESCE(differing_fields, '') "
            "AS differing_fields, answered_at, file_sha256, sheet, row_number, alloc_day AS day "
            f"FROM requests WHERE {where} ORDER BY request_id",
            (str(day),) if day else (),
            schema={"request_id": pl.Utf8, "province": pl.Utf8, "sector": pl.Utf8, "unit": pl.Utf8,
                    "person_id": pl.Utf8, "status": pl.Utf8, "differing_fields": pl.Utf8, "answered_at": pl.Utf8,
                    "file_sha256": pl.Utf8, "sheet": pl.Utf8, "row_number": pl.Int64, "day": pl.Utf8},
        )

    def unit_results(self, day: date | str | None = None) -> pl.DataFrame:
        where, params = ("WHERE alloc_day = %s", (str(day),)) if day else (f"WHERE state IN {_A}", ())
        answered = self._frame(
            "SELECT unit_key, COUNT(*) FILTER (WHERE state = 'verified'), COUNT(*) FILTER (WHERE state = 'mismatch'), "
            f"COUNT(*) FILTER (WHERE state = 'not_found') FROM requests {where} GROUP BY unit_key",
            params,
            schema={"unit_key": pl.Utf8, "verified": pl.Int64, "mismatch": pl.Int64, "not_found": pl.Int64},
        )
        waiting = self._frame(f"SELECT unit_key, COUNT(*) FROM requests WHERE state IN {_W} GROUP BY unit_key",
                              schema={"unit_key": pl.Utf8, "waiting": pl.Int64})
        return unit_results_frame(answered, waiting)

    def ledger(self) -> pl.DataFrame:
        return self._frame("SELECT * FROM ledger ORDER BY created_at, batch_id")

    def day_budgets(self) -> pl.DataFrame:
        return self._frame("SELECT * FROM day_budget ORDER BY day")

    def day_status(self, day: date | str) -> dict[str, Any] | None:
        day = str(day)
        budget = self._frame("SELECT quota, allocated, unused, stop_cause, stop_detail, runs FROM day_budget "
                             "WHERE day = %s", (day,))
        if budget.height == 0:
            return None
        counts = self._frame("SELECT state, COUNT(*) AS n FROM requests WHERE alloc_day = %s GROUP BY state", (day,))
        c = dict(zip(counts["state"].to_list(), counts["n"].to_list(), strict=True))
        b = budget.row(0, named=True)
        answered = sum(c.get(s, 0) for s in ANSWERED)
        return {"day": day, "quota": b["quota"], "allocated": b["allocated"], "answered": answered,
                "unused": b["allocated"] - answered if b["unused"] is None else b["unused"],
                "in_flight": c.get("allocated", 0) + c.get("sent", 0), "stop_cause": b["stop_cause"],
                "stop_detail": b["stop_detail"], "runs": b["runs"]}

    def day_allocation(self, day: date | str) -> pl.DataFrame:
        return self._frame(
            "SELECT unit_key, backlog, oldest_wait_days, floor, allocated FROM day_allocation "
            "WHERE day = %s ORDER BY unit_key",
            (str(day),),
            schema={"unit_key": pl.Utf8, "backlog": pl.Int64, "oldest_wait_days": pl.Float64, "floor": pl.Int64,
                    "allocated": pl.Int64},
        )
