"""The verification service interface shared by the simulator, the HTTP client and the local server.

One interface, :class:`VerificationService`, ``verify(batch) -> answers``: a batch of
:class:`Request` (a proposed ``person_id`` and the fields to confirm) gets one :class:`Answer` per
request, with status ``verified``, ``mismatch`` (``differing_fields`` lists the fields that differ,
comma-separated, e.g. ``"date_of_birth,gender"``) or ``not_found``. A call that cannot be answered
raises one of three errors, which the dispatcher treats differently:

- :class:`ServiceUnavailable` (outage, timeout, 5xx after retries, open circuit breaker): the batch
  stays pending and the day stops; its unused capacity is reported with the cause.
- :class:`QuotaExceeded` (HTTP 429): the service refuses more today; dispatch stops, rest pending.
- :class:`BadResponse` (malformed or incomplete answer): the batch is marked failed and retried later.

The JSON wire format (``POST /v1/verify``, header ``Idempotency-Key: <batch id>``)::

    {"requests": [{"request_id", "person_id", "full_name", "date_of_birth": "YYYY-MM-DD", "gender"}]}
    -> 200 {"answers": [{"request_id", "status", "differing_fields": [..], "answered_at"}]}

Error messages carry counts and codes only, never names, IDs or birth dates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

STATUSES = ("verified", "mismatch", "not_found")
CONFIRM_FIELDS = ("full_name", "date_of_birth", "gender")


class VerificationError(Exception):
    """Base of the errors a verification call can raise."""


class ServiceUnavailable(VerificationError):
    """The service could not be reached or kept failing (retries exhausted, breaker open)."""


class CircuitOpen(ServiceUnavailable):
    """The circuit breaker is open: the service failed repeatedly, calls are not attempted."""


class QuotaExceeded(VerificationError):
    """The service refused the call because today's quota there is spent (HTTP 429)."""


class BadResponse(VerificationError):
    """The service answered, but not with a well-formed answer for every request of the batch."""


@dataclass(frozen=True)
class Request:
    """One verification request (contract 7); ``request_id`` is also its idempotency key."""

    request_id: str
    person_id: str
    full_name: str | None
    date_of_birth: str | None  # ISO YYYY-MM-DD
    gender: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """The service's answer to one request."""

    request_id: str
    status: str  # one of STATUSES
    differing_fields: str  # "" unless status == "mismatch"
    answered_at: str  # ISO 8601 UTC

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["differing_fields"] = [f for f in self.differing_fields.split(",") if f]
        return d


@runtime_checkable
class VerificationService(Protocol):
    """Anything that verifies a batch: :class:`SimulatedService`, :class:`HttpVerificationService`."""

    def verify(self, batch: list[Request], idempotency_key: str | None = None) -> list[Answer]:
        """Answer every request of ``batch`` or raise a :class:`VerificationError`.

        ``idempotency_key`` identifies the batch: re-sending a batch with the same key (after a crash
        or a lost answer) must not verify, or charge, its requests twice.
        """
        ...


def answers_from_json(payload: Any, batch: list[Request]) -> list[Answer]:
    """Decode and check a ``{"answers": [...]}`` payload: one well-formed answer per request."""
    if not isinstance(payload, dict) or not isinstance(payload.get("answers"), list):
        raise BadResponse("response has no `answers` list")
    wanted = {r.request_id for r in batch}
    out: dict[str, Answer] = {}
    for item in payload["answers"]:
        if not isinstance(item, dict):
            raise BadResponse("an answer is not a JSON object")
        rid, status = item.get("request_id"), item.get("status")
        fields = item.get("differing_fields") or []
        if rid not in wanted or status not in STATUSES or not isinstance(fields, list):
            raise BadResponse(f"an answer has an unknown request_id or status (status code: {status!r})")
        bad = [f for f in fields if f not in CONFIRM_FIELDS]
        if bad:
            raise BadResponse(f"an answer names unknown fields: {', '.join(map(str, bad))}")
        out[rid] = Answer(rid, status, ",".join(fields), str(item.get("answered_at") or ""))
    if len(out) != len(wanted):
        raise BadResponse(f"{len(wanted) - len(out)} of {len(wanted)} requests were not answered")
    return [out[r.request_id] for r in batch]
