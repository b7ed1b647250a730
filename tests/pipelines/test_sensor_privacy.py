"""Dagster keeps what a sensor hands it (cursor, run keys, tags, skip messages, tick logs) in its own
storage and shows it in the UI: a pupil's name, ID or birth date in an upload's file name must not
get there. The sensor is ticked the way the daemon ticks it, on an instance with SQLite storage on
disk, and every byte of that storage is searched."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import dagster as dg

REPO = Path(__file__).resolve().parents[2]
# invented person, as an uploader would type the file name of a single pupil's correction
NAME = "thcs_nu__Phạm Thu Dung 079313000104 13-05-2013.xlsx"
MISNAMED = "Phạm Thu Dung 079313000104 13-05-2013 (sửa).xlsx"
FOLDER = "Phạm Thu Dung 13-05-2013"  # a folder a clerk made for one pupil's files, where no sector is
SECRETS = [b"079313000104", b"13-05-2013", b"13_05_2013", b"Thu Dung", b"thu_dung", b"Dung",
           "Phạm".encode(), "Phạm Thu".encode("utf-16-le")]


def _storage_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def _tick(instance: dg.DagsterInstance, code: Path) -> None:
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.sensor import execute_sensor_iteration

    # definitions built now, for this test's data folder (``pipelines.definitions.defs`` was built at
    # its first import, maybe for another test's folder)
    code.write_text("from pipelines.definitions import build_definitions\n\ndefs = build_definitions()\n")
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(python_file=str(code), attribute="defs", working_directory=str(REPO)),
        location_name="doisoat",
    )
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace:
        list(execute_sensor_iteration(workspace, logging.getLogger("sensor-test"), None, None))


def test_sensor_storage_holds_no_personal_data_from_file_names(data_dir: Path, tmp_path: Path):
    from dagster._core.scheduler.instigation import TickStatus

    inbox = data_dir / "inbox" / "ho_chi_minh" / "students"
    inbox.mkdir(parents=True)
    body = b"any bytes: the sensor only hashes them"
    (inbox / NAME).write_bytes(body)
    (inbox / MISNAMED).write_bytes(b"other bytes")  # refused, and said so in the tick's log
    (inbox.parent / FOLDER).mkdir()  # a folder no run reads: named in the tick's log, masked
    home = tmp_path / "instance"
    home.mkdir()
    queued = {"run_coordinator": {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}}
    with dg.instance_for_test(temp_dir=str(home), overrides=queued) as instance:
        _tick(instance, tmp_path / "code.py")
        runs = instance.get_runs()
        ticks = [t for s in instance.all_instigator_state() for t in instance.get_ticks(s.instigator_origin_id,
                                                                                          s.selector_id)]
        states = {s.instigator_name: s for s in instance.all_instigator_state()}
        cursor = states["inbox_sensor"].instigator_data.cursor
    assert len(runs) == 1  # the sensor did tick and request the well-named file's run
    assert runs[0].tags["dagster/partition"] == "ho_chi_minh|students"
    assert cursor and "thcs_nu__x.xlsx#" in cursor
    assert any(t.status == TickStatus.SUCCESS for t in ticks)
    stored = _storage_bytes(home)
    assert re.search(rb"079313000104", stored) is None
    leaked = [s for s in SECRETS if s in stored]
    assert leaked == []
    # whoever holds the upload can hash it: its sha256 (cursor, run key) must not be searchable either
    digest = hashlib.sha256(body).hexdigest()
    assert digest[:8].encode() not in stored and hashlib.sha256(digest.encode()).hexdigest()[:8].encode() not in stored
