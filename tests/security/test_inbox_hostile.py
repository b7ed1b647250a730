"""Drop-folder attacks, round 2: links swapped in after the listing, files that may not be read, a list
of repeats only. Every entry of the inbox ends in the uploads table once, with a message naming the
file and what to do; no link is followed at any moment; every list that needs fixing gets a report.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from openpyxl import load_workbook

from rules.ingest import UploadError, read_upload
from rules.ingest.batch import mark_uploads, read_inbox, write_error_reports
from rules.ingest.inbox import list_inbox
from rules.normalise import normalise_records
from rules.validate import validate_records

HEADER = "STT,Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"
ROW = "1,Nguyễn Văn An,05/09/2012,Nam,079212000123\n"
OTHER = "2,Trần Thị Bình,12/01/2011,Nữ,001311004567\n"


def _inbox(tmp_path: Path) -> tuple[Path, Path]:
    inbox = tmp_path / "inbox" / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    return inbox, tmp_path / "reports"


def _run(inbox: Path, reports: Path):
    got = read_inbox(inbox, province="ha_noi", sector="students", reports_dir=reports)
    uploads = mark_uploads(got.uploads)
    raw = got.raw_for(uploads.filter(uploads["status"] == "current"))
    valid, rejected = validate_records(normalise_records(raw, "students"), "students")
    return uploads, raw, valid, rejected, write_error_reports(raw, rejected, inbox, reports)


def test_a_list_of_only_repeats_dropped_in_the_inbox_gets_its_report(tmp_path: Path) -> None:
    """Every row valid, one pupil listed twice: ``doisoat upload`` writes a report with the warning, so
    the inbox does too (the uploader would otherwise never hear of the repeat)."""
    inbox, reports = _inbox(tmp_path)
    (inbox / "thpt_a__ds.csv").write_text(HEADER + ROW + ROW, encoding="utf-8")
    (inbox / "thpt_b__ds.csv").write_text(HEADER + ROW + OTHER, encoding="utf-8")  # no repeat, no error
    _, raw, valid, rejected, written = _run(inbox, reports)
    assert raw.height == valid.height == 4 and rejected.height == 0
    assert [p.name for p in written] == ["thpt_a__ds.csv.errors.xlsx"]
    sheet = load_workbook(written[0], read_only=True).worksheets[0]
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert any("Trùng người" in c and "Same person" in c for c in cells)


def test_reports_are_written_per_file_in_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many files: the rows are split by file once (no filter of the whole batch per file)."""
    import polars as pl

    inbox, reports = _inbox(tmp_path)
    for i in range(30):
        rows = ROW.replace("An", f"An {chr(0x41 + i % 26)}{i}") + "2,,12/01/2011,Nữ,001311004567\n"
        (inbox / f"thpt_{i}__ds.csv").write_text(HEADER + rows, encoding="utf-8")
    filters = []
    real_filter = pl.DataFrame.filter

    def counting(self, *args, **kw):
        if self.height and "file_name" in self.columns and self["file_name"].n_unique() > 1:
            filters.append(1)
        return real_filter(self, *args, **kw)

    monkeypatch.setattr(pl.DataFrame, "filter", counting)
    *_, written = _run(inbox, reports)
    assert len(written) == 30
    assert len(filters) < 5  # a constant few (current uploads), not one per file


def test_a_file_swapped_for_a_link_after_the_listing_is_not_followed(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The race: the inbox lists a regular file, then someone replaces it with a link to another
    province's list before it is read. The reader opens it with O_NOFOLLOW and refuses it."""
    inbox, reports = _inbox(tmp_path)
    outside = tmp_path / "secret.csv"
    outside.write_text(HEADER + OTHER, encoding="utf-8")
    target = inbox / "thpt_a__ds.csv"
    target.write_text(HEADER + ROW, encoding="utf-8")
    real_list = list_inbox

    def then_swap(folder, **kw):
        files, refused = real_list(folder, **kw)
        target.unlink()
        target.symlink_to(outside)
        return files, refused

    monkeypatch.setattr("rules.ingest.inbox.list_inbox", then_swap)
    uploads, raw, *_ = _run(inbox, reports)
    row = uploads.row(0, named=True)
    assert row["status"] == "failed" and row["error_code"] == "not_a_regular_file"
    assert raw.height == 0


def test_a_file_that_may_not_be_read_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permission denied (simulated: the tests may run as root): a one-line message naming the file
    and what to do, never "damaged" or "not a real Excel workbook", in the command and in the inbox."""
    inbox, reports = _inbox(tmp_path)
    for name in ("thpt_a__ds.csv", "thpt_b__ds.xlsx"):
        (inbox / name).write_text(HEADER + ROW, encoding="utf-8")
    real_open = os.open

    def denied(path, flags, *args, **kw):
        if str(path).endswith(("ds.csv", "ds.xlsx")):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(os, "open", denied)
    for name in ("thpt_a__ds.csv", "thpt_b__ds.xlsx"):
        with pytest.raises(UploadError) as info:
            read_upload(inbox / name, province="ha_noi", sector="students")
        assert info.value.code == "permission_denied" and name in str(info.value)
        assert "\n" not in str(info.value)
    uploads, *_ = _run(inbox, reports)
    assert uploads["error_code"].to_list() == ["permission_denied", "permission_denied"]


def test_a_pipe_given_on_the_command_line_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "ds.csv"
    os.mkfifo(fifo)
    with pytest.raises(UploadError) as info:
        read_upload(fifo, province="ha_noi", sector="students")
    assert info.value.code == "not_a_regular_file"


def test_a_link_planted_at_the_inbox_name_is_replaced_not_written_through(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``doisoat upload`` copies the list into the inbox under a name anyone can predict; a link put
    there beforehand (to a world-readable file elsewhere) is replaced by the upload, never written
    through."""
    from pipelines.upload import upload_file

    monkeypatch.setenv("DOISOAT_DATA", str(tmp_path / "data"))
    source = tmp_path / "ds.csv"
    source.write_text(HEADER + ROW, encoding="utf-8")
    elsewhere = tmp_path / "public.txt"
    elsewhere.write_text("nothing\n", encoding="utf-8")
    target = tmp_path / "data" / "inbox" / "ha_noi" / "students" / "thpt_a__ds.csv"
    target.parent.mkdir(parents=True)
    target.symlink_to(elsewhere)
    assert upload_file(source, "ha_noi", "students", unit="thpt_a") == 0
    assert elsewhere.read_text(encoding="utf-8") == "nothing\n"
    assert not target.is_symlink() and target.read_text(encoding="utf-8") == HEADER + ROW
    assert target.stat().st_mode & 0o077 == 0
