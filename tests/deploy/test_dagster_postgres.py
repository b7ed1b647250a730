"""The production instance (deploy/dagster.yaml) for real: PostgreSQL storage, dagster-daemon, queue limits.

A fresh PostgreSQL database per test run; ``dagster-daemon run`` as a subprocess; runs of several
province x sector partitions and two analyst publishes queued at once. Asserted from the run and
event records in PostgreSQL: at most one run per province at a time while different provinces ran
side by side, and the analyst publish step never ran twice at the same time (pool ``duckdb_write``).
Skips when PostgreSQL is absent (fails in CI: tests/services.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.services import POSTGRES, require_service

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PARTITIONS = ["ha_noi|students", "ha_noi|insurance", "ha_noi|vaccinations", "cao_bang|students", "cao_bang|insurance"]


def _psql(sql: str) -> None:
    import psycopg2

    con = psycopg2.connect(host=POSTGRES[1], port=POSTGRES[2], user="postgres", dbname="postgres")
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(sql)
    con.close()


@pytest.fixture
def instance_env(tmp_path):
    require_service(POSTGRES)
    db = f"doisoat_dagster_{uuid.uuid4().hex[:10]}"
    _psql(f"CREATE DATABASE {db}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    (home / "workspace.yaml").write_text(
        f"load_from:\n  - python_module:\n      module_name: tests.deploy.location\n"
        f"      working_directory: {ROOT}\n"
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DOISOAT_PG_HOST": POSTGRES[1],
        "DOISOAT_PG_PORT": str(POSTGRES[2]),
        "DOISOAT_PG_USER": "postgres",
        "DOISOAT_PG_PASSWORD": "",
        "DOISOAT_PG_DB": db,
        "DOISOAT_COMPUTE_LOGS": str(tmp_path / "logs"),
        "DOISOAT_DAGSTER_STORAGE": str(tmp_path / "storage"),
        "DOISOAT_DATA": str(tmp_path / "data"),
        "DOISOAT_TEST_HOLD_S": "12",
    }
    (tmp_path / "data").mkdir()
    yield env
    _psql(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def _dagster(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "dagster"), *args, "-w", str(Path(env["DAGSTER_HOME"]) / "workspace.yaml")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pytest.mark.slow
def test_queued_runs_keep_one_run_per_province_and_one_publish_at_a_time(instance_env, monkeypatch):
    env = instance_env
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(Path(env["DAGSTER_HOME"]) / "workspace.yaml")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    for key in ("DAGSTER_HOME", "DOISOAT_PG_HOST", "DOISOAT_PG_PORT", "DOISOAT_PG_USER", "DOISOAT_PG_PASSWORD",
                "DOISOAT_PG_DB", "DOISOAT_COMPUTE_LOGS", "DOISOAT_DAGSTER_STORAGE"):
        monkeypatch.setenv(key, env[key])
    from dagster import DagsterInstance

    from assets.partitions import PROVINCE_PARTITIONS

    with DagsterInstance.get() as setup:  # provinces are the installation's own (dynamic partitions)
        setup.add_dynamic_partitions(PROVINCE_PARTITIONS, sorted({p.split("|")[0] for p in PARTITIONS}))
    try:
        submits = [
            _dagster(env, "job", "backfill", "-j", "province_job", "--partitions", ",".join(PARTITIONS),
                     "--noprompt"),
            _dagster(env, "job", "launch", "-j", "publish_job"),
            _dagster(env, "job", "launch", "-j", "publish_job"),
        ]
        for proc in submits:
            out, _ = proc.communicate(timeout=180)
            assert proc.returncode == 0, out[-2000:]

        from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

        instance = DagsterInstance.get()
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.run_monitoring_enabled
        done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            records = instance.get_run_records()
            if len(records) == len(PARTITIONS) + 2 and all(r.dagster_run.status in done for r in records):
                break
            assert daemon.poll() is None, "dagster-daemon exited"
            time.sleep(1)
        records = instance.get_run_records(RunsFilter())
        statuses = {r.dagster_run.run_id: r.dagster_run.status for r in records}
        assert len(records) == len(PARTITIONS) + 2, statuses
        assert set(statuses.values()) == {DagsterRunStatus.SUCCESS}, statuses

        spans: dict[str, list[tuple[float, float]]] = {}
        for r in records:
            province = r.dagster_run.tags.get("dagster/partition/province")
            if province:
                spans.setdefault(province, []).append((r.start_time, r.end_time))
        assert sorted(len(v) for v in spans.values()) == [2, 3]
        for province, runs in spans.items():  # the per-province limit of 1 held ...
            for i, a in enumerate(runs):
                for b in runs[i + 1 :]:
                    assert not _overlap(a, b), f"two runs of {province} ran at once"
        # ... while two provinces ran side by side (the limit is per province, not global)
        assert any(_overlap(a, b) for a in spans["ha_noi"] for b in spans["cao_bang"]), spans

        publish_steps = []
        for r in records:
            if r.dagster_run.job_name != "publish_job":
                continue
            events = instance.all_logs(r.dagster_run.run_id, of_type={
                DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS})
            start = [e.timestamp for e in events if e.dagster_event.event_type == DagsterEventType.STEP_START]
            end = [e.timestamp for e in events if e.dagster_event.event_type == DagsterEventType.STEP_SUCCESS]
            assert len(start) == len(end) == 1
            publish_steps.append((start[0], end[0]))
        assert len(publish_steps) == 2
        assert not _overlap(*publish_steps), "the analyst publish step ran twice at the same time"
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
