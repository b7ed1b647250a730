"""Issue 12 kinds as properties over all inputs, and issue 11 item 5 (the real cause named).

A invisible characters: inserting any default-ignorable character anywhere in a valid cell (header
included) changes nothing read. B look-alikes: any look-alike of a Vietnamese letter, any digit of
any script, folds to it. C legacy fonts: any list typed in TCVN3 or VNI reads as its Unicode text.
D line ends: any mix of CR / LF / CRLF reads the same rows. E workbook metadata: only visible sheets
are read; constant formulas evaluate to what Excel would have saved.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
import unicodedata
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.ingest import UploadError, process_upload, read_upload
from rules.ingest.formulas import FormulaError, evaluate
from rules.normalise.characters import clean_series, clean_text, fold_lookalikes, table
from rules.normalise.names import normalise_names

HEADER = ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân", "Lớp"]
PEOPLE = [
    ["1", "Nguyễn Văn An", "05/09/2012", "Nam", "079212000123", "6A1"],
    ["2", "Trần Thị Bình", "12/01/2011", "Nữ", "001311004567", "7A2"],
    ["3", "Lê Hoàng Cường", "23/11/2010", "Nam", "048210001234", "8A3"],
    ["4", "Phạm Thị Dung", "30/04/2012", "Nữ", "079312009876", "6A1"],
]
OUT_COLUMNS = ["row_number", "name_clean", "name_key", "dob", "gender_norm", "id_clean", "id_flags", "class"]
SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])  # shared machine: no deadline


def _csv(rows: list[list[str]], end: str = "\r\n") -> bytes:
    return (end.join(",".join(r) for r in rows) + end).encode("utf-8")


def _process(data: bytes, suffix: str = ".csv"):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"ds{suffix}"
        path.write_bytes(data)
        return process_upload(path, province="lam_dong", sector="students", unit="u")


def _outcome(result) -> list[tuple]:
    return result.normalised_valid.sort("row_number").select(OUT_COLUMNS).rows()


BASELINE = None


def _baseline() -> list[tuple]:
    global BASELINE
    if BASELINE is None:
        BASELINE = _outcome(_process(_csv([HEADER, *PEOPLE])))
    return BASELINE


# --- A: default-ignorable characters -----------------------------------------------------------
IGNORABLE = sorted(table().ignorable)


def test_ignorable_table_is_unicode_default_ignorable_code_point():
    """characters.yaml lists exactly Default_Ignorable_Code_Point (as the regex engine knows it)."""
    every = pl.Series([chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF])
    di = every.filter(every.str.contains(r"^\p{Default_Ignorable_Code_Point}$"))
    assert {ord(c) for c in di.to_list()} == set(IGNORABLE)
    spaces = {c for c in range(0x110000) if unicodedata.category(chr(c)) in ("Zs", "Zl", "Zp")} - {0x20}
    assert set(table().spaces) == spaces


@SLOW
@given(row=st.integers(0, len(PEOPLE)), col=st.integers(0, len(HEADER) - 1), pos=st.integers(0, 40),
       cp=st.sampled_from(IGNORABLE), xlsx=st.booleans())
def test_any_invisible_character_anywhere_changes_nothing(row, col, pos, cp, xlsx):
    rows = [list(r) for r in [HEADER, *PEOPLE]]
    cell = rows[row][col]
    at = pos % (len(cell) + 1)
    rows[row][col] = cell[:at] + chr(cp) + cell[at:]
    if xlsx:
        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
        ws = wb.add_worksheet("DS")
        for i, r in enumerate(rows):
            ws.write_row(i, 0, r)
        wb.close()
        result = _process(buf.getvalue(), ".xlsx")
    else:
        result = _process(_csv(rows))
    assert _outcome(result) == _baseline()
    assert result.upload.cells["invisible_removed"] == 1


@FAST
@given(st.text(max_size=30))
def test_vectorised_and_single_value_cleaning_agree(text):
    out, counts = clean_series(pl.Series([text, None], dtype=pl.String))
    single, single_counts = clean_text(text)
    assert out.to_list() == [single, None]
    assert counts == single_counts


# --- B: look-alikes ------------------------------------------------------------------------------
VIET_LOWER = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđbcdghklmnpqrstvx"
VIET = VIET_LOWER + VIET_LOWER.upper()
_BY_BASE: dict[str, list[str]] = {}
for _look, _latin in table().mixed.items():
    _BY_BASE.setdefault(_latin, []).append(_look)
for _look, _latin in table().always.items():
    _BY_BASE.setdefault(_latin, []).append(_look)


def _lookalikes(letter: str) -> list[str]:
    """Every look-alike spelling of a Vietnamese letter from the table: a look-alike base letter
    with the letter's marks (Cyrillic е + circumflex + tilde for ễ), or Ð/ð/Ɖ/ɖ for Đ/đ."""
    if letter in _BY_BASE:
        return _BY_BASE[letter]
    nfd = unicodedata.normalize("NFD", letter)
    return [look + nfd[1:] for look in _BY_BASE.get(nfd[0], [])]


LOOKALIKE_PAIRS = [(c, look) for c in VIET for look in _lookalikes(c)]


def test_every_vietnamese_base_letter_with_a_twin_is_covered():
    assert {unicodedata.normalize("NFD", c)[0] for c, _ in LOOKALIKE_PAIRS} >= set("aeioycxpđĐAEHKMOPTXYBC")
    assert len(LOOKALIKE_PAIRS) > 150


@FAST
@given(pair=st.sampled_from(LOOKALIKE_PAIRS), left=st.sampled_from(["", "Ng", "Tr", "B"]),
       right=st.sampled_from(["", "n", "nh", "ng"]), context=st.sampled_from(["", "Nguyễn ", "Lê Thị "]))
def test_any_lookalike_of_a_vietnamese_letter_folds_to_it(pair, left, right, context):
    letter, look = pair
    written = context + left + look + right + " An"
    want = unicodedata.normalize("NFC", context + left + letter + right + " An")
    assert unicodedata.normalize("NFC", clean_text(written)[0]) == want
    assert unicodedata.normalize("NFC", fold_lookalikes(pl.Series([written]))[0]) == want
    read, _ = clean_series(pl.Series([written, want]))  # the upload path: reader pass, then names
    names = normalise_names(read)
    assert names["name_key"][0] == names["name_key"][1]
    assert names["name_clean"][0] == names["name_clean"][1]


DIGITS = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Nd"]


@FAST
@given(st.lists(st.sampled_from(DIGITS), min_size=12, max_size=12))
def test_any_digit_of_any_script_folds_to_its_ascii_digit(digits):
    from rules.normalise.ids import normalise_ids

    ascii_id = "".join(str(unicodedata.digit(d)) for d in digits)
    cleaned, _ = clean_series(pl.Series(["".join(digits)]))
    assert cleaned[0] == ascii_id
    # a 12-digit number without its leading zero and 6 significant digits or fewer (1E+11 saved as a
    # number) is one that lost digits: never an ID (rules.normalise.ids)
    lost = ascii_id[0] != "0" and len(ascii_id.rstrip("0")) <= 6
    assert normalise_ids(cleaned)["id_clean"][0] == (None if lost else ascii_id)


def test_names_of_other_scripts_are_left_as_written():
    for name in ("Иван Петров", "Σοφία Παπαδοπούλου", "Олег"):
        assert clean_text(name)[0] == name


# --- C: legacy fonts -------------------------------------------------------------------------------
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Đặng", "Bùi", "Võ", "Đỗ"]
MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Hữu"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Thủy", "Việt", "Hương", "Khánh"]


def _encode(text: str, encoding: str) -> str:
    from tests.corpus.make_corpus import legacy_bytes, vni_bytes

    data = vni_bytes(text) if encoding == "vni" else legacy_bytes(text, encoding)
    return data.decode("cp1252" if encoding == "vni" else "latin-1")


@SLOW
@given(people=st.lists(st.tuples(st.sampled_from(FAMILY), st.sampled_from(MIDDLE), st.sampled_from(GIVEN),
                                 st.sampled_from(["Nam", "Nữ"])), min_size=1, max_size=6),
       encoding=st.sampled_from(["tcvn3", "vni"]), xlsx=st.booleans())
def test_any_list_typed_in_a_legacy_font_reads_as_unicode(people, encoding, xlsx):
    rows = [["Danh sách học sinh"], [], ["STT", "Họ và tên", "Giới tính", "Ngày sinh"]]
    rows += [[str(i + 1), " ".join(p[:3]), p[3], "01/02/2012"] for i, p in enumerate(people)]
    typed = [[_encode(c, encoding) for c in r] for r in rows]
    if xlsx:
        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
        ws = wb.add_worksheet("DS")
        for i, r in enumerate(typed):
            ws.write_row(i, 0, r)
        wb.close()
        result = _process(buf.getvalue(), ".xlsx")
    else:  # the glyphs saved as UTF-8 text
        result = _process("\n".join(",".join(r) for r in typed).encode("utf-8"))
    assert result.upload.original_headers == ["STT", "Họ và tên", "Giới tính", "Ngày sinh"]
    valid = result.normalised_valid.sort("row_number")
    assert valid["name_clean"].to_list() == [" ".join(p[:3]) for p in people]
    assert valid["gender_norm"].to_list() == [p[3] for p in people]
    assert result.upload.cells["legacy_font"] == encoding


# --- D: line ends ------------------------------------------------------------------------------------
@SLOW
@given(ends=st.lists(st.sampled_from(["\n", "\r", "\r\n"]), min_size=len(PEOPLE) + 1, max_size=len(PEOPLE) + 1),
       final=st.booleans())
def test_any_mix_of_line_ends_reads_the_same_rows(ends, final):
    lines = [",".join(r) for r in [HEADER, *PEOPLE]]
    text = "".join(line + end for line, end in zip(lines, ends, strict=True))
    if not final:
        text = text[: -len(ends[-1])]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ds.csv"
        path.write_bytes(text.encode("utf-8"))
        raw = read_upload(path, province="lam_dong", sector="students", unit="u").raw
    assert raw.drop("file_sha256").rows() == _lf_raw().rows()


_LF_RAW: list[pl.DataFrame] = []


def _lf_raw() -> pl.DataFrame:
    if not _LF_RAW:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "ds.csv"
            path.write_bytes(_csv([HEADER, *PEOPLE], "\n"))
            _LF_RAW.append(read_upload(path, province="lam_dong", sector="students", unit="u").raw.drop("file_sha256"))
    return _LF_RAW[0]


def test_one_enormous_line_is_not_empty(tmp_path: Path):
    """Issue 11/5: a one-line CSV (rows joined, line ends lost) was called empty."""
    path = tmp_path / "mot_dong.csv"
    path.write_text("Họ và tên,Ngày sinh," + ",".join(f"Nguyễn Văn {i},01/01/2010" for i in range(20000)),
                    encoding="utf-8")
    with pytest.raises(UploadError) as info:
        read_upload(path, province="lam_dong", sector="students")
    assert info.value.code == "no_line_breaks"
    assert "609 KB" in str(info.value) and "empty" not in info.value.message_en.replace("not empty", "")


def test_a_long_cell_is_named_as_the_cause_not_the_end_of_the_file(tmp_path: Path):
    """Issue 11/5: a 140 KB cell made a 1,001-row file 'have no data rows'. The cell is read (the csv
    field limit no longer ends the file there) and refused for what it is: longer than Excel allows,
    naming its row and column."""
    rows = ["Họ và tên,Ngày sinh,Ghi chú", 'Nguyễn Văn An,01/01/2010,"' + "x" * 140_000 + '"']
    rows += ["Trần Thị Bình,02/02/2011,ok"] * 1000
    path = tmp_path / "o_dai.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(UploadError) as err:
        read_upload(path, province="lam_dong", sector="students")
    assert err.value.code == "cell_too_long" and "no_data_rows" not in str(err.value)
    assert "2" in str(err.value) and "3" in str(err.value)  # row 2, third column


def test_an_unclosed_quote_is_a_layout_problem_not_a_corrupt_workbook(tmp_path: Path):
    path = tmp_path / "ngoac.csv"
    path.write_text('Họ và tên,Ngày sinh\n"Nguyễn Văn An,01/01/2010\nTrần Thị Bình,02/02/2011\n', encoding="utf-8")
    try:
        up = read_upload(path, province="lam_dong", sector="students")
    except UploadError as err:
        assert err.code in ("layout_not_understood", "no_data_rows") and "Excel workbook" not in str(err)
    else:
        assert up.raw.height >= 1


# --- E: workbook metadata -----------------------------------------------------------------------------
@SLOW
@given(states=st.lists(st.sampled_from(["visible", "hidden", "very_hidden"]), min_size=1, max_size=4)
       .filter(lambda s: "visible" in s))
def test_only_visible_sheets_are_read(states):
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
    sheets = []
    for i in range(len(states)):
        ws = wb.add_worksheet(f"Lop {i}")
        for r, row in enumerate([HEADER, *PEOPLE[: i + 1]]):
            ws.write_row(r, 0, row)
        sheets.append(ws)
    first_visible = states.index("visible")
    sheets[first_visible].activate()
    sheets[first_visible].set_first_sheet()
    for ws, state in zip(sheets, states, strict=True):
        if state == "hidden":
            ws.hide()
        elif state == "very_hidden":
            ws.very_hidden()
    wb.close()
    result = _process(buf.getvalue(), ".xlsx")
    visible = [i for i, s in enumerate(states) if s == "visible"]
    assert result.counts["rows_read"] == sum(i + 1 for i in visible)
    assert [s.sheet for s in result.upload.sheets] == [f"Lop {i}" for i in visible]
    assert result.upload.hidden_sheets == [f"Lop {i}" for i, s in enumerate(states) if s != "visible"]


@FAST
@given(day=st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2099, 12, 31)))
def test_date_formula_is_the_excel_serial_of_its_day(day):
    serial = int(evaluate(f"=DATE({day.year},{day.month},{day.day})", 2, 3))
    assert dt.date(1899, 12, 30) + dt.timedelta(days=serial) == day
    # Excel rolls months and days over: the 0th day of a month is the last day of the one before
    rolled = int(evaluate(f"DATE({day.year},{day.month + 1},0)", 2, 3))
    assert dt.date(1899, 12, 30) + dt.timedelta(days=rolled) + dt.timedelta(days=1) == (
        dt.date(day.year + day.month // 12, day.month % 12 + 1, 1))


@FAST
@given(a=st.integers(-10**6, 10**6), b=st.integers(-10**6, 10**6), c=st.integers(1, 1000))
def test_arithmetic_formulas_evaluate_like_excel(a, b, c):
    assert float(evaluate(f"={a}+{b}*{c}", 1, 1)) == a + b * c
    assert float(evaluate(f"=({a}-{b})/{c}", 1, 1)) == pytest.approx((a - b) / c)
    assert evaluate(f'="{a}"&"x"&{c}', 1, 1) == f"{a}x{c}"
    assert evaluate("=ROW()-1", 7, 1) == "6" and evaluate("=COLUMN()", 7, 3) == "3"


@pytest.mark.parametrize("formula", ["=A1", "=C2+365", "=VLOOKUP(1,A:B,2)", "=SUM(1,2)", "=1/0", "=", "=DATE(1,2)"])
def test_formulas_that_are_not_simple_constants_are_not_guessed(formula):
    with pytest.raises(FormulaError):
        evaluate(formula, 2, 2)


def test_a_list_only_on_a_hidden_sheet_is_pointed_at_not_read(tmp_path: Path):
    path = tmp_path / "ds.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    notes = wb.add_worksheet("Huong dan")
    notes.write(0, 0, "Xem trang DS")
    data = wb.add_worksheet("DS")
    for r, row in enumerate([HEADER, *PEOPLE]):
        data.write_row(r, 0, row)
    data.hide()
    notes.activate()
    wb.close()
    with pytest.raises(UploadError) as info:
        read_upload(path, province="lam_dong", sector="students")
    assert info.value.code == "hidden_sheets_only" and "sheet 2)" in str(info.value)
    assert read_upload(path, province="lam_dong", sector="students", sheet="DS").raw.height == len(PEOPLE)


@FAST
@given(st.lists(st.text(alphabet=st.sampled_from(
    list("aAeEoOcCpPxXyYiIkKmMnNtTbBhHđĐ ") + list(table().mixed) + list(table().always) + ["µ", "ß"]),
    max_size=12), min_size=1, max_size=8))
def test_folding_look_alikes_keeps_names_idempotent(names):
    """Folding commutes with title case (µ -> Μ, α -> Α): normalising twice equals normalising once."""
    once = normalise_names(pl.Series(names, dtype=pl.String))
    twice = normalise_names(once["name_clean"])
    assert twice.drop("name_flags").equals(once.drop("name_flags"))


def test_shared_formulas_without_values_take_their_master_text():
    from rules.ingest.formulas import _unsaved_cells

    xml = (b'<sheetData><row r="2"><c r="A2"><f t="shared" ref="A2:A4" si="0">ROW()-1</f></c>'
           b'<c r="C2" s="1"><f>DATE(2011,4,9)</f><v>40642</v></c></row>'
           b'<row r="3"><c r="A3"><f t="shared" si="0"/></c><c r="B3"><f>"x"&amp;"y"</f><v></v></c></row>'
           b'<row r="4"><x:c r="A4"><x:f t="shared" si="0"/><x:v/></x:c>'
           # Excel's saved empty text (=IF(..,"",..)): t="str" and an empty <v>: a value, not unsaved
           b'<c r="D4" t="str"><f>IF(1=1,"","x")</f><v></v></c></row></sheetData>')
    cells = _unsaved_cells(xml)
    assert cells == [(2, 1, "ROW()-1"), (3, 1, "ROW()-1"), (3, 2, '"x"&"y"'), (4, 1, "ROW()-1")]
    assert [evaluate(text, row, col) for row, col, text in cells] == ["1", "2", "xy", "3"]
