"""What calamine does not tell about an Excel 97-2003 workbook (.xls, BIFF8), read from its records.

calamine reads an .xls's cells but not: its date system (DATEMODE: a Mac workbook counts serial
days from 1904, so a date typed as a number reads 4 years and a day early), which rows and columns
are hidden (ROW ``fDyZero``, COLINFO ``fHidden``), and where a cell holds an error value (BOOLERR
with ``fError``, or a FORMULA whose cached result is an error: calamine gives both as empty cells,
so ``#REF!`` in a birth-date cell would read as "missing"). This module finds the ``Workbook``
stream in the OLE compound file and walks its records; nothing else is parsed.

Bounded: the file is already size-checked (``rules.ingest.limits``), every sector chain is walked
at most once per sector (a looping chain ends the walk), and a workbook this module cannot follow
gives "nothing known" (the 1900 system, nothing hidden, no error cells), never an exception.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_END, _FREE = 0xFFFFFFFE, 0xFFFFFFFF
_MAX_REGULAR = 0xFFFFFFFA
# BIFF8 error codes (MS-XLS 2.5.97): the text Excel shows in the cell
ERROR_TEXT = {0x00: "#NULL!", 0x07: "#DIV/0!", 0x0F: "#VALUE!", 0x17: "#REF!", 0x1D: "#NAME?",
              0x24: "#NUM!", 0x2A: "#N/A", 0x2B: "#GETTING_DATA"}


@dataclass
class SheetMarks:
    """Hidden rows and columns and error cells of one sheet, 0-based and absolute (A1 = (0, 0))."""

    hidden_rows: set[int] = field(default_factory=set)
    hidden_columns: list[tuple[int, int]] = field(default_factory=list)  # inclusive (first, last) ranges
    errors: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) -> "#REF!"

    def column_hidden(self, col: int) -> bool:
        return any(a <= col <= b for a, b in self.hidden_columns)


@dataclass
class BiffBook:
    """The workbook-level facts: date system and where each sheet's records start."""

    date1904: bool = False
    sheets: dict[str, int] = field(default_factory=dict)  # sheet name -> stream offset of its BOF
    stream: bytes = b""


def _ints(block: bytes) -> tuple[int, ...]:
    """``block`` as little-endian u32s (a sector cut short by the file's end: its whole ones)."""
    n = len(block) // 4
    return struct.unpack(f"<{n}I", block[:4 * n])


def _chain(fat: list[int], start: int) -> list[int]:
    out, seen = [], set()
    sector = start
    while sector <= _MAX_REGULAR and sector < len(fat) and sector not in seen:
        seen.add(sector)
        out.append(sector)
        sector = fat[sector]
    return out


def workbook_stream(data: bytes) -> bytes:
    """The ``Workbook`` (or BIFF5 ``Book``) stream of an OLE compound file; b"" when not found."""
    if not data.startswith(_OLE_MAGIC) or len(data) < 512:
        return b""
    shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
    if not 7 <= shift <= 16 or not 1 <= mini_shift < shift:
        return b""
    size = 1 << shift
    n_fat, first_dir, _, cutoff, first_mini, n_mini, first_difat, n_difat = struct.unpack_from("<IIIIIIII", data, 0x2C)
    n_sectors = max(0, -(-(len(data) - size) // size))  # a last sector cut short still counts

    def sector(i: int) -> bytes:
        return data[size + i * size: size + (i + 1) * size]

    fat_sectors = list(struct.unpack_from("<109I", data, 0x4C))
    difat, seen = first_difat, set()
    while difat <= _MAX_REGULAR and difat < n_sectors and difat not in seen and len(seen) < n_difat + 1:
        seen.add(difat)
        block = _ints(sector(difat))
        if not block:
            break
        fat_sectors += block[:-1]
        difat = block[-1]
    fat: list[int] = []
    for i in fat_sectors[:n_fat]:
        if i <= _MAX_REGULAR and i < n_sectors:
            fat += _ints(sector(i))
    directory = b"".join(sector(i) for i in _chain(fat, first_dir))
    entries = {}
    root_start = _END
    for k in range(len(directory) // 128):
        raw = directory[k * 128:(k + 1) * 128]
        name_len = struct.unpack_from("<H", raw, 64)[0]
        kind = raw[66]
        name = raw[:max(0, min(name_len, 64) - 2)].decode("utf-16-le", "replace")
        start, length = struct.unpack_from("<II", raw, 116)
        if kind == 5:
            root_start = start
        elif kind == 2:
            entries[name] = (start, length)
    by_name = {name.lower(): where for name, where in entries.items()}
    found = by_name.get("workbook") or by_name.get("book")
    if found is None:
        return b""
    start, length = found
    if length >= cutoff:
        return b"".join(sector(i) for i in _chain(fat, start))[:length]
    # a small stream lives in the mini stream (64-byte sectors inside the root entry's stream)
    mini_stream = b"".join(sector(i) for i in _chain(fat, root_start))
    mini_fat_bytes = b"".join(sector(i) for i in _chain(fat, first_mini)[:n_mini or None])
    mini_fat = list(_ints(mini_fat_bytes))
    m = 1 << mini_shift
    return b"".join(mini_stream[i * m:(i + 1) * m] for i in _chain(mini_fat, start))[:length]


def _records(stream: bytes, pos: int):
    """(type, body, offset) of each record from ``pos`` to the substream's EOF (or the stream's end)."""
    end = len(stream)
    while pos + 4 <= end:
        kind, length = struct.unpack_from("<HH", stream, pos)
        body = stream[pos + 4: pos + 4 + length]
        yield kind, body, pos
        pos += 4 + length
        if kind == 0x000A:  # EOF
            return


def _short_string(body: bytes, at: int) -> str:
    """A ShortXLUnicodeString (count of characters, then flags; UTF-16 or compressed Latin-1)."""
    if at + 2 > len(body):
        return ""
    n, flags = body[at], body[at + 1]
    raw = body[at + 2:]
    return raw[:2 * n].decode("utf-16-le", "replace") if flags & 1 else raw[:n].decode("latin-1")


def read_book(data: bytes) -> BiffBook:
    """Date system and sheet offsets of an .xls; an empty book when the file is not one (or is
    damaged: calamine then says so, with the file's name)."""
    try:
        return _read_book(data)
    except (struct.error, ValueError, IndexError, OverflowError):
        return BiffBook()


def _read_book(data: bytes) -> BiffBook:
    stream = workbook_stream(data)
    book = BiffBook(stream=stream)
    for kind, body, _ in _records(stream, 0):
        if kind == 0x0022 and len(body) >= 2:  # DATEMODE
            book.date1904 = struct.unpack_from("<H", body)[0] == 1
        elif kind == 0x0085 and len(body) >= 8:  # BOUNDSHEET8
            book.sheets[_short_string(body, 6)] = struct.unpack_from("<I", body)[0]
    return book


def sheet_marks(book: BiffBook, sheet: str) -> SheetMarks:
    """Hidden rows and columns and error cells of one sheet of ``book`` (nothing when its records
    cannot be followed)."""
    marks = SheetMarks()
    try:
        _sheet_marks(book, sheet, marks)
    except (struct.error, ValueError, IndexError):
        return SheetMarks()
    return marks


def _sheet_marks(book: BiffBook, sheet: str, marks: SheetMarks) -> None:
    pos = book.sheets.get(sheet)
    if pos is None or pos >= len(book.stream):
        return
    for kind, body, _ in _records(book.stream, pos):
        if kind == 0x0208 and len(body) >= 14:  # ROW: fDyZero (bit 5 of the flags) = hidden
            row, flags = struct.unpack_from("<H", body)[0], struct.unpack_from("<H", body, 12)[0]
            if flags & 0x0020:
                marks.hidden_rows.add(row)
        elif kind == 0x007D and len(body) >= 10:  # COLINFO: fHidden (bit 0)
            first, last = struct.unpack_from("<HH", body)
            if struct.unpack_from("<H", body, 8)[0] & 0x0001:
                marks.hidden_columns.append((first, last))
        elif kind == 0x0205 and len(body) >= 8 and body[7] == 1:  # BOOLERR holding an error
            row, col = struct.unpack_from("<HH", body)
            marks.errors[(row, col)] = ERROR_TEXT.get(body[6], "#VALUE!")
        elif kind == 0x0006 and len(body) >= 14 and body[6] == 0x02 and body[12:14] == b"\xff\xff":
            row, col = struct.unpack_from("<HH", body)  # FORMULA whose cached result is an error
            marks.errors[(row, col)] = ERROR_TEXT.get(body[8], "#VALUE!")
