"""The HTTP client driven against the local fault-injecting server on 127.0.0.1."""

from __future__ import annotations

import socket

import pytest

from rules.quota import QuotaPolicy
from rules.verify import (
    BadResponse,
    CircuitBreaker,
    CircuitOpen,
    ConfigError,
    Faults,
    HttpConfig,
    HttpVerificationService,
    QueueStore,
    QuotaExceeded,
    Request,
    ServiceUnavailable,
    VerificationConfig,
    run_day,
    serve,
)
from tests.rules.test_verify_support import register, requests


@pytest.fixture(scope="module")
def reg():
    return register()


@pytest.fixture
def server(reg):
    with serve(reg) as srv:
        yield srv


def batch(n: int = 8, start: int = 0) -> list[Request]:
    req = requests(200).slice(start, n)
    return [
        Request(r["request_id"], r["person_id"], r["full_name"], r["date_of_birth"], r["gender"])
        for r in req.iter_rows(named=True)
    ]


def client(url: str, sleeps: list[float] | None = None, **kw) -> HttpVerificationService:
    cfg = HttpConfig(endpoint=url, **{"read_timeout_s": 2.0, "backoff_base_s": 0.05, "max_attempts": 4, **kw})
    return HttpVerificationService(cfg, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_answers_every_request_in_batch_order(server):
    b = batch()
    answers = client(server.url).verify(b, "key-1")
    assert [a.request_id for a in answers] == [r.request_id for r in b]
    assert {a.status for a in answers} <= {"verified", "mismatch", "not_found"}
    assert server.stats.idempotency_keys["key-1"] == 1


def test_5xx_is_retried_with_growing_jittered_backoff(server):
    server.faults.error_5xx = 3
    sleeps: list[float] = []
    c = client(server.url, sleeps, backoff_base_s=0.1)
    assert len(c.verify(batch(), "k")) == 8
    assert c.attempts == 4 and len(sleeps) == 3
    for i, s in enumerate(sleeps, start=1):  # equal jitter: between half and all of base * 2^(i-1)
        assert 0.1 * 2 ** (i - 1) / 2 <= s <= 0.1 * 2 ** (i - 1)


def test_outage_mid_batch_is_retried_with_the_same_key_and_not_verified_twice(server):
    server.faults.drop = 2  # the server verifies the batch, then the connection dies before answering
    c = client(server.url)
    b = batch()
    answers = c.verify(b, "batch-42")
    assert len(answers) == 8 and c.attempts == 3
    assert server.stats.idempotency_keys["batch-42"] == 3
    assert set(server.stats.processed.values()) == {1}
    assert server.stats.replayed == 16


def test_slow_answers_time_out_and_end_as_service_unavailable(server):
    server.faults.latency_s = 0.6
    c = client(server.url, read_timeout_s=0.15, max_attempts=2)
    with pytest.raises(ServiceUnavailable, match="TimeoutError"):
        c.verify(batch(), "slow")


def test_malformed_json_is_retried_then_reported_as_bad_response(server):
    server.faults.malformed = 1
    assert len(client(server.url).verify(batch(), "m1")) == 8
    server.faults.malformed = 10
    with pytest.raises(BadResponse, match="malformed"):
        client(server.url, max_attempts=3).verify(batch(4, 50), "m2")


def test_429_stops_at_once_without_retry(server):
    server.faults.quota_limit = 10
    c = client(server.url)
    c.verify(batch(8), "q1")
    with pytest.raises(QuotaExceeded):
        c.verify(batch(8, 8), "q2")
    assert c.attempts == 2


def test_circuit_breaker_opens_after_repeated_failures_and_half_opens_later(server):
    server.faults.outage = True
    c = client(server.url, max_attempts=1, breaker_failures=3, breaker_reset_s=30)
    for _ in range(3):
        with pytest.raises(ServiceUnavailable):
            c.verify(batch(), "o")
    calls = server.stats.calls
    with pytest.raises(CircuitOpen):
        c.verify(batch(), "o")
    assert server.stats.calls == calls  # no call was made while open
    now = [0.0]
    breaker = CircuitBreaker(2, 10, clock=lambda: now[0])
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "open"
    now[0] = 11
    assert breaker.state == "half_open"
    breaker.before_call()
    breaker.record_failure()  # the trial failed: open again
    assert breaker.state == "open"


def test_unreachable_endpoint_is_a_clear_service_unavailable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    c = client(f"http://127.0.0.1:{port}/v1/verify", max_attempts=2)
    with pytest.raises(ServiceUnavailable, match="ConnectionRefusedError; check that the endpoint is reachable"):
        c.verify(batch(), "x")


def test_credentials_come_from_the_environment_and_are_checked(reg, monkeypatch):
    with serve(reg, token="s3cret") as srv:
        monkeypatch.delenv("DOISOAT_TEST_TOKEN", raising=False)
        with pytest.raises(ConfigError, match="DOISOAT_TEST_TOKEN"):
            client(srv.url, token_env="DOISOAT_TEST_TOKEN")
        monkeypatch.setenv("DOISOAT_TEST_TOKEN", "wrong")
        with pytest.raises(ServiceUnavailable, match="credentials") as info:
            client(srv.url, token_env="DOISOAT_TEST_TOKEN").verify(batch(), "t")
        assert "wrong" not in str(info.value)
        monkeypatch.setenv("DOISOAT_TEST_TOKEN", "s3cret")
        assert len(client(srv.url, token_env="DOISOAT_TEST_TOKEN").verify(batch(), "t")) == 8


def test_day_dispatch_over_http_stops_on_429_and_keeps_the_rest_pending(reg, tmp_path):
    store = QueueStore(tmp_path / "q.sqlite", create=True)
    store.enqueue(requests())
    with serve(reg, faults=Faults(quota_limit=50)) as srv:
        report = run_day(store, "2026-11-23", QuotaPolicy(quota=120, floor_per_unit=5), client(srv.url), batch_size=20)
        assert report.stop_cause == "quota_exceeded"
        assert report.answered_day == 40 and report.unused == 80
        assert sum(srv.stats.processed.values()) == 40
    counts = store.state_counts()
    assert counts["pending"] == len(requests()) - 40 and counts.get("allocated", 0) == 0


@pytest.mark.parametrize(
    ("http", "needle"),
    [
        ({"endpoint": "ftp://x/v1"}, "not an http"),
        ({}, "`endpoint` is missing"),
        ({"endpoint": "http://h/v1", "read_timeout_s": -1}, "read_timeout_s must be a number > 0"),
        ({"endpoint": "http://h/v1", "max_attempts": 0}, "max_attempts"),
        ({"endpoint": "http://h/v1", "retries": 3}, "unknown key"),
    ],
)
def test_bad_http_configuration_is_refused(tmp_path, http, needle):
    import yaml

    path = tmp_path / "quota.yaml"
    path.write_text(yaml.safe_dump({"national_daily_quota": 10, "verification": {"service": "http", "http": http}}))
    with pytest.raises(ConfigError, match=needle):
        VerificationConfig.from_yaml(path)


def test_shipped_verification_config_loads():
    cfg = VerificationConfig.from_yaml()
    assert cfg.service == "simulator" and cfg.batch_size > 0 and cfg.http is not None


def test_make_service_builds_the_configured_service(reg):
    from rules.verify import SimulatedService, make_service

    assert isinstance(make_service(VerificationConfig(), reg), SimulatedService)
    with pytest.raises(ConfigError, match="needs the population register"):
        make_service(VerificationConfig())
    http_cfg = VerificationConfig(service="http", http=HttpConfig(endpoint="http://127.0.0.1:9/v1/verify"))
    assert isinstance(make_service(http_cfg), HttpVerificationService)


def test_messages_never_carry_credentials_from_the_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = client(f"http://user:hunter2@127.0.0.1:{port}/v1/verify", max_attempts=1)
    with pytest.raises(ServiceUnavailable) as info:
        c.verify(batch(), "x")
    assert "hunter2" not in str(info.value) and f"127.0.0.1:{port}/v1/verify" in str(info.value)
