"""Readers: a sheet or CSV file as a grid of text cells, never typed.

Every cell comes out as Utf8 so that an ID is never turned into a float on the way in (calamine
writes a numeric cell as its shortest text, ``79203100000``; a date cell as its Excel serial,
``40301``, which the normaliser converts and flags). The reader finds no meaning in the cells: it
only returns the first rows (for header detection) and then the body from a given row, with the
row number as Excel or a text editor shows it.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from rules.ingest.biff import SheetMarks, read_book, sheet_marks
from rules.ingest.cells import CellReport, clean_frame, clean_rows
from rules.ingest.encoding import Decoded, decode_bytes, refuse_lost_letters_in_names
from rules.ingest.errors import UploadError
from rules.ingest.formats import EXCEL_SUFFIXES, TEXT_SUFFIXES
from rules.ingest.formulas import sheet_states, workbook_date1904, xlsx_sheet_marks
from rules.ingest.layout import SCAN_ROWS
from rules.ingest.limits import check_file_size, check_frame, check_sheet_names, check_workbook

DELIMITERS = (",", ";", "\t", "|")
MAX_COLUMNS = 500
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
_HEAD_BYTES = 1 << 18
_BOM = "\ufeff".encode()


def _reader_failed(exc: BaseException) -> bool:
    """Whether ``exc`` is a reader failure on bad input: any Exception, or calamine's Rust panic,
    which reaches Python as pyo3's ``PanicException``, a BaseException (not importable by name): a
    damaged .xls (a broken compound-file sector chain) raises one. Such a file is "damaged" for the
    uploader, never a traceback; KeyboardInterrupt and SystemExit go on."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def col_names(width: int) -> list[str]:
    return [f"c{i}" for i in range(width)]


@dataclass
class SheetHead:
    """The first rows of one sheet (0-based grid) and its width; ``hidden_columns``: grid columns
    hidden in Excel (header detection prefers a visible column when two name one field)."""

    name: str
    rows: list[list[str | None]]
    width: int
    hidden_columns: frozenset[int] = field(default_factory=frozenset)


class ExcelSource:
    """An xlsx/xls/xlsb/ods workbook read through fastexcel (calamine)."""

    kind = "excel"
    encoding = ""
    sha256 = ""

    def __init__(self, path: Path, data: bytes):
        import fastexcel

        self.path = path
        self._frames: dict[str, pl.DataFrame] = {}
        if data.startswith(_OLE_MAGIC) and _ENCRYPTED in data:
            raise UploadError("password_protected", file=path.name)
        if not data.startswith((_ZIP_MAGIC, _OLE_MAGIC)) and path.suffix.lower() != ".ods":
            raise UploadError("corrupt_file", file=path.name)
        # an .xls whose Workbook stream cannot be followed (a broken sector chain) is damaged: said
        # here, before calamine, which may panic on it and print a Rust backtrace on stderr
        self._biff = read_book(data) if data.startswith(_OLE_MAGIC) else None
        if self._biff is not None and not self._biff.stream.startswith(b"\x09\x08"):
            raise UploadError("corrupt_file", file=path.name)
        try:
            self._reader = fastexcel.read_excel(data)
            self.sheet_names: list[str] = list(self._reader.sheet_names)
        except BaseException as exc:
            if not _reader_failed(exc):
                raise
            raise _excel_error(exc, path.name) from exc
        check_sheet_names(self.sheet_names, path.name)
        self._data = data
        self.reports: dict[str, CellReport] = {}
        self.formulas_evaluated = 0
        self.first_columns: dict[str, int] = {}  # sheet -> Excel column (0-based) of its grid's c0
        # the date system: workbook.xml of an xlsx, the DATEMODE record of an .xls (rules.ingest.biff)
        self.date1904 = self._biff.date1904 if self._biff is not None else workbook_date1904(data)
        self._marks: dict[str, SheetMarks] = {}
        states = sheet_states(data, self.sheet_names) or self._loaded_states()
        # Hidden and very hidden sheets (last year's list, lookup tables) are never read unless
        # named with --sheet: their rows would be matched and spend quota without anyone seeing them.
        self.hidden_sheets = [n for n in self.sheet_names if states.get(n, "visible").lower() != "visible"]

    def _loaded_states(self) -> dict[str, str]:
        """Sheet visibility of workbooks without workbook.xml (.xls, .xlsb, .ods), from calamine."""
        states = {}
        for name in self.sheet_names:
            try:
                states[name] = str(self._reader.load_sheet(name, header_row=None, n_rows=1, dtypes="string").visible)
            except BaseException as exc:  # unreadable here: the sheet's own load reports it
                if not _reader_failed(exc):
                    raise
                continue
        return states

    def _load(self, sheet: str, n_rows: int | None) -> pl.DataFrame:
        """The sheet as a text grid c0.. with rows from Excel row 1; its first column (calamine starts
        at the first column holding a value, not at A) is kept in ``first_columns``."""
        try:
            loaded = self._reader.load_sheet(sheet, header_row=None, skip_rows=0, n_rows=n_rows, dtypes="string")
            columns = loaded.available_columns()
            first = int(columns[0].absolute_index) if columns else 0
            frame = loaded.to_polars()
        except BaseException as exc:
            if not _reader_failed(exc):
                raise
            raise _excel_error(exc, self.path.name, sheet) from exc
        check_frame(frame, self.path.name, sheet, first_column=first)
        frame = frame.rename(dict(zip(frame.columns, col_names(frame.width), strict=True)))
        if n_rows is None:
            from rules.ingest.formulas import fill_unsaved_formulas

            frame, n, first = fill_unsaved_formulas(self._data, sheet, self.sheet_names, frame, self.path.name,
                                                    first)
            self.formulas_evaluated += n
        if frame.width > MAX_COLUMNS:
            raise UploadError("too_many_columns", file=self.path.name, sheet=sheet,
                              found_headers=[str(frame.width)])
        self.first_columns[sheet] = first
        if n_rows is None:
            frame, self.reports[sheet] = clean_frame(frame)
        return frame

    def merged(self, sheet: str) -> list[tuple[int, int, int, int]]:
        """Merged ranges of ``sheet`` (0-based, absolute: see ``rules.ingest.formulas.merged_ranges``)."""
        from rules.ingest.formulas import merged_ranges

        return merged_ranges(self._data, sheet)

    def marks(self, sheet: str) -> SheetMarks:
        """Hidden rows and columns and error cells of ``sheet`` (0-based, absolute), which calamine
        does not report: from the sheet XML of an xlsx/xlsm, the records of an .xls; none for .xlsb
        and .ods (not read)."""
        if sheet not in self._marks:
            if self._biff is not None:
                self._marks[sheet] = sheet_marks(self._biff, sheet)
            else:
                self._marks[sheet] = xlsx_sheet_marks(self._data, sheet)
        return self._marks[sheet]

    def head(self, name: str) -> SheetHead:
        """The first rows of one sheet (loaded in full and kept for body())."""
        frame = self._frames.get(name)
        if frame is None:
            frame = self._frames[name] = self._load(name, None)
        first = self.first_columns.get(name, 0)
        marks = self.marks(name)
        hidden = frozenset(j for j in range(frame.width) if marks.column_hidden(first + j))
        return SheetHead(name, [list(r) for r in frame.head(SCAN_ROWS + 2).rows()], frame.width, hidden)

    def heads(self) -> Iterator[SheetHead]:
        # calamine parses a whole sheet even for a few rows, so each sheet is loaded once, in full,
        # and kept for body(): one parse per sheet instead of two
        for name in self.sheet_names:
            if name not in self.hidden_sheets:
                yield self.head(name)

    def body(self, sheet: str, start: int, width: int) -> pl.DataFrame:
        """Rows from grid index ``start`` on, as c0..c{width-1} plus ``excel_row``."""
        frame = self._frames.pop(sheet, None)
        if frame is None:
            frame = self._load(sheet, None)
        frame = frame.with_row_index("excel_row", offset=1).slice(start)
        return _fit_width(frame, width).with_columns(pl.col("excel_row").cast(pl.Int64))


def _excel_error(exc: Exception, file: str, sheet: str | None = None) -> UploadError:
    text = str(exc).lower()
    if "password" in text or "encrypt" in text:
        return UploadError("password_protected", file=file, sheet=sheet)
    return UploadError("corrupt_file", file=file, sheet=sheet)


def _fit_width(frame: pl.DataFrame, width: int) -> pl.DataFrame:
    have = [c for c in frame.columns if c != "excel_row"]
    missing = [pl.lit(None, dtype=pl.String).alias(c) for c in col_names(width)[len(have):]]
    return frame.with_columns(missing) if missing else frame


class CsvSource:
    """A delimited text file: encoding and delimiter sniffed, then read by polars as text."""

    kind = "csv"
    sha256 = ""

    def __init__(self, path: Path, data: bytes):
        self.path = path
        if _blank_bytes(data):
            raise UploadError("empty_file", file=path.name)
        decoded: Decoded = decode_bytes(data, file=path.name, check_all=False)
        self._original = data
        self._checked = decoded.checked
        self.data = decoded.data
        self.encoding = decoded.encoding
        self.sheet_names = [""]
        self.hidden_sheets: list[str] = []
        self.formulas_evaluated = 0
        self.first_columns: dict[str, int] = {}  # a text file's columns start at the first
        self.date1904 = False
        self.reports: dict[str, CellReport] = {}
        head_text = self.data[:_HEAD_BYTES].decode("utf-8", errors="ignore")
        if len(self.data) > _HEAD_BYTES:  # drop the last, possibly cut line
            head_text = head_text[: head_text.rfind("\n") + 1] or head_text
        if b"\n" not in self.data[:_HEAD_BYTES] and len(self.data.rstrip()) > _HEAD_BYTES:
            # one enormous line: the rows were joined (line ends lost), it is not "empty"
            raise UploadError("no_line_breaks", file=path.name, found_headers=[_size(len(self.data))])
        self.delimiter = sniff_delimiter(head_text)
        self._records, self._lines, self._head_error = _parse_head(head_text, self.delimiter)
        width = max((len(r) for r in self._records), default=0)
        if width > MAX_COLUMNS and len(self._records) <= 1 and b"\n" not in self.data.rstrip():
            raise UploadError("no_line_breaks", file=path.name, found_headers=[_size(len(self.data))])
        self._parse_width: int | None = None  # set when empty trailing fields are read and dropped
        if width > MAX_COLUMNS:
            # Excel writes a delimiter for every column up to the last one ever used: 700 trailing
            # commas on each line are not 700 columns. Counted over the whole file (rare, slow path).
            fields, filled = _field_counts(self.data, self.delimiter)
            if filled > MAX_COLUMNS:
                raise UploadError("too_many_columns", file=path.name, found_headers=[str(filled)])
            self._parse_width, width = fields, max(filled, 1)
            self._records = [r[:width] for r in self._records]
        self._records, self._head_reports = clean_rows(self._records, width)

    def heads(self) -> Iterator[SheetHead]:
        rows = self._records[: SCAN_ROWS + 2]
        width = max((len(r) for r in self._records), default=0)
        yield SheetHead("", [[c if c != "" else None for c in r] for r in rows], width)

    def head(self, name: str) -> SheetHead:
        return next(self.heads())

    def merged(self, sheet: str) -> list[tuple[int, int, int, int]]:
        return []  # a text file has no merged cells

    def marks(self, sheet: str) -> SheetMarks:
        return SheetMarks()  # nothing is hidden in a text file; an error value there is its text

    def body(self, sheet: str, start: int, width: int) -> pl.DataFrame:
        """Records from record index ``start`` on; ``excel_row`` is the line a text editor shows."""
        if start >= len(self._lines) and self._head_error is not None:
            raise UploadError("layout_not_understood", file=self.path.name, row=self._head_error,
                              found_headers=["một dòng không tách được thành các ô (dấu ngoặc kép?) / "
                                             "a line could not be split into cells (quotes?)"])
        if start >= len(self._lines):
            return pl.DataFrame(schema={**dict.fromkeys(col_names(width), pl.String), "excel_row": pl.Int64})
        first_line = self._lines[start]  # 1-based physical line where the data starts
        try:
            frame = self._read(first_line - 1, width)
        except pl.exceptions.ComputeError as exc:
            if "more fields" not in str(exc):
                raise _layout_error(exc, self.path.name, self.data) from exc
            width = _max_fields(self.data, self.delimiter)  # ragged rows: slow exact pass, rare
            if width > MAX_COLUMNS:
                raise UploadError(
                    "too_many_columns", file=self.path.name, found_headers=[str(width)]
                ) from exc
            frame = self._read(first_line - 1, width)
        cols = col_names(width)
        # A quoted field may span lines; then each record's lines are counted to keep line numbers
        # right. Cheap test first: as many line breaks after the data start as records means none.
        start_at = self._offset(first_line)
        breaks = self.data.count(b"\n", start_at)
        spans = breaks > frame.height or (breaks == frame.height - 1 and not self.data.endswith(b"\n"))
        if b'"' in self.data and spans:
            span = 1 + pl.sum_horizontal([pl.col(c).str.count_matches("\n", literal=True).fill_null(0)
                                          for c in cols])
            line = pl.lit(first_line, pl.Int64) + span.cum_sum().cast(pl.Int64) - span.cast(pl.Int64)
        else:
            line = pl.int_range(first_line, first_line + pl.len(), dtype=pl.Int64)
        frame = frame.with_columns(line.alias("excel_row"))
        check_frame(frame, self.path.name, None, row_column="excel_row")
        frame = _unwrap_text_formulas(frame, cols)
        head_fonts = set().union(*(r.legacy_encodings for r in self._head_reports))
        frame, report = clean_frame(frame, cols, next(iter(head_fonts)) if len(head_fonts) == 1 else None)
        for head_report in self._head_reports[:start]:  # header and title rows, cleaned in the head
            report.add(head_report)
        # polars drops a BOM that starts its input (the first data line): an invisible character
        # removed like the others, so counted with them (a BOM later in the file the cell pass counts)
        report.chars.invisible_removed += self.data.startswith(_BOM, start_at)
        if self.data.isascii():  # Vietnamese names in ASCII: letters lost as "?" (valid UTF-8 all the same)
            refuse_lost_letters_in_names(frame, cols, self.path.name, self._records[start - 1] if start else None)
        self.reports[sheet] = report
        return frame

    def _offset(self, line: int) -> int:
        """Byte offset where 1-based physical ``line`` starts."""
        pos = 0
        for _ in range(line - 1):
            pos = self.data.index(b"\n", pos) + 1
        return pos

    def _read(self, skip_lines: int, width: int) -> pl.DataFrame:
        try:
            return self._parse(skip_lines, width)
        except pl.exceptions.ComputeError as exc:
            if self._checked or "utf-8" not in str(exc).lower():
                raise
        # UTF-8 at the top, something else further down: decode the whole file properly and retry.
        # The head is unchanged for every 8-bit decoding of ASCII-only headers; a Vietnamese header
        # that was valid UTF-8 makes the whole file fail as mixed, which decode_bytes reports.
        decoded = decode_bytes(self._original, file=self.path.name)
        self.data, self.encoding, self._checked = decoded.data, decoded.encoding, True
        return self._parse(skip_lines, width)

    def _parse(self, skip_lines: int, width: int) -> pl.DataFrame:
        parse_width = max(self._parse_width or 0, width)
        try:
            return pl.read_csv(
                self.data,
                has_header=False,
                separator=self.delimiter,
                skip_lines=skip_lines,
                schema=dict.fromkeys(col_names(parse_width), pl.String),
                columns=list(range(width)) if parse_width > width else None,
                missing_columns="insert",
                truncate_ragged_lines=False,
                raise_if_empty=False,
                quote_char='"',
            )
        except pl.exceptions.ComputeError:
            raise
        except Exception as exc:
            raise _layout_error(exc, self.path.name, self.data) from exc


_TEXT_FORMULA = r'^\s*="([^"]*)"\s*$'


def _unwrap_text_formulas(frame: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
    """Cells written ``="079212000123"`` (the trick exports use so that Excel keeps an ID's leading
    zeros) become the text inside, as Excel shows them when it opens the CSV. Vectorised; columns
    without such a cell cost one scan."""
    hits = frame.select(pl.col(c).str.contains(_TEXT_FORMULA).any().alias(c) for c in cols).row(0) if cols else ()
    fixed = [pl.col(c).str.replace(_TEXT_FORMULA, "$1").alias(c) for c, hit in zip(cols, hits, strict=True) if hit]
    return frame.with_columns(fixed) if fixed else frame


def sniff_delimiter(text: str) -> str:
    """The candidate that splits most lines into the same number (>1) of fields.

    Scored on parsed records (so quoted delimiters do not count): the number of records whose
    field count equals the most common count, which rewards the delimiter of the table body over
    stray ones in title rows.
    """
    best, best_score = ",", -1
    csv.field_size_limit(1 << 30)
    for delim in DELIMITERS:
        counts: dict[int, int] = {}
        try:
            for rec in csv.reader(io.StringIO(text[:_HEAD_BYTES // 4]), delimiter=delim):
                if len(rec) > 1:
                    counts[len(rec)] = counts.get(len(rec), 0) + 1
        except csv.Error:
            continue
        score = max(counts.values(), default=0)
        if score > best_score:
            best, best_score = delim, score
    return best


def read_regular(path: Path, *, follow_links: bool = True) -> bytes:
    """The bytes of a regular file, size-checked before they are read (``rules.ingest.limits``)."""
    import errno
    import os
    import stat

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0))
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise UploadError("file_not_found", file=str(path)) from exc
    except PermissionError as exc:
        raise UploadError("permission_denied", file=path.name) from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise UploadError("not_a_regular_file", file=path.name) from exc
        raise UploadError("unreadable_file", file=path.name, found_headers=[type(exc).__name__]) from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UploadError("file_not_found", file=str(path))
        raise UploadError("not_a_regular_file", file=path.name)
    with os.fdopen(fd, "rb") as fh:
        check_file_size(info.st_size, path.name)  # bounds before loading
        try:
            data = fh.read(info.st_size + 1)
        except PermissionError as exc:
            raise UploadError("permission_denied", file=path.name) from exc
        except OSError as exc:
            raise UploadError("unreadable_file", file=path.name, found_headers=[type(exc).__name__]) from exc
    check_file_size(len(data), path.name)  # grew while being read: still bounded
    return data


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} KB"


def _layout_error(exc: Exception, file: str, data: bytes | None = None) -> UploadError:
    """A CSV that polars could not split: say so (never "corrupt Excel workbook"), naming the line
    where an unclosed quote starts when there is one (``data``: the decoded file)."""
    text = str(exc).lower()
    if "utf-8" in text or "utf8" in text:
        return UploadError("unsupported_encoding", file=file)
    row = unclosed_quote_line(data) if data is not None else None
    cause = ("dấu ngoặc kép không đóng / an unclosed quote" if "quote" in text or "escaped" in text
             or row is not None
             else "các dòng có số cột khác nhau / lines with different numbers of cells" if "field" in text
             else "không tách được thành dòng và cột / it could not be split into rows and columns")
    return UploadError("layout_not_understood", file=file, row=row, found_headers=[cause])


def unclosed_quote_line(data: bytes) -> int | None:
    """The 1-based line where a quote opens that no later quote closes, or None (an even number of
    quote characters in the file). Quotes pair up in any valid CSV, escaped ones (``""``) included,
    so the line after which the running count stays odd to the end is where the quote was left open.
    Runs on the error path only."""
    if data.count(b'"') % 2 == 0:
        return None
    parity, opened = 0, None
    for number, line in enumerate(data.split(b"\n"), start=1):
        n = line.count(b'"')
        if n % 2:
            parity ^= 1
            if parity:
                opened = number
    return opened


def _parse_head(text: str, delimiter: str) -> tuple[list[list[str]], list[int], int | None]:
    """Records of the first part of the file, the 1-based line on which each starts, and the line
    where the csv module gave up (None when it did not)."""
    csv.field_size_limit(1 << 30)  # a long cell is data (size caps are checked elsewhere), not an error
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    records: list[list[str]] = []
    starts: list[int] = []
    line = 1
    error_line = None
    try:
        for rec in reader:
            records.append(rec)
            starts.append(line)
            line = reader.line_num + 1
            if len(records) >= SCAN_ROWS + 4:
                break
    except csv.Error:
        error_line = line  # a broken quote late in the head: what was parsed is enough to find the header
    return records, starts, error_line


def _field_counts(data: bytes, delimiter: str) -> tuple[int, int]:
    """(most fields on a line, last field holding anything but spaces on any line) over the file."""
    csv.field_size_limit(1 << 30)
    text = data.decode("utf-8", errors="replace")
    most = filled = 0
    for rec in csv.reader(io.StringIO(text), delimiter=delimiter):
        most = max(most, len(rec))
        last = len(rec)
        while last > filled and not rec[last - 1].strip():
            last -= 1
        filled = max(filled, last)
    return most, filled


def _max_fields(data: bytes, delimiter: str) -> int:
    csv.field_size_limit(1 << 30)
    text = data.decode("utf-8", errors="replace")
    return max((len(r) for r in csv.reader(io.StringIO(text), delimiter=delimiter)), default=0)


_WHITESPACE = b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"


def _blank_bytes(data: bytes) -> bool:
    """Only whitespace, NULs and BOM bytes (checked on the head first: no copy of a big file)."""
    return not data[: 1 << 16].strip(_WHITESPACE) and not data.strip(_WHITESPACE)


def open_source(path: Path, *, follow_links: bool = True) -> ExcelSource | CsvSource:
    """Pick the reader by file content first (zip/OLE magic) and name second.

    ``follow_links=False`` (inbox files): the file is opened with ``O_NOFOLLOW`` and must be a regular
    file when opened, so a file swapped for a link (or a pipe) after the inbox was listed is refused,
    never followed. The bytes are read once: a file changing while it is read is hashed and parsed
    as the same bytes. A file the process may not read is refused saying so (never "damaged").
    """
    data = read_regular(path, follow_links=follow_links)
    check_workbook(data, path.name)
    suffix = path.suffix.lower()
    if not data or (suffix in EXCEL_SUFFIXES and _blank_bytes(data)):
        raise UploadError("empty_file", file=path.name)
    if data.startswith((_ZIP_MAGIC, _OLE_MAGIC)) or suffix in EXCEL_SUFFIXES:
        source: ExcelSource | CsvSource = ExcelSource(path, data)
    elif suffix in TEXT_SUFFIXES or suffix == "":
        source = CsvSource(path, data)
    else:
        raise UploadError("unsupported_format", file=path.name)
    source.sha256 = hashlib.sha256(data).hexdigest()  # the bytes are in memory: hash them once here
    return source
