"""``doisoat publish`` with a wrong ``DOISOAT_LAKE`` (a hostile try: a typo exited 0 and replaced the analyst
file, 633 match decisions, with an empty one): refused in one line naming the variable, the file kept;
a fresh installation still publishes its empty file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from assets.lake import write_partition
from rules.layout import DataLayout
from tests.assets.test_lake_root import _matches

REPO = Path(__file__).resolve().parents[2]


def _publish(data: Path, lake: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOISOAT_DATA": str(data), "DAGSTER_HOME": str(REPO),
           "DOISOAT_DAGSTER_STORAGE": str(data / "dagster_home"),
           "DOISOAT_COMPUTE_LOGS": str(data / "dagster_home" / "logs")}
    env.pop("DOISOAT_LAKE", None)
    if lake is not None:
        env["DOISOAT_LAKE"] = lake
    return subprocess.run([sys.executable, "-m", "pipelines", "publish"], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def _decisions(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM match_decisions").fetchone()[0]
    finally:
        con.close()


def test_a_wrong_lake_never_replaces_the_analyst_file(tmp_path):
    data = tmp_path / "data"
    fresh = _publish(data, None)  # a fresh installation: nothing in the lake, the empty file is published
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    where = DataLayout.at(data)
    write_partition(where, "match_results", _matches(7), "hcm", "students")
    assert _publish(data, None).returncode == 0 and _decisions(where.warehouse()) == 7
    before = where.warehouse().read_bytes()
    (tmp_path / "empty").mkdir()
    # the command line end to end for the two checks (a file and ftp:// are the same check as a missing
    # folder: tests/assets/test_lake_root.py covers each kind of root without a Dagster run)
    # a lake setting naming no lake stops the command before any run (exit 2); an empty lake fails the run
    for lake, says, code in ((str(data / "lak"), "DOISOAT_LAKE", 2), (str(tmp_path / "empty"), "holds no tables", 1)):
        proc = _publish(data, lake)
        assert proc.returncode == code, (lake, proc.stdout[-1000:], proc.stderr[-1000:])
        failed = [line for line in proc.stderr.splitlines() if says in line]
        assert len(failed) == 1, (lake, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr
        assert where.warehouse().read_bytes() == before and _decisions(where.warehouse()) == 7
    assert not (data / "lak").exists()
