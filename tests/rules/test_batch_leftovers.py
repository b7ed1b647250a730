"""What a batch finds left over before it starts: old error reports it cannot remove (a folder at a
report's name, a read-only reports folder) never stop it, and temporaries a killed process left
behind (``rules.private.private_temp``) are swept when their process is gone, never anything else."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rules.ingest.batch import read_inbox
from rules.private import private_temp, remove_stale_temps

HEADER = "STT,Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"
PUPIL = "Đặng Quốc Khánh 001212000123"  # invented: clerks name single-pupil corrections after the pupil


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    inbox = tmp_path / "inbox" / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    (inbox / "thcs_nu__ds.csv").write_text(HEADER + "1,Trần Thị Bình,03/02/2012,Nữ,001312000003\n", encoding="utf-8")
    reports = tmp_path / "reports" / "ha_noi" / "students"
    reports.mkdir(parents=True)
    return inbox, reports


def _read(inbox: Path, reports: Path):
    return read_inbox(inbox, province="ha_noi", sector="students", reports_dir=reports)


def _assert_no_personal_text(notices: list[str]) -> None:
    text = "\n".join(notices).lower()
    for part in ("đặng", "dang", "khánh", "khanh", "001212000123"):
        assert part not in text, text


def test_a_folder_at_a_reports_name_is_kept_and_reported_the_batch_goes_on(tmp_path: Path) -> None:
    inbox, reports = _folders(tmp_path)
    (reports / f"thcs_nu__{PUPIL}.errors.xlsx").mkdir()
    (reports / "thcs_nu__ds.csv.errors.xlsx").write_bytes(b"old")
    got = _read(inbox, reports)
    assert got.uploads["status"].to_list() == ["read"]
    assert [p.name for p in reports.iterdir()] == [f"thcs_nu__{PUPIL}.errors.xlsx"]  # the other one went
    assert len(got.notices) == 1
    assert "thcs_nu__x.xlsx" in got.notices[0] and "folder" in got.notices[0] and str(reports) in got.notices[0]
    _assert_no_personal_text(got.notices)


def test_an_old_report_that_cannot_be_removed_is_reported_without_its_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only reports folder (simulated: the tests may run as root, who may write anywhere)."""
    inbox, reports = _folders(tmp_path)
    old = reports / f"thcs_nu__{PUPIL}.errors.xlsx"
    old.write_bytes(b"old")
    real_unlink = Path.unlink

    def read_only(self: Path, missing_ok: bool = False) -> None:
        if self.parent == reports:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", read_only)
    got = _read(inbox, reports)
    assert got.uploads.height == 1 and old.exists()
    assert len(got.notices) == 1 and "permission denied" in got.notices[0] and "writable" in got.notices[0]
    _assert_no_personal_text(got.notices)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may remove files from a read-only folder")
def test_a_read_only_reports_folder_does_not_stop_the_batch(tmp_path: Path) -> None:
    inbox, reports = _folders(tmp_path)
    (reports / f"thcs_nu__{PUPIL}.errors.xlsx").write_bytes(b"old")
    os.chmod(reports, 0o500)
    try:
        got = _read(inbox, reports)
    finally:
        os.chmod(reports, 0o700)
    assert got.uploads.height == 1 and len(got.notices) == 1
    _assert_no_personal_text(got.notices)


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(proc.stdout)


def test_stale_temporaries_go_when_their_process_is_gone_or_they_are_old(tmp_path: Path) -> None:
    dead, alive = _dead_pid(), os.getpid()
    gone = tmp_path / f".tmp-{dead}-0123456789ab"
    running = tmp_path / f".tmp-{alive}-0123456789ab"
    ancient = tmp_path / f".tmp-{alive}-ba9876543210"
    others = [tmp_path / n for n in (f".tmp-{dead}-0123456789a", f".tmp-{dead}-0123456789abc",
                                     f"tmp-{dead}-0123456789ab", f".tmp-{dead}-0123456789AB",
                                     f".tmp-{dead}-0123456789ab.xlsx", "thcs_nu__ds.csv.errors.xlsx")]
    recent = tmp_path / f".tmp-{dead}-cccccccccccc"  # a dead pid here may be a live writer elsewhere
    for path in (gone, running, ancient, recent, *others):
        path.write_bytes(b"half")
    for path in (gone, running, *others):
        os.utime(path, (time.time() - 2 * 3600,) * 2)  # past the grace, within a day
    os.utime(ancient, (time.time() - 2 * 86400,) * 2)  # a reused pid: old enough to be a leftover anyway
    (tmp_path / f".tmp-{dead}-aaaaaaaaaaaa").mkdir()  # not a file private_temp writes: left alone
    (tmp_path / f".tmp-{dead}-bbbbbbbbbbbb").symlink_to(tmp_path / "thcs_nu__ds.csv.errors.xlsx")
    sweep = remove_stale_temps(tmp_path)
    assert sorted(sweep.removed) == sorted([gone, ancient]) and sweep.failed == []
    assert not gone.exists() and not ancient.exists() and running.exists() and recent.exists()
    assert all(p.exists() for p in others)
    assert (tmp_path / f".tmp-{dead}-aaaaaaaaaaaa").is_dir() and (tmp_path / f".tmp-{dead}-bbbbbbbbbbbb").is_symlink()


def test_a_sweep_never_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert remove_stale_temps(tmp_path / "missing") == ([], [])
    (tmp_path / f".tmp-{_dead_pid()}-0123456789ab").write_bytes(b"half")
    (tmp_path / ".tmp-9999999999-0123456789ab").write_bytes(b"half")  # a pid no process can have
    for path in tmp_path.iterdir():
        os.utime(path, (time.time() - 2 * 3600,) * 2)

    def refuse(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refuse)
    sweep = remove_stale_temps(tmp_path)
    assert sweep.removed == [] and len(sweep.failed) == 2


def test_a_batch_sweeps_the_reports_folder_and_the_inbox(tmp_path: Path) -> None:
    inbox, reports = _folders(tmp_path)
    dead = _dead_pid()
    for folder in (inbox, reports):
        (folder / f".tmp-{dead}-0123456789ab").write_bytes(b"half")
        (folder / f".tmp-{os.getpid()}-0123456789ab").write_bytes(b"being written")
        for path in folder.iterdir():
            os.utime(path, (time.time() - 2 * 3600,) * 2)
    got = _read(inbox, reports)
    assert got.notices == []
    for folder in (inbox, reports):
        assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".tmp-")) == [
            f".tmp-{os.getpid()}-0123456789ab"]


def test_a_failed_write_whose_temporary_cannot_be_removed_raises_its_own_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="the writer's own error"), private_temp(tmp_path / "r.xlsx") as tmp:
        tmp.unlink()
        tmp.mkdir()  # unlink() of a folder fails: that must not hide why the write failed
        raise ValueError("the writer's own error")
