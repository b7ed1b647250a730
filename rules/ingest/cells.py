"""Cell text as the person saw it: the one pass every cell and header of an upload goes through.

Run by the readers on a sheet's grid *before* header detection and field rules, so that a header
``Họ và tên`` with an NBSP, an ID with a zero-width space, a workbook typed in the .VnTime font
(``Hä vµ tªn``, ``N÷``) all reach the rest of ingest as plain Unicode text:

1. UTF-8 text that was once decoded as CP1252/Latin-1 before it reached us (``LÃª HoÃ ng CÆ°á»ng``
   for ``Lê Hoàng Cường``: a CSV opened and re-saved by a program that guessed the encoding wrong,
   an xlsx filled from such a file) undone, cell by cell (:func:`rules.normalise.repair.undo_mojibake`).
   First, because its NBSP, soft hyphen and C1 controls are bytes of letters, which step 3 would
   remove as invisible, and its ``Ã``/``»`` next to letters would otherwise read as a legacy font;
2. legacy Vietnamese font text (TCVN3/ABC, VNI, VISCII) detected once per *column* (header, title
   and data cells together: a column typed in one font is all in that font, and a later column
   typed in Unicode stays as it is) and every text cell of such a column converted
   (:mod:`rules.normalise.legacy`);
3. invisible characters removed, odd spaces -> space, look-alike letters and digits folded
   (:mod:`rules.normalise.characters`, table ``characters.yaml``).

Everything is vectorised; Python runs only on the sample used for detection and on the distinct
values that look like mojibake.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import polars as pl

from rules.normalise.characters import CLEAN_PATTERN, CharCounts, clean_series, clean_text
from rules.normalise.legacy import ENCODINGS, _translation, detect_legacy, to_unicode
from rules.normalise.repair import MOJIBAKE_CANDIDATE, NOT_CP1252, undo_mojibake

# A character that a legacy byte (0x80-0xFF read as CP1252/Latin-1) becomes: candidates only.
# Exactly the characters of CP1252/Latin-1 bytes 0x80-0xFF; a candidate cell has one next to a letter
# (legacy glyphs are letters inside words; a soft hyphen or NBSP between digits is not one).
_CP1252_HIGH = ("\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014"
                "\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122")
_HIGH = f"\\p{{L}}[{_CP1252_HIGH}]|[{_CP1252_HIGH}]\\p{{L}}"
# Letters only Unicode Vietnamese has: a cell holding one is already decoded and never converted.
_UNICODE_VIET = "[ăĂđĐơƠưƯĩĨũŨ\u1ea0-\u1ef9]"
_SAMPLE_VALUES = 2000


@dataclass
class CellReport:
    """What the cell pass changed in one sheet (counts only: safe for logs and metadata)."""

    chars: CharCounts = field(default_factory=CharCounts)
    legacy_cells: int = 0
    legacy_encodings: set[str] = field(default_factory=set)
    mojibake_cells: int = 0

    def add(self, other: CellReport) -> None:
        self.chars.add(other.chars)
        self.mojibake_cells += other.mojibake_cells
        self.legacy_cells += other.legacy_cells
        self.legacy_encodings |= other.legacy_encodings

    def as_dict(self) -> dict[str, object]:
        return {**self.chars.as_dict(), "legacy_font_cells_repaired": self.legacy_cells,
                "legacy_font": ",".join(sorted(self.legacy_encodings)),
                "mojibake_cells_repaired": self.mojibake_cells}


def clean_frame(frame: pl.DataFrame, columns: list[str] | None = None,
                sheet_encoding: str | None = None) -> tuple[pl.DataFrame, CellReport]:
    """``frame`` with every Utf8 cell of ``columns`` (default: all) cleaned; what changed.

    ``sheet_encoding``: the legacy font already decided for this sheet from rows read earlier (a CSV's
    title and header rows); a body of one short name cannot tell VNI from TCVN3 by itself.

    Legacy-font text is converted first: its bytes 0xA0 and 0xAD (``ơ``/``ư`` in some tables) read as
    NBSP and soft hyphen, which the character pass would otherwise remove.
    """
    report = CellReport()
    names = [n for n in (columns if columns is not None else frame.columns) if frame.schema[n] == pl.String]
    frame, report.mojibake_cells = _undo_mojibake_frame(frame, names)
    encodings = legacy_columns(frame, names, sheet_encoding)
    # one scan of every column, the columns in parallel: nearly always nothing to clean
    if names:
        hits = frame.select(pl.col(n).str.contains(CLEAN_PATTERN).any().alias(n) for n in names).row(0)
        names = [n for n, hit in zip(names, hits, strict=True) if hit or n in encodings]
    new: list[pl.Series] = []
    for name in names:
        col = frame.get_column(name)
        n = 0
        if name in encodings:
            col, n = _convert(col, encodings[name])
            report.legacy_cells += n
            report.legacy_encodings.add(encodings[name])
        cleaned, counts = clean_series(col)
        report.chars.add(counts)
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
    # legacy fonts decided on the cells as they will be after mojibake is undone (as clean_frame does)
    undone = _undo_mojibake_frame(frame, frame.columns)[0]
    encodings = legacy_columns(undone, frame.columns)
    out: list[list[str | None]] = []
    reports = []
    for i, row in enumerate(padded):
        rep = CellReport()
        cells: list[str | None] = []
        for j, cell in enumerate(row):
            if cell is None:
                cells.append(None)
                continue
            fixed = undone.get_column(f"c{j}")[i]
            if fixed != cell:
                cell = fixed
                rep.mojibake_cells += 1
            enc = encodings.get(f"c{j}")
            if enc and _is_candidate(cell):
                cell = unicodedata.normalize("NFC", to_unicode(cell, enc))
                rep.legacy_cells += 1
                rep.legacy_encodings.add(enc)
            text, counts = clean_text(cell)
            rep.chars.add(counts)
            cells.append(text)
        out.append(cells)
        reports.append(rep)
    return out, reports


def _undo_mojibake_frame(frame: pl.DataFrame, names: list[str]) -> tuple[pl.DataFrame, int]:
    """``frame`` with every mojibake cell of ``names`` undone, and how many cells were. One scan per
    column (in parallel) finds candidates; Python sees each distinct candidate value once."""
    if not names:
        return frame, 0
    hits = frame.select(pl.col(n).str.contains(MOJIBAKE_CANDIDATE).any().alias(n) for n in names).row(0)
    new: list[pl.Series] = []
    count = 0
    for name in (n for n, hit in zip(names, hits, strict=True) if hit):
        col = frame.get_column(name)
        mask = (col.str.contains(MOJIBAKE_CANDIDATE) & ~col.str.contains(NOT_CP1252)).fill_null(False)
        idx = mask.arg_true()
        if idx.len() == 0:
            continue
        values = col.gather(idx)
        unique = values.unique().to_list()
        fixed = {v: f for v in unique if (f := undo_mojibake(v)) is not None}
        if not fixed:
            continue
        fixed |= {v: f for v in unique if v not in fixed and (f := undo_mojibake(v, among_mojibake=True))}
        changed = values.is_in(list(fixed))
        count += int(changed.sum())
        new.append(col.scatter(idx, values.replace(list(fixed), list(fixed.values()))).alias(name))
    return (frame.with_columns(new) if new else frame), count


_HIGH_PY = re.compile(f"[^\\W\\d_][{_CP1252_HIGH}]|[{_CP1252_HIGH}][^\\W\\d_]")
_UNICODE_VIET_PY = re.compile(_UNICODE_VIET)


def _is_candidate(cell: str) -> bool:
    return bool(_HIGH_PY.search(cell)) and not _UNICODE_VIET_PY.search(cell)


def _sample(col: pl.Series) -> tuple[list[str], bool]:
    """Legacy-looking values of a sample spread over the column, and whether Unicode Vietnamese
    cells outweigh them (then the column is Unicode, a few odd cells notwithstanding)."""
    values = col.drop_nulls()
    if values.is_empty():
        return [], False
    sample = values.gather_every(max(1, values.len() // _SAMPLE_VALUES))
    high = sample.str.contains(_HIGH)
    if not high.any():
        return [], False
    unicode_viet = sample.str.contains(_UNICODE_VIET)
    candidates = high & ~unicode_viet
    if int(unicode_viet.sum()) * 4 > int(candidates.sum()):
        return [], True
    return sample.filter(candidates).unique(maintain_order=True).to_list(), False


def legacy_columns(frame: pl.DataFrame, names: list[str], sheet_encoding: str | None = None) -> dict[str, str]:
    """Column -> legacy encoding, decided once per sheet: on the legacy-looking cells of every
    column together (a header ``Líp`` alone reads as a word, the sheet says it is ``Lớp``), else
    column by column (a sheet where one column was typed in another font). ``sheet_encoding``, when
    the sheet was decided on earlier rows, is taken unless these cells clearly read in another one."""
    samples = {}
    for name in names:
        values, _unicode = _sample(frame.get_column(name))
        if values:
            samples[name] = values
    if not samples:
        return {}
    sheet = detect_legacy("\n".join(v for vals in samples.values() for v in vals))
    if sheet_encoding in ENCODINGS and (sheet is None or _reads_in(samples, sheet_encoding)):
        sheet = sheet_encoding
    if sheet in ENCODINGS:
        return dict.fromkeys(samples, sheet)
    out = {}
    for name, values in samples.items():
        enc = detect_legacy("\n".join(values))
        if enc in ENCODINGS:
            out[name] = enc
    return out


def _reads_in(samples: dict[str, list[str]], encoding: str, min_score: float = 0.6) -> bool:
    """The legacy-looking cells read as Vietnamese syllables in ``encoding`` (``detect_legacy``'s bar)."""
    from rules.normalise.legacy import _score

    words = [w for vals in samples.values() for v in vals for w in to_unicode(v, encoding).split()]
    return _score(words) >= min_score


def _convert(col: pl.Series, encoding: str) -> tuple[pl.Series, int]:
    """Every legacy-looking cell of ``col`` converted from ``encoding`` (vectorised)."""
    table = _translation(encoding)
    mask = (col.str.contains(_HIGH) & ~col.str.contains(_UNICODE_VIET)).fill_null(False)
    idx = mask.arg_true()
    if idx.len() == 0:
        return col, 0
    converted = col.gather(idx).str.replace_many([chr(k) for k in table], list(table.values())).str.normalize("NFC")
    return col.scatter(idx, converted), int(idx.len())
