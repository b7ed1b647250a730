"""The error report keeps the uploader's format (issue 14.3), checked on real .xlsx files with openpyxl.

A school list as Excel makes it: a title row, STT as numbers, dates of birth as Excel dates with a
dd/mm/yyyy format, IDs as text with their leading zero, a sheet named after the class. The report
must give back the same cell types and number formats, name that sheet in bilingual instructions,
keep its name and the school's row numbers when it is sent back, and warn (not reject) when a pupil
is listed twice.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.cli import main
from rules.ingest import process_upload
from rules.ingest.report import ERROR_HEADERS, GUIDE_SHEET, WARNING_HEADER, error_report_path, write_error_report

TODAY = dt.date(2026, 1, 15)
HEAD = ["STT", "Họ và tên", "Ngày sinh", "Số định danh cá nhân", "Giới tính"]
PUPILS = [  # (name, date of birth, id): row 4 has no name, rows 3 and 6 are one pupil listed twice
    ("Nguyễn Văn An", dt.datetime(2010, 6, 3), "079210000123"),
    ("Trần Thị Bình", dt.datetime(2010, 1, 20), "079310000456"),
    ("", dt.datetime(2010, 2, 11), "079210000789"),
    ("Lê Hoàng Cường", dt.datetime(2010, 11, 7), "079210000999"),
    ("Trần Thị Bình", dt.datetime(2010, 1, 20), None),
]
FIRST_DATA_ROW = 3  # title row 1, header row 2


def school_list(path: Path, pupils=PUPILS) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "10A1"
    ws.append(["DANH SÁCH HỌC SINH LỚP 10A1"])
    ws.append(HEAD)
    for i, (name, dob, pid) in enumerate(pupils, start=1):
        ws.append([i, name or None, dob, pid, "Nữ" if "Thị" in name else "Nam"])
        ws.cell(ws.max_row, 3).number_format = "dd/mm/yyyy"
        ws.cell(ws.max_row, 4).number_format = "@"
    wb.save(path)
    return path


def _report_of(src: Path) -> tuple[Path, object]:
    result = process_upload(src, province="ha_noi", sector="students", unit="thpt_x", today=TODAY)
    return write_error_report(result, error_report_path(src)), result


def _rows(ws) -> list[list[openpyxl.cell.Cell]]:
    return [list(r) for r in ws.iter_rows(min_row=2)]


@pytest.fixture
def report(tmp_path: Path):
    return _report_of(school_list(tmp_path / "thpt_x__ds_10a1.xlsx"))


def test_cells_keep_the_uploaders_types_and_number_formats(report) -> None:
    path, _ = report
    ws = openpyxl.load_workbook(path)["10A1"]
    header = [c.value for c in ws[1]]
    assert header == [*HEAD, WARNING_HEADER, *ERROR_HEADERS]
    rows = _rows(ws)
    assert len(rows) == len(PUPILS)
    for i, row in enumerate(rows):
        stt, name, dob, pid = row[0], row[1], row[2], row[3]
        assert stt.data_type == "n" and stt.value == i + 1  # STT stays a number
        assert dob.is_date and dob.value == PUPILS[i][1] and dob.number_format == "dd/mm/yyyy"
        if PUPILS[i][2]:
            assert pid.data_type == "s" and pid.value == PUPILS[i][2]  # text with its leading zero
        if PUPILS[i][0]:
            assert name.data_type == "s" and name.value == PUPILS[i][0]
    assert "2010-06-03" not in str([c.value for r in rows for c in r if isinstance(c.value, str)])


def test_the_instructions_name_the_schools_sheet_in_both_languages(report) -> None:
    path, _ = report
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["10A1", GUIDE_SHEET]
    guide = "\n".join(str(r[0]) for r in wb[GUIDE_SHEET].iter_rows(values_only=True) if r[0])
    assert "Mở trang '10A1'" in guide and "Open the sheet '10A1'" in guide
    assert "Dữ liệu" not in guide
    assert "1 of 5 rows are rejected" in guide and "Có 1 dòng bị lỗi" in guide
    assert "2 rows list the same person twice" in guide


def test_a_pupil_listed_twice_is_a_warning_naming_the_other_row(report) -> None:
    path, result = report
    assert result.counts["rejected"] == 1  # the duplicate is not rejected
    ws = openpyxl.load_workbook(path)["10A1"]
    col = {c.value: c.column - 1 for c in ws[1]}
    rows = [[c.value for c in r] for r in _rows(ws)]
    warned = {i: r[col[WARNING_HEADER]] for i, r in enumerate(rows) if r[col[WARNING_HEADER]]}
    first, second = FIRST_DATA_ROW + 1, FIRST_DATA_ROW + 4  # Excel rows of the two "Trần Thị Bình"
    assert warned == {1: f"Trùng người với dòng {second} / Same person as row {second}",
                      4: f"Trùng người với dòng {first} / Same person as row {first}"}
    assert all(rows[i][col[ERROR_HEADERS[0]]] is None for i in warned)
    assert "Bình" not in "\n".join(result.summary_lines())  # rows numbers only, never the name
    assert f"dòng/rows {first} = {second}" in "\n".join(result.summary_lines())
    rules = [r for cf in ws.conditional_formatting for r in cf.rules]
    assert any("$F2" in r.formula[0] for r in rules) and any("$G2" in r.formula[0] for r in rules)


def test_a_report_sent_back_keeps_its_name_and_the_schools_rows(report, tmp_path: Path) -> None:
    path, _ = report
    wb = openpyxl.load_workbook(path)  # the school fixes the blank name and saves under the same name
    ws = wb["10A1"]
    ws.cell(4, 2).value = "Phạm Thị Dung"
    ws.insert_rows(2)  # and moves the rows around: the source rows still point at the original file
    wb.save(path)
    assert error_report_path(path) == path  # never x.errors.errors.xlsx
    again, result = _report_of(path)
    assert again == path and result.counts["rejected"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thpt_x__ds_10a1.errors.xlsx", "thpt_x__ds_10a1.xlsx"]
    ws = openpyxl.load_workbook(again)["10A1"]
    col = {c.value: c.column - 1 for c in ws[1]}
    source_rows = [r[col[ERROR_HEADERS[3]]] for r in ws.iter_rows(min_row=2, values_only=True)]
    assert source_rows == [str(FIRST_DATA_ROW + i) for i in range(len(PUPILS))]
    rows = _rows(ws)
    assert rows[0][0].data_type == "n" and rows[0][2].is_date  # still the school's types, second round


def test_the_cli_says_which_file_an_upload_replaces_and_keeps_the_file_sent_back(data_dir, tmp_path, capsys):
    src = school_list(tmp_path / "ds_10a1.xlsx")
    assert main(["upload", str(src), "--province", "ha_noi", "--sector", "students", "--unit", "thpt_x"]) == 0
    first = capsys.readouterr().out
    assert "replaces the earlier file" not in first and "same person twice" in first
    report = error_report_path(src)
    wb = openpyxl.load_workbook(report)
    wb["10A1"].cell(4, 2).value = "Phạm Thị Dung"
    wb.save(report)
    assert main(["upload", str(report), "--province", "ha_noi", "--sector", "students", "--unit", "thpt_x"]) == 0
    second = capsys.readouterr().out
    assert "rejected 0" in second
    assert "replaces the earlier file of this list: thpt_x__ds_10a1.xlsx" in second
    assert report.exists() and not list(tmp_path.glob("*.errors.errors.xlsx"))
    inbox = sorted(p.name for p in (data_dir / "inbox" / "ha_noi" / "students").iterdir())
    assert inbox == ["thpt_x__ds_10a1.errors.xlsx", "thpt_x__ds_10a1.xlsx"]


def test_a_clean_report_sent_back_is_not_deleted(data_dir, tmp_path, capsys):
    clean = [p for p in PUPILS if p[0]][:3]
    src = school_list(tmp_path / "ds.xlsx", pupils=clean)
    shutil.copy(src, tmp_path / "ds.errors.xlsx")
    sent_back = tmp_path / "ds.errors.xlsx"
    assert main(["upload", str(sent_back), "--province", "ha_noi", "--sector", "students", "--no-inbox"]) == 0
    assert sent_back.exists()  # the user's own file: never unlinked as a "stale report"


def test_a_sheet_that_starts_at_b3_keeps_its_types_in_the_right_columns(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "6A"
    ws["B3"], ws["C3"], ws["D3"] = "STT", "Họ và tên", "Ngày sinh"
    for i, (name, dob, _) in enumerate(PUPILS, start=1):
        ws.cell(3 + i, 2).value = i
        ws.cell(3 + i, 3).value = name or None
        ws.cell(3 + i, 4).value = dob
        ws.cell(3 + i, 4).number_format = "d/m/yyyy"
    wb.save(tmp_path / "ds.xlsx")
    path, _ = _report_of(tmp_path / "ds.xlsx")
    rows = _rows(openpyxl.load_workbook(path)["6A"])
    assert [r[0].value for r in rows] == [1, 2, 3, 4, 5] and all(r[0].data_type == "n" for r in rows)
    assert [r[2].value for r in rows] == [p[1] for p in PUPILS] and rows[0][2].number_format == "d/m/yyyy"
    col = {c.value: c.column - 1 for c in openpyxl.load_workbook(path)["6A"][1]}
    assert [r[col[ERROR_HEADERS[3]]].value for r in rows] == [str(4 + i) for i in range(len(PUPILS))]


def test_a_csv_stays_text(tmp_path: Path) -> None:
    src = tmp_path / "ds.csv"
    src.write_text("STT,Họ và tên,Ngày sinh,Số định danh cá nhân\n1,Nguyễn Văn An,03/06/2010,079210000123\n",
                   encoding="utf-8")
    path, _ = _report_of(src)
    assert path.name == "ds.csv.errors.xlsx"
    row = _rows(openpyxl.load_workbook(path).worksheets[0])[0]
    assert [c.value for c in row[:4]] == ["1", "Nguyễn Văn An", "03/06/2010", "079210000123"]
    assert all(c.data_type == "s" for c in row[:4])


def test_the_inbox_form_keeps_types_and_source_rows_too(report, tmp_path: Path) -> None:
    """The multi-file asset's call: raw + quarantined rows of one file, the upload read again from the inbox."""
    path, _ = report
    inbox, reports = tmp_path / "inbox", tmp_path / "reports"
    inbox.mkdir()
    sent_back = shutil.copy(path, inbox / path.name)  # the report came back as an upload
    result = process_upload(sent_back, province="ha_noi", sector="students", unit="thpt_x", today=TODAY)
    out = write_error_report(result.raw, result.quarantined, reports / path.name, source_dir=inbox)
    ws = openpyxl.load_workbook(out)["10A1"]
    col = {c.value: c.column - 1 for c in ws[1]}
    rows = _rows(ws)
    assert [r[col[ERROR_HEADERS[3]]].value for r in rows] == [str(FIRST_DATA_ROW + i) for i in range(len(PUPILS))]
    assert rows[0][0].data_type == "n" and rows[0][2].is_date and rows[0][2].number_format == "dd/mm/yyyy"


# -- the typed re-read agrees with openpyxl's iter_rows, cell for cell -----------------------------------

_TYPED = (int, float, bool, dt.date, dt.datetime, dt.time, dt.timedelta)


def _oracle(path: Path, sheet: str, columns: list[int], row_column: int | None) -> dict:
    """What the report read before the scan (openpyxl ``iter_rows``), reduced to what it may write
    typed: per row the (value, number format) of typed cells in ``columns`` and the "Source row"."""
    from rules.ingest.report import SMALL_FILE_ROWS, _shown

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        out = {}
        for r, row in enumerate(wb[sheet].iter_rows(min_row=1, min_col=1, max_row=SMALL_FILE_ROWS * 4), start=1):
            cells = [(getattr(c, "value", None), getattr(c, "number_format", None)) for c in row]
            picked = [cells[c] if c < len(cells) and isinstance(cells[c][0], _TYPED) else (None, None)
                      for c in columns]
            shown = _shown(cells[row_column][0]) if row_column is not None and row_column < len(cells) else None
            if shown is not None or any(v is not None for v, _ in picked):
                out[r] = (picked, shown)
        return out
    finally:
        wb.close()


def _reduced(typed: dict | None) -> dict:
    return {r: (cells, shown) for r, (cells, shown) in (typed or {}).items()
            if shown is not None or any(v is not None for v, _ in cells)}


_CELL_VALUES = st.one_of(
    st.none(), st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(), st.dates(dt.date(1900, 3, 1), dt.date(2099, 12, 31)),
    st.datetimes(dt.datetime(1900, 3, 1), dt.datetime(2099, 12, 31)),
    st.text(alphabet="0123456789 AĐăêố<&>\"'", max_size=8),
)
_FORMATS = st.sampled_from(["General", "dd/mm/yyyy", "0", "0.00", "@", "d mmm yyyy", "#,##0", "[h]:mm",
                           "yyyy-mm-dd hh:mm"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(grid=st.lists(st.lists(st.tuples(_CELL_VALUES, _FORMATS), min_size=1, max_size=6), min_size=1, max_size=8),
       top=st.integers(1, 4), left=st.integers(0, 3), skip=st.integers(0, 3), inline=st.booleans(),
       row_column=st.one_of(st.none(), st.integers(0, 7)))
def test_the_typed_reread_gives_what_openpyxl_iter_rows_gives(tmp_path: Path, grid, top, left, skip, inline,
                                                               row_column) -> None:
    """Every date, number and true/false cell (value and number format) and every "Source row" the
    report reads back is the one openpyxl's ``iter_rows`` reads, for sheets written with shared strings
    (openpyxl) and inline strings (xlsxwriter's constant memory, as the demo's generator writes),
    starting anywhere, with gaps between rows."""
    import xlsxwriter

    from rules.ingest.report import _typed_sheets

    path = tmp_path / f"t{inline:d}.xlsx"
    rows = [(top + i + (skip if i > 1 else 0), cells) for i, cells in enumerate(grid)]
    if inline:
        wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                             "strings_to_formulas": False, "strings_to_urls": False})
        ws, formats = wb.add_worksheet("10A1"), {}
        for r, cells in rows:
            for j, (v, code) in enumerate(cells):
                fmt = formats.setdefault(code, wb.add_format({"num_format": code}))
                if isinstance(v, bool):
                    ws.write_boolean(r - 1, left + j, v, fmt)
                elif isinstance(v, dt.date):
                    ws.write_datetime(r - 1, left + j, v, fmt)
                elif isinstance(v, int | float):
                    ws.write_number(r - 1, left + j, v, fmt)
                elif v is not None:
                    ws.write_string(r - 1, left + j, v, fmt)
        wb.close()
    else:
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "10A1"
        for r, cells in rows:
            for j, (v, code) in enumerate(cells):
                cell = ws.cell(r, left + j + 1, v)
                cell.number_format = code
        wb.save(path)
    columns = list(range(8))
    got = _typed_sheets(path, {"10A1": (columns, row_column)})["10A1"]
    assert _reduced(got) == _oracle(path, "10A1", columns, row_column)


def test_a_sheet_whose_cells_carry_no_reference_is_read_as_openpyxl_reads_it(tmp_path: Path) -> None:
    """Cells without ``r="B7"`` (allowed, rare) are placed by counting, through openpyxl's parser."""
    import re
    import zipfile

    from rules.ingest.report import _typed_sheets

    src = school_list(tmp_path / "a.xlsx")
    out = tmp_path / "b.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename.startswith("xl/worksheets/sheet"):
                data = re.sub(rb'(<c\b[^>]*?) r="[A-Z]+\d+"', rb"\1", data)
                assert b'<c r="' not in data
            zout.writestr(item, data)
    columns = list(range(5))
    got = _reduced(_typed_sheets(out, {"10A1": (columns, None)})["10A1"])
    assert got == _oracle(out, "10A1", columns, None)
    assert got[FIRST_DATA_ROW][0][2] == (PUPILS[0][1], "dd/mm/yyyy")


CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "files"


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.iterdir() if p.is_file()))
def test_the_readers_layout_kept_for_the_report_is_the_one_a_second_read_finds(name: str) -> None:
    """The inbox's reports take each sheet's headers and columns from the read that produced the rows
    (``known_layout``); reading the file again (a process that did not read it) must find the same."""
    from rules.ingest import UploadError, read_upload
    from rules.ingest.upload import known_layout, sheet_columns

    path = CORPUS / name
    try:
        up = read_upload(path, province="ha_noi", sector="students")
    except UploadError:
        return
    for s in up.sheets:
        kept = known_layout(up.file_sha256, "students", s.sheet)
        assert kept is not None
        assert kept == tuple(sheet_columns(path, sector="students", sheet=s.sheet or None))


def test_an_inbox_report_is_the_same_whether_or_not_this_process_read_the_file(tmp_path: Path) -> None:
    """The same report, byte for byte in its sheets, from the kept layout and from a second read."""
    import zipfile

    from rules.ingest import upload as upload_module

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    src = school_list(inbox / "thpt_y__ds_10a2.xlsx")
    result = process_upload(src, province="ha_noi", sector="students", unit="thpt_y", today=TODAY)
    assert upload_module.known_layout(result.upload.file_sha256, "students", "10A1") is not None
    kept = write_error_report(result.raw, result.quarantined, tmp_path / "kept.xlsx", source_dir=inbox)
    upload_module._LAYOUTS.clear()
    again = write_error_report(result.raw, result.quarantined, tmp_path / "again.xlsx", source_dir=inbox)

    def parts(p: Path) -> dict[str, bytes]:
        with zipfile.ZipFile(p) as z:
            return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}

    assert parts(kept) == parts(again)
    ws = openpyxl.load_workbook(kept)["10A1"]
    assert [c.value for c in ws[1]][: len(HEAD)] == HEAD
