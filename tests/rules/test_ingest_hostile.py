"""Hostile files, round 2: each fault found is tested as a kind, over all the inputs of that kind.

* Position: a sheet may start anywhere (calamine's grid starts at the first column holding a value,
  not at A) and unsaved formulas may be in any column and in rows or columns made only of them;
  every value lands in its own field, no row is lost.
* Saved empty text: Excel's ``=IF(…,"",…)`` result is a value, not an unsaved formula.
* Date systems: a 1904 workbook's serial numbers, date cells and DATE() formulas give the same days
  as a 1900 workbook's.
* Invisible characters beyond default-ignorable: control characters anywhere in any cell change
  nothing; a braille blank is a space.
* Dates: serials with any time fraction, day-first datetimes.
* Text files: UTF-32, a short UTF-8 list with stray controls, ``="…"`` cells.
* Messages: a formula quoted back never carries a name or an ID.
"""

from __future__ import annotations

import codecs
import datetime as dt
import itertools
import tempfile
from pathlib import Path

import openpyxl
import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rules.ingest import UploadError, process_upload
from rules.ingest.formulas import mask_formula
from rules.normalise.characters import table
from rules.normalise.dates import parse_dates
from rules.normalise.names import normalise_names
from tests.rules.upload_files import write_rows

HEADER = ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân"]
PEOPLE = [
    ["1", "Nguyễn Văn An", dt.date(2012, 9, 5), "Nam", "079212000123"],
    ["2", "Trần Thị Bình", dt.date(2011, 1, 12), "Nữ", "001311004567"],
    ["3", "Lê Hoàng Cường", dt.date(2010, 11, 23), "Nam", "048210001234"],
]
WANT = [(p[1], p[2], p[3], p[4]) for p in PEOPLE]
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _process(path: Path):
    return process_upload(path, province="lam_dong", sector="students", unit="u")


def _accepted(result) -> list[tuple]:
    v = result.normalised_valid.sort("row_number")
    return v.select("name_clean", "dob", "gender_norm", "id_clean").rows()


def _formula(field: int, person: list) -> str:
    """The value of ``person[field]`` written as a constant formula a program would save."""
    value = person[field]
    if isinstance(value, dt.date):
        return f"=DATE({value.year},{value.month},{value.day})"
    if field == 0:
        return "=ROW()-ROW()+" + value
    return f'="{value}"' if field == 4 else f'=PROPER("{value.lower()}")'


# --- position: any start cell, formulas in any column, rows of formulas only ----------------------


@SLOW
@given(first_row=st.integers(1, 6), first_col=st.integers(1, 6),
       formulas=st.lists(st.booleans(), min_size=len(HEADER), max_size=len(HEADER)),
       all_formula_rows=st.sets(st.integers(0, len(PEOPLE) - 1)))
def test_unsaved_formulas_land_in_their_own_cells_wherever_the_table_starts(
        first_row, first_col, formulas, all_formula_rows):
    """A table starting at any cell, any columns written as unsaved formulas (openpyxl saves none of
    their values), some rows made only of them: every row read, every value in its own field."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "DS"
    for j, h in enumerate(HEADER):
        ws.cell(row=first_row, column=first_col + j, value=h)
    for i, person in enumerate(PEOPLE, start=1):
        for j, value in enumerate(person):
            as_formula = formulas[j] or (i - 1) in all_formula_rows
            cell = ws.cell(row=first_row + i, column=first_col + j)
            cell.value = _formula(j, person) if as_formula else (
                value.strftime("%d/%m/%Y") if isinstance(value, dt.date) else value)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ds.xlsx"
        wb.save(path)
        result = _process(path)
    assert result.counts["rows_read"] == len(PEOPLE) and result.counts["rejected"] == 0
    assert _accepted(result) == WANT
    assert result.normalised_valid.sort("row_number")["excel_row"].to_list() == [
        first_row + i for i in range(1, len(PEOPLE) + 1)]


def test_an_excel_saved_empty_text_formula_is_a_value_not_an_unsaved_formula(tmp_path: Path):
    """``=IF(…,"",…)`` saved by Excel (``t="str"``, empty ``<v>``) beside an empty cell elsewhere: the
    file is read, not refused with "open and save it in Excel" (which would not help)."""
    import zipfile

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "DS"
    ws.append(["Họ và tên", "Ngày sinh", "Ghi chú", "Giới tính"])
    ws.append(["Nguyễn Văn An", "05/09/2012", '=IF(1=1,"","x")', "Nam"])
    ws.append(["Trần Thị Bình", None, '=IF(1=1,"","x")', "Nữ"])
    plain = tmp_path / "plain.xlsx"
    wb.save(plain)
    path = tmp_path / "excel.xlsx"
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":  # as Excel writes an empty text result
                for r in ("C2", "C3"):
                    data = data.replace(f'<c r="{r}"><f>'.encode(), f'<c r="{r}" t="str"><f>'.encode())
                data = data.replace(b"<v />", b"<v></v>")
            zout.writestr(item, data)
    result = _process(path)
    assert result.counts["rows_read"] == 2
    assert result.counts["rejected_by_reason"] == {"missing_date": 1}


def test_a_formula_quoted_back_never_carries_a_name_or_an_id(tmp_path: Path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Họ và tên", "Ngày sinh", "Số định danh cá nhân"])
    ws.append(['=CONCATENATE("Nguyễn","Văn An")', "05/09/2012", "=VALUE(79212000123)"])
    path = tmp_path / "ds.xlsx"
    wb.save(path)
    with pytest.raises(UploadError) as info:
        _process(path)
    message = str(info.value)
    assert info.value.code == "formula_without_value" and "row 2" in message and "'A'" in message
    assert "Nguyễn" not in message and "Văn An" not in message and "79212000123" not in message
    assert "CONCATENATE" in message


@FAST
@given(st.text(max_size=40), st.integers(10**4, 10**12))
def test_masked_formulas_keep_no_text_literal_or_long_number(text, number):
    shown = mask_formula(f'PROPER("{text.replace(chr(34), "")}")&{number}')
    assert str(number) not in shown and (not text.replace('"', "").strip() or '"…"' in shown)


# --- date systems --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["serial", "date_cell", "formula"])
def test_a_1904_workbook_gives_the_same_days_as_a_1900_one(tmp_path: Path, kind: str):
    """Excel for Mac's 1904 date system: serial numbers (a date typed in a number cell), date cells
    and DATE() formulas all give the day the uploader sees, not one 4 years and a day earlier."""
    wb = openpyxl.Workbook()
    wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    ws = wb.active
    ws.title = "DS"
    ws.append(HEADER)
    for p in PEOPLE:
        day = p[2]
        value = {"serial": (day - dt.date(1904, 1, 1)).days, "date_cell": dt.datetime(day.year, day.month, day.day),
                 "formula": f"=DATE({day.year},{day.month},{day.day})"}[kind]
        ws.append([p[0], p[1], value, p[3], p[4]])
        if kind == "date_cell":
            ws.cell(row=ws.max_row, column=3).number_format = "dd/mm/yyyy"
    path = tmp_path / "mac.xlsx"
    wb.save(path)
    assert _accepted(_process(path)) == WANT


def test_a_year_typed_as_a_number_in_a_1904_workbook_stays_a_year(tmp_path: Path):
    wb = xlsxwriter.Workbook(str(tmp_path / "mac.xlsx"), {"date_1904": True})
    ws = wb.add_worksheet("DS")
    ws.write_row(0, 0, HEADER)
    ws.write_row(1, 0, ["1", "Nguyễn Văn An"])
    ws.write_number(1, 2, 2012)
    wb.close()
    got = _process(tmp_path / "mac.xlsx").normalised_valid
    assert got["dob_year"].to_list() == [2012] and got["dob_precision"].to_list() == ["year"]


# --- invisible characters beyond the default-ignorable set ----------------------------------------

CONTROLS = sorted(table().controls)


def test_controls_table_is_every_c0_c1_control_but_tab_lf_cr():
    c0_c1 = {c for c in range(0x00, 0xA0) if c < 0x20 or c >= 0x7F} - {0x09, 0x0A, 0x0D}
    assert c0_c1 <= set(CONTROLS)
    assert not set(CONTROLS) & set(table().ignorable)


def _csv(rows: list[list[object]]) -> bytes:
    def text(v: object) -> str:
        return v.strftime("%d/%m/%Y") if isinstance(v, dt.date) else str(v)

    return ("\r\n".join(",".join(text(v) for v in r) for r in rows) + "\r\n").encode("utf-8")


def _header_examples(cps: tuple[int, ...]):
    """``@example``s: each code point at the start, inside a word and at the end of every header, in
    a CSV and a workbook (a header lost to a stray character rejects every row with a wrong reason)."""
    def decorate(test):
        for col, label in enumerate(HEADER):
            for pos in (0, min(len(label), label.find(" ") + 2 if " " in label else 1), len(label)):
                for cp in cps:
                    for xlsx in (False, True):
                        test = example(row=0, col=col, pos=pos, cp=cp, xlsx=xlsx)(test)
        return test
    return decorate


# Every C1 control is a VISCII capital and U+0080-U+009F are CP1252 glyph positions: the ones
# that once turned ``Ngày s\x8finh`` into the VISCII word ``Ngày sỐinh`` (0x8F Ố, 0x80 Ạ), the first
# and last C1, NEL and a C0 control VISCII also uses for a capital (0x14 Ỷ).
C1_EXAMPLES = (0x80, 0x85, 0x8F, 0x9F, 0x14)


@SLOW
@example(row=0, col=2, pos=36, cp=0x8F, xlsx=False)  # the case found: "Ngày s\x8finh" in a CSV header
@example(row=0, col=2, pos=36, cp=0x8F, xlsx=True)
@example(row=0, col=2, pos=6, cp=0x80, xlsx=False)
@example(row=1, col=1, pos=9, cp=0x8F, xlsx=False)  # in a name: "Nguyễn V\x8făn An"
@example(row=2, col=3, pos=1, cp=0x8F, xlsx=True)  # in a gender: "N\x8fữ"
@example(row=3, col=2, pos=2, cp=0x9F, xlsx=False)  # in a date: "23\x9f/11/2010"
@example(row=3, col=4, pos=12, cp=0x85, xlsx=True)  # at the end of an ID
@_header_examples(C1_EXAMPLES)
@given(row=st.integers(0, len(PEOPLE)), col=st.integers(0, len(HEADER) - 1), pos=st.integers(0, 40),
       cp=st.sampled_from(CONTROLS), xlsx=st.booleans())
def test_any_control_character_anywhere_changes_nothing(row, col, pos, cp, xlsx):
    """A NUL, BEL, vertical tab, C1 control… pasted anywhere into any cell (header included): the same
    rows, fields and values as without it, and the upload counts it as removed."""
    _check_invisible_changes_nothing(row, col, pos, cp, xlsx)


# Default-ignorable (format) characters: zero-width space and joiners, soft hyphen (0xAD is TCVN3 ư
# and VISCII ễ: ``Ngày si\xadnh`` once read as VISCII ``Ngày siễnh``), bidi controls, word joiner,
# BOM, variation selectors, tags. The BMP ones all, and the first and last of the tag block.
IGNORABLE = sorted({c for c in table().ignorable if c < 0x10000} | {0xE0001, 0xE0020, 0xE007F, 0xE0100, 0xE01EF})


@SLOW
@example(row=0, col=2, pos=7, cp=0xAD, xlsx=False)  # "Ngày si\xadnh"
@example(row=0, col=2, pos=7, cp=0xAD, xlsx=True)
@_header_examples((0xAD, 0x200B, 0xFEFF))
@example(row=1, col=0, pos=30, cp=0xFEFF, xlsx=False)  # first on the first data line
@given(row=st.integers(0, len(PEOPLE)), col=st.integers(0, len(HEADER) - 1), pos=st.integers(0, 40),
       cp=st.sampled_from(IGNORABLE), xlsx=st.booleans())
def test_any_format_character_anywhere_changes_nothing(row, col, pos, cp, xlsx):
    _check_invisible_changes_nothing(row, col, pos, cp, xlsx)


def _check_invisible_changes_nothing(row: int, col: int, pos: int, cp: int, xlsx: bool) -> None:
    rows = [list(HEADER)] + [[v.strftime("%d/%m/%Y") if isinstance(v, dt.date) else v for v in p] for p in PEOPLE]
    cell = rows[row][col]
    at = pos % (len(cell) + 1)
    rows[row][col] = cell[:at] + chr(cp) + cell[at:]
    with tempfile.TemporaryDirectory() as folder:
        path = write_rows(rows, folder, xlsx)
        result = _process(path)
    assert _accepted(result) == WANT
    assert result.counts["rows_read"] == len(PEOPLE) and result.counts["rejected"] == 0
    assert result.upload.cells["legacy_font_cells_repaired"] == 0
    # U+FEFF first on the first line: the file's BOM, not a character; first on the first data line:
    # the CSV body is parsed from that line and the parser drops it as the body's BOM, uncounted
    file_bom = not xlsx and cp == 0xFEFF and col == 0 and at == 0 and row in (0, 1)
    if not ((xlsx and cp in (0x0B, 0x0C)) or (not xlsx and cp == 0x0C) or file_bom):  # xlsx stores none of these
        assert result.upload.cells["invisible_removed"] >= 1


def test_a_braille_blank_is_a_space(tmp_path: Path):
    path = tmp_path / "ds.csv"
    path.write_bytes(_csv([HEADER, ["1", "Nguyễn\u2800Văn An", "05/09/2012", "Nam", "079212000123\u2800"]]))
    assert _accepted(_process(path)) == [WANT[0]]


# --- dates ------------------------------------------------------------------------------------------


@FAST
@given(day=st.dates(min_value=dt.date(1927, 5, 18), max_value=dt.date(2099, 12, 31)),
       fraction=st.integers(1, 999_999))
def test_a_serial_with_any_time_fraction_is_its_day(day, fraction):
    """Five-digit serials (from 18 May 1927 on: every living pupil); a shorter number with a short
    fraction (``2012.5``) is not taken for a day."""
    serial = (day - dt.date(1899, 12, 30)).days
    got = parse_dates(pl.Series([f"{serial}.{fraction}"]), today=dt.date(2100, 1, 1))
    assert got["dob"][0] == day and "excel_serial" in got["dob_flags"][0]


@FAST
@given(day=st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2025, 12, 31)),
       time=st.sampled_from(["00:00", "00:00:00", "13:30", "23:59:59.5"]), pad=st.booleans())
def test_a_day_first_datetime_is_its_day(day, time, pad):
    text = f"{day.day:02d}/{day.month:02d}/{day.year}" if pad else f"{day.day}/{day.month}/{day.year}"
    got = parse_dates(pl.Series([f"{text} {time}"]), today=dt.date(2026, 1, 1))
    assert got["dob"][0] == day and "datetime_cell" in got["dob_flags"][0]


# --- text files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding,bom", [("utf-32-le", codecs.BOM_UTF32_LE), ("utf-32-be", codecs.BOM_UTF32_BE)])
def test_utf32_with_its_bom_is_read(tmp_path: Path, encoding: str, bom: bytes):
    path = tmp_path / "ds.csv"
    path.write_bytes(bom + _csv([HEADER, *PEOPLE]).decode("utf-8").encode(encoding))
    result = _process(path)
    assert _accepted(result) == WANT and result.upload.encoding == "utf-32"


def test_a_short_list_with_a_few_control_characters_is_text_not_binary(tmp_path: Path):
    rows = [HEADER, ["1", "Nguyễn\x07 Văn An", "05/09/2012", "Nam", "0792120\x0b00123"],
            ["2", "Trần\x1f Thị Bình", "12/01/2011", "Nữ", "001311004567\x7f"]]
    path = tmp_path / "ds.csv"
    path.write_bytes(_csv(rows))
    assert _accepted(_process(path)) == WANT[:2]


@FAST
@given(person=st.sampled_from(PEOPLE), column=st.sampled_from([1, 3, 4]))
def test_a_text_formula_cell_of_a_csv_is_its_text(person, column):
    """``="001311004567"`` (exports keep leading zeros this way) reads as the text Excel shows."""
    row = [v.strftime("%d/%m/%Y") if isinstance(v, dt.date) else v for v in person]
    row[column] = f'="{row[column]}"'
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ds.csv"
        path.write_bytes(_csv([HEADER, row]))
        got = _accepted(_process(path))
    assert got == [(person[1], person[2], person[3], person[4])]


# --- names ------------------------------------------------------------------------------------------

TONES = ["\u0300", "\u0301", "\u0303", "\u0309"]


@FAST
@given(base=st.sampled_from("aeoAEO"), shape=st.sampled_from(["\u0302", "\u0306"]), tone=st.sampled_from(TONES))
def test_a_tone_typed_before_its_circumflex_or_breve_composes(base, shape, tone):
    if base in "eEoO" and shape == "\u0306":
        return  # no ĕ/ŏ in Vietnamese
    import unicodedata

    want = unicodedata.normalize("NFC", "Ng" + base + shape + tone + "n")
    got = normalise_names(pl.Series(["Ng" + base + tone + shape + "n"]))["name_clean"][0]
    assert got == want.title() and len(got) == 4


@FAST
@given(n_rows=st.integers(2, 30), bad=st.integers(0, 29), escaped=st.integers(0, 3))
def test_an_unclosed_quote_is_named_by_its_line(n_rows, bad, escaped):
    """Wherever the quote is left open (escaped quotes "" before it or not), the message names the
    line where it opens, in one line."""
    bad %= n_rows
    lines = [",".join(HEADER)]
    for i in range(n_rows):
        note = '"nói ""chào"""' if i < escaped else "x"
        name = '"Trần Thị Bình' if i == bad else "Trần Thị Bình"
        lines.append(f"{i + 1},{name},12/01/2011,Nữ,001311004567,{note}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ds.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with pytest.raises(UploadError) as info:
            _process(path)
    assert info.value.code == "layout_not_understood" and info.value.row == bad + 2
    assert "\n" not in str(info.value) and "Trần" not in str(info.value)


def test_rows_of_unsaved_formulas_deep_in_a_big_sheet_are_not_lost(tmp_path: Path):
    """Rows made only of unsaved formulas after the first 4 MB of sheet XML (calamine sees them as
    empty): the sheet's <dimension> reaches beyond calamine's grid, so the whole sheet is searched."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "DS"
    ws.append([*HEADER, "Ghi chú"])
    filler = "x" * 1500
    for i in range(1, 3001):
        ws.append([str(i), f"Nguyễn Văn An {chr(0x41 + i % 26)}", "05/09/2012", "Nam", "079212000123", filler])
    ws.append(["=ROW()", '=PROPER("lê hoàng cường")', "=DATE(2010,11,23)", '="Nam"', '="048210001234"'])
    path = tmp_path / "deep.xlsx"
    wb.save(path)
    result = _process(path)
    assert result.counts["rows_read"] == 3001 and result.counts["accepted"] == 3001
    last = result.normalised_valid.sort("row_number").row(-1, named=True)
    assert (last["name_clean"], last["dob"], last["id_clean"]) == ("Lê Hoàng Cường", dt.date(2010, 11, 23),
                                                                   "048210001234")


@SLOW
@given(cuts=st.sets(st.integers(1, len(PEOPLE) - 1)), empty_below=st.integers(0, 3), first_col=st.integers(0, 3))
def test_a_merged_data_cell_belongs_to_every_row_it_spans(cuts, empty_below, first_col):
    """A class (or school) merged down the list in runs, the last run reaching into empty rows below
    the list: every pupil row gets the value shown beside it, no empty row becomes a pupil."""
    bounds = [0, *sorted(cuts), len(PEOPLE)]
    runs = list(itertools.pairwise(bounds))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ds.xlsx"
        wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
        ws = wb.add_worksheet("DS")
        ws.write_row(0, first_col, [*HEADER, "Lớp"])
        for i, p in enumerate(PEOPLE, start=1):
            ws.write_row(i, first_col, [p[0], p[1], p[2].strftime("%d/%m/%Y"), p[3], p[4]])
        for k, (a, b) in enumerate(runs):
            last = b + (empty_below if k == len(runs) - 1 else 0)
            if last - a > 1:
                ws.merge_range(a + 1, first_col + 5, last, first_col + 5, f"6A{k}")
            else:
                ws.write_string(a + 1, first_col + 5, f"6A{k}")
        wb.close()
        result = _process(path)
    assert result.counts["rows_read"] == len(PEOPLE) and _accepted(result) == WANT
    want = [f"6A{k}" for k, (a, b) in enumerate(runs) for _ in range(a, b)]
    assert result.raw.sort("row_number")["class"].to_list() == want


def test_the_error_report_of_a_table_not_at_a1_keeps_the_uploaders_cell_types(tmp_path: Path):
    """Columns are Excel's own (A = 0) from the reader to the report: dates stay dates, numbers
    numbers, each under its own header, for a table starting at C4."""
    from rules.ingest import write_error_report

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "DS"
    rows = [HEADER, [1, "Nguyễn Văn An", dt.datetime(2012, 9, 5), "Nam", "079212000123"],
            [2, None, dt.datetime(2011, 1, 12), "Nữ", "001311004567"]]
    for i, values in enumerate(rows):
        for j, v in enumerate(values):
            cell = ws.cell(row=4 + i, column=3 + j, value=v)
            if isinstance(v, dt.datetime):
                cell.number_format = "dd/mm/yyyy"
    path = tmp_path / "ds.xlsx"
    wb.save(path)
    result = _process(path)
    assert result.upload.sheets[0].source_columns == [2, 3, 4, 5, 6]
    report = write_error_report(result, tmp_path / "ds.errors.xlsx")
    got = list(openpyxl.load_workbook(report).worksheets[0].iter_rows(values_only=True))
    assert got[0][:5] == tuple(HEADER)
    assert got[1][:5] == (1, "Nguyễn Văn An", dt.datetime(2012, 9, 5), "Nam", "079212000123")
    assert got[2][:3] == (2, None, dt.datetime(2011, 1, 12)) and got[2][6] == "missing_name"


@SLOW
@given(trailing=st.lists(st.integers(0, 1200), min_size=len(PEOPLE) + 1, max_size=len(PEOPLE) + 1),
       delimiter=st.sampled_from([",", ";", "\t"]))
def test_empty_trailing_fields_are_not_columns(trailing, delimiter):
    """Excel writes a delimiter for every column up to the last one ever used: hundreds of empty
    trailing fields on each line read as the table they end, never "too many columns"."""
    rows = [list(HEADER)] + [[v.strftime("%d/%m/%Y") if isinstance(v, dt.date) else v for v in p] for p in PEOPLE]
    text = "".join(delimiter.join(r) + delimiter * n + "\r\n" for r, n in zip(rows, trailing, strict=True))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ds.csv"
        path.write_text(text, encoding="utf-8")
        result = _process(path)
    assert _accepted(result) == WANT and result.upload.unknown_columns == ["STT"]


def test_a_value_far_to_the_right_is_still_too_many_columns(tmp_path: Path):
    path = tmp_path / "ds.csv"
    far = "," * 700 + "x"
    path.write_text(",".join(HEADER) + "\r\n1,Nguyễn Văn An,05/09/2012,Nam,079212000123" + far + "\r\n",
                    encoding="utf-8")
    with pytest.raises(UploadError) as info:
        _process(path)
    assert info.value.code == "too_many_columns" and "705" in str(info.value)


@SLOW
@given(good_lines=st.integers(1, 60), encoding=st.sampled_from(["tcvn3", "cp1258", "vni"]), bom=st.booleans())
def test_lines_in_another_encoding_after_utf8_are_named_by_line(good_lines, encoding, bom):
    """A UTF-8 list with lines pasted from an older file in TCVN3, VNI or Windows-1258: refused as
    mixed, naming the first such line (not "the file uses TCVN3", not garbled rows)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
    from make_corpus import cp1258_bytes, legacy_bytes, vni_bytes

    good = _csv([HEADER] + [[f"{i}", "Nguyễn Văn An", "05/09/2012", "Nam", "079212000123"]
                            for i in range(1, good_lines + 1)])
    line = "99,Trần Thị Bình,12/01/2011,Nữ,001311004567\r\n"
    bad = {"tcvn3": lambda t: legacy_bytes(t, "tcvn3"), "cp1258": cp1258_bytes, "vni": vni_bytes}[encoding](line)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ds.csv"
        path.write_bytes((codecs.BOM_UTF8 if bom else b"") + good + bad)
        with pytest.raises(UploadError) as info:
            _process(path)
    assert info.value.code == "mixed_encoding" and info.value.row == good_lines + 2
