"""The national verification queue on the local PostgreSQL, with OS processes acting as installations.

Each installation is a child process (``python -c``) with its own provinces, sending to the local
HTTP verification server running in this test process, which counts how often each request id was
verified. A fresh database per test. Skips without PostgreSQL (fails in CI: tests/services.py).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import polars as pl
import pytest

from rules.quota import QuotaPolicy
from rules.verify import Faults, build_requests, open_queue, run_day, serve
from rules.verify.pg_store import PgQueueStore
from tests.rules.test_verify_support import matches, register
from tests.services import POSTGRES, require_service

ROOT = Path(__file__).resolve().parents[2]
DAY = "2026-11-23"
PROVINCES = ("ha_noi", "ho_chi_minh", "da_nang")
ENQUEUE = """
import sys
import polars as pl
from rules.verify import open_queue
url, path, province = sys.argv[1], sys.argv[2], sys.argv[3]
print(open_queue(url, create=True, provinces=[province]).enqueue(
    pl.read_parquet(path).filter(pl.col("province") == province)))
"""
DISPATCH = """
import sys
from rules.quota import QuotaPolicy
from rules.verify import HttpConfig, HttpVerificationService, open_queue, run_day
url, server, quota, batch, provinces = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
svc = HttpVerificationService(HttpConfig(endpoint=server, read_timeout_s=10, backoff_base_s=0.05))
store = open_queue(url, provinces=provinces.split(","))
report = run_day(store, "2026-11-23", QuotaPolicy(quota=quota, floor_per_unit=5), svc, batch_size=batch)
print(report.sent_this_run, report.answered_day, report.recovered_batches)
"""


def national_requests(n: int = 450) -> pl.DataFrame:
    m = matches(n).with_columns(
        province=pl.Series([PROVINCES[i % 3] for i in range(n)]),
    )
    return build_requests(m, enqueued_at=datetime.datetime(2026, 11, 20, 8, tzinfo=datetime.UTC))


@pytest.fixture
def queue_url():
    require_service(POSTGRES)
    import psycopg2

    db = f"doisoat_queue_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(host=POSTGRES[1], port=POSTGRES[2], user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {db}")
    yield f"postgresql://postgres@{POSTGRES[1]}:{POSTGRES[2]}/{db}"
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    admin.close()


def spawn(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(procs: list[subprocess.Popen], timeout: float = 180) -> list[str]:
    outs = [p.communicate(timeout=timeout) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-3000:] for _, e in outs]
    return [o for o, _ in outs]


def enqueue_by_installations(url: str, tmp_path: Path, reqs: pl.DataFrame) -> None:
    path = tmp_path / "requests.parquet"
    reqs.write_parquet(path)
    added = finish([spawn(ENQUEUE, url, str(path), p) for p in PROVINCES])
    assert sum(int(o) for o in added) == reqs.height


def test_three_installations_share_one_national_quota_exactly(queue_url, tmp_path):
    reqs = national_requests()
    enqueue_by_installations(queue_url, tmp_path, reqs)
    quota = 200  # < the national backlog of 450: the quota binds
    with serve(register(450), faults=Faults(latency_s=0.03)) as srv:
        outs = finish([spawn(DISPATCH, queue_url, srv.url, str(quota), "10", p) for p in PROVINCES])
        sent = [int(o.split()[0]) for o in outs]
        print("sent per installation", sent)
        assert sum(sent) == quota
        assert sum(srv.stats.processed.values()) == quota  # exactly the quota spent ...
        assert set(srv.stats.processed.values()) == {1}  # ... and no request sent twice
    store = PgQueueStore(queue_url)
    budget = store.day_budgets().row(0, named=True)
    assert (budget["allocated"], budget["spent"], budget["runs"]) == (quota, quota, 3)  # one allocation, reused
    alloc = store.day_allocation(DAY)
    # one allocation over every province's real backlog (requests, not exchanged counts)
    assert {k.split("/")[0] for k in alloc["unit_key"]} == set(PROVINCES)
    assert alloc["backlog"].sum() == reqs.height
    assert alloc["allocated"].sum() == quota
    assert store.results(DAY).height == quota
    assert set(store.results(DAY)["request_id"]) == set(srv.stats.processed)
    assert set(store.requests(day=DAY)["province"]) == set(PROVINCES)  # every province got a share


def test_kill_9_of_one_installation_mid_dispatch_loses_nothing(queue_url, tmp_path):
    reqs = national_requests()
    enqueue_by_installations(queue_url, tmp_path, reqs)
    store = PgQueueStore(queue_url)
    with serve(register(450), faults=Faults(latency_s=0.25)) as srv:
        victim = spawn(DISPATCH, queue_url, srv.url, "10000", "20", ",".join(PROVINCES))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # let a few batches commit ...
            if store.ledger().filter(pl.col("state") == "committed").height >= 2:
                break
            time.sleep(0.05)
        srv.faults.latency_s = 30.0  # ... then the service hangs: the next batch stays in flight
        time.sleep(0.8)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        in_flight = store.ledger().filter(pl.col("state") == "sending")
        assert in_flight.height == 1  # claimed, maybe sent, never committed
        assert store.state_counts()["sent"] == in_flight["n"].item()

        srv.faults.latency_s = 0.0
        outs = finish([spawn(DISPATCH, queue_url, srv.url, "10000", "50", p) for p in PROVINCES])
        assert sum(int(o.split()[2]) for o in outs) == 1  # one installation took the orphan batch over
        assert srv.stats.idempotency_keys[in_flight["batch_id"].item()] >= 1
        assert set(srv.stats.processed.values()) == {1}
        assert len(srv.stats.processed) == reqs.height
    counts = store.state_counts()
    assert set(counts) <= {"verified", "mismatch", "not_found"} and sum(counts.values()) == reqs.height
    assert store.day_budgets()["spent"].item() == reqs.height


class TcpProxy:
    """A small TCP forwarder 127.0.0.1:port -> target; :meth:`stop` cuts every connection (an outage)."""

    def __init__(self, target: tuple[str, int], port: int = 0) -> None:
        self.target, self.port = target, port
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self.port = self._server.getsockname()[1]
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        server = self._server
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._server.close()
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def test_an_outage_of_the_database_is_survived_and_resumed(queue_url, tmp_path):
    reqs = national_requests()
    enqueue_by_installations(queue_url, tmp_path, reqs)
    proxy = TcpProxy((POSTGRES[1], POSTGRES[2])).start()
    via_proxy = queue_url.replace(f":{POSTGRES[2]}/", f":{proxy.port}/")
    store = PgQueueStore(queue_url)
    quota = 300
    with serve(register(450), faults=Faults(latency_s=0.3)) as srv:
        proc = spawn(DISPATCH, via_proxy, srv.url, str(quota), "20", ",".join(PROVINCES))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and store.ledger().filter(pl.col("state") == "committed").height < 2:
            time.sleep(0.05)
        proxy.stop()  # the database is gone for the installation ...
        time.sleep(4)
        assert proc.poll() is None, proc.communicate()  # ... which waits instead of failing
        outage_batches = store.ledger().height
        proxy = TcpProxy((POSTGRES[1], POSTGRES[2]), port=proxy.port).start()  # ... and it is back
        out = finish([proc])[0]
        proxy.stop()
        _, answered, _ = (int(x) for x in out.split())
        assert answered == quota
        assert store.ledger().height > outage_batches  # dispatch went on after the outage
        assert set(srv.stats.processed.values()) == {1}
        assert sum(srv.stats.processed.values()) == quota
    assert store.day_budgets()["spent"].item() == quota
    assert store.results(DAY).height == quota


def test_open_queue_chooses_the_store_by_location(queue_url, tmp_path):
    from rules.verify import QueueStore

    assert isinstance(open_queue(tmp_path / "q.sqlite", create=True), QueueStore)
    assert isinstance(open_queue(queue_url, create=True), PgQueueStore)


def test_an_unreachable_queue_is_one_clear_error_without_the_password():
    from rules.verify import StoreError

    with pytest.raises(StoreError) as err:
        PgQueueStore("postgresql://doisoat:s3cret@127.0.0.1:9/nowhere", outage_s=0.5, connect_timeout_s=1)
    assert "127.0.0.1:9/nowhere" in str(err.value) and "s3cret" not in str(err.value)


def test_a_single_process_day_matches_the_sqlite_store(queue_url, tmp_path):
    """Same requests, same policy, same simulated answers: both stores end the day alike."""
    from rules.verify import QueueStore, SimulatedService

    reqs = national_requests(300)
    policy = QuotaPolicy(quota=120, floor_per_unit=5)
    days = {}
    for name, store in (("sqlite", QueueStore(tmp_path / "q.sqlite", create=True)),
                        ("pg", PgQueueStore(queue_url, create=True))):
        store.enqueue(reqs)
        report = run_day(store, DAY, policy, SimulatedService(register(300)), batch_size=25)
        days[name] = (report.allocated, report.answered_day, report.unused,
                      store.day_allocation(DAY).sort("unit_key").to_dicts(), store.state_counts())
    assert days["sqlite"] == days["pg"]
