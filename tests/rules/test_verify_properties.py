"""Property test of the queue across several days with random outages, 429s and bad answers.

Whatever the service does, for every day: answered <= that day's quota and <= its allocation; no
request is ever lost (every request is in exactly one state, none left ``allocated``/``sent``
after a run); an answered request is never sent again; re-running a day adds nothing once it is
complete.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.quota import QuotaPolicy
from rules.verify import BadResponse, QueueStore, QuotaExceeded, ServiceUnavailable, SimulatedService, run_day
from tests.rules.test_verify_support import register, requests

REGISTER = register()
REQUESTS = requests(120)
ERRORS = {"ok": None, "outage": ServiceUnavailable("x"), "quota": QuotaExceeded("x"), "bad": BadResponse("x")}


class Scripted:
    """Follows a script of call outcomes, then answers normally; counts what was answered."""

    def __init__(self, script: list[str]) -> None:
        self.script = list(script)
        self.inner = SimulatedService(REGISTER)
        self.answered: list[str] = []

    def verify(self, batch, idempotency_key=None):
        outcome = self.script.pop(0) if self.script else "ok"
        if ERRORS[outcome] is not None:
            raise ERRORS[outcome]
        answers = self.inner.verify(batch)
        self.answered += [a.request_id for a in answers]
        return answers


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    days=st.lists(
        st.tuples(st.integers(0, 80), st.integers(1, 40), st.lists(st.sampled_from(list(ERRORS)), max_size=6)),
        min_size=1,
        max_size=4,
    ),
    reruns=st.integers(1, 2),
)
def test_queue_invariants_under_random_failures(days, reruns):
    with tempfile.TemporaryDirectory() as tmp:
        store = QueueStore(Path(tmp) / "q.sqlite", create=True)
        store.enqueue(REQUESTS)
        answered: list[str] = []
        for i, (quota, batch, script) in enumerate(days):
            day = f"2026-12-{i + 1:02d}"
            svc = Scripted(script)
            for _ in range(reruns):
                report = run_day(store, day, QuotaPolicy(quota=quota, floor_per_unit=3), svc, batch_size=batch)
                assert report.answered_day <= min(report.allocated, quota)
                counts = store.state_counts()
                assert sum(counts.values()) == len(REQUESTS)
                assert counts.get("allocated", 0) == 0
                assert counts.get("sent", 0) == 0
            answered += svc.answered
            assert store.results(day).height == report.answered_day
        assert len(answered) == len(set(answered))  # never answered twice
        assert set(answered) == set(store.results()["request_id"])
        budgets = store.day_budgets()
        assert (budgets["allocated"] <= budgets["quota"]).all()
        waiting = store.requests().filter(pl.col("state").is_in(["pending", "failed"])).height
        assert waiting + store.results().height == len(REQUESTS)
