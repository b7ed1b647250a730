"""A report that cannot be written is skipped, whatever the cause; a target name at the file-system
limit can still be written (its temporary name fits too)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from rules.ingest.batch import mark_uploads, read_inbox, write_error_reports
from rules.ingest.inbox import NAME_MAX_BYTES
from rules.normalise import normalise_records
from rules.private import private_temp
from rules.validate import validate_records

HEADER = "STT,Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"


def _batch(inbox: Path, reports: Path):
    got = read_inbox(inbox, province="ha_noi", sector="students", reports_dir=reports)
    uploads = mark_uploads(got.uploads)
    raw = got.raw_for(uploads.filter(uploads["status"] == "current"))
    _, rejected = validate_records(normalise_records(raw, "students"), "students")
    return raw, rejected


def test_a_full_disk_skips_that_report_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """xlsxwriter turns the disk's OSError into its own FileCreateError at close: it is still skipped."""
    from xlsxwriter.workbook import Workbook

    inbox = tmp_path / "inbox" / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    for i, name in enumerate(("thpt_a__ds.csv", "thpt_b__ds.csv", "thpt_c__ds.csv")):  # no name: rejected
        (inbox / name).write_text(HEADER + f"1,,05/09/2012,Nam,07921200012{i}\n", encoding="utf-8")
    raw, rejected = _batch(inbox, tmp_path / "unused")
    real_store = Workbook._store_workbook
    stored: list[str] = []

    def disk_full_for_b(self):  # the reports are written in the files' order: a, b, c
        stored.append(self.filename)
        if len(stored) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_store(self)

    monkeypatch.setattr(Workbook, "_store_workbook", disk_full_for_b)
    reports = tmp_path / "reports"
    written = write_error_reports(raw, rejected, inbox, reports)
    assert [p.name for p in written] == ["thpt_a__ds.csv.errors.xlsx", "thpt_c__ds.csv.errors.xlsx"]
    assert sorted(p.name for p in reports.iterdir()) == [p.name for p in written]  # no temporary file left


@pytest.mark.parametrize("name", ["a" * NAME_MAX_BYTES, "ệ" * (NAME_MAX_BYTES // 3)])
def test_a_name_at_the_limit_is_written_through_a_temporary_that_fits(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    with private_temp(target) as tmp:
        assert len(tmp.name.encode("utf-8")) <= NAME_MAX_BYTES
        tmp.write_bytes(b"x")
    assert target.read_bytes() == b"x"
    assert [p.name for p in tmp_path.iterdir()] == [name]
