"""Error report: the uploader's own sheet back, with the problems marked, ready to fix and re-upload.

One workbook per upload, written **always** (with no rejected rows it says so on the instructions
sheet), so that the uploader always gets an answer. Each data sheet keeps the uploader's sheet name
(``10A1``) and holds every data row in file order (files of at most ``SMALL_FILE_ROWS`` rows; a
larger file gets its rejected rows only, written in constant memory, and is fixed in the original),
under the uploader's own headers in their own order, plus our columns: a warning (the same person
listed twice), the error code and messages, and the row in the school's own file. Rejected rows are
highlighted by one conditional format on the error-code column, warned rows by another (no per-row
styling); the header row is frozen and filtered. The last sheet "Hướng dẫn" says in Vietnamese and
English what to do and names the data sheets.

Cells keep the uploader's format: for a workbook of at most ``SMALL_FILE_ROWS`` rows the source is
read again (openpyxl, read-only) and a cell the school typed as a date, number or true/false is
written back as that type with its own number format; text stays text (IDs keep their leading
zeros), and so does every cell of a CSV or of a large file. The whole file, good rows included, is
meant to be uploaded again: it then supersedes the earlier upload of the same list (see
``rules.ingest.lineage``), so the good rows must stay in it. Our own columns are recognised and
dropped when the report comes back; its report keeps the same name (``x.errors.xlsx``, never
``x.errors.errors.xlsx``) and its "Source row" still points at the school's original rows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import unicodedata
from pathlib import Path
from typing import Any

import polars as pl

from rules.ingest.formats import READ_SUFFIXES
from rules.ingest.formulas import cell_ref
from rules.ingest.headers import FAMILY_MIDDLE, FEMALE_MARK, MALE_MARK
from rules.ingest.layout import TWO_ROW_JOIN
from rules.ingest.limits import column_letters
from rules.ingest.upload import DATE_FIELDS  # columns not preset to text for new typing
from rules.private import private_file, private_temp

REPORT_SUFFIX = ".errors.xlsx"
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")  # the report is one of these: it keeps the bare stem
WARNING_HEADER = "Cảnh báo / Warning"
ERROR_HEADERS = ("Mã lỗi / Error code", "Lỗi (tiếng Việt)", "Error (English)", "Dòng gốc / Source row")
GUIDE_SHEET = "Hướng dẫn"
TITLE = "HƯỚNG DẪN SỬA LỖI / HOW TO FIX THE ERRORS"
INSTRUCTIONS = [  # {sheets}: the data sheets of this report, quoted
    "1. Mở trang {sheets}. Các dòng tô màu đỏ là các dòng bị loại; cột 'Lỗi (tiếng Việt)' cho biết lý do. / "
    "Open the sheet {sheets}. Rows in red are rejected; the column 'Error (English)' says why.",
    "2. Sửa trực tiếp các ô bị lỗi (họ tên, ngày sinh, số định danh/CCCD, giới tính …). / "
    "Fix the cells in place (name, date of birth, personal ID/CCCD, gender …).",
    "3. Các dòng tô màu vàng ghi cùng một người hai lần (cột 'Cảnh báo'): xoá dòng thừa nếu đúng là trùng. / "
    "Rows in yellow list the same person twice (column 'Warning'): delete the extra row if it is a repeat.",
    "4. Giữ nguyên các dòng không tô màu: tệp tải lên lại sẽ thay thế toàn bộ tệp trước. / "
    "Keep the rows that are not coloured: the file you upload again replaces the whole earlier file.",
    "5. Không cần xoá các cột lỗi: hệ thống tự bỏ qua chúng khi đọc lại. Cột 'Dòng gốc' là số dòng trong tệp gốc "
    "của đơn vị. / No need to delete our columns: they are ignored when the file comes back. 'Source row' is the "
    "row in your original file.",
    "6. Ngày sinh ghi dạng ngày/tháng/năm, ví dụ 05/09/2012. Số định danh gồm 12 chữ số, giữ số 0 ở đầu. / "
    "Write dates of birth as day/month/year, e.g. 05/09/2012. A personal ID has 12 digits; keep leading zeros.",
    "7. Lưu tệp (.xlsx) và tải lên lại đúng đơn vị và lĩnh vực như lần trước, giữ nguyên tên tệp. / "
    "Save the file (.xlsx) and upload it again for the same unit and sector, keeping its name.",
]


def error_report_path(upload_path: str | Path, reports_dir: str | Path | None = None) -> Path:
    """Where the report of an upload goes (:func:`report_name`): beside the upload (``doisoat upload``),
    or in ``reports_dir`` for inbox files (``rules.layout.DataLayout.error_reports``), so that our own
    reports never land in the inbox, where they would count as uploads.

    An error report sent back (``x.errors.xlsx``) is reported on under its own name: one report name
    per list across rounds, never ``x.errors.errors.xlsx``."""
    p = Path(upload_path)
    if is_error_report(p):
        return p if reports_dir is None else Path(reports_dir) / p.name
    folder = Path(reports_dir) if reports_dir is not None else p.parent
    return folder / report_name(p.name)


def report_name(upload_name: str) -> str:
    """The one rule for the name of an upload's error report: ``<stem>.errors.xlsx`` for a workbook
    ``<stem>.xlsx`` and ``<name>.errors.xlsx`` for every other name, ``.xlsm`` included (``x.csv``,
    ``x.xlsm`` and ``x.xlsx``, three files, never write one report; ``rules.ingest.inbox.listed_stem``
    reads each back as the list ``x``); bounded to the file-system limit.

    Two distinct upload names in a folder never get one report (the only shared report is an upload's
    own report sent back, which is reported on under its own name, :func:`error_report_path`): the bare
    stem is kept only when it cannot be read as a whole name itself, so ``x.csv.xlsx``, ``x.XLSX`` and
    ``x .xlsx`` report under their whole name, apart from ``x.csv`` and ``x.xlsx``. A name that names
    no list (``.xlsx``, ``-.csv``) reports under the unnamed list, as ``rules.ingest.inbox.inbox_name``
    copies it (``unnamed.errors.xlsx``, never ``xlsx.errors.xlsx``)."""
    from rules.ingest.inbox import NAME_MAX_BYTES, UNNAMED_LIST, bounded_name, names_a_list

    name = upload_name
    stem, dot, ext = name.rpartition(".")
    if dot and f".{ext.lower()}" in READ_SUFFIXES and not names_a_list(stem):
        name, stem = f"{UNNAMED_LIST}.{ext}", UNNAMED_LIST
    # only an .xlsx keeps its bare stem: x.xlsx and x.xlsm are two files, and the report itself is an .xlsx
    base = stem if dot and f".{ext}" == ".xlsx" and _bare(stem) else name
    return bounded_name(base, NAME_MAX_BYTES - len(REPORT_SUFFIX)) + REPORT_SUFFIX


def _bare(stem: str) -> bool:
    """Whether the stem of ``<stem>.xlsx`` can stand for it in a report name: no other upload name
    reports under ``stem`` (it ends in no suffix a file is read by; it is one path part as it is,
    NFC aside, not one that trimming or a removed leading dot would make of another name)."""
    from rules.ingest.inbox import safe_part

    _, dot, last = stem.rpartition(".")
    read_as_suffix = bool(dot) and f".{last.lower()}" in READ_SUFFIXES
    return bool(stem) and not read_as_suffix and safe_part(stem) == unicodedata.normalize("NFC", stem)


def rejected_report_path(report: Path) -> Path:
    """The report of rejected rows only (a large file), when :func:`error_report_path` would write
    over the upload itself (a report sent back): ``x.errors.xlsx`` -> ``x.rejected.errors.xlsx``."""
    return report.with_name(report.name[: -len(REPORT_SUFFIX)] + ".rejected" + REPORT_SUFFIX)


def close_book(wb) -> None:
    """Close an xlsxwriter workbook, raising the ``OSError`` of a write that failed (a full disk, a
    folder that vanished) rather than xlsxwriter's ``FileCreateError``, which is not one: callers
    that skip a report that cannot be written then catch one kind of error."""
    from xlsxwriter.exceptions import FileCreateError

    try:
        wb.close()
    except FileCreateError as exc:
        cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else OSError(str(exc))
        raise cause from None


def is_error_report(path: str | Path) -> bool:
    """True for a report this module wrote (or one sent back under its name)."""
    return Path(path).name.endswith(REPORT_SUFFIX)


def original_columns(raw: pl.DataFrame, original_headers: list[str], column_map: dict[str, str]) -> pl.DataFrame:
    """The uploader's columns rebuilt from raw records: canonical fields and the ``extra`` JSON."""
    extra_keys: list[str] = []
    if raw.height and "extra" in raw.columns:
        extra_keys = list(json.loads(raw["extra"][0] or "{}").keys())
    extra = pl.DataFrame()
    if extra_keys:
        dtype = pl.Struct([pl.Field(k, pl.String) for k in extra_keys])
        extra = raw.select(pl.col("extra").str.json_decode(dtype)).unnest("extra")
    cols: list[pl.Series] = []
    for header in original_headers:
        if header in extra_keys:
            series = extra[header]
        elif header in column_map and column_map[header] in raw.columns:
            series = raw[column_map[header]]
        else:
            series = pl.Series(header, [None] * raw.height, dtype=pl.String)
        cols.append(series.cast(pl.String).alias(header))
    return pl.DataFrame(cols)


SheetHeaders = tuple[str, list[str], dict[str, str]]  # (sheet, original headers, header -> field)
# ... optionally followed by (column of each header in the sheet as read, column of "Source row" or None)


def _sheets_of(up) -> list[tuple]:
    return [(s.sheet, s.original_headers, s.column_map, s.source_columns or None, s.source_row_column)
            for s in up.sheets] or [(up.sheet, up.original_headers, up.column_map)]


def write_error_report(result, path=None, out: str | Path | None = None, source_dir: str | Path | None = None,
                       *, duplicates: pl.DataFrame | None = None) -> Path:
    """Write the error report; returns its path. Two call forms:

    * ``write_error_report(result, path=None)`` with an :class:`~rules.ingest.process.UploadResult`
      (``path`` defaults to ``<upload stem>.errors.xlsx`` in the current folder);
    * ``write_error_report(raw, quarantined, path)`` with the raw and quarantined rows of **one**
      file, as the multi-file asset holds them: the uploader's headers are then read again from the
      upload itself, found in ``source_dir`` (default: beside ``path``) under ``raw["file_name"]``
      (only its first rows).

    ``path`` may be the upload itself (an error report sent back): the report is written to a
    temporary file and renamed over it once complete. ``duplicates``: :func:`duplicate_rows` of
    these rows when the caller already has it (computed here otherwise).
    """
    if isinstance(result, pl.DataFrame):
        raw, quarantined, target = result, path, Path(out) if out is not None else None
        if target is None or quarantined is None:
            raise TypeError("write_error_report(raw, quarantined, path) needs all three arguments")
        folder = Path(source_dir) if source_dir is not None else target.parent
        source = folder / str(raw["file_name"][0]) if raw.height else None
        return write_error_report_frames(raw, quarantined, _headers_for(raw, folder), target, source=source,
                                         duplicates=duplicates)
    up = result.upload
    return write_error_report_frames(result.raw, result.quarantined, _sheets_of(up),
                                     path or error_report_path(up.file_name),
                                     source=Path(up.source_path) if up.source_path else None)


def _headers_for(raw: pl.DataFrame, folder: Path) -> list[tuple]:
    """Uploader headers per sheet for raw rows of one file: as the reader found them when this process
    read it (``rules.ingest.upload.known_layout``, by content), else from the upload in ``folder`` read
    again, else canonical."""
    from rules.ingest.errors import UploadError
    from rules.ingest.upload import known_layout, sheet_columns

    out: list[tuple] = []
    source = folder / str(raw["file_name"][0]) if raw.height else None
    sha = str(raw["file_sha256"][0]) if raw.height and "file_sha256" in raw.columns else ""
    sector = str(raw["sector"][0]) if raw.height and "sector" in raw.columns else ""
    for sheet in raw["sheet"].unique(maintain_order=True).to_list() if raw.height else []:
        known = known_layout(sha, sector, sheet or "") if sha and sector else None
        if known is not None:  # this process read the file: the reader's own decision, no second read
            out.append((sheet, *known))
            continue
        if source is not None and _regular(source):  # never through a link put where the upload was
            try:
                out.append((sheet, *sheet_columns(source, sector=str(raw["sector"][0]), sheet=sheet or None,
                                                  follow_links=False)))
                continue
            except UploadError:
                pass
        rows = raw.filter(pl.col("sheet") == sheet)
        fields = [c for c in rows.columns if c not in _NOT_UPLOADER and rows[c].null_count() < rows.height]
        extra_keys = list(json.loads(rows["extra"][0] or "{}").keys()) if "extra" in rows.columns else []
        out.append((sheet, fields + extra_keys, {f: f for f in fields}))
    return out


def _regular(path: Path) -> bool:
    import stat

    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


_NOT_UPLOADER = {"file_name", "file_sha256", "sheet", "row_number", "excel_row", "province", "sector", "unit",
                 "extra"}


SMALL_FILE_ROWS = 20_000  # up to this many rows the report holds every row (fix and send it back whole)
MAX_REPORT_ROWS = 100_000  # rejected rows written at most; the rest are counted on the instructions sheet
LARGE_FILE_NOTE = [
    "TỆP LỚN: báo cáo này chỉ có các dòng bị lỗi (tối đa {limit:,} dòng). KHÔNG tải báo cáo này lên lại: "
    "hãy sửa các dòng này trong tệp gốc (cột 'Dòng gốc' cho biết số dòng) rồi tải lên lại toàn bộ tệp gốc.",
    "LARGE FILE: this report holds the rejected rows only (at most {limit:,}). Do NOT upload this report: fix "
    "these rows in your original file (column 'Source row' gives the row) and upload the whole original again.",
]
DEFAULT_DATE_FORMAT = "dd/mm/yyyy"


# -- duplicates: the same person listed twice in one list (a warning, never a rejection) ---------------


def duplicate_rows(raw: pl.DataFrame) -> pl.DataFrame:
    """Rows of one upload that list the same person as another row: same name (case and spacing
    folded) and the same date of birth or the same personal ID. Returns ``sheet``, ``row_number``,
    ``excel_row`` and ``group`` (rows of one group are one person), in file order; empty when none.
    Vectorised: two group-bys over the raw frame."""
    empty = pl.DataFrame(schema={"sheet": pl.String, "row_number": pl.Int64, "excel_row": pl.Int64,
                                 "group": pl.String})
    if raw.height < 2 or "full_name" not in raw.columns:
        return empty

    def norm(col: str, digits: bool = False) -> pl.Expr:
        if col not in raw.columns:
            return pl.lit(None, pl.String)
        e = pl.col(col).cast(pl.String)
        e = (e.str.replace_all(r"\D", "") if digits
             else e.str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars())
        return pl.when(e.str.len_chars() > 0).then(e)

    keyed = raw.select("sheet", "row_number", "excel_row", norm("full_name").alias("_n"),
                       norm("date_of_birth").alias("_d"), norm("national_id", digits=True).alias("_i"))
    keys = []
    for other in ("_d", "_i"):
        k = pl.when(pl.col("_n").is_not_null() & pl.col(other).is_not_null()).then(
            pl.concat_str([pl.lit(other), pl.col("_n"), pl.col(other)], separator="|"))
        keys.append(keyed.select("sheet", "row_number", "excel_row", k.alias("group"))
                    .filter(pl.col("group").is_not_null() & (pl.len().over("group") > 1)))
    both = pl.concat(keys)
    if not both.height:
        return empty
    # one group per person: a row in a name+DOB group and a name+ID group joins them (smallest key wins)
    first = both.group_by("sheet", "row_number").agg(pl.col("group").min())
    first = first.filter(pl.len().over("group") > 1)
    return (raw.select("sheet", "row_number", "excel_row").join(first, on=["sheet", "row_number"], how="inner",
                                                              maintain_order="left"))


def _warnings(dups: pl.DataFrame, shown: pl.DataFrame) -> pl.DataFrame:
    """``sheet``, ``row_number``, ``warning``: the other rows (as the school numbers them) of each duplicate."""
    if not dups.height:
        return pl.DataFrame(schema={"sheet": pl.String, "row_number": pl.Int64, "warning": pl.String})
    d = dups.join(shown, on=["sheet", "row_number"], how="left").with_columns(
        pl.when(pl.col("shown_row").is_not_null()).then(
            pl.when(pl.col("sheet").n_unique().over("group") > 1).then(pl.col("sheet") + "!").otherwise(pl.lit(""))
            + pl.col("shown_row").cast(pl.String)).otherwise(pl.lit("?")).alias("_ref"))
    # at most a few rows named per person (a list where one name+date repeats 1,000 times stays small)
    members = d.group_by("group").agg(pl.col("_ref").head(4).alias("_refs"), pl.len().alias("_n"))
    d = d.join(members, on="group").with_columns(
        pl.col("_refs").list.set_difference(pl.concat_list(pl.col("_ref"))).list.head(3).alias("_l"))
    more = pl.col("_n") - 1 - pl.col("_l").list.len()
    other = pl.col("_l").list.join(", ") + pl.when(more > 0).then(
        pl.lit(" (+") + more.cast(pl.String) + pl.lit(")")).otherwise(pl.lit(""))
    return d.select("sheet", "row_number", (
        pl.lit("Trùng người với dòng ") + other + pl.lit(" / Same person as row ") + other
    ).alias("warning"))


# -- the uploader's cells, read again for their types and number formats -------------------------------


def _typed_sheets(source: Path | None,
                  wanted: dict[str, tuple[list[int] | None, int | None]]) -> dict[str, dict | None]:
    """sheet -> excel_row -> (cells of ``columns`` as openpyxl reads them, value of the "Source row"
    column) for the sheets of one workbook openpyxl can read; None for a sheet that cannot be (CSV,
    .xls, unreadable, or its columns are not known). The workbook is opened once for all its sheets.

    Rows and columns are Excel's (rows from 1, columns from A = 0, as the reader gives them); a typed
    cell is used only when it agrees with the text the reader read there (:func:`_agrees`), so a
    misaligned sheet falls back to text. A formula cell saved without its value is marked
    ``_UNSAVED`` (openpyxl gives None): the reader evaluated it, and a date column writes that date.
    Read only for files of at most ``SMALL_FILE_ROWS`` rows.

    Why not ``openpyxl``'s ``iter_rows``: it decodes every cell (a list's names, inline strings and all)
    into a cell object, which made the re-read the largest part of the report (issue: 56 reports in the
    demo). Only dates, numbers and true/false can be written back typed (text stays text), so the
    sheet is scanned once and only those cells (and the "Source row" column) are decoded, with
    openpyxl's own workbook, styles, date rules and number formats (:func:`_scan_sheet`), giving the
    values and formats ``iter_rows`` gives (tests/rules/test_error_report_format.py checks it does).
    """
    out: dict[str, dict | None] = dict.fromkeys(wanted)
    todo = {s: w for s, w in wanted.items() if w[0] is not None}
    if (not todo or source is None or source.suffix.lower() not in WORKBOOK_SUFFIXES
            or not _regular(source)):
        return out
    try:
        from openpyxl import load_workbook

        wb = load_workbook(source, read_only=True, data_only=True)
    except Exception:  # the reader accepted it; if openpyxl cannot, the report falls back to text
        return out
    try:
        for sheet, (columns, row_column) in todo.items():
            if sheet not in wb.sheetnames:
                continue
            try:
                out[sheet] = _scan_sheet(wb, wb[sheet], columns or [], row_column)
            except Exception:  # a sheet openpyxl cannot read falls back to text, as with iter_rows
                out[sheet] = None
        return out
    finally:
        wb.close()


# Tokens of a sheet's <sheetData>: a row start, or a whole cell (attributes, body). Cell text never holds
# "</c>" or "<row" unescaped, so the tokens are the sheet's rows and cells in order.
_TOKEN = re.compile(rb"<(?:\w+:)?(?:row\b([^>]*)>|c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>))", re.S)
_ATTRS = {k: re.compile(rb"\b" + k + rb"""\s*=\s*["']([^"']*)["']""") for k in (b"r", b"t", b"s")}
_V = re.compile(rb"<(?:\w+:)?v\b[^>]*?(?:/>|>(.*?)</(?:\w+:)?v>)", re.S)
_IS = re.compile(rb"<(?:\w+:)?is\b.*?</(?:\w+:)?is>", re.S)
_SHEET_DATA = (re.compile(rb"<(?:\w+:)?sheetData\b[^>]*>"), re.compile(rb"</(?:\w+:)?sheetData>"))


class _Cells:
    """A workbook's facts that decode a cell as openpyxl's read-only worksheet parser does: styles,
    number formats, date styles, epoch and shared strings (all read by openpyxl's ``load_workbook``)."""

    def __init__(self, wb, ws):
        from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE
        from openpyxl.utils.datetime import from_excel, from_ISO8601

        self.styles, self.custom, self.builtin, self.first_custom = (
            wb._cell_styles, wb._number_formats, BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE)
        self.dates, self.durations, self.epoch = wb._date_formats, wb._timedelta_formats, wb.epoch
        self.strings = ws._shared_strings
        self.from_excel, self.from_iso = from_excel, from_ISO8601

    def number_format(self, style: int) -> str:
        fmt_id = self.styles[style].numFmtId
        return (self.builtin.get(fmt_id, "General") if fmt_id < self.first_custom
                else self.custom[fmt_id - self.first_custom])

    def typed(self, kind: str, v: str | None, style: int) -> tuple[Any, str | None]:
        """(value, number format) of a date, number or true/false cell (openpyxl's ``parse_cell``);
        (None, None) for text, empty and error cells, which are never written typed."""
        if kind not in ("n", "b", "d") or not v:
            return _BLANK
        if kind == "n":
            value: Any = float(v) if ("." in v or "E" in v or "e" in v) else int(v)
            if style in self.dates:
                try:
                    value = self.from_excel(value, self.epoch, timedelta=style in self.durations)
                except (OverflowError, ValueError):
                    return _BLANK  # openpyxl: the error text "#VALUE!"
        elif kind == "b":
            value = bool(int(v))
        else:
            value = self.from_iso(v)
        return value, self.number_format(style)


_BLANK = (None, None)
_F = re.compile(rb"<(?:\w+:)?f\b")  # a formula in a cell's body


class _Unsaved:
    """A formula cell saved without its value (a file written by a program, never opened in Excel): the
    reader evaluated it (``rules.ingest.formulas``), so the report writes what the reader read, a date
    in a date column (:func:`_unsaved_date`), instead of the serial day as text."""


_UNSAVED = (_Unsaved(), None)
_YEAR = (1800, 2199)  # a whole number in this range in a date column is a year (rules.ingest.upload)


def _unsaved_date(text: str | None) -> dt.datetime | None:
    """The date an evaluated formula gave (its 1900-system serial day, as the reader holds it), or None
    when it is not a serial day (a year, text)."""
    from openpyxl.utils.datetime import from_excel

    if text is None or re.fullmatch(r"\d{1,5}(?:\.\d+)?", text.strip()) is None:
        return None
    serial = float(text)
    if serial < 1 or (serial == int(serial) and _YEAR[0] <= serial <= _YEAR[1]):
        return None
    try:
        return from_excel(serial)
    except (OverflowError, ValueError):
        return None


def _shown(v: Any) -> int | None:
    """The school's row number in a "Source row" cell (a report sent back), else None."""
    if isinstance(v, int | float) and not isinstance(v, bool) and v == int(v) and v > 0:
        return int(v)
    if isinstance(v, str) and v.strip().isdigit():
        return int(v.strip())
    return None


def _scan_sheet(wb, ws, columns: list[int], row_column: int | None) -> dict[int, tuple[list[Any], int | None]]:
    """One read-only sheet of ``wb`` as :func:`_typed_sheets` gives it: what ``ws.iter_rows(min_row=1,
    min_col=1, max_row=SMALL_FILE_ROWS * 4)`` yields for ``columns`` (value, number format), text cells
    left out (they are never written typed) except in ``row_column``. Rows are numbered and cells
    placed as openpyxl's worksheet parser does (``<row r>``, else counting; a repeated or out-of-order
    row is skipped; cells right of the sheet's dimension are dropped).

    The sheet XML is tokenised with one regular expression (rows and cells, as
    ``rules.ingest.formulas`` reads cells); a sheet whose cells do not all carry their reference
    (``r="B7"``: Excel and the usual libraries always write it) is parsed by :func:`_parse_sheet`."""
    import html

    with wb._archive.open(ws._worksheet_path) as fh:
        xml = fh.read()
    start, end = (_SHEET_DATA[0].search(xml), _SHEET_DATA[1].search(xml))
    if start is None or end is None:  # no <sheetData>…</sheetData> (an empty sheet, or unusual XML)
        return _parse_sheet(wb, ws, columns, row_column)
    dec = _Cells(wb, ws)
    max_col = ws.max_column  # iter_rows cuts each row at the sheet's dimension (None: at its last cell)
    wanted = {c + 1 for c in columns}
    src_col = None if row_column is None else row_column + 1
    limit = SMALL_FILE_ROWS * 4
    attr_t, attr_s, attr_r = _ATTRS[b"t"], _ATTRS[b"s"], _ATTRS[b"r"]
    out: dict[int, tuple[list[Any], int | None]] = {}
    row_no = last = 0
    keep = False  # the current row is kept (not a repeat)
    cells: dict[int, tuple[Any, str | None]] = {}
    shown_cell: tuple[int, bytes, bytes | None] | None = None
    last_col = 0

    def close_row() -> None:
        width = max_col or last_col
        picked = [cells.get(c + 1, _BLANK) if c + 1 <= width else _BLANK for c in columns]
        shown = None
        if shown_cell is not None and shown_cell[0] <= width:
            shown = _shown(_cell_text(dec, shown_cell[1], shown_cell[2], html))
        out[row_no] = (picked, shown)

    for m in _TOKEN.finditer(xml, start.end(), end.start()):
        row_attrs, attrs, body = m.groups()
        if row_attrs is not None:
            if keep:
                close_row()
            r = attr_r.search(row_attrs)
            if r is not None:
                text = r.group(1).decode()
                row_no = int(text) if text.isdigit() else int(float(text))  # openpyxl: "3.0" is row 3
            else:
                row_no += 1
            if row_no > limit:
                keep = False
                break
            keep = row_no > last  # repeated or out of order: iter_rows skips it
            last = max(last, row_no)
            cells, shown_cell, last_col = {}, None, 0
            continue
        r = attr_r.search(attrs)
        at = cell_ref(r.group(1)) if r is not None else None  # (row, column)
        if at is None:
            return _parse_sheet(wb, ws, columns, row_column)  # no reference: count as openpyxl does
        if not keep:
            continue
        col = at[1]
        last_col = col
        if col in wanted or col == src_col:
            t = attr_t.search(attrs)
            kind = t.group(1).decode() if t is not None else "n"
            if col == src_col:
                shown_cell = (col, attrs, body)
            if col in wanted:
                v = _V.search(body) if body else None
                value = v.group(1).decode() if v is not None and v.group(1) else None
                if value is None and body and _F.search(body):
                    cells[col] = _UNSAVED
                elif kind in ("n", "b", "d") and body:
                    sv = attr_s.search(attrs)
                    cells[col] = dec.typed(kind, value, int(sv.group(1) or 0) if sv is not None else 0)
                else:
                    cells[col] = _BLANK
    if keep:
        close_row()
    return out


def _cell_text(dec: _Cells, attrs: bytes, body: bytes | None, html) -> Any:
    """A "Source row" cell as openpyxl reads it: a number, a date or text."""
    t = _ATTRS[b"t"].search(attrs)
    kind = t.group(1).decode() if t is not None else "n"
    if not body:
        return None
    if kind == "inlineStr":
        from openpyxl.cell.text import Text
        from openpyxl.xml.functions import fromstring

        found = _IS.search(body)
        if found is None:
            return None
        node = fromstring(b'<is xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                          + found.group(0)[found.group(0).index(b">") + 1:])
        return Text.from_tree(node).content
    v = _V.search(body)
    text = html.unescape(v.group(1).decode()) if v is not None and v.group(1) else None
    if text is None or kind in ("str", "e"):
        return text
    if kind == "s":
        return dec.strings[int(text)]
    sv = _ATTRS[b"s"].search(attrs)
    return dec.typed(kind, text, int(sv.group(1) or 0) if sv is not None else 0)[0]


def _parse_sheet(wb, ws, columns: list[int], row_column: int | None) -> dict[int, tuple[list[Any], int | None]]:
    """:func:`_scan_sheet` through openpyxl's XML parser, for sheets whose cells lack their reference."""
    from openpyxl.cell.text import Text
    from openpyxl.utils.cell import coordinate_to_tuple
    from openpyxl.xml.constants import SHEET_MAIN_NS
    from openpyxl.xml.functions import iterparse

    row_tag, value_tag, inline_tag, formula_tag = (f"{{{SHEET_MAIN_NS}}}{t}" for t in ("row", "v", "is", "f"))
    dec = _Cells(wb, ws)
    max_col = ws.max_column
    wanted = {c + 1 for c in columns}
    src_col = None if row_column is None else row_column + 1
    limit = SMALL_FILE_ROWS * 4

    def typed(c) -> tuple[Any, str | None]:
        return dec.typed(c.get("t", "n"), c.findtext(value_tag, None) or None, int(c.get("s") or 0))

    def text(c) -> Any:
        kind = c.get("t", "n")
        if kind == "inlineStr":
            child = c.find(inline_tag)
            return Text.from_tree(child).content if child is not None else None
        v = c.findtext(value_tag, None) or None
        if v is None or kind in ("str", "e"):
            return v
        return dec.strings[int(v)] if kind == "s" else typed(c)[0]

    out: dict[int, tuple[list[Any], int | None]] = {}
    row_no = last = 0
    with wb._archive.open(ws._worksheet_path) as fh:
        for _, el in iterparse(fh):
            if el.tag != row_tag:
                continue
            r = el.get("r")
            if r is not None:
                row_no = int(r) if r.isdigit() else int(float(r))
            else:
                row_no += 1
            if row_no > limit:
                break
            if row_no <= last:
                el.clear()
                continue
            last = row_no
            col = 0
            placed = []
            for c in el:
                coord = c.get("r")
                col = coordinate_to_tuple(coord)[1] if coord else col + 1
                placed.append((col, c))
            width = max_col or (placed[-1][0] if placed else 0)
            cells: dict[int, tuple[Any, str | None]] = {}
            shown = None
            for col, c in placed:
                if col > width:
                    continue
                if col in wanted:
                    unsaved = c.find(formula_tag) is not None and not c.findtext(value_tag, None)
                    cells[col] = _UNSAVED if unsaved else typed(c)
                if col == src_col:
                    shown = _shown(text(c))
            out[row_no] = ([cells.get(c + 1, _BLANK) for c in columns], shown)
            el.clear()
    return out


def _agrees(value: Any, text: str | None) -> bool:
    """True when a typed source cell is the cell the reader read as ``text`` (guards the alignment)."""
    if text is None or value is None:
        return False
    if isinstance(value, bool):
        return text.strip().lower() in ("true", "false", "1", "0")
    if isinstance(value, dt.datetime | dt.date):
        return text.startswith(value.strftime("%Y-%m-%d"))
    if isinstance(value, int | float):
        try:
            return math.isclose(float(text), float(value), rel_tol=1e-12, abs_tol=1e-9)
        except ValueError:
            return False
    return False


def write_error_report_frames(
    raw: pl.DataFrame, quarantined: pl.DataFrame, sheets: list[tuple], path: str | Path,
    *, source: Path | None = None, duplicates: pl.DataFrame | None = None,
) -> Path:
    """The report from frames of one file: one worksheet per data sheet, then the instructions.

    Written in xlsxwriter's ``constant_memory`` mode, row by row. A file of at most
    ``SMALL_FILE_ROWS`` rows gets every row (the report can be fixed and uploaded again whole) in the
    uploader's cell types and formats (``source``, the upload, is read again); a larger one gets its
    rejected rows only, at most ``MAX_REPORT_ROWS``, as text, and the instructions say to fix the
    original file instead. No cell is a formula; names chosen by the uploader (headers, sheet names)
    pass ``neutralise_formula``. ``path`` may be ``source`` itself: the report is written beside it
    and renamed over it at the end.
    """
    path = Path(path)
    keys = ["sheet", "row_number"]
    total_rows = raw.height
    small = total_rows <= SMALL_FILE_ROWS
    layouts = [(t[0], t[1], t[2], t[3] if len(t) > 3 else None, t[4] if len(t) > 4 else None) for t in sheets]
    typed = _typed_sheets(source if small else None, {sheet: (cols if sheet else None, src)
                                                      for sheet, _, _, cols, src in layouts})
    # the row in the school's own file: the reader's row, or the "Source row" of a report sent back
    overrides = [(sheet, r, shown) for sheet, cells in typed.items() if cells for r, (_, shown) in cells.items()]
    shown = raw.select(*keys, "excel_row")
    if overrides:
        sent_back = {sheet for sheet, _, _, _, row_col in layouts if row_col is not None}
        o = pl.DataFrame(overrides, schema={"sheet": pl.String, "excel_row": pl.Int64, "_s": pl.Int64}, orient="row")
        shown = shown.join(o, on=["sheet", "excel_row"], how="left").with_columns(
            pl.when(pl.col("sheet").is_in(list(sent_back))).then(pl.col("_s")).otherwise(pl.col("excel_row"))
            .alias("excel_row")).drop("_s")
    shown = shown.rename({"excel_row": "shown_row"})
    dups = duplicate_rows(raw) if duplicates is None else duplicates
    errors = (raw.select(*keys, "excel_row")
              .join(shown, on=keys, how="left", maintain_order="left")
              .join(_warnings(dups, shown), on=keys, how="left", maintain_order="left")
              .join(quarantined.select(*keys, "reason_code", "message_vi", "message_en"), on=keys, how="left",
                    maintain_order="left"))
    if not small:  # the bad rows only: a 1M-row upload with 1% bad rows writes 10k rows, not 1M
        bad_keys = quarantined.select(keys).head(MAX_REPORT_ROWS)
        raw = raw.join(bad_keys, on=keys, how="semi", maintain_order="left")
        errors = errors.join(bad_keys, on=keys, how="semi", maintain_order="left")
    with private_temp(path) as tmp:  # rows of personal data: owner-only before the first byte
        _write_book(tmp, raw, errors, quarantined.height, total_rows, small, layouts, typed, dups)
    return path


def _write_book(target: Path, raw: pl.DataFrame, errors: pl.DataFrame, n_bad: int, total_rows: int, small: bool,
                layouts: list[tuple], typed: dict, dups: pl.DataFrame) -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(target), {"strings_to_numbers": False, "strings_to_formulas": False,
                                           "strings_to_urls": False, "constant_memory": True})
    try:
        fmt = {
            "head": wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True}),
            "err_head": wb.add_format({"bold": True, "bg_color": "#F8CBAD", "border": 1, "text_wrap": True}),
            "text": wb.add_format({"num_format": "@"}),
            "bad": wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"}),
            "warn": wb.add_format({"bg_color": "#FFEB9C", "font_color": "#9C5700"}),
        }
        numbers: dict[str, Any] = {}

        def number_format(code: str | None, date: bool) -> Any:
            code = code if code and code != "General" else (DEFAULT_DATE_FORMAT if date else None)
            if code is None:
                return None
            if code not in numbers:
                numbers[code] = wb.add_format({"num_format": code})
            return numbers[code]

        used: set[str] = set()
        names: list[str] = []
        for sheet, headers, column_map, _, _ in layouts:
            mask = pl.col("sheet") == sheet
            name = _sheet_name(sheet or "Dữ liệu", used)
            names.append(name)
            _write_sheet(wb, fmt, name, raw.filter(mask), errors.filter(mask), headers, column_map,
                         typed.get(sheet), number_format)
        guide = wb.add_worksheet(GUIDE_SHEET)
        guide.set_column(0, 0, 130)
        status = (f"Có {n_bad} dòng bị lỗi trên tổng số {total_rows} dòng. / {n_bad} of {total_rows} rows are "
                  "rejected." if n_bad else
                  f"Không có lỗi: cả {total_rows} dòng đều hợp lệ. / No errors: all {total_rows} rows are valid.")
        lines = [TITLE, "", status]
        if dups.height:
            lines.append(f"Cảnh báo: {dups.height} dòng ghi cùng một người hai lần (không bị loại). / Warning: "
                         f"{dups.height} rows list the same person twice (not rejected).")
        lines.append("")
        if not small:
            lines += [line.format(limit=MAX_REPORT_ROWS) for line in LARGE_FILE_NOTE] + [""]
            if n_bad > MAX_REPORT_ROWS:
                lines += [f"Báo cáo ghi {MAX_REPORT_ROWS:,} dòng lỗi đầu tiên trên {n_bad:,}; sửa xong tải lên lại "
                          f"để xem các dòng còn lại. / The first {MAX_REPORT_ROWS:,} of {n_bad:,} rejected rows "
                          "are listed; fix them and upload again to see the rest.", ""]
        quoted = ", ".join(f"'{n}'" for n in names)
        for i, line in enumerate([*lines, *(text.format(sheets=quoted) for text in INSTRUCTIONS)]):
            guide.write_string(i, 0, line)
    finally:
        close_book(wb)


_AS_REPORTED = {FAMILY_MIDDLE: "full_name", FEMALE_MARK: "gender", MALE_MARK: "gender"}


def report_headers(sector: str | None, headers: list[str], column_map: dict[str, str]) -> list[str]:
    """The header row of a report sheet: one label per uploader column that the reader, reading the
    report's single header row, maps to the field it mapped the upload's column to.

    Why: a two-row header ("Thông tin học sinh" merged over "Họ và tên" | "Ngày sinh") is labelled
    "Thông tin học sinh - Họ và tên" by the reader, and when the group and column together are not an
    alias the column's own label decided the field. Written as one cell that label names no field, so
    the report came back refused (no header, no name column). Such a column is written under the
    longest end of its label that names the same field (the leaf "Họ và tên"), else under an alias of
    the field, never under a label another column has; every other label is written as it is, so
    unknown columns keep their key in ``extra`` across rounds."""
    if not sector:
        return list(headers)
    from rules.ingest.headers import header_spec
    from rules.sectors import SectorError

    try:
        spec = header_spec(sector)
    except SectorError:
        return list(headers)

    def names(label: str) -> str | None:
        f = spec.lookup(label)
        return _AS_REPORTED.get(f, f) if f is not None else None

    out: list[str] = []
    for label in headers:
        field = column_map.get(label)
        parts = label.split(TWO_ROW_JOIN)
        taken = set(headers) | set(out)  # a label another column has would be renamed "x (2)" when read
        ends = [TWO_ROW_JOIN.join(parts[k:]) for k in range(1, len(parts))]  # longest end first
        if field is None and spec.lookup(label) is None:
            # not a data column: unknown (its key kept), or a mark column the reader found by its leaf
            # ("Thông tin học sinh - Nữ": an x under "Nữ"), which must keep that leaf to be found again
            mark = next((c for c in ends if c not in taken and spec.lookup(c) in (FEMALE_MARK, MALE_MARK)), None)
            out.append(mark or label)
            continue
        if field is None or names(label) == field:
            out.append(label)
            continue
        aliases = [a for a in spec.display.get(field, []) if spec.lookup(a) == field]  # the field's own names
        out.append(next((c for c in [*ends, *aliases] if c not in taken and names(c) == field), label))
    return out


def _write_sheet(wb, fmt: dict, name: str, raw: pl.DataFrame, errors: pl.DataFrame, headers: list[str],
                 column_map: dict[str, str], typed: dict | None, number_format) -> None:
    from rules.outputs import neutralise_formula

    table = pl.concat(
        [original_columns(raw, headers, column_map), errors.select(
            pl.col("warning").alias(WARNING_HEADER),
            pl.col("reason_code").alias(ERROR_HEADERS[0]),
            pl.col("message_vi").alias(ERROR_HEADERS[1]),
            pl.col("message_en").alias(ERROR_HEADERS[2]),
            pl.col("shown_row").cast(pl.String).alias(ERROR_HEADERS[3]),
        )],
        how="horizontal",
    )
    rows_read = errors["excel_row"].to_list()
    ws = wb.add_worksheet(name)
    n_orig = len(headers)
    for j, col in enumerate(table.columns):  # column widths first: constant_memory writes rows in order
        is_date = j < n_orig and column_map.get(col) in DATE_FIELDS
        ws.set_column(j, j, 40 if col in (WARNING_HEADER, *ERROR_HEADERS[1:3]) else 18,
                      None if is_date else fmt["text"])  # new typing in an ID column stays text
    sector = str(raw["sector"][0]) if raw.height and "sector" in raw.columns else None
    shown_headers = report_headers(sector, headers, column_map) + table.columns[n_orig:]
    for j, col in enumerate(shown_headers):
        ws.write_string(0, j, neutralise_formula(col), fmt["err_head"] if j >= n_orig else fmt["head"])
    text = fmt["text"]
    date_cols = {j for j, h in enumerate(headers) if column_map.get(h) in DATE_FIELDS}
    for i, row in enumerate(table.iter_rows(), start=1):  # one row in memory at a time
        cells = typed.get(rows_read[i - 1], (None,))[0] if typed else None
        for j, value in enumerate(row):
            unsaved = (cells is not None and j in date_cols and isinstance(cells[j][0], _Unsaved)
                       and _unsaved_date(value))
            if unsaved:
                ws.write_datetime(i, j, unsaved, number_format(None, True))
            elif cells is not None and j < n_orig and _agrees(cells[j][0], value):
                v, code = cells[j]
                if isinstance(v, bool):
                    ws.write_boolean(i, j, v)
                elif isinstance(v, dt.datetime | dt.date):
                    ws.write_datetime(i, j, v, number_format(code, True))
                else:
                    ws.write_number(i, j, v, number_format(code, False))
            elif value is not None and value != "":
                ws.write_string(i, j, value, text)
    last_row, last_col = table.height, table.width - 1
    if table.height:
        warn_col, code_col = column_letters(n_orig + 1), column_letters(n_orig + 2)
        ws.conditional_format(1, 0, last_row, last_col,
                              {"type": "formula", "criteria": f'=${code_col}2<>""', "format": fmt["bad"]})
        ws.conditional_format(1, 0, last_row, last_col,
                              {"type": "formula", "criteria": f'=${warn_col}2<>""', "format": fmt["warn"]})
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, last_row, last_col)


def write_structural_report(error, path: str | Path) -> Path:
    """A one-sheet workbook explaining why a whole file was refused (an :class:`UploadError`)."""
    import xlsxwriter

    from rules.outputs import neutralise_formula

    path = Path(path)
    private_file(path)  # rows of personal data: owner-only before the first byte (xlsxwriter keeps the mode)
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                                         "strings_to_urls": False})
    try:
        bold = wb.add_format({"bold": True})
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        ws = wb.add_worksheet("Lỗi tệp")
        rows = [
            ("Tệp / File", error.file),
            ("Mã lỗi / Error code", error.code),
            ("Vị trí / Where", error.where()),
            ("Lỗi (tiếng Việt)", error.message_vi),
            ("Error (English)", error.message_en),
            ("Tiêu đề cần có / Expected headers", "; ".join(error.expected_headers)),
            ("Tiêu đề tìm thấy / Headers found", "; ".join(error.found_headers)),
            ("", ""),
            ("Cách làm / What to do", "Sửa tệp theo hướng dẫn trên rồi tải lên lại. / Fix the file as described "
             "above and upload it again."),
        ]
        for i, (k, v) in enumerate(rows):
            ws.write_string(i, 0, k, bold)
            ws.write_string(i, 1, neutralise_formula(v or ""), wrap)
        ws.set_column(0, 0, 34)
        ws.set_column(1, 1, 100)
    finally:
        close_book(wb)
    return path


def _sheet_name(title: str, used: set[str]) -> str:
    """A legal, unique worksheet name (31 characters, no []:*?/\\)."""
    bad = set("[]:*?/\\")
    base = ("".join("_" if ch in bad else ch for ch in title).strip("'") or "Dữ liệu")[:31]
    name, k = base, 2
    while name.lower() in used or name.lower() == "hướng dẫn":
        name = f"{base[:27]} ({k})"
        k += 1
    used.add(name.lower())
    return name
