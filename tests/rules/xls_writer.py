"""A tiny Excel 97-2003 (.xls, BIFF8) writer for tests, built by hand as xlwt would write one.

Why: the project has no .xls writer among its dependencies (xlwt is a dev-only tool of the corpus
builder), but the hostile kinds of an .xls (the 1904 date system, hidden rows and columns, error
values and cached formula errors) must be tested on real files that calamine reads. This writes
the records the reader and calamine need, in an OLE compound file (version 3, 512-byte sectors):

* globals: BOF, CODEPAGE, DATEMODE (0 = 1900, 1 = 1904), XF (0 General, 1 date ``m/d/yyyy``),
  BOUNDSHEET8 per sheet (visible or hidden), SST, EOF;
* per sheet: BOF, DIMENSIONS, COLINFO (hidden columns), ROW (hidden rows), cells: LABELSST (text),
  NUMBER (a number, or a date with ``date=True`` formatting), BOOLERR (an error value), FORMULA with
  a cached error result, EOF.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

ERROR_CODES = {"#NULL!": 0x00, "#DIV/0!": 0x07, "#VALUE!": 0x0F, "#REF!": 0x17, "#NAME?": 0x1D,
               "#NUM!": 0x24, "#N/A": 0x2A}


@dataclass(frozen=True)
class Number:
    value: float
    date: bool = False  # formatted as a date (XF 1: built-in format 14)


@dataclass(frozen=True)
class Error:
    """An error value: a constant (BOOLERR) or a formula's cached result (FORMULA)."""

    code: str
    formula: bool = False


@dataclass
class Sheet:
    name: str
    rows: dict[int, dict[int, object]] = field(default_factory=dict)  # 0-based row -> col -> value
    hidden_rows: set[int] = field(default_factory=set)
    hidden_columns: set[int] = field(default_factory=set)
    hidden: bool = False

    def append(self, values: list[object], at: int | None = None) -> None:
        row = max(self.rows, default=-1) + 1 if at is None else at
        self.rows[row] = {j: v for j, v in enumerate(values) if v is not None}


def _record(kind: int, body: bytes) -> bytes:
    return struct.pack("<HH", kind, len(body)) + body


def _bof(kind: int) -> bytes:
    return _record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 0x06))


def _xf(ifmt: int) -> bytes:
    return _record(0x00E0, struct.pack("<HH", 0, ifmt) + struct.pack("<HHIIH", 0x0001, 0x0020, 0, 0, 0x20C0))


def _sheet_stream(sheet: Sheet, strings: dict[str, int]) -> bytes:
    out = [_bof(0x0010)]
    n_rows = max(sheet.rows, default=-1) + 1
    n_cols = max((max(r, default=-1) for r in sheet.rows.values()), default=-1) + 1
    out.append(_record(0x0200, struct.pack("<IIHHH", 0, n_rows, 0, n_cols, 0)))
    for col in sorted(sheet.hidden_columns):
        out.append(_record(0x007D, struct.pack("<HHHHHH", col, col, 2340, 0, 0x0001, 0)))
    for r in sorted(set(sheet.rows) | sheet.hidden_rows):
        flags = 0x0100 | (0x0020 if r in sheet.hidden_rows else 0)
        out.append(_record(0x0208, struct.pack("<HHHHHHHH", r, 0, n_cols, 0x00FF, 0, 0, flags, 0x000F)))
    for r in sorted(sheet.rows):
        for c, value in sorted(sheet.rows[r].items()):
            if isinstance(value, str):
                out.append(_record(0x00FD, struct.pack("<HHHI", r, c, 0, strings[value])))
            elif isinstance(value, Number):
                out.append(_record(0x0203, struct.pack("<HHHd", r, c, 1 if value.date else 0, value.value)))
            elif isinstance(value, int | float):
                out.append(_record(0x0203, struct.pack("<HHHd", r, c, 0, float(value))))
            elif isinstance(value, Error) and not value.formula:
                out.append(_record(0x0205, struct.pack("<HHHBB", r, c, 0, ERROR_CODES[value.code], 1)))
            elif isinstance(value, Error):
                cached = bytes([0x02, 0, ERROR_CODES[value.code], 0, 0, 0, 0xFF, 0xFF])
                rgce = bytes([0x1C, ERROR_CODES[value.code]])  # ptgErr: the formula is the error itself
                out.append(_record(0x0006, struct.pack("<HHH", r, c, 0) + cached
                                   + struct.pack("<HIH", 0, 0, len(rgce)) + rgce))
            else:
                raise TypeError(f"unsupported cell {value!r}")
    out.append(_record(0x000A, b""))
    return b"".join(out)


def _unicode(text: str, short: bool) -> bytes:
    data = text.encode("utf-16-le")
    return struct.pack("<BB" if short else "<HB", len(text), 1) + data


def workbook_stream(sheets: list[Sheet], date1904: bool = False) -> bytes:
    strings: dict[str, int] = {}
    for sheet in sheets:
        for row in sheet.rows.values():
            for v in row.values():
                if isinstance(v, str) and v not in strings:
                    strings[v] = len(strings)
    sst_body = struct.pack("<II", sum(1 for s in sheets for r in s.rows.values() for v in r.values()
                                      if isinstance(v, str)), len(strings))
    sst_body += b"".join(_unicode(s, short=False) for s in strings)
    if len(sst_body) > 8224:
        raise ValueError("test workbook too large for one SST record")
    head = [_bof(0x0005), _record(0x0042, struct.pack("<H", 1200)),
            _record(0x0022, struct.pack("<H", 1 if date1904 else 0)), _xf(0), _xf(14)]
    tail = [_record(0x00FC, sst_body), _record(0x000A, b"")]
    bound_lens = [4 + 4 + 2 + len(_unicode(s.name, short=True)) for s in sheets]
    offset = sum(map(len, head)) + sum(bound_lens) + sum(map(len, tail))
    streams = [_sheet_stream(s, strings) for s in sheets]
    bounds = []
    for sheet, stream in zip(sheets, streams, strict=True):
        bounds.append(_record(0x0085, struct.pack("<IBB", offset, 1 if sheet.hidden else 0, 0)
                              + _unicode(sheet.name, short=True)))
        offset += len(stream)
    return b"".join(head + bounds + tail + streams)


_FREE, _END, _FATSECT = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD


def compound_file(stream: bytes, name: str = "Workbook") -> bytes:
    """``stream`` as the one stream of an OLE compound file (padded to 4096 bytes: a regular stream,
    as xlwt pads it)."""
    stream = stream + b"\x00" * max(0, 4096 - len(stream))
    stream += b"\x00" * (-len(stream) % 512)
    n_data = len(stream) // 512
    n_fat = 1
    while n_fat * 128 < n_fat + 1 + n_data:
        n_fat += 1
    if n_fat > 109:
        raise ValueError("test workbook too large")
    fat = [_FATSECT] * n_fat + [_END]
    first_data = n_fat + 1
    fat += [first_data + i + 1 for i in range(n_data - 1)] + [_END]
    fat += [_FREE] * (n_fat * 128 - len(fat))

    def entry(label: str, kind: int, child: int, start: int, size: int) -> bytes:
        raw = (label + "\x00").encode("utf-16-le") if label else b""
        return (raw.ljust(64, b"\x00") + struct.pack("<HBB", len(raw), kind, 1)
                + struct.pack("<III", _FREE, _FREE, child) + b"\x00" * 16 + struct.pack("<I", 0)
                + b"\x00" * 16 + struct.pack("<III", start, size, 0))

    directory = (entry("Root Entry", 5, 1, _END, 0) + entry(name, 2, _FREE, first_data, len(stream))
                 + entry("", 0, _FREE, _FREE, 0) * 2)
    difat = list(range(n_fat)) + [_FREE] * (109 - n_fat)
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16
              + struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6) + b"\x00" * 6
              + struct.pack("<IIIIIIIII", 0, n_fat, n_fat, 0, 4096, _END, 0, _END, 0)
              + struct.pack("<109I", *difat))
    return header + struct.pack(f"<{len(fat)}I", *fat) + directory + stream


def xls_bytes(sheets: list[Sheet], date1904: bool = False) -> bytes:
    return compound_file(workbook_stream(sheets, date1904))
