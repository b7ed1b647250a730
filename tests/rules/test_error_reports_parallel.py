"""A batch's error reports written by worker processes are the reports one process writes: the same
files, in the files' order, the same sheets cell for cell, owner-only."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

from rules.ingest.batch import PARALLEL_REPORTS_MIN, mark_uploads, read_inbox, write_error_reports
from rules.normalise import normalise_records
from rules.validate import validate_records

HEADER = "STT,Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"


def _batch(inbox: Path, reports: Path):
    got = read_inbox(inbox, province="ha_noi", sector="students", reports_dir=reports)
    uploads = mark_uploads(got.uploads)
    raw = got.raw_for(uploads.filter(uploads["status"] == "current"))
    _, rejected = validate_records(normalise_records(raw, "students"), "students")
    return raw, rejected


def _parts(path: Path) -> dict[str, bytes]:
    """The workbook's parts but its creation time (docProps/core.xml)."""
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}


def test_reports_written_in_workers_equal_those_written_here(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox" / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    n_files = PARALLEL_REPORTS_MIN + 2
    for i in range(n_files):
        rows = (f"1,Nguyễn Văn An {chr(0x41 + i)},05/09/2012,Nam,0792120001{i:02d}\n"
                f"2,,12/01/2011,Nữ,001311004567\n"  # no name: rejected
                + (f"3,Trần Thị Bình,12/01/2011,Nữ,0013110045{i:02d}\n" * 2 if i % 3 == 0 else ""))  # a repeat
        (inbox / f"thpt_{i:02d}__ds lớp {i}.csv").write_text(HEADER + rows, encoding="utf-8")
    (inbox / "thpt_zz__sach.csv").write_text(HEADER + "1,Lê Văn Cường,01/02/2010,Nam,001210000001\n",
                                              encoding="utf-8")  # nothing to report
    raw, rejected = _batch(inbox, tmp_path / "unused")

    here = write_error_reports(raw, rejected, inbox, tmp_path / "here", workers=1)
    there = write_error_reports(raw, rejected, inbox, tmp_path / "there", workers=2)
    default = write_error_reports(raw, rejected, inbox, tmp_path / "default")  # >= the minimum: workers

    names = [f"thpt_{i:02d}__ds lớp {i}.csv.errors.xlsx" for i in range(n_files)]
    assert [p.name for p in here] == [p.name for p in there] == [p.name for p in default] == names
    for a, b, c in zip(here, there, default, strict=True):
        assert _parts(a) == _parts(b) == _parts(c), a.name
        for p in (a, b, c):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600  # personal data: owner-only


def test_a_small_batch_is_written_in_this_process(tmp_path: Path, monkeypatch) -> None:
    """Below the minimum no worker is started (a worker's imports cost more than a few reports)."""
    import rules.ingest.batch as batch

    inbox = tmp_path / "inbox" / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    (inbox / "thpt_a__ds.csv").write_text(HEADER + "1,,05/09/2012,Nam,079212000123\n", encoding="utf-8")
    raw, rejected = _batch(inbox, tmp_path / "unused")

    def no_workers(*_a, **_k):
        raise AssertionError("a worker pool was started for one report")

    monkeypatch.setattr(batch, "_write_in_workers", no_workers)
    written = write_error_reports(raw, rejected, inbox, tmp_path / "reports")
    assert [p.name for p in written] == ["thpt_a__ds.csv.errors.xlsx"]


class _EndsItsWorker:
    """A job whose unpickling ends the worker process, as the out-of-memory killer would."""

    def __setstate__(self, state):
        if os.getpid() != int(os.environ["DOISOAT_TEST_PARENT_PID"]):
            os._exit(1)


def test_a_pool_that_breaks_leaves_the_rest_to_this_process(tmp_path: Path, monkeypatch) -> None:
    import rules.ingest.batch as batch

    inbox = tmp_path / "inbox" / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    for i in range(3):
        (inbox / f"thpt_{i}__ds.csv").write_text(HEADER + f"1,,05/09/2012,Nam,0792120001{i:02d}\n", encoding="utf-8")
    raw, rejected = _batch(inbox, tmp_path / "unused")
    monkeypatch.setenv("DOISOAT_TEST_PARENT_PID", str(os.getpid()))
    real = batch._write_in_workers

    def with_a_killed_worker(jobs, n_workers):
        killer = _EndsItsWorker()
        killer.__dict__["x"] = 1  # pickled with a state, so the worker calls __setstate__
        done = real([killer, *jobs], n_workers)
        assert 0 not in done  # the killed job has no result, and the pool's failure did not escape
        return {i - 1: path for i, path in done.items() if i}

    monkeypatch.setattr(batch, "_write_in_workers", with_a_killed_worker)
    written = write_error_reports(raw, rejected, inbox, tmp_path / "reports", workers=2)
    assert [p.name for p in written] == [f"thpt_{i}__ds.csv.errors.xlsx" for i in range(3)]
