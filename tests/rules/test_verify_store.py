"""The queue store and one day's dispatch with the in-process simulator."""

from __future__ import annotations

import sqlite3

import polars as pl
import pytest

from rules.quota import QuotaPolicy
from rules.verify import (
    Answer,
    BadResponse,
    QueueStore,
    QuotaExceeded,
    ServiceUnavailable,
    SimulatedService,
    StoreError,
    build_requests,
    run_day,
    write_back,
)
from tests.rules.test_verify_support import matches, register, requests

DAY = "2026-11-23"


def policy(quota: int) -> QuotaPolicy:
    return QuotaPolicy(quota=quota, floor_per_unit=10)


@pytest.fixture
def store(tmp_path) -> QueueStore:
    s = QueueStore(tmp_path / "queue.sqlite", create=True)
    s.enqueue(requests())
    return s


def test_build_requests_keeps_matched_rows_with_stable_sha256_ids():
    req = requests()
    m = matches()
    assert len(req) == m.filter(pl.col("status") == "matched").height
    assert req["request_id"].str.len_chars().unique().to_list() == [64]
    assert req["request_id"].n_unique() == len(req)
    again = build_requests(m)
    assert again["request_id"].to_list() == req["request_id"].to_list()
    other_file = build_requests(matches(file_sha="e" * 64))
    assert set(other_file["request_id"]).isdisjoint(req["request_id"])


def test_build_requests_takes_fields_from_normalised_records():
    m = matches(20).drop("full_name", "date_of_birth", "gender")
    records = matches(20).select(
        "file_sha256",
        "sheet",
        "row_number",
        pl.col("full_name").alias("name_clean"),
        pl.col("date_of_birth").str.to_date().alias("dob"),
        pl.col("gender").alias("gender_norm"),
    )
    req = build_requests(m, records)
    assert req["full_name"].null_count() == 0
    assert req["date_of_birth"][0] == "2008-01-01"


def test_enqueue_is_idempotent_on_request_id(store):
    assert store.enqueue(requests()) == 0
    assert store.enqueue(requests(320)) == len(requests(320)) - len(requests())
    assert sum(store.state_counts().values()) == len(requests(320))


def test_enqueue_refuses_incomplete_frames(store):
    with pytest.raises(ValueError, match="lacks column"):
        store.enqueue(requests().drop("enqueued_at"))
    with pytest.raises(ValueError, match="null `person_id`"):
        store.enqueue(requests().with_columns(person_id=pl.lit(None, pl.Utf8)))


def test_day_spends_its_allocation_and_a_rerun_spends_nothing_more(store):
    svc = SimulatedService(register())
    total = len(requests())
    first = run_day(store, DAY, policy(100), svc, batch_size=16)
    assert first.allocated == 100 and first.answered_day == 100 and first.unused == 0
    assert first.per_unit["allocated"].sum() == 100
    assert int(first.per_unit.select(pl.sum_horizontal("verified", "mismatch", "not_found")).sum().item()) == 100
    second = run_day(store, DAY, policy(100), svc, batch_size=16)
    assert second.reused_allocation and second.sent_this_run == 0 and second.answered_day == 100
    assert svc.answered == 100
    assert store.backlog_by_unit(DAY)["backlog"].sum() == total - 100
    # a new day allocates afresh from what is still waiting
    nxt = run_day(store, "2026-11-24", policy(1_000), svc, batch_size=50)
    assert nxt.answered_day == total - 100 and nxt.idle_capacity == 1_000 - (total - 100)
    assert store.backlog_by_unit().height == 0


def test_results_carry_statuses_and_differing_fields_and_write_back(store):
    run_day(store, DAY, policy(10_000), SimulatedService(register()), batch_size=64)
    res = store.results()
    counts = dict(res.group_by("status").len().iter_rows())
    m = matches().filter(pl.col("status") == "matched")
    assert counts["not_found"] == m.filter(~pl.col("person_id").str.starts_with("079")).height
    mism = res.filter(pl.col("status") == "mismatch")
    assert set(mism["differing_fields"]) == {"date_of_birth"}
    assert counts["verified"] == len(res) - counts["not_found"] - len(mism)
    cleaned = matches().select("file_sha256", "sheet", "row_number", "unit")
    back = write_back(cleaned, res)
    assert back.height == cleaned.height
    verified = back.filter(pl.col("verification_status") == "verified")
    assert verified["verified_person_id"].null_count() == 0
    assert back.filter(pl.col("verification_status") == "mismatch")["verified_person_id"].null_count() == len(mism)
    assert back.filter(pl.col("row_number") == 8)["verification_status"].item() is None  # unmatched row


class Flaky:
    """Answers ``ok_calls`` batches, then raises ``error`` (wrapping a working simulator)."""

    def __init__(self, inner: SimulatedService, ok_calls: int, error: Exception) -> None:
        self.inner, self.ok_calls, self.error, self.calls = inner, ok_calls, error, 0

    def verify(self, batch, idempotency_key=None) -> list[Answer]:
        self.calls += 1
        if self.calls > self.ok_calls:
            raise self.error
        return self.inner.verify(batch, idempotency_key)


@pytest.mark.parametrize(
    ("error", "cause", "back_to"),
    [
        (QuotaExceeded("429"), "quota_exceeded", "pending"),
        (ServiceUnavailable("down"), "service_unavailable", "failed"),
    ],
)
def test_outage_reports_unused_capacity_and_keeps_the_rest_waiting(store, error, cause, back_to):
    svc = Flaky(SimulatedService(register()), ok_calls=2, error=error)
    report = run_day(store, DAY, policy(100), svc, batch_size=20)
    assert report.answered_day == 40 and report.unused == 60 and report.stop_cause == cause
    counts = store.state_counts()
    assert counts.get("allocated", 0) == 0 and counts.get("sent", 0) == 0
    assert counts[back_to] >= 20
    assert sum(counts.values()) == len(requests())
    budget = store.day_budgets().row(0, named=True)
    assert budget["unused"] == 60 and budget["stop_cause"] == cause
    # the service is back: a re-run of the same day sends only what the day has left
    again = run_day(store, DAY, policy(100), SimulatedService(register()), batch_size=20)
    assert again.answered_day == 100 and again.unused == 0 and again.sent_this_run == 60
    assert store.results(DAY).height == 100


def test_bad_responses_mark_batches_failed_and_they_are_retried_later(store):
    svc = Flaky(SimulatedService(register()), ok_calls=1, error=BadResponse("garbage"))
    report = run_day(store, DAY, policy(100), svc, batch_size=10, max_bad_batches=2)
    assert report.stop_cause == "bad_response" and report.failed_batches == 2
    assert store.state_counts()["failed"] == 20
    ledger = store.ledger()
    assert ledger.filter(pl.col("state") == "failed").height == 2
    run_day(store, "2026-11-24", policy(10_000), SimulatedService(register()), batch_size=50)
    assert store.state_counts().get("failed", 0) == 0
    retried = store.requests().filter(pl.col("attempts") == 2)
    assert retried.height == 20 and set(retried["state"]) <= {"verified", "mismatch", "not_found"}


def test_missing_and_corrupt_stores_are_refused_with_what_to_do(tmp_path):
    with pytest.raises(StoreError, match="not found; create it"):
        QueueStore(tmp_path / "nope.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="corrupt or not a doisoat queue"):
        QueueStore(junk)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    with pytest.raises(StoreError, match="not a doisoat verification queue"):
        QueueStore(other)


def test_simulator_failure_rate_and_daily_limit():
    svc = SimulatedService(register(), failure_rate=1.0)
    with pytest.raises(ServiceUnavailable):
        svc.verify([])
    limited = SimulatedService(register(), daily_limit=5)
    req = requests(10)
    from rules.verify import Request

    batch = [
        Request(r["request_id"], r["person_id"], r["full_name"], r["date_of_birth"], r["gender"])
        for r in req.head(6).iter_rows(named=True)
    ]
    with pytest.raises(QuotaExceeded):
        limited.verify(batch)
    assert len(limited.verify(batch[:5], "k")) == 5
    assert limited.verify(batch[:5], "k") == limited.verify(batch[:5], "k")  # replay, not counted again
    assert limited.answered == 5


def test_store_frames_feed_allocation_and_forecast_under_unit_key(store):
    from rules.quota import allocate, forecast

    backlog = store.backlog_by_unit(DAY)
    assert backlog.columns == ["unit_key", "backlog", "oldest_wait_days", "days_since_served"]
    assert backlog["days_since_served"].null_count() == backlog.height  # nothing served yet
    req = requests()
    expected = req.select(pl.concat_str(["province", "sector", "unit"], separator="/")).to_series()
    assert set(backlog["unit_key"]) == set(expected)
    assert backlog["backlog"].sum() == len(req)
    assert backlog["oldest_wait_days"].unique().to_list() == [3.0]  # enqueued 2026-11-20
    assert allocate(backlog, policy(50)).columns[0] == "unit_key"
    fc = forecast(backlog, policy(50), start_day=DAY)  # an ISO string, as a partition key
    assert {"unit_key", "clearance_day", "days_to_clear"} <= set(fc.units.columns)
    assert fc.national_clearance_day == fc.national_date is not None
    report = run_day(store, DAY, policy(50), SimulatedService(register()), batch_size=25)
    assert report.per_unit.columns[0] == "unit_key"
    assert store.day_allocation(DAY)["allocated"].sum() == 50


def test_days_since_served_counts_from_the_last_day_with_an_allocation(store):
    run_day(store, DAY, policy(30), SimulatedService(register()), batch_size=10)
    served = set(store.day_allocation(DAY).filter(pl.col("allocated") > 0)["unit_key"])
    later = store.backlog_by_unit("2026-11-26")
    assert set(later.filter(pl.col("days_since_served") == 3.0)["unit_key"]) == served & set(later["unit_key"])
    assert (later["oldest_wait_days"] == 6.0).all()


def test_fields_left_null_or_imprecise_are_not_compared():
    from rules.verify import RegisterIndex, Request

    m = matches(4)
    records = m.select(
        "file_sha256",
        pl.lit(None, pl.Utf8).alias("sheet"),  # a null sheet still joins (csv uploads use "")
        "row_number",
        pl.col("full_name").alias("name_clean"),
        pl.col("date_of_birth").str.to_date().alias("dob"),
        pl.Series("dob_precision", ["day", "year", "month", None]),
        pl.col("gender").alias("gender_norm"),
    )
    req = build_requests(m.drop("full_name", "date_of_birth", "gender"), records)
    assert req["date_of_birth"].to_list()[:3] == ["2008-01-01", None, None]
    assert req["full_name"].null_count() == 0
    index = RegisterIndex(register())
    pid = register()["person_id"][1]
    answers = index.answer([Request("a", pid, None, None, None), Request("b", pid, None, "1999-01-01", None)])
    assert [(a.status, a.differing_fields) for a in answers] == [("verified", ""), ("mismatch", "date_of_birth")]


def test_a_partly_answered_batch_leaves_nothing_stuck_in_sent(store):
    class Partial:
        def verify(self, batch, idempotency_key=None):
            return SimulatedService(register()).verify(batch[: len(batch) // 2])

    report = run_day(store, DAY, policy(40), Partial(), batch_size=10)
    counts = store.state_counts()
    assert counts.get("sent", 0) == 0 and counts["failed"] == 20
    assert report.answered_day == 20 and report.unused == 20 and report.stop_cause == "failed_requests"
    assert store.ledger()["cause"].to_list() == ["5 unanswered"] * 4
    again = run_day(store, DAY, policy(40), SimulatedService(register()), batch_size=10)
    assert again.answered_day == 40 and again.unused == 0 and again.stop_cause is None


def test_a_store_damaged_inside_is_refused_before_dispatch(tmp_path):
    path = tmp_path / "q.sqlite"
    store = QueueStore(path, create=True)
    store.enqueue(requests())
    with store.connect() as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page : 6 * page] = b"\xff" * (3 * page)  # wreck a few b-tree pages, keep the header
    path.write_bytes(bytes(data))
    damaged = QueueStore(path)
    with pytest.raises(StoreError, match="corrupt"):
        run_day(damaged, DAY, policy(10), SimulatedService(register()))


def test_requests_without_personal_data(store):
    frame = store.requests(personal_data=False)
    assert frame.height == len(requests())
    assert not {"person_id", "full_name", "date_of_birth", "gender"} & set(frame.columns)
    assert {"request_id", "province", "sector", "unit", "state", "status", "differing_fields"} <= set(frame.columns)
