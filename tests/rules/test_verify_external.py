"""The quota is national: other installations' backlogs (counts only) take part in the allocation,
and this store dispatches only its own share."""

from __future__ import annotations

import polars as pl

from rules.quota import QuotaPolicy
from rules.verify import QueueStore, SimulatedService, run_day
from tests.rules.test_verify_support import register, requests

DAY = "2026-11-23"


def test_external_backlogs_share_the_national_quota_and_only_local_requests_are_sent(tmp_path):
    store = QueueStore(tmp_path / "queue.sqlite", create=True)
    local_waiting = store.enqueue(requests())  # 3 local units
    external = pl.DataFrame({"unit": ["ha_noi/students/x", "da_nang/insurance/y", "ha_noi/students/thpt_a"],
                             "backlog": [5_000, 3, 7], "oldest_wait_days": [10.0, 0.0, 0.0]})
    assert store.set_external_backlogs(DAY, external)
    policy = QuotaPolicy(quota=1_000, floor_per_unit=10)
    report = run_day(store, DAY, policy, SimulatedService(register()))

    allocation = store.day_allocation(DAY)
    outside = store.external_units(DAY)
    local_keys = set(store.backlog_by_unit(DAY)["unit_key"]) | set(
        store.requests()["unit_key"].unique().to_list())
    assert int(allocation["allocated"].sum()) == policy.quota  # the national quota is spent exactly
    assert set(outside["unit_key"]) == {"ha_noi/students/x", "da_nang/insurance/y"}  # local keys never external
    assert outside.filter(pl.col("unit_key") == "da_nang/insurance/y")["allocated"].item() == 3  # floor
    local_share = int(allocation.filter(pl.col("unit_key").is_in(list(local_keys)))["allocated"].sum())
    assert 0 < local_share < local_waiting
    assert report.allocated == local_share == report.answered_day  # only this store's share is sent
    assert report.unused == 0 and report.idle_capacity == 0
    # The day's allocation is fixed: new external figures change nothing, and a re-run sends nothing more.
    assert not store.set_external_backlogs(DAY, external.with_columns(pl.col("backlog") * 2))
    again = run_day(store, DAY, policy, SimulatedService(register()))
    assert again.sent_this_run == 0 and again.answered_day == report.answered_day


def test_requests_of_a_superseded_upload_are_withdrawn_not_sent(tmp_path):
    store = QueueStore(tmp_path / "queue.sqlite", create=True)
    old = requests(30)  # file "f"*64
    new = requests(30, file_sha="e" * 64)  # the corrected file: same people, new lineage
    store.enqueue(old)
    store.enqueue(new)
    assert store.withdraw_superseded({"e" * 64}) == old.height
    assert store.withdraw_superseded({"e" * 64}) == 0  # idempotent
    report = run_day(store, DAY, QuotaPolicy(quota=1_000, floor_per_unit=10), SimulatedService(register()))
    sent = store.requests().filter(pl.col("state") != "withdrawn")
    assert report.answered_day == new.height == sent.height
    assert store.state_counts()["withdrawn"] == old.height  # kept for the record, nothing deleted


def test_a_corrected_file_reuses_answers_and_a_withdrawn_file_can_come_back(tmp_path):
    store = QueueStore(tmp_path / "queue.sqlite", create=True)
    policy = QuotaPolicy(quota=1_000, floor_per_unit=10)
    old = requests(30)
    store.enqueue(old)
    first = run_day(store, DAY, policy, SimulatedService(register()))
    assert first.answered_day == old.height
    # The corrected file asks the same questions for the same people: answered at once, nothing sent.
    new = requests(30, file_sha="e" * 64)
    store.enqueue(new)
    assert store.withdraw_superseded({"e" * 64}) == 0  # the old file's requests were already answered
    assert store.reused_answers() == new.height
    assert store.backlog_by_unit("2026-11-24").height == 0
    again = run_day(store, "2026-11-24", policy, SimulatedService(register()))
    assert again.sent_this_run == 0
    answered = store.results().filter(pl.col("file_sha256") == "e" * 64)
    assert answered.height == new.height and set(answered["status"]) <= {"verified", "mismatch", "not_found"}


def test_withdrawn_requests_wait_again_when_their_file_is_current_again(tmp_path):
    store = QueueStore(tmp_path / "queue.sqlite", create=True)
    n = store.enqueue(requests(30))
    assert n > 0 and store.withdraw_superseded({"e" * 64}) == n
    assert store.withdraw_superseded({"f" * 64}) == 0
    assert store.state_counts() == {"pending": n}
