"""A small local verification server (stdlib ``ThreadingHTTPServer``) with fault injection.

It implements the JSON batch API of ``rules.verify.model`` over a population register, so the HTTP
client can be tested for real on 127.0.0.1 and operators can run a stand-in endpoint
(``doisoat verify-server``). It behaves like a well-run service should: each ``request_id`` is
verified (and counted against its quota) once; a repeated id is answered from the record, so
re-sends after lost answers cost nothing. :class:`ServerStats` counts every processing per id, which
is how tests prove that nothing was double-sent.

Endpoints: ``POST /v1/verify`` (body and answer as in ``model``; optional ``Authorization: Bearer``),
``GET /v1/health``. Faults (:class:`Faults`, mutable while running): ``latency_s`` (slow answers),
``error_5xx`` (next N calls answer 503), ``malformed`` (next N calls are processed but answered with
broken JSON), ``drop`` (next N calls are processed, then the connection is closed without an answer:
an outage in the middle of a batch), ``outage`` (every call is cut before processing),
``quota_limit`` (429 once that many distinct requests were verified).

    with serve(register_df, faults=Faults(latency_s=0.1)) as server:
        client = HttpVerificationService(HttpConfig(endpoint=server.url))
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl

from rules.verify.model import Answer, Request
from rules.verify.register import RegisterIndex

API_PATH = "/v1/verify"


@dataclass
class Faults:
    latency_s: float = 0.0
    error_5xx: int = 0
    malformed: int = 0
    drop: int = 0
    outage: bool = False
    quota_limit: int | None = None


@dataclass
class ServerStats:
    calls: int = 0
    processed: Counter = field(default_factory=Counter)  # request_id -> times verified (must stay 1)
    replayed: int = 0  # requests answered from the record
    received: Counter = field(default_factory=Counter)  # request_id -> times it reached the server
    idempotency_keys: Counter = field(default_factory=Counter)


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (timeout) leaves a broken pipe behind: expected, not worth a traceback."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class VerifyServer:
    """A running server; use as a context manager or call :meth:`stop`."""

    def __init__(
        self,
        register: pl.DataFrame | str | Path | RegisterIndex,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        token: str | None = None,
    ) -> None:
        self.index = register if isinstance(register, RegisterIndex) else RegisterIndex(register)
        self.faults = faults or Faults()
        self.stats = ServerStats()
        self.token = token
        self.lock = threading.Lock()
        self._answers: dict[str, Answer] = {}
        self.httpd = _QuietServer((host, port), _handler(self))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{API_PATH}"

    def start(self) -> VerifyServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="verify-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> VerifyServer:
        return self if self._thread else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def take_fault(self, name: str) -> bool:
        """Consume one occurrence of a counted fault (thread-safe)."""
        with self.lock:
            left = getattr(self.faults, name)
            if left > 0:
                setattr(self.faults, name, left - 1)
                return True
            return False

    def answer(self, batch: list[Request]) -> list[Answer] | None:
        """Verify new ids, replay known ones; None when the quota would be exceeded (429)."""
        with self.lock:
            new = [r for r in batch if r.request_id not in self._answers]
            limit = self.faults.quota_limit
            if limit is not None and new and len(self._answers) + len(new) > limit:
                return None
            for a in self.index.answer(new):
                self._answers[a.request_id] = a
                self.stats.processed[a.request_id] += 1
            self.stats.replayed += len(batch) - len(new)
            return [self._answers[r.request_id] for r in batch]


def serve(
    register: pl.DataFrame | str | Path | RegisterIndex,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    token: str | None = None,
) -> VerifyServer:
    """Start a server in a background thread and return it (``port=0`` picks a free port)."""
    return VerifyServer(register, host, port, faults, token).start()


def serve_until_interrupted(server: VerifyServer) -> None:
    """Serve in the foreground until Ctrl-C (``doisoat verify-server``), then close the socket."""
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


def _handler(server: VerifyServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _send(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: str, extra: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps({"error": code}).encode(), extra)

        def do_GET(self) -> None:
            if self.path == "/v1/health":
                self._send(200, json.dumps({"status": "ok", "register_size": len(server.index)}).encode())
            else:
                self._error(404, "not_found")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            with server.lock:
                server.stats.calls += 1
                try:  # the data reached us, whatever happens next (outage, 5xx, 429, lost answer)
                    for item in json.loads(raw.decode("utf-8"))["requests"]:
                        server.stats.received[item["request_id"]] += 1
                except (ValueError, KeyError, TypeError):
                    pass
                key = self.headers.get("Idempotency-Key")
                if key:
                    server.stats.idempotency_keys[key] += 1
            if server.faults.outage:
                self.close_connection = True
                return
            if self.path != API_PATH:
                return self._error(404, "not_found")
            if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                return self._error(401, "unauthorized")
            try:
                items = json.loads(raw.decode("utf-8"))["requests"]
                batch = [
                    Request(
                        i["request_id"],
                        i["person_id"],
                        i.get("full_name"),
                        i.get("date_of_birth"),
                        i.get("gender"),
                    )
                    for i in items
                ]
            except (ValueError, KeyError, TypeError):
                return self._error(400, "bad_request")
            if server.faults.latency_s:
                time.sleep(server.faults.latency_s)
            if server.take_fault("error_5xx"):
                return self._error(503, "unavailable", {"Retry-After": "0"})
            answers = server.answer(batch)
            if answers is None:
                return self._error(429, "quota_exceeded")
            if server.take_fault("drop"):
                self.close_connection = True  # processed, but the answer is lost
                return
            if server.take_fault("malformed"):
                return self._send(200, b'{"answers": [{"request_id": ')
            self._send(200, json.dumps({"answers": [a.to_json() for a in answers]}).encode())

    return Handler
