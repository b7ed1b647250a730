"""Every sheet of a workbook is either read or named in the upload summary with why (issue: with
``--sheet "Năm 2023"`` the summary named only a hidden sheet as not read, not the visible one skipped)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.ingest import process_upload
from rules.ingest.upload import SHEET_NOT_READ

HEADER = ["STT", "Họ và tên", "Ngày sinh", "Số định danh cá nhân"]
PEOPLE = [["1", "Vũ Minh Châu", "05/09/2012", "079212000123"], ["2", "Hà Thị Duyên", "12/01/2011", "001311004567"]]
KINDS = ["list", "header_only", "notes"]  # what a sheet holds
STATES = ["visible", "hidden"]


def _book(path: Path, sheets: list[tuple[str, str]]) -> None:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    written = []
    for i, (kind, _) in enumerate(sheets):
        ws = wb.add_worksheet(f"Năm {2020 + i}")
        rows = {"list": [HEADER, *PEOPLE], "header_only": [HEADER], "notes": [["Ghi chú: nộp trước ngày 5"]]}[kind]
        for r, row in enumerate(rows):
            ws.write_row(r, 0, row)
        written.append(ws)
    first = next(i for i, (_, state) in enumerate(sheets) if state == "visible")
    written[first].activate()
    written[first].set_first_sheet()
    for ws, (_, state) in zip(written, sheets, strict=True):
        if state == "hidden":
            ws.hide()
    wb.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sheets=st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from(STATES)), min_size=1, max_size=4)
       .filter(lambda s: any(k == "list" and v == "visible" for k, v in s)), data=st.data())
def test_every_sheet_is_read_or_said_why_not(sheets: list[tuple[str, str]], data) -> None:
    names = [f"Năm {2020 + i}" for i in range(len(sheets))]
    lists = [n for n, (kind, _) in zip(names, sheets, strict=True) if kind == "list"]
    chosen = data.draw(st.none() | st.sampled_from(lists))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ds.xlsx"
        _book(path, sheets)
        result = process_upload(path, province="lam_dong", sector="students", unit="u", sheet=chosen)
    up = result.upload
    read = [s.sheet for s in up.sheets]
    not_read = dict(up.sheets_not_read)
    assert [n for n, _ in up.sheets_not_read] == [n for n in names if n not in read]  # each once, in order
    for name, (kind, state) in zip(names, sheets, strict=True):
        if name in read:
            assert kind == "list" and (chosen in (None, name)) and (state == "visible" or chosen == name)
            continue
        if chosen is not None:
            want = "not_chosen"
        elif state == "hidden":
            want = "hidden"
        else:
            want = {"list": None, "header_only": "no_rows", "notes": "no_header"}[kind]
        assert not_read[name] == want, name
    summary = "\n".join(result.summary_lines())
    for name, why in up.sheets_not_read:
        assert f"'{name}' ({SHEET_NOT_READ[why]})" in summary
    assert ("sheets not read" in summary) == bool(up.sheets_not_read)


def test_blank_rows_and_a_skipped_visible_sheet_are_in_the_summary(tmp_path: Path) -> None:
    path = tmp_path / "ds.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    for name in ("Năm 2022", "Năm 2023"):
        ws = wb.add_worksheet(name)
        for r, row in enumerate([HEADER, PEOPLE[0], [], [], PEOPLE[1]]):
            ws.write_row(r, 0, row)
    wb.close()
    lines = process_upload(path, province="lam_dong", sector="students", unit="u",
                           sheet="Năm 2023").summary_lines()
    assert "  dòng trống bỏ qua/blank rows skipped: 2" in lines
    assert f"  trang không đọc/sheets not read: 'Năm 2022' ({SHEET_NOT_READ['not_chosen']})" in lines
