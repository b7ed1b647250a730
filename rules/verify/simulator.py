"""The embedded default verification service: an in-process simulator backed by the register.

Why: the national service is not reachable from development or CI, yet the whole daily flow (quota,
dispatch, results, write-back) must run end to end. The simulator answers exactly like the local
HTTP server (both use :class:`RegisterIndex`) and can be made slow or flaky.

    svc = SimulatedService(register_df, latency_s=0.01, failure_rate=0.05, seed=1)
    answers = svc.verify(batch)
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import polars as pl

from rules.verify.model import Answer, QuotaExceeded, Request, ServiceUnavailable
from rules.verify.register import RegisterIndex


class SimulatedService:
    """In-process :class:`VerificationService`.

    ``latency_s``: sleep per batch call. ``failure_rate``: probability a call raises
    :class:`ServiceUnavailable` (seeded, so runs are reproducible). ``daily_limit``: after that many
    requests answered, calls raise :class:`QuotaExceeded` (the service's own quota). Re-sending a batch
    with an idempotency key already answered returns the stored answers without counting them again.
    """

    def __init__(
        self,
        register: pl.DataFrame | str | Path | RegisterIndex,
        latency_s: float = 0.0,
        failure_rate: float = 0.0,
        seed: int = 0,
        daily_limit: int | None = None,
    ) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        if latency_s < 0:
            raise ValueError("latency_s must be >= 0")
        self.index = register if isinstance(register, RegisterIndex) else RegisterIndex(register)
        self.latency_s = latency_s
        self.failure_rate = failure_rate
        self.daily_limit = daily_limit
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._replies: dict[str, list[Answer]] = {}
        self.calls = 0
        self.answered = 0

    def verify(self, batch: list[Request], idempotency_key: str | None = None) -> list[Answer]:
        with self._lock:
            self.calls += 1
            if idempotency_key is not None and idempotency_key in self._replies:
                return self._replies[idempotency_key]
            if self.failure_rate and self._rng.random() < self.failure_rate:
                raise ServiceUnavailable("simulated outage")
            if self.daily_limit is not None and self.answered + len(batch) > self.daily_limit:
                raise QuotaExceeded(f"simulated service quota of {self.daily_limit} reached")
        if self.latency_s:
            time.sleep(self.latency_s)
        answers = self.index.answer(batch)
        with self._lock:
            self.answered += len(answers)
            if idempotency_key is not None:
                self._replies[idempotency_key] = answers
        return answers
