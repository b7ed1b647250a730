"""What the operator sees (issue 11): the real cause of a failed step in one line, a summary line
and a non-zero exit when the day under-spent for a failure, the policy's batch size, a clean
publish after a failure, and runs left STARTED by a killed process closed on the next start."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
import yaml

from pipelines.runner import root_cause

REPO = Path(__file__).resolve().parents[2]


def _error_info(exc: BaseException):
    from dagster._utils.error import serializable_error_info_from_exc_info

    try:
        raise exc
    except BaseException:
        return serializable_error_info_from_exc_info(sys.exc_info())


def _step_error(inner: BaseException):
    """A step failure as Dagster records it: "Error occurred while executing op X" around the cause."""
    from dagster._core.errors import DagsterExecutionStepExecutionError

    try:
        try:
            raise inner
        except BaseException as exc:
            raise DagsterExecutionStepExecutionError(
                'Error occurred while executing op "verification_queue":', user_exception=exc,
                original_exc_info=sys.exc_info(), step_key="verification_queue", op_name="verification_queue",
                op_def_name="verification_queue") from exc
    except BaseException:
        from dagster._utils.error import serializable_error_info_from_exc_info

        return serializable_error_info_from_exc_info(sys.exc_info())


def test_the_innermost_cause_is_shown_not_dagsters_wrapper():
    from rules.verify import StoreError

    line = root_cause(_step_error(StoreError("queue store /d/q.sqlite is corrupt or not a doisoat queue")))
    assert line.startswith("StoreError: queue store /d/q.sqlite is corrupt") and "Error occurred" not in line


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OSError(28, "No space left on device", "/data/lake/Nguyễn Văn An 079201001234.parquet"),
         "OSError: No space left on device (ENOSPC)"),
        (OSError(36, "File name too long", "/data/inbox/" + "Trần Thị Bình " * 20 + ".xlsx"),
         "OSError: File name too long (ENAMETOOLONG)"),
        (PermissionError(13, "Permission denied", "/data/lake/x.parquet"),
         "PermissionError: Permission denied (EACCES)"),
    ],
)
def test_os_errors_name_the_cause_without_the_file_name(exc, expected):
    line = root_cause(_step_error(exc))
    assert line == expected
    assert "079" not in line and "Nguyễn" not in line and "Trần" not in line


def test_ids_in_an_unexpected_message_are_masked_and_the_line_is_bounded():
    line = root_cause(_step_error(ValueError("row 7 has person_id 079201001234 twice\n" + "x" * 1000)))
    assert "079201001234" not in line and "079*********" in line and "\n" not in line and len(line) < 320


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_runs_left_started_by_a_killed_process_are_marked_failed(data_dir):
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRun

    from pipelines.runner import HOST_TAG, PID_TAG, fail_orphaned_runs

    instance = dg.DagsterInstance.get()
    host = socket.gethostname()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runs = {
            "killed": DagsterRun(job_name="national_verification_job", run_id="a" * 36,
                                 status=dg.DagsterRunStatus.STARTED, tags={HOST_TAG: host, PID_TAG: str(_dead_pid())}),
            "running": DagsterRun(job_name="national_verification_job", run_id="b" * 36,
                                  status=dg.DagsterRunStatus.STARTED, tags={HOST_TAG: host, PID_TAG: str(sleeper.pid)}),
            "other_host": DagsterRun(job_name="national_verification_job", run_id="c" * 36,
                                     status=dg.DagsterRunStatus.STARTED, tags={HOST_TAG: "elsewhere", PID_TAG: "1"}),
        }
        for run in runs.values():
            instance.add_run(run)
        assert fail_orphaned_runs(instance) == 1
        status = {k: instance.get_run_by_id(r.run_id).status for k, r in runs.items()}
        assert status == {"killed": dg.DagsterRunStatus.FAILURE, "running": dg.DagsterRunStatus.STARTED,
                          "other_host": dg.DagsterRunStatus.STARTED}
        assert fail_orphaned_runs(instance) == 0  # once
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_failed_publish_leaves_no_building_or_wal_file(tmp_path, monkeypatch):
    from assets import warehouse
    from assets.warehouse import TABLES, WarehouseSources, build_warehouse

    target = tmp_path / "warehouse" / "doisoat.duckdb"
    build_warehouse(WarehouseSources({}), target)
    leftover = target.with_name(f".{target.name}.{_dead_pid()}.building")  # a publish killed mid-build
    leftover.write_bytes(b"half")
    target.with_name(leftover.name + ".wal").write_bytes(b"half")
    monkeypatch.setattr(warehouse, "TABLES", [*TABLES, ("broken", "doc", "SELECT * FROM no_such_source")])
    with pytest.raises(Exception, match="no_such_source"):
        build_warehouse(WarehouseSources({}), target)
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]  # old file kept, nothing else


def test_a_publish_is_not_stopped_by_a_leftover_it_cannot_remove(tmp_path):
    from assets.warehouse import WarehouseSources, build_warehouse

    target = tmp_path / "warehouse" / "doisoat.duckdb"
    target.parent.mkdir(parents=True)
    stuck = target.with_name(f".{target.name}.{_dead_pid()}.building")
    stuck.mkdir()  # a folder at a leftover's name: unlink() fails
    odd = target.with_name(f".{target.name}.99999999999999999999.building")  # a pid no process can have
    odd.write_bytes(b"half")
    build_warehouse(WarehouseSources({}), target)
    assert target.exists() and stuck.is_dir() and not odd.exists()


# -- a real installation through the command line (subprocesses: each reads its own policy) --------------
@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    data = tmp_path_factory.mktemp("ops") / "data"
    env = {**os.environ, "DOISOAT_DATA": str(data), "DAGSTER_HOME": str(REPO),
           "DOISOAT_DAGSTER_STORAGE": str(data / "dagster_home"),
           "DOISOAT_COMPUTE_LOGS": str(data / "dagster_home" / "logs")}
    env.pop("DOISOAT_POLICY", None)
    for args in (["generate", "--province", "da_nang", "--size", "2000", "--seed", "4", "--out", str(data),
                  "--students", "300", "--vaccinations", "60", "--insurance", "60"],
                 ["run", "--province", "da_nang"]):
        proc = subprocess.run([sys.executable, "-m", "pipelines", *args], env=env, cwd=REPO, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
    return data, env


def _policy(tmp_path: Path, url: str, batch_size: int) -> Path:
    policy = yaml.safe_load((REPO / "rules" / "quota" / "quota.yaml").read_text())
    policy["verification"]["service"] = "http"
    policy["verification"]["batch_size"] = batch_size
    policy["verification"]["http"].update(endpoint=url, max_attempts=1, backoff_base_s=0.01, read_timeout_s=5)
    policy["verification"]["http"].pop("token_env", None)  # the local server is an open endpoint
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    return path


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def test_verify_day_reports_an_outage_then_spends_the_day_in_policy_batches(installation, tmp_path):
    from rules.verify import Faults, QueueStore, serve

    data, env = installation
    day = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m-%d")
    register = pl.read_parquet(data / "population" / "da_nang.parquet")
    with serve(register, faults=Faults(outage=True)) as srv:
        env_day = {**env, "DOISOAT_POLICY": str(_policy(tmp_path, srv.url, 7))}
        down = _cli(env_day, "verify-day", "--date", day)
        received = set(srv.stats.received)
    assert down.returncode == 3, down.stdout[-1500:] + down.stderr[-1500:]
    summary = [line for line in down.stderr.splitlines() if line.startswith("✗ verification")]
    assert len(summary) == 1 and "because service_unavailable" in summary[0], down.stderr
    assert "Traceback" not in down.stderr
    with serve(register) as srv:
        env_day = {**env, "DOISOAT_POLICY": str(_policy(tmp_path, srv.url, 7))}
        ok = _cli(env_day, "verify-day", "--date", day)
        received |= set(srv.stats.received)
    assert ok.returncode == 0, ok.stdout[-1500:] + ok.stderr[-1500:]
    line = [x for x in ok.stdout.splitlines() if x.startswith("verification ")]
    assert len(line) == 1 and "unused 0" in line[0], ok.stdout
    ledger = QueueStore(data / "national" / "verification_queue.sqlite").ledger()
    assert ledger["n"].max() == 7  # verification.batch_size from the policy, not the default 500
    # Every request that reached the service - also during the outage - is in the audit, and the
    # chain checks out against the ledger.
    audit = _cli(env, "verify-audit")
    assert audit.returncode == 0 and "audit chain intact" in audit.stdout, audit.stdout + audit.stderr
    import json

    logged = set()
    for raw in (data / "operator" / "audit" / "transmissions.jsonl").read_text().splitlines():
        rec = json.loads(raw)
        if rec["event"] == "sent":
            logged |= {rid for rid, _ in rec["requests"]}
    assert received and received <= logged


def test_a_corrupt_queue_is_named_as_the_cause_in_one_line(installation, tmp_path):
    import shutil

    data, env = installation
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    (copy / "national").mkdir(exist_ok=True)
    (copy / "national" / "verification_queue.sqlite").write_bytes(b"this is not a database" * 100)
    for side in ("-wal", "-shm"):
        (copy / "national" / f"verification_queue.sqlite{side}").unlink(missing_ok=True)
    env_copy = {**env, "DOISOAT_DATA": str(copy), "DOISOAT_DAGSTER_STORAGE": str(copy / "dagster_home"),
                "DOISOAT_COMPUTE_LOGS": str(copy / "dagster_home" / "logs")}
    proc = _cli(env_copy, "verify-day")
    assert proc.returncode == 1
    failed = [line for line in proc.stderr.splitlines() if "failed (run" in line]
    assert len(failed) == 1 and "StoreError" in failed[0] and "corrupt" in failed[0], proc.stderr
    assert "Error occurred while executing" not in proc.stderr


def test_sigterm_stops_verify_day_with_one_line_and_a_consistent_queue(installation, tmp_path):
    import shutil
    import signal
    import time
    from datetime import timedelta

    from rules.verify import Faults, QueueStore, serve

    data, env = installation
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    for queue in (copy / "national").glob("verification_queue.sqlite*"):  # a queue with work waiting
        queue.unlink()
    env_copy = {**env, "DOISOAT_DATA": str(copy), "DOISOAT_DAGSTER_STORAGE": str(copy / "dagster_home"),
                "DOISOAT_COMPUTE_LOGS": str(copy / "dagster_home" / "logs")}
    day = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) - timedelta(days=1)).strftime("%Y-%m-%d")
    register = pl.read_parquet(copy / "population" / "da_nang.parquet")
    with serve(register, faults=Faults(latency_s=3)) as srv:
        env_copy["DOISOAT_POLICY"] = str(_policy(tmp_path, srv.url, 5))
        proc = subprocess.Popen([sys.executable, "-m", "pipelines", "verify-day", "--date", day], env=env_copy,
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 240
        while srv.stats.calls == 0 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        if srv.stats.calls == 0:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"verify-day never reached the service: {out[-1500:]} {err[-1500:]}")
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        took = time.monotonic() - stopped
    assert proc.returncode == 143, (proc.returncode, err[-2000:])  # 128 + SIGTERM
    assert took < 30, f"the stop took {took:.0f} s"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "stopped by SIGTERM" in lines[0] and "run the same command again" in lines[0], err
    assert "Traceback" not in err
    store = QueueStore(copy / "national" / "verification_queue.sqlite")
    status = store.day_status(day)
    assert status["in_flight"] == 0, status  # the batch in flight went back to waiting
    assert store.ledger()["state"].to_list() == ["failed"]


def test_an_unexpected_os_error_on_the_command_line_is_one_line_without_the_path(data_dir, capsys, monkeypatch):
    from pipelines import commands
    from pipelines.cli import main

    def boom(args):
        raise OSError(36, "File name too long", "/data/inbox/Nguyễn Văn An 079201001234 " * 8)

    monkeypatch.setattr(commands, "provinces", boom)
    assert main(["provinces"]) == 1
    err = capsys.readouterr().err
    assert "OSError: File name too long (ENAMETOOLONG)" in err.splitlines()[0]
    assert "Nguyễn" not in err and "079201001234" not in err
