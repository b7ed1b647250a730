"""The queue's daily operations cost what they touch, not what the store holds (issue 11: the day
after a big day was quadratic). Measured by work done, never by wall time: the query plans use
indexes (no full scan of ``requests``), and the SQLite VM steps of an enqueue, a withdrawal and a
day's allocation stay the same when the store around them is four times larger."""

from __future__ import annotations

import contextlib
import datetime as dt
import re

import polars as pl
import pytest

from rules import interrupts
from rules.quota import QuotaPolicy
from rules.verify import QueueStore, SimulatedService, run_day
from rules.verify.dispatch import _allocate_day
from rules.verify.store import ANSWERED, WAITING

UNITS = 40


def frame(start: int, n: int, tag: str) -> pl.DataFrame:
    i = pl.int_range(start, start + n, eager=True)
    return pl.DataFrame({"i": i}).select(
        request_id=pl.format("{}-{}", pl.lit(tag), pl.col("i")),
        province=pl.lit("ha_noi"),
        sector=pl.lit("students"),
        unit=pl.format("u{}", pl.col("i") % UNITS),
        person_id=pl.format("001{}", pl.col("i").cast(pl.Utf8).str.zfill(9)),
        full_name=pl.format("Tran Thi {}", pl.col("i")),
        date_of_birth=pl.lit("2010-05-05"),
        gender=pl.lit("Nữ"),
        enqueued_at=pl.lit("2026-11-01T08:00:00+00:00"),
        file_sha256=pl.format("{}-f{}", pl.lit(tag), pl.col("i") % (2 * UNITS)),
        sheet=pl.lit(""),
        row_number=pl.col("i"),
    )


def store_of(tmp_path, answered: int, waiting: int) -> QueueStore:
    store = QueueStore(tmp_path / f"q{answered}.sqlite", create=True)
    store.enqueue(frame(0, answered + waiting, "old"))
    with store.transaction() as con:
        con.execute(
            "UPDATE requests SET state = 'verified', status = 'verified', answered_at = '2026-11-02', "
            "alloc_day = '2026-11-02', batch_id = 'history' WHERE row_number < ?",
            (answered,),
        )
    return store


@contextlib.contextmanager
def vm_steps(store: QueueStore):
    """Count SQLite VM steps (in thousands) run on the store's connection inside the block."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    with store.connect() as con:
        con.set_progress_handler(tick, 1000)
    try:
        yield count
    finally:
        with store.connect() as con:
            interrupts.watch(con)


def day_ops(store: QueueStore, answered: int, waiting: int) -> dict[str, int]:
    """Steps of the day's operations on a fixed amount of work (1,000 new requests, one superseded
    file, an allocation of 400) however big the store is."""
    out = {}
    twins = frame(0, 100, "new")  # identical to answered requests: they take the earlier answer
    fresh = frame(answered + waiting, 900, "new")
    with vm_steps(store) as n:
        added = store.enqueue(pl.concat([twins, fresh]))
    assert added == 1000 and store.reused_answers() == 100
    out["enqueue"] = n[0]
    files = {f for (f,) in store._frame("SELECT file_sha256 FROM request_files").iter_rows()}
    with vm_steps(store) as n:
        withdrawn = store.withdraw_superseded(files - {"new-f1"})
    assert withdrawn == (900 // (2 * UNITS)) + 1 or withdrawn > 0
    out["withdraw"] = n[0]
    with vm_steps(store) as n:
        _allocate_day(store, "2026-11-24", QuotaPolicy(quota=400, floor_per_unit=5))
    assert store.day_budgets()["allocated"][0] == 400
    out["allocate"] = n[0]
    register = frame(answered, waiting + 1000, "reg").select("person_id", "full_name", "date_of_birth", "gender")
    service = SimulatedService(register)
    from rules.verify.dispatch import _claim, _commit

    with vm_steps(store) as n:  # the day's batches: claim, answer, commit (with answer reuse)
        while (claim := _claim(store, "2026-11-24", 100, "bench:0:x", 60)) is not None:
            _commit(store, claim[0], service.verify(claim[1], claim[0]))
    out["dispatch"] = n[0]
    assert store.day_status("2026-11-24")["answered"] == 400
    return out


def test_daily_operations_cost_the_same_in_a_store_four_times_larger(tmp_path):
    small = day_ops(store_of(tmp_path, 4_000, 2_000), 4_000, 2_000)
    large = day_ops(store_of(tmp_path, 16_000, 8_000), 16_000, 8_000)
    print("VM steps (thousands) small -> large:", small, large)
    for op in ("enqueue", "withdraw", "dispatch"):
        # The work, not the store: well under the x4 of a scan, let alone the x16 of quadratic.
        assert large[op] <= small[op] * 1.6 + 20, (op, small[op], large[op])
    # The allocation counts the waiting backlog per unit (once a day): linear in it, never more.
    assert large["allocate"] <= small["allocate"] * 4 * 1.25, (small["allocate"], large["allocate"])


def plan(store: QueueStore, sql: str, params: tuple = ()) -> str:
    with store.connect() as con:
        return "\n".join(r[3] for r in con.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall())


def full_scans_of_requests(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"\s*SCAN (requests|w|a|b)\b", line)]


@pytest.mark.parametrize(
    "sql",
    [
        # answer reuse for the new requests (enqueue) and after a batch is answered
        "SELECT w.request_id, (SELECT a.request_id FROM requests a WHERE a.person_id = w.person_id "
        "AND a.full_name IS w.full_name AND a.date_of_birth IS w.date_of_birth AND a.gender IS w.gender "
        f"AND a.state IN {ANSWERED} ORDER BY a.answered_at DESC, a.request_id LIMIT 1) "
        f"FROM touched t CROSS JOIN requests w ON w.request_id = t.request_id WHERE w.state IN {WAITING}",
        "SELECT w.request_id FROM requests b CROSS JOIN requests w ON w.person_id = b.person_id "
        "AND w.full_name IS b.full_name AND w.date_of_birth IS b.date_of_birth AND w.gender IS b.gender "
        f"AND w.state IN {WAITING} WHERE b.batch_id = 'x' AND +b.state IN {ANSWERED}",
        # a batch's requests
        "SELECT request_id, person_id FROM requests WHERE batch_id = 'x' AND +state = 'sent'",
        # withdrawal and re-pending per file
        f"UPDATE requests SET state = 'withdrawn' WHERE state IN {WAITING} AND file_sha256 IN ("
        "SELECT file_sha256 FROM request_files WHERE file_sha256 NOT IN (SELECT sha FROM current_files))",
        "SELECT request_id FROM requests WHERE state = 'withdrawn' AND file_sha256 IN (SELECT sha FROM current_files)",
        # the claim of a batch, in claim order straight from the index
        "SELECT request_id FROM requests WHERE alloc_day = 'd' AND state = 'allocated' "
        "ORDER BY unit_key, enqueued_at, request_id LIMIT 500",
        # the day's released allocation
        "UPDATE requests SET state = 'pending', alloc_day = NULL WHERE alloc_day = 'd' AND state = 'allocated'",
    ],
)
def test_queue_statements_use_indexes_not_scans(tmp_path, sql):
    store = store_of(tmp_path, 3000, 1000)  # no statistics, as in the field: the plan rests on the indexes
    text = plan(store, sql)
    assert "USING" in text and not full_scans_of_requests(text), text
    if "batch_id = 'x'" in sql:  # by batch, never by a state index (that would read every answered row)
        assert "requests_batch (batch_id=?)" in text, text
    assert "TEMP B-TREE FOR ORDER BY" not in text or "LIMIT 1" in sql, text


def test_claims_read_the_index_in_order_without_sorting(tmp_path):
    store = store_of(tmp_path, 50, 50)
    text = plan(store, "SELECT request_id FROM requests WHERE alloc_day = 'd' AND state = 'allocated' "
                       "ORDER BY unit_key, enqueued_at, request_id LIMIT 500")
    assert "requests_of_day" in text and "TEMP B-TREE" not in text, text


def test_a_twin_waiting_while_its_first_was_sent_takes_the_answer_when_it_comes(tmp_path):
    """Answer reuse no longer rescans the store at every enqueue, so a request identical to one in
    flight takes its answer when that batch is committed."""
    store = QueueStore(tmp_path / "q.sqlite", create=True)
    store.enqueue(frame(0, 10, "a"))
    register = frame(0, 10, "a").select("person_id", "full_name", "date_of_birth", "gender")
    policy = QuotaPolicy(quota=10, floor_per_unit=1)
    service = SimulatedService(register)

    class TwinArrives:
        def verify(self, batch, idempotency_key=None):
            if not store.reused_answers() and store.total_requests() == 10:
                store.enqueue(frame(0, 10, "b").with_columns(enqueued_at=pl.lit(dt.datetime.now(dt.UTC).isoformat())))
            return service.verify(batch, idempotency_key)

    report = run_day(store, "2026-11-24", policy, TwinArrives(), batch_size=10)
    assert report.answered_day == 10
    states = store.requests().filter(pl.col("request_id").str.starts_with("b-"))
    assert states["batch_id"].to_list() == ["reused"] * 10
    assert states["state"].is_in(list(ANSWERED)).all()
