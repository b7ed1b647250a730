"""``DOISOAT_QUEUE_URL`` selects the national queue on PostgreSQL for the real daily job.

A small installation (generate + run of one province through the command line), then ``doisoat
verify-day`` twice - once with the embedded SQLite queue, once with the queue URL pointing at a fresh
PostgreSQL database - with the in-process simulator. Both days spend the same, and with the URL set
no SQLite queue file is written. Skips without PostgreSQL (fails in CI: tests/services.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.services import POSTGRES, require_service

REPO = Path(__file__).resolve().parents[2]


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600)


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


@pytest.mark.slow
def test_verify_day_with_a_queue_url_uses_the_national_queue(queue_url, tmp_path):
    from rules.verify import QueueStore
    from rules.verify.pg_store import PgQueueStore

    data = tmp_path / "data"
    env = {**os.environ, "DOISOAT_DATA": str(data), "DAGSTER_HOME": str(REPO),
           "DOISOAT_DAGSTER_STORAGE": str(data / "dagster_home"),
           "DOISOAT_COMPUTE_LOGS": str(data / "dagster_home" / "logs")}
    for key in ("DOISOAT_POLICY", "DOISOAT_QUEUE_URL"):
        env.pop(key, None)
    for args in (["generate", "--province", "da_nang", "--size", "2000", "--seed", "4", "--out", str(data),
                  "--students", "300", "--vaccinations", "60", "--insurance", "60"],
                 ["run", "--province", "da_nang"]):
        proc = _cli(env, *args)
        assert proc.returncode == 0, proc.stderr[-2000:]
    day = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m-%d")
    twin = tmp_path / "twin"
    shutil.copytree(data, twin)  # the same installation, for the PostgreSQL day

    local = _cli(env, "verify-day", "--date", day)
    assert local.returncode == 0, local.stderr[-2000:]
    sqlite = QueueStore(data / "national" / "verification_queue.sqlite")

    env_pg = {**env, "DOISOAT_DATA": str(twin), "DOISOAT_DAGSTER_STORAGE": str(twin / "dagster_home"),
              "DOISOAT_COMPUTE_LOGS": str(twin / "dagster_home" / "logs"), "DOISOAT_QUEUE_URL": queue_url}
    national = _cli(env_pg, "verify-day", "--date", day)
    assert national.returncode == 0, national.stderr[-2000:]
    assert not (twin / "national" / "verification_queue.sqlite").exists()
    pg = PgQueueStore(queue_url)
    assert pg.total_requests() == sqlite.total_requests() > 0
    assert pg.state_counts() == sqlite.state_counts()
    assert pg.day_budgets()["allocated"].to_list() == sqlite.day_budgets()["allocated"].to_list()
    summary = [x for x in national.stdout.splitlines() if x.startswith("verification ")]
    assert len(summary) == 1 and "unused 0" in summary[0], national.stdout


def test_the_queue_url_must_be_a_postgresql_url(monkeypatch, tmp_path):
    from rules.verify import StoreError
    from rules.verify.queue import queue_location

    monkeypatch.delenv("DOISOAT_QUEUE_URL", raising=False)
    assert queue_location(tmp_path / "q.sqlite") == tmp_path / "q.sqlite"
    monkeypatch.setenv("DOISOAT_QUEUE_URL", "postgresql://u@h:5432/q")
    assert queue_location(tmp_path / "q.sqlite") == "postgresql://u@h:5432/q"
    monkeypatch.setenv("DOISOAT_QUEUE_URL", "mysql://u@h/q")
    with pytest.raises(StoreError, match="DOISOAT_QUEUE_URL"):
        queue_location(tmp_path / "q.sqlite")
