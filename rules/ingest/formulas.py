"""Formulas without a saved value: evaluate the simple constant ones, or refuse the file plainly.

Excel saves each formula's last value beside it, and calamine reads that value. Files written by a
program (a school-management export, a script with openpyxl) often save the formula alone
(``<f>DATE(2011,4,9)</f><v/>``): calamine then sees an empty cell and every row would be rejected
``missing_date``. Such formulas are nearly always constants, so they are evaluated here: numbers,
"text", ``DATE(y,m,d)`` (an Excel serial day, as calamine gives a saved date), ``ROW()``,
``COLUMN()``, ``TRUE``/``FALSE``, ``+ - * /``, ``&``, brackets, and ``UPPER``/``LOWER``/``PROPER``/
``TRIM`` of those. A formula that needs anything else (a cell reference, another function) cannot
be guessed: the file is refused with one message naming the cell and saying how to fix it (open
and save the file in Excel, which stores the values).

A saved value of 0 is not always a value: XlsxWriter (pandas' default .xlsx engine) saves 0 for
every formula it was not told the result of and marks the workbook ``fullCalcOnLoad`` (recalculate
when opened), so calamine would read ``=DATE(2011,4,3)`` in a date cell as 31/12/1899 and a formula
in the name column as the name "0". A formula whose saved value is 0 is therefore evaluated like an
unsaved one (the result replaces the 0); one that cannot be evaluated is refused the same way when
the workbook says its values are placeholders (``fullCalcOnLoad``), and keeps its 0 otherwise (a
result Excel computed).

A formula is placed by its own cell reference: calamine's grid starts at the first column holding
a value (not at A) and leaves out rows and columns made only of unsaved formulas, so the grid is
widened and lengthened to hold them (never a value in the wrong column, never a row lost). A
formula whose saved value is empty text (Excel writes ``t="str"`` and ``<v></v>`` for ``=IF(…,"",…)``)
has a value. In a workbook of the 1904 date system DATE() gives that system's serial day, as
Excel would save it (the reader shifts the serials of date columns, ``rules.ingest.upload``).

Cost: the first 4 MB of each sheet's XML (about 10,000 rows; all of a school list) are searched for
a formula element, and the XML is parsed only when one is there; all of it (about 0.6 s for 200,000
rows) when the sheet's ``<dimension>`` reaches beyond the rows and columns calamine saw, which is
what rows made only of unsaved formulas do. A program writes its formulas from the first data rows
on; an unsaved formula in a cell that calamine does read as empty, first appearing deeper in a bigger
sheet, is not seen (it reads as an empty cell).
"""

from __future__ import annotations

import html
import io
import re
import zipfile
from datetime import date

import polars as pl

from rules.ingest.biff import SheetMarks
from rules.ingest.errors import UploadError
from rules.ingest.limits import column_letters, column_number

_ZIP_MAGIC = b"PK\x03\x04"
_SHEET_TAG = re.compile(rb"<(?:\w+:)?sheet\b([^>]*)>")
_ATTR = re.compile(rb'([\w:]+)\s*=\s*"([^"]*)"')
_REL = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)>")
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_FORMULA = re.compile(rb"<(?:\w+:)?f\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?f>)", re.S)
_VALUE = re.compile(rb"<(?:\w+:)?v\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?v>)", re.S)
_INLINE = re.compile(rb"<(?:\w+:)?is\b")
_REF = re.compile(r"^([A-Z]{1,3})(\d+)$")
_REF_BYTES = re.compile(_REF.pattern.encode())
_EXCEL_EPOCH = date(1899, 12, 30)
DATE1904_OFFSET = 1462  # days from 30 Dec 1899 (serial 0 of the 1900 system) to 1 Jan 1904 (of 1904)


def _attrs(raw: bytes) -> dict[str, str]:
    return {k.decode().split(":")[-1]: html.unescape(v.decode("utf-8", "replace")) for k, v in _ATTR.findall(raw)}


def _zip(data: bytes) -> zipfile.ZipFile | None:
    if not data.startswith(_ZIP_MAGIC):
        return None
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        return None


def sheet_parts(data: bytes) -> dict[str, tuple[str, str]]:
    """Sheet name -> (state, part path in the zip) of an xlsx/xlsm; {} for other workbooks."""
    zf = _zip(data)
    if zf is None:
        return {}
    try:
        book = zf.read("xl/workbook.xml")
        rels = zf.read("xl/_rels/workbook.xml.rels")
    except (KeyError, zipfile.BadZipFile, OSError):
        return {}
    targets = {}
    for m in _REL.finditer(rels):
        a = _attrs(m.group(1))
        target = a.get("Target", "")
        targets[a.get("Id", "")] = target.lstrip("/") if target.startswith("/") else "xl/" + target
    out = {}
    for m in _SHEET_TAG.finditer(book):
        a = _attrs(m.group(1))
        if "name" in a:
            out[a["name"]] = (a.get("state", "visible"), targets.get(a.get("id", ""), ""))
    return out


def sheet_states(data: bytes, names: list[str]) -> dict[str, str]:
    """Sheet name -> ``visible`` | ``hidden`` | ``veryHidden`` (xlsx/xlsm from workbook.xml)."""
    return {name: state for name, (state, _) in sheet_parts(data).items()}


_HEAD_SCAN = 4 << 20  # decompressed bytes of sheet XML searched for a formula element


def fill_unsaved_formulas(
    data: bytes, sheet: str, names: list[str], frame: pl.DataFrame, file: str, first_column: int = 0,
) -> tuple[pl.DataFrame, int, int]:
    """``frame`` with unsaved formula values filled in; how many; the frame's first column.

    ``frame`` is the sheet as calamine read it, columns c0.. and rows from Excel row 1: its first
    column is ``first_column`` (0-based, A = 0: calamine starts at the first column holding a value,
    not at A). A formula's cell (row, column) is placed by that origin, never assumed to be in a
    frame starting at A1. calamine leaves out rows and columns that hold only unsaved formulas (it
    sees them as empty); the frame is widened and lengthened to hold them, so no such row is lost.
    Returns the (possibly wider, longer) frame and its first column.

    Searched in every sheet (the first 4 MB of its XML: a program writes its formulas from the first
    rows on), whether or not any cell came back empty: a row made only of unsaved formulas is not
    in ``frame`` at all. Raises ``formula_without_value`` for the first formula that cannot be
    evaluated (its cell named; string literals and long numbers of the formula masked: they may be
    a pupil's name or ID).
    """
    part = sheet_parts(data).get(sheet, ("", ""))[1]
    zf = _zip(data)
    if zf is None or not part:
        return frame, 0, first_column
    try:
        with zf.open(part) as fh:
            head = fh.read(1 << 12)
            # the sheet says it reaches beyond the grid calamine gave (rows or columns of values it did
            # not see): search all of it, so that no row made only of unsaved formulas is missed
            limit = None if _beyond(head, frame, first_column) else _HEAD_SCAN
            if not _has_formula(fh, limit, head):
                return frame, 0, first_column
        xml = zf.read(part)
    except (KeyError, zipfile.BadZipFile, OSError):
        return frame, 0, first_column
    found = _formula_cells(xml)
    if not found:
        return frame, 0, first_column
    cells: dict[tuple[int, int], str] = {}
    date1904 = workbook_date1904(data)
    placeholders = None  # whether a cached 0 is a writer's placeholder: read once, when one is seen
    for row, col, text, cached in found:
        try:
            value = evaluate(text, row, col, date1904=date1904)
        except FormulaError as exc:
            if cached is not None:
                if placeholders is None:
                    placeholders = workbook_recalculates_on_load(data)
                if not placeholders:  # a 0 a calculating program (Excel) saved: the formula's value
                    continue
            raise UploadError("formula_without_value", file=file, sheet=sheet or None, row=row,
                              column=column_letters(col), found_headers=[mask_formula(text)]) from exc
        if value != cached:  # a cached 0 that is the formula's value too is left as it was read
            cells[(row - 1, col - 1)] = value
    if not cells:
        return frame, 0, first_column
    frame, first_column = _cover(frame, first_column, cells)
    columns: dict[int, dict[int, str]] = {}
    for (r, c), value in cells.items():
        columns.setdefault(c - first_column, {})[r] = value
    new = []
    for j, by_row in columns.items():
        name = frame.columns[j]
        idx = pl.Series(list(by_row), dtype=pl.UInt32)
        new.append(frame.get_column(name).scatter(idx, pl.Series(list(by_row.values()), dtype=pl.String)))
    return frame.with_columns(new), len(cells), first_column


def _cover(frame: pl.DataFrame, first: int, cells: dict[tuple[int, int], str]) -> tuple[pl.DataFrame, int]:
    """``frame`` (columns c0.. from absolute column ``first``, rows from 0) grown with empty rows and
    columns until it holds every cell of ``cells`` (0-based absolute (row, column)); its new first
    column. Columns are renamed c0.. again."""
    rows = max(r for r, _ in cells) + 1
    lo = min(min(c for _, c in cells), first if frame.width else 10**9)
    hi = max(max(c for _, c in cells), first + frame.width - 1)
    if frame.width and lo == first and hi == first + frame.width - 1 and rows <= frame.height:
        return frame, first
    width = hi - lo + 1
    old = first - lo
    height = max(rows, frame.height)
    grown = pl.DataFrame({f"c{j}": pl.Series(values=[None] * height, dtype=pl.String) for j in range(width)})
    if frame.width and frame.height:
        body = frame.rename({c: f"c{old + j}" for j, c in enumerate(frame.columns)})
        if frame.height < height:
            body = pl.concat([body, pl.DataFrame(schema=body.schema).clear(height - frame.height)])
        grown = grown.with_columns(body.get_column(c) for c in body.columns)
    return grown, lo


_STRING = re.compile(r'"(?:[^"]|"")*"')
# A number literal, not the row of a cell reference (B2, $A$10, Sheet1!C3): the letters before it tell.
_NUMBER = re.compile(r"(?<![A-Za-z$\d.])\d+(?:\.\d+)?")


def mask_formula(text: str) -> str:
    """A formula as quoted back to the uploader: its text literals and number literals masked (a
    library-written formula may carry a pupil's name, an ID, or a birth date as ``DATE(2012,9,5)``);
    functions and cell references stay, so the uploader can find it. At most 60 characters."""
    return ("=" + _NUMBER.sub("#", _STRING.sub('"…"', text)))[:60]


_MERGE = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*\bref="([A-Z]+)(\d+):([A-Z]+)(\d+)"')
_MERGE_TAG = (b"<mergeCell ", b":mergeCell ")


def merged_ranges(data: bytes, sheet: str) -> list[tuple[int, int, int, int]]:
    """The merged ranges of one xlsx/xlsm sheet as 0-based (first row, first column, last row, last
    column), absolute (A1 = (0, 0)); [] for other workbooks. Excel keeps a merged range's value in
    its top-left cell only; the others read as empty."""
    part = sheet_parts(data).get(sheet, ("", ""))[1]
    zf = _zip(data)
    if zf is None or not part:
        return []
    try:
        xml = zf.read(part)
    except (KeyError, zipfile.BadZipFile, OSError):
        return []
    at = max(xml.rfind(tag) for tag in _MERGE_TAG)
    if at < 0:
        return []
    start = xml.rfind(b"<", 0, xml.rfind(b"mergeCells", 0, at) + 1)  # the <mergeCells> list, after the data
    return [(int(r1) - 1, column_number(c1) - 1, int(r2) - 1, column_number(c2) - 1)
            for c1, r1, c2, r2 in _MERGE.findall(xml, max(start, 0))]


_DATE1904 = re.compile(rb"<(?:\w+:)?workbookPr\b[^>]*\bdate1904\s*=\s*\"(?:1|true)\"")


def workbook_date1904(data: bytes) -> bool:
    """Whether an xlsx/xlsm counts its dates from 1904 (Excel for Mac's old default): its serial day
    numbers are then 1,462 days smaller than the same date's in the 1900 system."""
    return bool(_DATE1904.search(_workbook_xml(data)[:1 << 16]))


def _workbook_xml(data: bytes) -> bytes:
    """``xl/workbook.xml`` of an xlsx/xlsm, or empty bytes when the file is not one."""
    zf = _zip(data)
    if zf is None:
        return b""
    try:
        return zf.read("xl/workbook.xml")
    except (KeyError, zipfile.BadZipFile, OSError):
        return b""


_CALC_PR = re.compile(rb"<(?:\w+:)?calcPr\b[^>]*\bfullCalcOnLoad\s*=\s*[\"'](?:1|true)[\"']")


def workbook_recalculates_on_load(data: bytes) -> bool:
    """Whether an xlsx/xlsm asks to be recalculated when opened (``<calcPr fullCalcOnLoad="1">``): its
    writer did not calculate the formulas, so their saved values are placeholders, not results.
    XlsxWriter (pandas' default engine for .xlsx) writes it with a 0 for every formula it was not
    told the value of (Excel recalculates such a workbook when it opens it)."""
    return bool(_CALC_PR.search(_workbook_xml(data)))


_FORMULA_TAGS = (b"<f>", b"<f ", b"<f/", b":f>", b":f ", b":f/")

# Hidden rows and columns, error cells (``t="e"``: a constant error or a formula's cached error):
# calamine reads neither which rows/columns are hidden nor error values (it gives an empty cell).
_HIDDEN = (b'hidden="1"', b'hidden="true"', b"hidden='1'", b"hidden='true'")
_ERROR_CELL = (b't="e"', b"t='e'")
_CONTEXT = 1 << 16  # bytes kept around a block's edge: a whole row/col tag or error cell fits in it
_BLOCK = 1 << 20


def xlsx_sheet_marks(data: bytes, sheet: str) -> SheetMarks:
    """Hidden rows and columns and error cells of one xlsx/xlsm sheet (0-based, absolute); nothing
    for other workbooks. One streaming pass over the sheet XML in 1 MB blocks, plain byte searches
    for the few attributes that matter (no whole-sheet copy in memory, no cost measurable next to
    calamine's parse); a hit is parsed from the ``<`` of its tag."""
    marks = SheetMarks()
    part = sheet_parts(data).get(sheet, ("", ""))[1]
    zf = _zip(data)
    if zf is None or not part:
        return marks
    try:
        with zf.open(part) as fh:
            buf, start = b"", 0
            while True:
                block = fh.read(_BLOCK)
                buf += block
                # hits before ``cut`` are handled now: the element each starts has _CONTEXT bytes to end
                cut = len(buf) if not block else max(start, len(buf) - _CONTEXT)
                for at in _positions(buf, _HIDDEN, start, cut):
                    _hidden_tag(buf, at, marks)
                for at in _positions(buf, _ERROR_CELL, start, cut):
                    _error_cell(buf, at, marks)
                if not block:
                    break
                keep = max(0, cut - _CONTEXT)  # the text before a hit, back to its tag's "<"
                buf, start = buf[keep:], cut - keep
    except (KeyError, zipfile.BadZipFile, OSError):
        return SheetMarks()
    return marks


def _positions(buf: bytes, needles: tuple[bytes, ...], start: int, end: int):
    """Offsets in ``buf[start:end]`` where one of ``needles`` begins."""
    for needle in needles:
        at = buf.find(needle, start, end + len(needle) - 1)
        while at >= 0:
            yield at
            at = buf.find(needle, at + len(needle), end + len(needle) - 1)


def _hidden_tag(buf: bytes, at: int, marks: SheetMarks) -> None:
    begin, end = buf.rfind(b"<", 0, at), buf.find(b">", at)
    if begin < 0 or end < 0:
        return
    tag = buf[begin:end]
    name = tag[1:].split(None, 1)[0].split(b":")[-1] if len(tag) > 1 else b""
    a = _attrs(tag)
    if name == b"row" and a.get("r", "").isdigit():
        marks.hidden_rows.add(int(a["r"]) - 1)
    elif name == b"col" and a.get("min", "").isdigit() and a.get("max", "").isdigit():
        marks.hidden_columns.append((int(a["min"]) - 1, int(a["max"]) - 1))


def _error_cell(buf: bytes, at: int, marks: SheetMarks) -> None:
    m = _CELL.match(buf, max(buf.rfind(b"<", 0, at), 0))
    if m is None:  # t="e" in a cell's text, not an attribute
        return
    ref = cell_ref(_attrs(m.group(1)).get("r", ""))
    if ref is None or _attrs(m.group(1)).get("t") != "e":
        return
    v = _VALUE.search(m.group(2) or b"")
    text = html.unescape((v.group(1) or b"").decode("utf-8", "replace")).strip() if v else ""
    marks.errors[(ref[0] - 1, ref[1] - 1)] = text or "#VALUE!"


_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\b[^>]*\bref="[A-Z]*\d*:?([A-Z]+)(\d+)"')


def _beyond(head: bytes, frame: pl.DataFrame, first_column: int) -> bool:
    """Whether the sheet's ``<dimension>`` (written by Excel and the libraries at the top of the
    sheet XML) ends below or right of ``frame``; False when it is absent."""
    m = _DIMENSION.search(head)
    if m is None:
        return False
    last_row, last_col = int(m.group(2)), column_number(m.group(1))
    return last_row > frame.height or last_col > first_column + frame.width


def _has_formula(fh, limit: int | None, first: bytes = b"") -> bool:
    """Whether the first ``limit`` bytes (None: all) of a sheet's XML stream hold a formula element;
    ``first``: bytes already read from the stream."""
    if any(tag in first for tag in _FORMULA_TAGS):
        return True
    tail = first[-8:]
    seen = len(first)
    while (limit is None or seen < limit) and (block := fh.read(1 << 20)):
        seen += len(block)
        chunk = tail + block
        if any(tag in chunk for tag in _FORMULA_TAGS):
            return True
        tail = chunk[-8:]
    return False


def _unsaved_cells(xml: bytes) -> list[tuple[int, int, str]]:
    """(row, column, formula text), 1-based, of every formula cell without a saved value."""
    return [(row, col, text) for row, col, text, cached in _formula_cells(xml) if cached is None]


def _formula_cells(xml: bytes) -> list[tuple[int, int, str, str | None]]:
    """(row, column, formula text, cached value), 1-based, of every formula cell whose saved value
    cannot be taken as it is: none saved (cached None), or a number 0 (cached ``"0"``), which is what
    XlsxWriter (pandas' default engine) and others save for *every* formula they were not told the
    value of. Such a 0 is checked against the formula (``fill_unsaved_formulas``), never read as a
    birth date of 31/12/1899 or a name "0"."""
    shared: dict[str, str] = {}
    out = []
    for m in _CELL.finditer(xml):
        inner = m.group(2) or b""
        f = _FORMULA.search(inner)
        if f is None:
            continue
        fattrs = _attrs(f.group(1))
        text = html.unescape((f.group(2) or b"").decode("utf-8", "replace")).strip()
        if fattrs.get("t") == "shared" and "si" in fattrs:
            if text:
                shared[fattrs["si"]] = text
            else:
                text = shared.get(fattrs["si"], "")
        v = _VALUE.search(inner)
        cattrs = _attrs(m.group(1))
        cached = None
        if v is not None and v.group(1):
            if cattrs.get("t", "n") != "n" or v.group(1).strip() != b"0":
                continue
            cached = "0"
        elif _INLINE.search(inner) or (v is not None and cattrs.get("t") == "str"):
            continue  # inline text, or Excel's saved empty text (=IF(…,"",…)): a value
        ref = cell_ref(cattrs.get("r", ""))
        if ref is None:
            continue
        out.append((*ref, text, cached))
    return out


def cell_ref(ref: str | bytes) -> tuple[int, int] | None:
    """(row, column), 1-based, of an A1 reference such as a cell's ``r="B7"`` (text or the sheet XML's
    bytes), or None when ``ref`` is not one (no reference, a column beyond XFD's three letters)."""
    m = (_REF_BYTES if isinstance(ref, bytes) else _REF).match(ref)
    return None if m is None else (int(m.group(2)), column_number(m.group(1)))


class FormulaError(ValueError):
    """A formula that is not a simple constant."""


_TOKEN = re.compile(r'\s*(?:(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)|("(?:[^"]|"")*")|([A-Za-z_][A-Za-z0-9_.]*)|(.))')


def _tokens(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        pos = m.end()
        num, string, name, op = m.groups()
        if num is not None:
            out.append(("num", num))
        elif string is not None:
            out.append(("str", string[1:-1].replace('""', '"')))
        elif name is not None:
            out.append(("name", name.upper()))
        elif op is not None and op.strip():
            out.append(("op", op))
    return out


def _as_text(v: object) -> str:
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _as_number(v: object) -> float:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, int | float):
        return float(v)
    try:
        return float(str(v))
    except ValueError as exc:
        raise FormulaError(f"not a number: {v!r}") from exc


class _Parser:
    """Recursive descent over Excel's constant subset: concat < add < mul < unary < atom."""

    def __init__(self, text: str, row: int, col: int, date1904: bool = False):
        self.toks = _tokens(text)
        self.i = 0
        self.row, self.col = row, col
        self.date1904 = date1904

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            raise FormulaError(f"expected {value or kind}")
        self.i += 1
        return tok[1]

    def parse(self) -> object:
        value = self.concat()
        if self.peek() is not None:
            raise FormulaError("unexpected text")
        return value

    def concat(self) -> object:
        value = self.add()
        while self.peek() == ("op", "&"):
            self.i += 1
            value = _as_text(value) + _as_text(self.add())
        return value

    def add(self) -> object:
        value = self.mul()
        while (tok := self.peek()) in (("op", "+"), ("op", "-")):
            self.i += 1
            right = _as_number(self.mul())
            value = _as_number(value) + right if tok[1] == "+" else _as_number(value) - right
        return value

    def mul(self) -> object:
        value = self.unary()
        while (tok := self.peek()) in (("op", "*"), ("op", "/")):
            self.i += 1
            right = _as_number(self.unary())
            if tok[1] == "/" and right == 0:
                raise FormulaError("division by zero")
            value = _as_number(value) * right if tok[1] == "*" else _as_number(value) / right
        return value

    def unary(self) -> object:
        if self.peek() in (("op", "-"), ("op", "+")):
            sign = self.take("op")
            v = _as_number(self.unary())
            return -v if sign == "-" else v
        return self.atom()

    def atom(self) -> object:
        tok = self.peek()
        if tok is None:
            raise FormulaError("empty")
        kind, value = tok
        self.i += 1
        if kind == "num":
            return float(value)
        if kind == "str":
            return value
        if kind == "op" and value == "(":
            inner = self.concat()
            self.take("op", ")")
            return inner
        if kind == "name":
            if value in ("TRUE", "FALSE") and self.peek() != ("op", "("):
                return value == "TRUE"
            return self.call(value)
        raise FormulaError(f"unsupported {value!r}")

    def call(self, name: str) -> object:
        self.take("op", "(")
        args: list[object] = []
        if self.peek() != ("op", ")"):
            args.append(self.concat())
            while self.peek() == ("op", ","):
                self.i += 1
                args.append(self.concat())
        self.take("op", ")")
        if name == "DATE" and len(args) == 3:
            y, m, d = (int(_as_number(a)) for a in args)
            if 0 <= y < 1900:
                y += 1900
            try:  # Excel rolls months and days over (DATE(2011,13,1) is 1 Jan 2012)
                first = date(y + (m - 1) // 12, (m - 1) % 12 + 1, 1)
            except ValueError as exc:
                raise FormulaError("date out of range") from exc
            serial = (first - _EXCEL_EPOCH).days + d - 1
            if serial < 1:
                raise FormulaError("date before 1900")
            return float(serial - DATE1904_OFFSET if self.date1904 else serial)
        if name == "ROW" and not args:
            return float(self.row)
        if name == "COLUMN" and not args:
            return float(self.col)
        text_fns = {"UPPER": str.upper, "LOWER": str.lower, "PROPER": str.title,
                    "TRIM": lambda s: " ".join(s.split())}
        if name in text_fns and len(args) == 1:
            return text_fns[name](_as_text(args[0]))
        raise FormulaError(f"unsupported function {name}")


def evaluate(text: str, row: int, col: int, *, date1904: bool = False) -> str:
    """The value of a constant formula (without its ``=``) in cell (row, col), as calamine would
    give its saved value: numbers in shortest form, dates as the Excel serial day of the workbook's
    date system (``date1904``: 1,462 days fewer, as Excel would save it)."""
    text = text[1:] if text.startswith("=") else text
    if not text.strip():
        raise FormulaError("empty formula")
    return _as_text(_Parser(text, row, col, date1904).parse())
