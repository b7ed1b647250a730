"""Cell text as the person saw it: the one pass every cell and header of an upload goes through.

Run by the readers on a sheet's grid *before* header detection and field rules, so that a header
``Họ và tên`` with an NBSP, an ID with a zero-width space, a workbook typed in the .VnTime font
(``Hä vµ tªn``, ``N÷``) all reach the rest of ingest as plain Unicode text:

1. invisible characters removed, odd spaces -> space, look-alike letters and digits folded
   (:mod:`rules.normalise.characters`, table ``characters.yaml``);
2. legacy Vietnamese font text (TCVN3/ABC, VNI, VISCII) detected once per *column* (header, title
   and data cells together: a column typed in one font is all in that font, and a later column
   typed in Unicode stays as it is) and every text cell of such a column converted
   (:mod:`rules.normalise.legacy`).

Everything is vectorised; Python runs only on the sample used for detection.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from rules.normalise.characters import CharCounts, clean_series, clean_text
from rules.normalise.legacy import ENCODINGS, _translation, detect_legacy

# A character that a legacy byte (0x80-0xFF read as CP1252/Latin-1) becomes: candidates only.
_HIGH = "[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u2122]"
# Letters only Unicode Vietnamese has: a cell holding one is already decoded and never converted.
_UNICODE_VIET = "[ăĂđĐơƠưƯĩĨũŨ\u1ea0-\u1ef9]"
_SAMPLE_VALUES = 2000


@dataclass
class CellReport:
    """What the cell pass changed in one sheet (counts only: safe for logs and metadata)."""

    chars: CharCounts = field(default_factory=CharCounts)
    legacy_cells: int = 0
    legacy_encodings: set[str] = field(default_factory=set)

    def add(self, other: CellReport) -> None:
        self.chars.add(other.chars)
        self.legacy_cells += other.legacy_cells
        self.legacy_encodings |= other.legacy_encodings

    def as_dict(self) -> dict[str, object]:
        return {**self.chars.as_dict(), "legacy_font_cells_repaired": self.legacy_cells,
                "legacy_font": ",".join(sorted(self.legacy_encodings))}


def clean_frame(frame: pl.DataFrame, columns: list[str] | None = None) -> tuple[pl.DataFrame, CellReport]:
    """``frame`` with every Utf8 cell of ``columns`` (default: all) cleaned; what changed."""
    report = CellReport()
    new: list[pl.Series] = []
    for name in columns if columns is not None else frame.columns:
        col = frame.get_column(name)
        if col.dtype != pl.String:
            continue
        cleaned, counts = clean_series(col)
        report.chars.add(counts)
        cleaned, n, enc = _repair_legacy(cleaned)
        if n:
            report.legacy_cells += n
            report.legacy_encodings.add(enc)
        if counts or n:
            new.append(cleaned.alias(name))
    return (frame.with_columns(new) if new else frame), report


def clean_rows(rows: list[list[str | None]], width: int) -> tuple[list[list[str | None]], list[CellReport]]:
    """The same pass on a small grid of Python rows (a CSV head), padded to ``width``; one report
    per row, so that rows the body reads again are not counted twice."""
    if not rows or width == 0:
        return rows, [CellReport() for _ in rows]
    padded = [list(r) + [None] * (width - len(r)) for r in rows]
    frame = pl.DataFrame([pl.Series(f"c{j}", [r[j] for r in padded], dtype=pl.String) for j in range(width)])
    cleaned, whole = clean_frame(frame)
    out = [list(r) for r in cleaned.rows()]
    reports = []
    for before, after in zip(padded, out, strict=True):
        rep = CellReport()
        for cell, new in zip(before, after, strict=True):
            if cell is None:
                continue
            text, counts = clean_text(cell)
            rep.chars.add(counts)
            rep.legacy_cells += new != text
        if rep.legacy_cells:
            rep.legacy_encodings |= whole.legacy_encodings
        reports.append(rep)
    return out, reports


def _repair_legacy(col: pl.Series) -> tuple[pl.Series, int, str]:
    """(column, cells converted, encoding) for one column typed in a legacy Vietnamese font.

    Decided on a sample spread over the column (a column typed in one font is in it throughout),
    so a big Unicode column costs one scan of a few thousand cells.
    """
    values = col.drop_nulls()
    if values.is_empty():
        return col, 0, ""
    sample = values.gather_every(max(1, values.len() // _SAMPLE_VALUES))
    high = sample.str.contains(_HIGH)
    if not high.any():
        return col, 0, ""
    unicode_viet = sample.str.contains(_UNICODE_VIET)
    candidates = high & ~unicode_viet
    # Unicode Vietnamese cells beside legacy-looking ones: a legacy column only when they are few
    # (a note typed later); then those cells are left as they are.
    if not candidates.any() or int(unicode_viet.sum()) * 4 > int(candidates.sum()):
        return col, 0, ""
    encoding = detect_legacy("\n".join(sample.filter(candidates).unique(maintain_order=True).to_list()))
    if encoding is None or encoding not in ENCODINGS:
        return col, 0, ""
    table = _translation(encoding)
    mask = (col.str.contains(_HIGH) & ~col.str.contains(_UNICODE_VIET)).fill_null(False)
    idx = mask.arg_true()
    converted = col.gather(idx).str.replace_many([chr(k) for k in table], list(table.values())).str.normalize("NFC")
    return col.scatter(idx, converted), int(idx.len()), encoding
