"""Size limits of an upload, checked BEFORE a spreadsheet is loaded, so a hostile file costs little.

Why: an xlsx is a zip of XML. A 1 MB zip can unpack to gigabytes (a zip bomb), one shared string
can be 128 MiB, and calamine (the reader under fastexcel) builds a *dense* grid of about 50 bytes per
cell from the top-left to the bottom-right cell that has a value, so two cells far apart
(``A1`` and ``ZZ1000000``) cost gigabytes although the file is a few kilobytes. The checks:

* the file itself: at most ``MAX_FILE_BYTES`` on disk;
* zip workbooks (xlsx, xlsm, xlsb, ods): at most ``MAX_MEMBERS`` members, ``MAX_UNPACKED_BYTES``
  unpacked in total, no member above 1 MiB unpacking more than ``MAX_MEMBER_RATIO`` times its packed
  size, shared strings at most ``MAX_SHARED_STRINGS_BYTES``. The declared sizes of the zip directory
  are checked first, then every member is inflated once in a streaming pass (4 MiB at a time) that
  counts the real sizes, since a hostile directory can lie;
* worksheets (xlsx): the grid calamine would build, ``rows x columns`` of the cells' bounding box,
  at most ``MAX_GRID_CELLS`` (1,048,576 x 26). The streaming pass looks for a reference beyond
  column Z (then the worksheet is scanned for its exact extent) and for row numbers of 7 digits
  (then those rows are collected: at most Excel's 1,048,576). Without either the grid is at most
  999,999 x 26 cells; the worst case allowed, A1 and Z1048576, peaks at 1.5 GB for a whole upload;
* after loading: at most ``MAX_ROWS`` rows per sheet or CSV and ``MAX_CELL_CHARS`` characters per cell
  (Excel's own limit), each refusal naming the sheet, row and column.

Every refusal is an :class:`UploadError` with its own code (``file_too_large``, ``expands_too_much``,
``sheet_too_large``, ``too_many_rows``, ``cell_too_long``, ``name_too_long`` for a sheet name over
``MAX_SHEET_NAME_CHARS``) and a Vietnamese and English message.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from functools import lru_cache

import polars as pl

from rules.ingest.errors import UploadError

MiB = 1 << 20
MAX_FILE_BYTES = 256 * MiB
MAX_MEMBERS = 1_000
MAX_UNPACKED_BYTES = 1536 * MiB  # a 1M-row, 6-column xlsx unpacks to about 370 MB
MAX_MEMBER_RATIO = 100  # Apache POI's default (ZipSecureFile: minimum inflate ratio 0.01)
RATIO_GRACE_BYTES = 1 * MiB  # small members (styles, themes) compress far better and cost nothing
MAX_SHARED_STRINGS_BYTES = 256 * MiB
MAX_GRID_CELLS = 1_048_576 * 26  # a full A..Z sheet: 1.5 GB peak for a whole upload, measured
MAX_ROWS = 1_048_576  # Excel's own sheet limit; a CSV may not hold more either
MAX_CELL_CHARS = 32_767  # Excel's own cell limit
MAX_SHEET_NAME_CHARS = 255  # Excel allows 31; other tools more. A sheet name is copied onto every row
EXCEL_MAX_ROW = 1_048_576
_CHUNK = 16 * MiB  # unpacked bytes per step
_FEED = 256 * 1024  # packed bytes per step: a small unconsumed tail is cheap to carry
# one pass finds a reference beyond column Z or a row number of 7 digits (in cells and rows alike)
_FAR = re.compile(rb'r="(?:[A-Z]{2}|[A-Z]?[0-9]{7})')
_WIDE = re.compile(rb' r="[A-Z]{2}')
_LONG_ROWS = re.compile(rb'r="[A-Z]?([0-9]{7,})"')
_ROW = re.compile(rb'<row\b[^>]*?\sr="([0-9]+)"')
_CELL = re.compile(rb'<c\b[^>]*?\sr="([A-Z]+)([0-9]+)"')

def _mib(n: int) -> str:
    return f"{n / MiB:,.0f} MiB"


def check_file_size(size: int, file: str) -> None:
    """Refuse a file larger than ``MAX_FILE_BYTES`` before its bytes are read."""
    if size > MAX_FILE_BYTES:
        raise UploadError("file_too_large", file=file,
                          found_headers=[f"{_mib(size)} > {_mib(MAX_FILE_BYTES)}"])


def check_workbook(data: bytes, file: str) -> None:
    """Zip-level and grid checks of a workbook held in memory; a no-op for non-zip files (xls, csv).

    Raises :class:`UploadError` (``expands_too_much`` or ``sheet_too_large``); a zip that cannot be
    read at all is left to the reader, which names it ``corrupt_file``.
    """
    if not data.startswith(b"PK\x03\x04"):
        return
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError, EOFError, KeyError, OverflowError):
        return  # not a zip we can read (damaged directory, unknown zip version): the reader says corrupt_file
    _check_directory(infos, file)
    total = 0
    for info in infos:
        total, wide = _inflate(data, info, file, total)
        if wide:
            _check_grid(data, info, file)


def _refuse(file: str, what: str) -> UploadError:
    return UploadError("expands_too_much", file=file, found_headers=[what])


def _check_directory(infos: list[zipfile.ZipInfo], file: str) -> None:
    if len(infos) > MAX_MEMBERS:
        raise _refuse(file, f"{len(infos):,} members > {MAX_MEMBERS:,}")
    declared = sum(i.file_size for i in infos)
    if declared > MAX_UNPACKED_BYTES:
        raise _refuse(file, f"{_mib(declared)} unpacked > {_mib(MAX_UNPACKED_BYTES)}")
    for info in infos:
        _check_member_size(info, info.file_size, file)


def _check_member_size(info: zipfile.ZipInfo, size: int, file: str) -> None:
    if size > RATIO_GRACE_BYTES and size > MAX_MEMBER_RATIO * max(info.compress_size, 1):
        raise _refuse(file, f"{info.filename}: {_mib(size)} from {info.compress_size:,} bytes, "
                            f"ratio > {MAX_MEMBER_RATIO}")
    if _is_shared_strings(info.filename) and size > MAX_SHARED_STRINGS_BYTES:
        raise _refuse(file, f"{info.filename}: {_mib(size)} > {_mib(MAX_SHARED_STRINGS_BYTES)}")


def _is_shared_strings(name: str) -> bool:
    return name.lower().endswith(("sharedstrings.xml", "sharedstrings.bin"))


def _is_worksheet(name: str) -> bool:
    lower = name.lower()
    return lower.startswith("xl/worksheets/") and lower.endswith(".xml")


def _chunks(data: bytes, info: zipfile.ZipInfo, file: str) -> Iterator[bytes]:
    """The unpacked bytes of one member, ``_CHUNK`` at a time, read from the packed bytes directly
    (so the real size is counted whatever the zip directory declares)."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _refuse(file, f"{info.filename}: compression method {info.compress_type}")
    start = info.header_offset
    header = data[start:start + zipfile.sizeFileHeader]
    if len(header) != zipfile.sizeFileHeader or header[:4] != zipfile.stringFileHeader:
        raise UploadError("corrupt_file", file=file)
    start += zipfile.sizeFileHeader + int.from_bytes(header[26:28], "little") + int.from_bytes(header[28:30], "little")
    packed = memoryview(data)[start:start + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        for pos in range(0, len(packed), _CHUNK):
            yield bytes(packed[pos:pos + _CHUNK])
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pos = 0
    pending = b""
    while True:
        if not pending:
            if pos >= len(packed):
                break
            pending, pos = packed[pos:pos + _FEED], pos + _FEED
        try:
            chunk = inflater.decompress(pending, _CHUNK)  # at most _CHUNK out per step: bounded memory
        except zlib.error as exc:
            raise UploadError("corrupt_file", file=file) from exc
        pending = inflater.unconsumed_tail
        if chunk:
            yield chunk
        elif not pending and inflater.eof:
            break


def _inflate(data: bytes, info: zipfile.ZipInfo, file: str, total: int) -> tuple[int, bool]:
    """Inflate one member in chunks, counting its real size: (running total, needs the exact scan).

    Worksheets are searched in the same pass for a reference beyond column Z (then the exact scan
    is needed) and for row numbers of 7 digits, whose largest must stay within Excel's 1,048,576
    rows; only chunks with such a row are searched for all of them (the last rows of a 1M-row sheet).
    """
    worksheet = _is_worksheet(info.filename)
    wide = False
    max_row = 0
    size = 0
    tail = b""
    for chunk in _chunks(data, info, file):
        size += len(chunk)
        if size > info.file_size and size > RATIO_GRACE_BYTES:  # the directory lied
            _check_member_size(info, size, file)
        if total + size > MAX_UNPACKED_BYTES:
            raise _refuse(file, f"more than {_mib(MAX_UNPACKED_BYTES)} unpacked")
        if worksheet and not wide:
            edge = tail + chunk[:32]  # a reference cut by the chunk boundary (no copy of the chunk)
            tail = chunk[-32:]
            for text in (edge, chunk):
                if _FAR.search(text) is None:
                    continue
                wide = wide or _WIDE.search(text) is not None
                rows = _LONG_ROWS.findall(text)
                max_row = max(max_row, *(int(r) for r in set(rows))) if rows else max_row
    _check_member_size(info, size, file)
    if max_row > EXCEL_MAX_ROW:
        sheet = info.filename.rsplit("/", 1)[-1]
        raise UploadError("sheet_too_large", file=file,
                          found_headers=[f"{sheet}: row {max_row:,} > {EXCEL_MAX_ROW:,}"])
    return total + size, wide


def _check_grid(data: bytes, info: zipfile.ZipInfo, file: str) -> None:
    """Exact extent of a wide or long worksheet: refuse when calamine's grid would be too large."""
    max_row = max_col = 0
    min_row, min_col = EXCEL_MAX_ROW + 1, 1 << 30
    tail = b""
    for chunk in [*_chunks(data, info, file), b""]:
        text = tail + chunk
        cut = text.rfind(b"<") if chunk else len(text)
        text, tail = (text[:cut], text[cut:]) if cut > 0 else (text, b"")
        for letters, digits in set(_CELL.findall(text)):
            col, row = column_number(letters), int(digits)
            max_col, min_col = max(max_col, col), min(min_col, col)
            max_row, min_row = max(max_row, row), min(min_row, row)
        for digits in _ROW.findall(text):
            row = int(digits)
            max_row, min_row = max(max_row, row), min(min_row, row)
    rows = max_row - min(min_row, max_row) + 1 if max_row else 0
    cols = max_col - min(min_col, max_col) + 1 if max_col else 0
    sheet = info.filename.rsplit("/", 1)[-1]
    if max_row > EXCEL_MAX_ROW:
        raise UploadError("sheet_too_large", file=file,
                          found_headers=[f"{sheet}: row {max_row:,} > {EXCEL_MAX_ROW:,}"])
    if rows * cols > MAX_GRID_CELLS:
        raise UploadError("sheet_too_large", file=file, found_headers=[
            f"{sheet}: {rows:,} rows x {cols:,} columns = {rows * cols:,} cells > {MAX_GRID_CELLS:,}"])


def check_sheet_names(names: list[str], file: str) -> None:
    """Refuse a sheet name longer than ``MAX_SHEET_NAME_CHARS`` (it is copied onto every row read)."""
    for position, name in enumerate(names, start=1):
        if len(name) > MAX_SHEET_NAME_CHARS:
            raise UploadError("name_too_long", file=file, found_headers=[
                f"sheet {position}: {len(name):,} > {MAX_SHEET_NAME_CHARS}"])


def check_frame(frame: pl.DataFrame, file: str, sheet: str | None, *, row_offset: int = 1,
                row_column: str | None = None, first_column: int | None = None) -> None:
    """Row count and cell length of a loaded grid (text columns ``c0``, ``c1``...), vectorised.

    ``row_column`` names a column holding the row number to report (CSV ``excel_row``); otherwise the
    row is ``row_offset`` + the 0-based position (1 for a sheet read from its first row).
    ``first_column``: the Excel column (0-based) of a sheet grid's first column, so that a cell is
    named by its column letter; a text file's column is named by its position.
    """
    if frame.height > MAX_ROWS:
        raise UploadError("too_many_rows", file=file, sheet=sheet or None,
                          found_headers=[f"{frame.height:,} > {MAX_ROWS:,}"])
    cols = [c for c, t in frame.schema.items() if t == pl.String and c != row_column]
    if not cols or frame.height == 0:
        return
    longest = frame.select(pl.col(cols).str.len_bytes().max()).row(0)
    for col, n_bytes in zip(cols, longest, strict=True):
        if n_bytes is None or n_bytes <= MAX_CELL_CHARS:  # bytes >= characters: most columns stop here
            continue
        lengths = frame[col].str.len_chars()
        if (lengths.max() or 0) <= MAX_CELL_CHARS:
            continue
        idx = int(lengths.arg_max() or 0)
        row = int(frame[row_column][idx]) if row_column else idx + row_offset
        position = cols.index(col) + 1
        column = f"Cột {position}" if first_column is None else column_letters(first_column + position)
        raise UploadError("cell_too_long", file=file, sheet=sheet or None, row=row, column=column,
                          found_headers=[f"{int(lengths[idx]):,} > {MAX_CELL_CHARS:,}"])


def column_letters(n: int) -> str:
    """Excel's name of the 1-based column ``n``: 1 -> A, 27 -> AA."""
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


@lru_cache(maxsize=1 << 14)
def column_number(letters: str | bytes) -> int:
    """The 1-based number of the column Excel names ``letters`` (text or ASCII bytes, as a sheet's XML
    holds them): A -> 1, AA -> 27; the inverse of :func:`column_letters`. Cached (bounded: a hostile
    sheet may name many columns) because the error report calls it for every cell it scans."""
    n = 0
    for ch in letters.encode("ascii") if isinstance(letters, str) else letters:
        n = n * 26 + ch - 64
    return n
