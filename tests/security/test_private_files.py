"""Personal data at rest is owner-only (issue 11: queue, lake, register copy, error reports and the
operators' audit were 0644 in 0755 folders; another local user read IDs).

Every test runs under a permissive umask (0o022), so the modes come from our code, not from the
process umask the entry points also set.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from rules.private import private_dir, private_file, tighten_tree, write_private_bytes

REPO = Path(__file__).resolve().parents[2]
PERSONAL = ("population", "inbox", "truth", "lake", "national", "reports", "operator")


@pytest.fixture(autouse=True)
def permissive_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_private_helpers_make_owner_only_folders_and_files(tmp_path):
    d = private_dir(tmp_path / "a" / "b")
    assert mode(tmp_path / "a") == 0o700 and mode(d) == 0o700
    assert mode(tmp_path) != 0o700 or oct(mode(tmp_path))  # an existing parent keeps its mode
    f = private_file(d / "x.parquet")
    assert mode(f) == 0o600 and f.stat().st_size == 0
    w = write_private_bytes(d / "report.html", b"<html>")
    assert mode(w) == 0o600 and w.read_bytes() == b"<html>"
    assert not list(d.glob(".*tmp*"))  # no temporary file left behind


def test_folders_written_before_the_fix_are_tightened(tmp_path):
    old = tmp_path / "lake" / "match_results"
    old.mkdir(parents=True)
    (old / "f.parquet").write_bytes(b"x")
    os.chmod(old, 0o755)
    os.chmod(old / "f.parquet", 0o644)
    assert tighten_tree(tmp_path / "lake") == 3
    assert mode(old) == 0o700 and mode(old / "f.parquet") == 0o600 and mode(tmp_path / "lake") == 0o700


def test_helpers_never_follow_links(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    os.chmod(outside, 0o644)
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "link").symlink_to(outside)
    tighten_tree(tmp_path / "lake")
    assert mode(outside) == 0o644


def test_queue_store_and_its_wal_are_owner_only(tmp_path):
    from rules.verify import QueueStore
    from tests.rules.test_verify_support import requests

    store = QueueStore(tmp_path / "national" / "queue.sqlite", create=True)
    store.enqueue(requests())
    assert mode(tmp_path / "national") == 0o700
    for f in (tmp_path / "national").iterdir():
        assert mode(f) == 0o600, f.name  # queue.sqlite, -wal, -shm


def test_an_old_world_readable_queue_is_tightened_on_open(tmp_path):
    from rules.verify import QueueStore

    QueueStore(tmp_path / "n" / "q.sqlite", create=True).close()
    os.chmod(tmp_path / "n", 0o755)
    os.chmod(tmp_path / "n" / "q.sqlite", 0o644)
    QueueStore(tmp_path / "n" / "q.sqlite")
    assert mode(tmp_path / "n") == 0o700 and mode(tmp_path / "n" / "q.sqlite") == 0o600


def test_lake_writes_are_owner_only(tmp_path):
    from assets.lake import write_parquet

    path = write_parquet(pl.DataFrame({"person_id": ["079000000001"]}), tmp_path / "lake" / "a" / "p" / "s.parquet")
    assert mode(path) == 0o600
    assert mode(tmp_path / "lake") == 0o700 and mode(tmp_path / "lake" / "a" / "p") == 0o700


def test_transmission_audit_is_owner_only(tmp_path):
    from rules.verify.audit_log import TransmissionLog

    log = TransmissionLog(tmp_path / "operator" / "audit" / "transmissions.jsonl")
    log.sent("2026-11-23", "b1", 1, "me", [("r1", "079000000001")])
    assert mode(log.path) == 0o600 and mode(tmp_path / "operator") == 0o700


def test_configure_tightens_every_personal_folder_but_not_the_analyst_file(tmp_path, monkeypatch):
    from pipelines.environment import configure

    data = tmp_path / "data"
    for name in (*PERSONAL, "warehouse"):
        (data / name).mkdir(parents=True)
        os.chmod(data / name, 0o755)
    monkeypatch.delenv("DOISOAT_DAGSTER_STORAGE", raising=False)
    monkeypatch.delenv("DOISOAT_COMPUTE_LOGS", raising=False)
    monkeypatch.setenv("DOISOAT_DATA", str(data))
    configure(data)
    for name in (*PERSONAL, "dagster_home"):
        assert mode(data / name) == 0o700, name
    assert mode(data / "dagster_home" / "logs") == 0o700
    assert mode(data / "warehouse") == 0o755  # masked aggregates for analysts: unchanged


def test_a_whole_demo_leaves_no_personal_data_readable_by_others(tmp_path):
    """The real pipeline (generate, ingest, match, verify, publish, report) with umask 0o022 and
    the entry point's own umask switched off: every personal-data file is 0600, every folder 0700."""
    data = tmp_path / "data"
    env = {**os.environ, "DOISOAT_DATA": str(data), "DAGSTER_HOME": str(REPO),
           "DOISOAT_DAGSTER_STORAGE": str(data / "dagster_home"),
           "DOISOAT_COMPUTE_LOGS": str(data / "dagster_home" / "logs")}
    code = (
        "import os, sys; os.umask(0o022)\n"
        "import rules.private as p; p.restrict_umask = lambda: 0o022\n"
        "from pipelines.cli import main\n"
        "rc = main(['demo', '--province', 'da_nang', '--size', '2000', '--seed', '5'])\n"
        "rc = rc or main(['report'])\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    loose = []
    for name in PERSONAL:
        top = data / name
        assert top.is_dir(), name
        for dirpath, dirnames, filenames in os.walk(top):
            for d in dirnames:
                if mode(Path(dirpath) / d) != 0o700:
                    loose.append(f"{Path(dirpath, d).relative_to(data)} {oct(mode(Path(dirpath) / d))}")
            for f in filenames:
                if mode(Path(dirpath) / f) != 0o600:
                    loose.append(f"{Path(dirpath, f).relative_to(data)} {oct(mode(Path(dirpath) / f))}")
        if mode(top) != 0o700:
            loose.append(f"{name} {oct(mode(top))}")
    assert mode(data / "dagster_home") == 0o700
    assert not loose, loose[:20]


def test_a_folder_at_a_private_files_name_is_refused_never_made_0600(tmp_path):
    """A folder where a report goes (a hostile try): it stays the owner's folder, mode unchanged, and the
    writer gets an IsADirectoryError (the batch skips that report and says so)."""
    folder = tmp_path / "thcs_nu__ds.csv.errors.xlsx"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    with pytest.raises(IsADirectoryError):
        private_file(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
