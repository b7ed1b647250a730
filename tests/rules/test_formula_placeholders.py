"""Formulas whose saved value is a writer's placeholder 0 (XlsxWriter, pandas' default .xlsx engine).

XlsxWriter saves 0 as the value of every formula it was not told the result of and marks the
workbook ``fullCalcOnLoad``. Read as saved, ``=DATE(2011,4,3)`` in a date cell was a birth date of
31/12/1899, unformatted it was ``impossible_date``, and a formula in the name column was the name
"0" (``missing_name``). Now such a formula is evaluated like an unsaved one, or the file is refused
with ``formula_without_value`` naming the cell, as for a file openpyxl wrote without values.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.ingest import UploadError, process_upload

HEADER = ["Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân"]
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường"]
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _process(path: Path):
    return process_upload(path, province="lam_dong", sector="students", unit="u")


def _write(path: Path, rows: list[list[tuple[str, object]]], date_format: bool = False) -> Path:
    """``rows`` of (kind, value) cells below the header: ``text``, or ``formula`` written by XlsxWriter
    without a value (so it saves its placeholder 0); a date column formatted as a date if asked."""
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    ws = wb.add_worksheet("DS")
    fmt = wb.add_format({"num_format": "dd/mm/yyyy"}) if date_format else None
    ws.write_row(0, 0, HEADER)
    for i, row in enumerate(rows, start=1):
        for j, (kind, value) in enumerate(row):
            cell_fmt = fmt if j == 1 else None
            if kind == "formula":
                ws.write_formula(i, j, str(value), cell_fmt)
            else:
                ws.write_string(i, j, str(value), cell_fmt)
    wb.close()
    return path


def _person_cells(name: str, day: dt.date, as_formula: list[bool]) -> list[tuple[str, object]]:
    values = [
        (f'=PROPER("{name.lower()}")', name),
        (f"=DATE({day.year},{day.month},{day.day})", day.strftime("%d/%m/%Y")),
        ('="N"&"am"', "Nam"),
        ('="0792"&"12000123"', "079212000123"),
    ]
    return [("formula", f) if use else ("text", v) for (f, v), use in zip(values, as_formula, strict=True)]


@SETTINGS
@given(days=st.lists(st.dates(dt.date(2008, 1, 1), dt.date(2020, 12, 31)), min_size=1, max_size=3),
       as_formula=st.lists(st.booleans(), min_size=4, max_size=4), date_format=st.booleans())
def test_constant_formulas_saved_with_a_placeholder_zero_give_their_values(days, as_formula, date_format):
    """Any column written as a constant formula by XlsxWriter (saved value 0), in a date-formatted
    cell or not: every row is read with the value the formula gives, never 31/12/1899 or "0"."""
    as_formula[1] = True  # the birth date is always a formula: the case that was read as 31/12/1899
    rows = [_person_cells(NAMES[i], day, as_formula) for i, day in enumerate(days)]
    with tempfile.TemporaryDirectory() as folder:
        result = _process(_write(Path(folder) / "ds.xlsx", rows, date_format))
    assert result.counts["rejected"] == 0, result.counts
    got = result.normalised_valid.sort("row_number").select("name_clean", "dob", "gender_norm", "id_clean").rows()
    assert got == [(NAMES[i], day, "Nam", "079212000123") for i, day in enumerate(days)]


@pytest.mark.parametrize("column", [0, 1, 3])
@pytest.mark.parametrize("formula", ['=VLOOKUP("Nguyễn Văn An",Z1:Z9,1,FALSE)', "=A2", '=INDIRECT("B2")',
                                     "=SUM(1,2)"])
def test_a_formula_that_cannot_be_evaluated_saved_with_a_placeholder_is_refused_naming_its_cell(
        tmp_path: Path, column: int, formula: str):
    """Its value is unknown (the 0 is XlsxWriter's placeholder): refused like a file openpyxl wrote
    without values, naming the cell, never read as a name "0" or a birth date of 1899."""
    row = [("text", NAMES[0]), ("text", "05/09/2012"), ("text", "Nam"), ("text", "079212000123")]
    row[column] = ("formula", formula)
    path = _write(tmp_path / "ds.xlsx", [[("text", NAMES[1]), ("text", "12/01/2011"), ("text", "Nữ"),
                                          ("text", "001311004567")], row])
    with pytest.raises(UploadError) as info:
        _process(path)
    assert info.value.code == "formula_without_value"
    assert "row 3" in str(info.value) and f"'{'ABCD'[column]}'" in str(info.value)
    assert "Nguyễn" not in str(info.value)


def test_a_zero_saved_by_a_calculating_program_is_kept(tmp_path: Path):
    """Without ``fullCalcOnLoad`` a saved 0 is a result Excel computed: a formula it cannot evaluate
    keeps it (no refusal asking to save the file in Excel, which was done)."""
    row = [("text", NAMES[0]), ("text", "05/09/2012"), ("text", "Nam"), ("formula", "=VLOOKUP(1,Z1:Z9,1,FALSE)")]
    written = _write(tmp_path / "w.xlsx", [row])
    path = tmp_path / "excel.xlsx"
    with zipfile.ZipFile(written) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/workbook.xml":
                assert b'fullCalcOnLoad="1"' in data
                data = data.replace(b' fullCalcOnLoad="1"', b"")
            zout.writestr(item, data)
    result = _process(path)
    assert result.counts["rows_read"] == 1
    assert result.counts["rejected_by_reason"] == {"id_wrong_length": 1}


def test_a_value_the_writer_was_given_is_kept(tmp_path: Path):
    """XlsxWriter told the result (``value=``) saves it: read as saved, nothing evaluated."""
    path = tmp_path / "ds.xlsx"
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    ws = wb.add_worksheet("DS")
    ws.write_row(0, 0, HEADER)
    ws.write_formula(1, 0, "=VLOOKUP(1,Z1:Z9,1,FALSE)", None, NAMES[0])
    ws.write_row(1, 1, ["05/09/2012", "Nam", "079212000123"])
    wb.close()
    result = _process(path)
    assert result.counts["rejected"] == 0 and result.upload.formulas_evaluated == 0
    assert result.normalised_valid["name_clean"].to_list() == [NAMES[0]]
