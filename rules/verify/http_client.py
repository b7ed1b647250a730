"""HTTP client for a real verification endpoint (JSON batch API, see ``rules.verify.model``).

Why each behaviour:

- **Retries with exponential backoff and jitter** on transport errors, timeouts, 5xx and malformed
  answers: short outages of a national service are normal; jitter keeps many clients from retrying
  in lock-step. Every retry re-sends the same ``Idempotency-Key`` and request ids, so a batch the
  service already processed (answer lost in an outage) is answered from its record, not charged twice.
- **Circuit breaker**: after ``breaker_failures`` failed calls in a row the client stops calling for
  ``breaker_reset_s`` (raises :class:`CircuitOpen`), then lets one trial call through.
- **HTTP 429** raises :class:`QuotaExceeded` at once (no retry): the dispatcher stops the day and
  keeps the rest pending. 401/403 raise :class:`ServiceUnavailable` naming the credentials setting.

Configuration (``verification.http`` in ``quota.yaml``): ``endpoint``, ``token_env`` (the *name* of
an environment variable holding a bearer token; the token itself never sits in a file or a log),
``connect_timeout_s``, ``read_timeout_s``, ``max_attempts``, ``backoff_base_s``, ``backoff_max_s``,
``breaker_failures``, ``breaker_reset_s``; ``verification.batch_size`` sets the batch size.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rules.quota.policy import DEFAULT_POLICY_PATH, PolicyError, load_yaml
from rules.verify.model import (
    Answer,
    BadResponse,
    CircuitOpen,
    QuotaExceeded,
    Request,
    ServiceUnavailable,
    answers_from_json,
)

SERVICES = ("simulator", "http")


class ConfigError(PolicyError):
    """The verification configuration is unusable; the message names the key to fix."""


@dataclass(frozen=True)
class HttpConfig:
    endpoint: str
    token_env: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    breaker_failures: int = 5
    breaker_reset_s: float = 60.0

    def __post_init__(self) -> None:
        parts = urlsplit(str(self.endpoint))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"verification.http.endpoint {self.endpoint!r} is not an http(s) URL; "
                "write e.g. https://verify.example.gov.vn/v1/verify"
            )
        for name in (
            "connect_timeout_s",
            "read_timeout_s",
            "backoff_base_s",
            "backoff_max_s",
            "breaker_reset_s",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"verification.http.{name} must be a number > 0 (got {value!r})")
        for name in ("max_attempts", "breaker_failures"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"verification.http.{name} must be a whole number >= 1 (got {value!r})")

    @classmethod
    def from_dict(cls, data: Any, source: str = "verification.http") -> HttpConfig:
        if not isinstance(data, dict) or not data.get("endpoint"):
            raise ConfigError(f"{source}: `endpoint` is missing; set the verification service URL")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None

    def token(self) -> str | None:
        """The bearer token from the environment (``token_env``), or None when no token is configured."""
        if not self.token_env:
            return None
        value = os.environ.get(self.token_env)
        if not value:
            raise ConfigError(
                f"verification.http.token_env names {self.token_env}, but that environment variable is "
                "empty; export it with the service token (or remove token_env for an open endpoint)"
            )
        return value


@dataclass(frozen=True)
class VerificationConfig:
    """The ``verification`` section of ``quota.yaml``."""

    service: str = "simulator"
    batch_size: int = 500
    http: HttpConfig | None = None

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_POLICY_PATH) -> VerificationConfig:
        data = load_yaml(path)
        section = data.get("verification") if isinstance(data, dict) else None
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: `verification:` section is missing; add service and batch_size")
        service = section.get("service", "simulator")
        if service not in SERVICES:
            raise ConfigError(f"{path}: verification.service {service!r} unknown; use one of: {', '.join(SERVICES)}")
        batch = section.get("batch_size", 500)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"{path}: verification.batch_size must be a whole number >= 1 (got {batch!r})")
        http_cfg = None
        if service == "http" or section.get("http"):
            http_cfg = HttpConfig.from_dict(section.get("http"), source=f"{path}: verification.http")
        return cls(service=service, batch_size=batch, http=http_cfg)


class CircuitBreaker:
    """Closed -> open after ``failures`` failed calls in a row -> half-open after ``reset_s``."""

    def __init__(self, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.reset_s = reset_s
        self.clock = clock
        self._in_row = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self._opened_at >= self.reset_s else "open"

    def before_call(self) -> None:
        with self._lock:
            if self.state == "open":
                wait = self.reset_s - (self.clock() - self._opened_at)  # type: ignore[operator]
                raise CircuitOpen(f"circuit breaker open after {self._in_row} failed calls; next try in {wait:.0f} s")

    def record_success(self) -> None:
        with self._lock:
            self._in_row = 0
            self._opened_at = None

    def record_failure(self) -> None:
        with self._lock:
            self._in_row += 1
            if self._in_row >= self.failures or self._opened_at is not None:
                self._opened_at = self.clock()


class HttpVerificationService:
    """:class:`VerificationService` over HTTP. ``sleep``/``rng`` are injectable for fast tests."""

    def __init__(
        self,
        config: HttpConfig,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._token = config.token()
        self._url = urlsplit(config.endpoint)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset_s)
        self.attempts = 0  # HTTP calls made (for reports and tests)

    def backoff(self, attempt: int) -> float:
        """Delay before retry ``attempt`` (1-based): half fixed, half random ("equal jitter")."""
        cap = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
        return cap / 2 + self._rng.uniform(0, cap / 2)

    def verify(self, batch: list[Request], idempotency_key: str | None = None) -> list[Answer]:
        if not batch:
            return []
        self.breaker.before_call()
        body = json.dumps({"requests": [r.to_json() for r in batch]}, ensure_ascii=False).encode("utf-8")
        problem = ""
        malformed = False
        for attempt in range(1, self.config.max_attempts + 1):
            retry_after = 0.0
            try:
                status, headers, data = self._post(body, idempotency_key)
            except (OSError, http.client.HTTPException) as exc:  # refused, reset, timeout, bad status line
                problem, malformed = f"{type(exc).__name__}", False
            else:
                if status == 200:
                    try:
                        answers = answers_from_json(json.loads(data.decode("utf-8")), batch)
                    except (ValueError, BadResponse) as exc:  # JSONDecodeError is a ValueError
                        problem, malformed = f"malformed answer ({type(exc).__name__})", True
                    else:
                        self.breaker.record_success()
                        return answers
                elif status == 429:
                    self.breaker.record_success()  # the service is up; it just refuses more today
                    raise QuotaExceeded(f"service answered HTTP 429 (quota exceeded) at {self._where()}")
                elif status in (401, 403):
                    self.breaker.record_failure()
                    raise ServiceUnavailable(
                        f"service refused the credentials (HTTP {status}) at {self._where()}; "
                        f"check the token in ${self.config.token_env or '<token_env not set>'}"
                    )
                elif status >= 500 or status == 408:
                    problem, malformed = f"HTTP {status}", False
                    retry_after = _seconds(headers.get("retry-after"))
                else:
                    self.breaker.record_failure()
                    raise BadResponse(f"service rejected the batch with HTTP {status} at {self._where()}")
            if attempt < self.config.max_attempts:
                self._sleep(min(self.config.backoff_max_s, max(retry_after, self.backoff(attempt))))
        self.breaker.record_failure()
        message = f"{self._where()} failed {self.config.max_attempts} attempts, last: {problem}"
        if malformed:
            raise BadResponse(message)
        raise ServiceUnavailable(f"{message}; check that the endpoint is reachable (verification.http.endpoint)")

    def _where(self) -> str:
        """The endpoint for messages, without any user:password@ part."""
        port = f":{self._url.port}" if self._url.port else ""
        return f"{self._url.scheme}://{self._url.hostname}{port}{self._url.path}"

    def _post(self, body: bytes, key: str | None) -> tuple[int, dict[str, str], bytes]:
        self.attempts += 1
        cls = http.client.HTTPSConnection if self._url.scheme == "https" else http.client.HTTPConnection
        conn = cls(self._url.hostname, self._url.port, timeout=self.config.connect_timeout_s)
        try:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(self.config.read_timeout_s)
            headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
            if key:
                headers["Idempotency-Key"] = key
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            conn.request("POST", self._url.path or "/", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
