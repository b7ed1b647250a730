"""Verification: the durable queue, the daily dispatcher, and the verification services.

Usage (the daily job)::

    store = QueueStore("data/state/verification.sqlite", create=True)
    store.enqueue(build_requests(match_results, normalised_records))
    report = run_day(store, "2026-11-23", QuotaPolicy.from_yaml(), SimulatedService(register_df))
    cleaned = write_back(cleaned_records, store.results())

Modules: ``model`` (Request/Answer, the service interface, errors), ``register`` (answers from the
population register), ``simulator`` (embedded service), ``http_client`` (real endpoint: retries,
backoff, circuit breaker), ``server`` (local HTTP server with fault injection), ``queue`` (the queue
interface, ``open_queue``), ``store`` (SQLite queue + ledger, the default), ``pg_store`` (the national
PostgreSQL queue), ``dispatch`` (one day's run), ``results`` (requests from matches, write-back).
"""

from rules.verify.dispatch import DayReport, run_day, today
from rules.verify.http_client import (
    CircuitBreaker,
    ConfigError,
    HttpConfig,
    HttpVerificationService,
    VerificationConfig,
)
from rules.verify.model import (
    Answer,
    BadResponse,
    CircuitOpen,
    QuotaExceeded,
    Request,
    ServiceUnavailable,
    VerificationError,
    VerificationService,
)
from rules.verify.queue import VerificationQueue, open_queue
from rules.verify.register import RegisterIndex
from rules.verify.results import build_requests, write_back
from rules.verify.server import Faults, VerifyServer, serve, serve_until_interrupted
from rules.verify.service import make_service
from rules.verify.simulator import SimulatedService
from rules.verify.store import QueueStore, StoreError

__all__ = [
    "Answer",
    "BadResponse",
    "CircuitBreaker",
    "CircuitOpen",
    "ConfigError",
    "DayReport",
    "Faults",
    "HttpConfig",
    "HttpVerificationService",
    "QueueStore",
    "QuotaExceeded",
    "RegisterIndex",
    "Request",
    "ServiceUnavailable",
    "SimulatedService",
    "StoreError",
    "VerificationConfig",
    "VerificationError",
    "VerificationQueue",
    "VerificationService",
    "VerifyServer",
    "build_requests",
    "make_service",
    "open_queue",
    "run_day",
    "serve",
    "serve_until_interrupted",
    "today",
    "write_back",
]
