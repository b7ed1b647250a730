"""A list only on a hidden sheet is said to be there (not "the file is empty"), and a sheet named after
a pupil is named by its position in every message (messages are stored in uploads.error_message)."""

from __future__ import annotations

from pathlib import Path

import pytest
import xlsxwriter

from rules.ingest import UploadError, process_upload, read_upload
from rules.ingest.batch import read_inbox

HEADER = ["Họ và tên", "Ngày sinh", "Giới tính"]
PEOPLE = [["Nguyễn Văn An", "05/09/2012", "Nam"], ["Trần Thị Bình", "12/01/2011", "Nữ"]]
PUPIL_SHEET = "Nguyễn Văn Tèo 079210000123"


def _book(path: Path, sheets: list[tuple[str, list[list[str]], bool]]) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    first_visible = None
    for name, rows, hidden in sheets:
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            ws.write_row(r, 0, row)
        if hidden:
            ws.hide()
        elif first_visible is None:
            first_visible = ws
    first_visible.activate()
    wb.close()
    return path


@pytest.mark.parametrize("hidden_name", ["DS cũ", PUPIL_SHEET])
def test_a_list_only_on_a_hidden_sheet_says_so_by_position(tmp_path: Path, hidden_name: str):
    path = _book(tmp_path / "thpt_a__ds.xlsx", [("Trống", [], False), (hidden_name, [HEADER, *PEOPLE], True)])
    with pytest.raises(UploadError) as info:
        read_upload(path, province="lam_dong", sector="students")
    message = str(info.value)
    assert info.value.code == "hidden_sheets_only" and "file is empty" not in message
    assert "sheet 2" in message and "--sheet" in message and "Unhide" in message
    assert hidden_name not in message
    assert read_upload(path, province="lam_dong", sector="students", sheet=hidden_name).raw.height == len(PEOPLE)
    row = read_inbox(tmp_path, province="lam_dong", sector="students",
                     reports_dir=tmp_path / "rep").uploads.row(0, named=True)
    assert (row["status"], row["error_code"]) == ("failed", "hidden_sheets_only")
    assert hidden_name not in row["error_message"]


def test_an_empty_workbook_is_still_empty(tmp_path: Path):
    path = _book(tmp_path / "ds.xlsx", [("Trống", [], False), ("Ẩn", [], True)])
    with pytest.raises(UploadError) as info:
        read_upload(path, province="lam_dong", sector="students")
    assert info.value.code == "empty_file"


def test_a_sheet_named_after_a_pupil_is_named_by_position(tmp_path: Path):
    path = _book(tmp_path / "ds.xlsx", [(PUPIL_SHEET, [["xx", "yy"], ["Lê Văn Cường", "01/02/2010"]], False)])
    with pytest.raises(UploadError) as info:
        read_upload(path, province="lam_dong", sector="students")
    assert info.value.code == "no_header"
    assert "sheet 1" in str(info.value) and "Tèo" not in str(info.value) and "079210000123" not in str(info.value)
    with pytest.raises(UploadError) as info:
        read_upload(path, province="lam_dong", sector="students", sheet="DS")
    assert info.value.code == "sheet_not_found" and "'#1'" in str(info.value) and "Tèo" not in str(info.value)
    path = _book(tmp_path / "ds2.xlsx", [(PUPIL_SHEET, [HEADER], False)])
    with pytest.raises(UploadError) as info:
        read_upload(path, province="lam_dong", sector="students")
    assert info.value.code == "no_data_rows" and "Tèo" not in str(info.value) and "sheet 1" in str(info.value)


def test_summary_lines_name_such_sheets_by_position(tmp_path: Path):
    note = ["Ghi chú: HS chuyển đến", "", ""]
    path = _book(tmp_path / "ds.xlsx", [("Lớp 6A", [HEADER, *PEOPLE, note], False),
                                        (PUPIL_SHEET, [HEADER, *PEOPLE, note], False)])
    result = process_upload(path, province="lam_dong", sector="students", unit="u")
    summary = "\n".join(result.summary_lines())
    assert "footer note rows skipped: 2 (dòng/rows trang/sheet 'Lớp 6A' 4; trang/sheet 2 4" in summary
    assert "Tèo" not in summary and "079210000123" not in summary
    assert "#2!2" in summary  # the same pupils on both sheets: the duplicate warning names sheet 2 by position
