"""What Excel shows differently from what it stores, as kinds, on real .xlsx and .xls files.

* Hidden rows and columns of a visible sheet: every row is still read (never silently dropped), a
  hidden stale column never wins over the visible column of the same field, and the upload says in
  one line which rows and columns were hidden (file, sheet, rows/columns, what to do).
* The 1904 date system of an .xls (DATEMODE), as of an .xlsx: the same days as a 1900 workbook.
* Error values in date cells (``#REF!``, ``#N/A``, a formula's cached ``#DIV/0!``): the row is
  rejected ``date_error_value``, never read as another date or as "missing", never a traceback.
* IDs a number cell truncated (``7.92031E+10`` saved as a number): never padded into a wrong ID;
  a number that holds every digit is recovered with its leading zero.

Workbooks are written by openpyxl and xlsxwriter (.xlsx) and by ``xls_writer`` (.xls, BIFF8, built
record by record as xlwt writes them).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.ingest import UploadError, process_upload
from rules.ingest.biff import read_book, sheet_marks
from rules.normalise.dates import parse_dates
from rules.normalise.ids import normalise_ids
from rules.provinces import cccd_codes
from tests.rules.xls_writer import ERROR_CODES, Error, Number, Sheet, xls_bytes

HEADER = ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân"]
PEOPLE = [
    [1, "Nguyễn Văn An", dt.date(2012, 9, 5), "Nam", "079212000123"],
    [2, "Trần Thị Bình", dt.date(2011, 1, 12), "Nữ", "001311004567"],
    [3, "Lê Hoàng Cường", dt.date(2010, 11, 23), "Nam", "048210001234"],
    [4, "Phạm Thu Dung", dt.date(2012, 2, 29), "Nữ", "079312005678"],
    [5, "Hoàng Minh Đức", dt.date(2009, 6, 30), "Nam", "001209007890"],
]
STALE = dt.date(2000, 1, 1)  # what a hidden, out-of-date "Ngày sinh" column holds
SLOW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
FORMATS = ["openpyxl", "xlsxwriter", "xls"]
EPOCH_1900, EPOCH_1904 = dt.date(1899, 12, 30), dt.date(1904, 1, 1)


def _process(path: Path):
    return process_upload(path, province="lam_dong", sector="students", unit="u")


def _accepted(result) -> list[tuple]:
    return result.normalised_valid.sort("row_number").select("name_clean", "dob", "gender_norm", "id_clean").rows()


def _want(people: list[list]) -> list[tuple]:
    return [(p[1], p[2], p[3], p[4]) for p in people]


def _write(folder: Path, fmt: str, rows: list[list], *, hidden_rows: set[int] = frozenset(),
           hidden_cols: set[int] = frozenset(), date1904: bool = False, errors: dict | None = None) -> Path:
    """``rows`` (0-based grid from A1; dates as date cells) as a workbook written by ``fmt``.
    ``errors``: (row, col) -> (code, as_formula) error cells."""
    errors = errors or {}
    epoch = EPOCH_1904 if date1904 else EPOCH_1900
    if fmt == "xls":
        sheet = Sheet("DS", hidden_rows=set(hidden_rows), hidden_columns=set(hidden_cols))
        for i, row in enumerate(rows):
            cells = [Number((v - epoch).days, date=True) if isinstance(v, dt.date) else v for v in row]
            for (r, c), (code, formula) in errors.items():
                if r == i:
                    cells += [None] * (c + 1 - len(cells))
                    cells[c] = Error(code, formula)
            sheet.append(cells, at=i)
        path = folder / "ds.xls"
        path.write_bytes(xls_bytes([sheet], date1904))
        return path
    path = folder / "ds.xlsx"
    if fmt == "xlsxwriter":
        wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "date_1904": date1904})
        ws = wb.add_worksheet("DS")
        date_format = wb.add_format({"num_format": "dd/mm/yyyy"})
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if isinstance(v, dt.date):
                    ws.write_datetime(i, j, dt.datetime(v.year, v.month, v.day), date_format)
                elif isinstance(v, str):
                    ws.write_string(i, j, v)
                elif v is not None:
                    ws.write_number(i, j, v)
        for (r, c), (code, formula) in errors.items():
            if formula:  # a formula whose cached result is the error, as Excel saves it
                ws.write_formula(r, c, "=1/0" if code == "#DIV/0!" else "=#REF!+1", None, code)
            else:
                ws.write_formula(r, c, f"={code}", None, code)
        for r in hidden_rows:
            ws.set_row(r, None, None, {"hidden": True})
        for c in hidden_cols:
            ws.set_column(c, c, None, None, {"hidden": True})
        wb.close()
        return path
    wb = openpyxl.Workbook()
    if date1904:
        wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    ws = wb.active
    ws.title = "DS"
    for i, row in enumerate(rows, start=1):
        for j, v in enumerate(row, start=1):
            cell = ws.cell(row=i, column=j, value=v)
            if isinstance(v, dt.date):
                cell.number_format = "dd/mm/yyyy"
    for r, c in errors:
        ws.cell(row=r + 1, column=c + 1, value=0)  # placeholder, replaced in the XML below
    for r in hidden_rows:
        ws.row_dimensions[r + 1].hidden = True
    for c in hidden_cols:
        ws.column_dimensions[openpyxl.utils.get_column_letter(c + 1)].hidden = True
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(_with_error_cells(buf.getvalue(), errors))
    return path


def _with_error_cells(data: bytes, errors: dict) -> bytes:
    """An openpyxl workbook with error cells as Excel writes them: ``t="e"`` and the error as the
    value, after the formula when the error is a formula's cached result."""
    if not errors:
        return data
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            body = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                for (r, c), (code, formula) in errors.items():
                    ref = f"{openpyxl.utils.get_column_letter(c + 1)}{r + 1}"
                    f = "<f>VLOOKUP(B2,Sheet2!A:B,2,FALSE)</f>" if formula else ""
                    cell = f'<c r="{ref}" t="e">{f}<v>{code}</v></c>'.encode()
                    body = re.sub(rf'<c r="{ref}"[^>]*?(?:/>|>.*?</c>)'.encode(), cell, body, count=1)
            zout.writestr(item, body)
    return out.getvalue()


def _grid(people: list[list]) -> list[list]:
    return [list(HEADER)] + [list(p) for p in people]


# --- hidden rows ----------------------------------------------------------------------------------


@SLOW
@given(fmt=st.sampled_from(FORMATS), hidden=st.sets(st.integers(1, len(PEOPLE))), title=st.booleans())
def test_hidden_rows_are_read_once_and_named(fmt, hidden, title):
    """Any subset of data rows hidden (a filter, rows "put away"): every row is read once, in its own
    place, and one warning line names the file, the sheet and exactly those rows, with what to do."""
    rows = ([["DANH SÁCH HỌC SINH"], []] if title else []) + _grid(PEOPLE)
    shift = 2 if title else 0
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), fmt, rows, hidden_rows={h + shift for h in hidden})
        result = _process(path)
    assert _accepted(result) == _want(PEOPLE)
    assert result.raw["excel_row"].to_list() == [shift + i + 1 for i in range(1, len(PEOPLE) + 1)]
    lay = result.upload.sheets[0]
    assert lay.hidden_rows == sorted(h + shift + 1 for h in hidden)
    lines = [line for line in result.summary_lines() if "hidden rows" in line]
    assert len(lines) == (1 if hidden else 0)
    if hidden:
        line = lines[0]
        assert path.name in line and "'DS'" in line and "unhide" in line and "\n" not in line
        shown = re.search(r"hidden rows ([\d, -]+?) đã", line).group(1)
        listed = [n for part in shown.split(", ") for n in range(int(part.split("-")[0]), int(part.split("-")[-1]) + 1)]
        assert listed == lay.hidden_rows
        assert not any(p[1] in line or p[4] in line for p in PEOPLE)


def test_row_ranges_are_shown_compactly(tmp_path: Path):
    people = [[i, f"Nguyễn Văn {chr(0x41 + i)}", dt.date(2012, 9, 5), "Nam", "079212000123"] for i in range(1, 21)]
    path = _write(tmp_path, "xlsxwriter", _grid(people), hidden_rows={2, 3, 4, 5, 9, 15, 16})
    result = _process(path)
    assert result.counts["rows_read"] == 20
    line = next(line for line in result.summary_lines() if "hidden rows" in line)
    assert "3-6, 10, 16-17" in line and "7 dòng" in line


# --- hidden columns -------------------------------------------------------------------------------


@SLOW
@given(fmt=st.sampled_from(FORMATS), stale_first=st.booleans(), field=st.sampled_from([2, 4]))
def test_a_hidden_stale_column_never_wins_over_the_visible_one(fmt, stale_first, field):
    """An old "Ngày sinh" (or ID) column hidden beside the new one, before or after it: the visible
    column's values are read; the hidden one's are kept (extra), never used; the line names it."""
    stale_value = STALE if field == 2 else "079200000001"
    header = list(HEADER)
    rows = [[*p] for p in PEOPLE]
    at = field if stale_first else field + 1
    header.insert(at, HEADER[field])
    for r in rows:
        r.insert(at, stale_value)
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), fmt, [header, *rows], hidden_cols={at})
        result = _process(path)
        assert _accepted(result) == _want(PEOPLE)
        line = next(line for line in result.summary_lines() if "hidden columns" in line)
    letter = "ABCDEF"[at]
    assert f"{letter} '{HEADER[field]}" in line and path.name in line
    extra = [v for v in result.raw["extra"].to_list()]
    assert all(HEADER[field] in e for e in extra)  # the stale values are kept, under their header


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_hidden_column_with_no_visible_twin_is_read_and_named(tmp_path: Path, fmt: str):
    path = _write(tmp_path, fmt, _grid(PEOPLE), hidden_cols={2})
    result = _process(path)
    assert _accepted(result) == _want(PEOPLE)
    assert result.upload.sheets[0].hidden_columns == ["C 'Ngày sinh'"]


def test_unused_columns_hidden_to_the_sheets_end_are_not_named(tmp_path: Path):
    """Hiding every column right of the table (F:XFD) is tidiness, not hidden data: no warning."""
    path = _write(tmp_path, "openpyxl", _grid(PEOPLE))
    data = path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for item in zin.infolist():
            body = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = body.replace(b"<sheetData>", b'<cols><col min="6" max="16384" hidden="1"/></cols><sheetData>')
            zout.writestr(item, body)
    path.write_bytes(out.getvalue())
    result = _process(path)
    assert _accepted(result) == _want(PEOPLE) and result.upload.hidden_lines() == []


# --- the 1904 date system -------------------------------------------------------------------------


@SLOW
@given(fmt=st.sampled_from(FORMATS), as_number=st.booleans(),
       day=st.dates(min_value=dt.date(dt.date.today().year - 20, 1, 1),  # a pupil's age, whenever run
                    max_value=dt.date(dt.date.today().year - 1, 12, 31)))
def test_a_1904_workbook_gives_the_day_the_uploader_sees(fmt, as_number, day):
    """Date cells and dates typed as serial numbers (a number cell), in .xlsx and .xls of the 1904
    system: the day shown in Excel, never one 4 years and a day earlier."""
    value = (day - EPOCH_1904).days if as_number else day
    person = [1, "Nguyễn Văn An", value, "Nam", "079212000123"]
    with tempfile.TemporaryDirectory() as folder:
        got = _process(_write(Path(folder), fmt, _grid([person]), date1904=True)).normalised_valid
    assert got["dob"].to_list() == [day]


@pytest.mark.parametrize("date1904", [False, True])
def test_the_xls_date_mode_is_read(date1904: bool):
    sheet = Sheet("DS")
    sheet.append(["x"])
    assert read_book(xls_bytes([sheet], date1904)).date1904 is date1904


# --- error values in date cells -------------------------------------------------------------------

CODES = sorted(ERROR_CODES)


@SLOW
@given(fmt=st.sampled_from([*FORMATS, "csv"]), code=st.sampled_from(CODES), formula=st.booleans(),
       bad=st.integers(0, len(PEOPLE) - 1))
def test_an_error_value_in_a_date_cell_rejects_its_row_saying_so(fmt, code, formula, bad):
    """``#REF!``, ``#N/A``, ``#DIV/0!``… in a birth-date cell, as a constant or a formula's cached
    result: that row alone is rejected ``date_error_value`` (not "missing", not a date), the others
    are read; workbooks name the cell in one warning line."""
    if fmt == "xlsxwriter" and code not in {"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!"}:
        return
    people = [list(p) for p in PEOPLE]
    people[bad][2] = None
    with tempfile.TemporaryDirectory() as folder:
        if fmt == "csv":
            path = Path(folder) / "ds.csv"
            rows = [[v.strftime("%d/%m/%Y") if isinstance(v, dt.date) else ("" if v is None else str(v)) for v in r]
                    for r in _grid(people)]
            rows[bad + 1][2] = code
            path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
        else:
            path = _write(Path(folder), fmt, _grid(people), errors={(bad + 1, 2): (code, formula)})
        result = _process(path)
    assert result.counts["rows_read"] == len(PEOPLE)
    assert result.counts["rejected_by_reason"] == {"date_error_value": 1}
    assert result.quarantined["excel_row"].to_list() == [bad + 2]
    assert _accepted(result) == _want([p for i, p in enumerate(PEOPLE) if i != bad])
    if fmt != "csv":
        line = next(line for line in result.summary_lines() if "error value" in line)
        assert f"C{bad + 2} {code}" in line and path.name in line


def test_an_error_value_outside_the_date_columns_is_named_not_used(tmp_path: Path):
    """``#N/A`` from a failed VLOOKUP in the ID column: the ID reads as empty (not as text) and the
    upload names the cell."""
    path = _write(tmp_path, "openpyxl", _grid(PEOPLE), errors={(1, 4): ("#N/A", True)})
    result = _process(path)
    assert result.counts["rejected"] == 0
    row = result.normalised_valid.sort("row_number").row(0, named=True)
    assert row["id_clean"] is None and row["id_kind"] == "missing"
    assert any("E2 #N/A" in line for line in result.summary_lines())


@FAST
@given(code=st.sampled_from([*CODES, "#GETTING_DATA", "#SPILL!", "#CALC!", "Err:502"]),
       case=st.sampled_from([str, str.lower]), pad=st.sampled_from(["", " ", "  "]))
def test_every_error_value_is_date_error_value(code, case, pad):
    got = parse_dates(pl.Series([pad + case(code) + pad]), today=dt.date(2026, 1, 1))
    assert got["dob_error"].to_list() == ["date_error_value"] and got["dob"].to_list() == [None]


@FAST
@given(text=st.text(alphabet="#/0123456789AEFLNRUV!?", max_size=12))
def test_only_error_values_are_date_error_value(text):
    error = parse_dates(pl.Series([text]), today=dt.date(2026, 1, 1))["dob_error"][0]
    assert (error == "date_error_value") == (text.strip().upper() in {c.upper() for c in CODES})


# --- IDs a number cell truncated ------------------------------------------------------------------

CODES_3 = sorted(cccd_codes())


def _cccd() -> st.SearchStrategy[str]:
    return st.builds(lambda code, d4, rest: f"{code}{d4}{rest:08d}", st.sampled_from(CODES_3),
                     st.integers(0, 3), st.integers(0, 10**8 - 1))


def _significant(digits: str) -> int:
    return len(digits.strip("0"))


@FAST
@given(cccd=_cccd())
def test_a_number_cell_that_holds_every_digit_is_the_id(cccd):
    """A 12-digit ID typed into a number cell loses only its leading zero(s): recovered, unless it
    is one of the few whose digits end in zeros down to 6 significant ones (then asked again)."""
    got = normalise_ids(pl.Series([str(int(cccd)), f"{int(cccd)}.0"])).rows(named=True)
    for row in got:
        if _significant(cccd) > 6:
            assert row["id_clean"] == cccd and "leading_zero_restored" in row["id_flags"]
        else:
            assert row["id_clean"] is None and row["id_error"] == "id_scientific_notation"


@FAST
@given(cccd=_cccd(), kept=st.integers(1, 6), text=st.booleans())
def test_a_truncated_number_is_never_made_into_an_id(cccd, kept, text):
    """The ID as Excel shows it in scientific notation (``7.92031E+10``), as text or saved back as a
    number (``79203100000``): never padded into an ID that is not the person's."""
    value = float(f"{float(int(cccd)):.{kept - 1}e}")
    cell = f"{value:.{kept - 1}E}" if text else str(int(value))
    row = normalise_ids(pl.Series([cell])).row(0, named=True)
    assert row["id_clean"] in (None, cccd)
    if int(value) != int(cccd):
        assert row["id_clean"] is None and row["id_error"] == "id_scientific_notation"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_truncated_id_row_is_rejected_asking_for_a_text_column(tmp_path: Path, fmt: str):
    people = [list(p) for p in PEOPLE]
    people[0][4] = 7.9212e10  # 079212000123 shown as 7.9212E+10 and saved back as a number
    people[1][4] = 1311004567  # 001311004567 in a number cell: every digit held
    result = _process(_write(tmp_path, fmt, _grid(people)))
    assert result.counts["rejected_by_reason"] == {"id_scientific_notation": 1}
    message = result.quarantined["message_en"][0]
    assert "Text" in message and "again" in message
    assert _accepted(result) == _want(PEOPLE[1:])


# --- damaged .xls ---------------------------------------------------------------------------------


@FAST
@given(cut=st.integers(0, 6000), flips=st.lists(st.tuples(st.integers(0, 6000), st.integers(0, 255)), max_size=8))
def test_a_damaged_xls_never_breaks_the_record_reader(cut, flips):
    sheet = Sheet("DS", hidden_rows={1}, hidden_columns={2})
    for p in PEOPLE:
        sheet.append([p[1], Number((p[2] - EPOCH_1900).days, date=True), Error("#REF!")])
    data = bytearray(xls_bytes([sheet]))
    for at, byte in flips:
        if at < len(data):
            data[at] = byte
    book = read_book(bytes(data[:cut] if cut else data))
    for name in book.sheets:
        sheet_marks(book, name)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(cut=st.integers(512, 6000), flips=st.lists(st.tuples(st.integers(0, 6000), st.integers(0, 255)),
                                                  max_size=4))
def test_a_damaged_xls_is_read_or_refused_plainly(capfd, cut, flips):
    """A cut or scribbled-over .xls: read, or refused in one line; calamine never reaches a broken
    sector chain (it panics there and prints a Rust backtrace on stderr)."""
    capfd.readouterr()
    rows = _grid(PEOPLE)
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), "xls", rows, hidden_rows={2}, errors={(1, 2): ("#REF!", True)})
        data = bytearray(path.read_bytes())
        for at, byte in flips:
            if at < len(data):
                data[at] = byte
        path.write_bytes(bytes(data[:cut]))
        try:
            result = _process(path)
        except UploadError as exc:
            assert "\n" not in str(exc)
        else:
            assert result.counts["rows_read"] == result.counts["accepted"] + result.counts["rejected"]
    assert "panicked" not in capfd.readouterr().err


@pytest.mark.parametrize("block", [1, 7, 333, 1 << 20])
def test_marks_across_block_edges_are_all_found(tmp_path: Path, monkeypatch, block: int):
    """Hidden rows, hidden columns and error cells, the sheet XML read in blocks of any size (every
    tag cut at some block edge when blocks are tiny): each found once, none invented."""
    import rules.ingest.formulas as formulas

    path = tmp_path / "big.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False})
    ws = wb.add_worksheet("DS")
    ws.set_column(6, 7, None, None, {"hidden": True})
    ws.write_row(0, 0, HEADER)
    hidden, errors = set(), {}
    for i in range(1, 1_001 if block < 100 else 20_001):
        if i % 7 == 0:
            ws.set_row(i, None, None, {"hidden": True})
            hidden.add(i)
        ws.write_row(i, 0, [str(i), "Nguyễn Văn An", "05/09/2012", "Nam", "079212000123"])
        if i % 11 == 0:
            code = CODES[i % len(CODES)]
            ws.write_formula(i, 5, f"={code}", None, code)
            errors[(i, 5)] = code
    wb.close()
    monkeypatch.setattr(formulas, "_BLOCK", block)
    marks = formulas.xlsx_sheet_marks(path.read_bytes(), "DS")
    assert marks.hidden_rows == hidden and marks.errors == errors and marks.hidden_columns == [(6, 7)]
