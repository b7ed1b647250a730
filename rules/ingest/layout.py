"""Where the table is in a sheet: header row(s) below title rows, and notes/signatures below the data.

Works on the first rows of a grid of text cells (``list[list[str | None]]``), so the same logic
serves xlsx and csv. The header is the row (or pair of rows, for two-row headers with merged group
cells like "Phụ huynh" over "Họ tên" | "SĐT") whose labels map to the most distinct canonical fields.
Merged cells arrive as a value in the first cell and blanks after it, so the upper row of a pair is
filled rightwards before the labels are joined ("Phụ huynh Họ tên").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from rules.ingest.headers import FAMILY_MIDDLE, HeaderSpec, fold

Grid = Sequence[Sequence[str | None]]
TWO_ROW_JOIN = " - "  # label of a column under a group: "<group> - <column>" (rules.ingest.report splits it)
SCAN_ROWS = 40  # title blocks are a few rows; 40 leaves room for long letterheads


@dataclass(frozen=True)
class HeaderLayout:
    """The header found in a grid (0-based indexes into the grid)."""

    header_row: int  # first header row
    n_header_rows: int  # 1 or 2
    labels: tuple[str | None, ...]  # one display label per grid column (None: no header text)
    fields: tuple[str | None, ...]  # canonical field (or pseudo-field) per grid column
    score: int

    @property
    def data_start(self) -> int:
        return self.header_row + self.n_header_rows


def _clean(cell: str | None) -> str | None:
    if cell is None:
        return None
    text = " ".join(str(cell).split())
    return text or None


def _row(grid: Grid, i: int, width: int) -> list[str | None]:
    row = list(grid[i]) if 0 <= i < len(grid) else []
    return [_clean(c) for c in row[:width]] + [None] * max(0, width - len(row))


def _score(fields: Sequence[str | None]) -> int:
    mapped = {f for f in fields if f is not None}
    return len(mapped) + (2 if "full_name" in mapped else 0)


def _map_labels(spec: HeaderSpec, labels: Sequence[str | None]) -> list[str | None]:
    return [spec.lookup(lab) if lab else None for lab in labels]


def _two_row(spec: HeaderSpec, upper: list[str | None], lower: list[str | None]):
    """Labels and fields for a two-row header; the upper row is filled right across merged blanks."""
    filled: list[str | None] = []
    last = None
    for cell, below in zip(upper, lower, strict=True):
        if cell is not None:
            last = cell
        # a group label spans only columns that have a sub-label; a lone upper cell is a vertical merge
        filled.append(cell if cell is not None else (last if below is not None else None))
    labels: list[str | None] = []
    fields: list[str | None] = []
    for top, sub in zip(filled, lower, strict=True):
        if sub is None:
            labels.append(top)
            fields.append(spec.lookup(top) if top else None)
            continue
        if top is None:
            labels.append(sub)
            fields.append(spec.lookup(sub))
            continue
        joined = f"{top} {sub}"
        field = spec.lookup(joined)
        labels.append(f"{top}{TWO_ROW_JOIN}{sub}")
        fields.append(field if field is not None else spec.lookup(sub))
    return labels, fields


def _dedupe(fields: list[str | None], hidden: Collection[int] = ()) -> list[str | None]:
    """A canonical field maps from one column only: its first visible one (a column hidden in Excel
    beside a visible one of the same name is usually the stale copy: last year's "Ngày sinh"), else
    its first; the other columns become unknown columns (kept in ``extra``, never lost)."""
    chosen: dict[str, int] = {}
    for j, f in enumerate(fields):
        if f is not None and (f not in chosen or (chosen[f] in hidden and j not in hidden)):
            chosen[f] = j
    return [f if f is not None and chosen[f] == j else None for j, f in enumerate(fields)]


def find_header(spec: HeaderSpec, grid: Grid, width: int, hidden: Collection[int] = ()) -> HeaderLayout | None:
    """Best single or two-row header in the first rows of ``grid``, or None when nothing maps.

    A header needs at least two distinct known fields, or the full-name column alone. Ties go to the
    earlier, single-row candidate: title rows score nothing, so they never win. ``hidden``: grid
    columns hidden in Excel; when two columns name one field the visible one is taken.
    """
    best: HeaderLayout | None = None
    n = min(len(grid), SCAN_ROWS)
    rows = [_row(grid, i, width) for i in range(n + 1)]
    singles = [_dedupe(_map_labels(spec, r), hidden) if any(r) else [None] * width for r in rows]
    for i in range(n):
        if not any(rows[i]):
            continue
        candidates = [(1, list(rows[i]), singles[i])]
        if i + 1 < len(rows) and any(rows[i + 1]):
            labels2, fields2 = _two_row(spec, rows[i], rows[i + 1])
            fields2 = _dedupe(fields2, hidden)
            # a pair must say more than either of its rows alone (a title above the header does not)
            if _score(fields2) > max(_score(singles[i]), _score(singles[i + 1])):
                candidates.append((2, labels2, fields2))
        for n_rows, labels, flds in candidates:
            score = _score(flds)
            if best is None or score > best.score:
                best = HeaderLayout(i, n_rows, tuple(labels), tuple(flds), score)
    if best is not None and _is_numbering_row(rows[best.data_start] if best.data_start < len(rows) else []):
        best = HeaderLayout(best.header_row, best.n_header_rows + 1, best.labels, best.fields, best.score)
    if best is None:
        return None
    mapped = {f for f in best.fields if f}
    if "full_name" not in mapped and FAMILY_MIDDLE not in mapped and len(mapped) < 2:
        return None
    return best


_NUMBERING = re.compile(r"^[\(\[]?(\d{1,2}|[A-Z])[\)\]]?$")


def _is_numbering_row(cells: Sequence[str | None]) -> bool:
    """The column-number row that official forms put under the header: (1) (2) (3) … or A B C."""
    filled = [str(c).strip() for c in cells if c is not None and str(c).strip()]
    return len(filled) >= 3 and all(_NUMBERING.match(c) for c in filled)


_PLACE_DATE = re.compile(r"\bngay\b.*\bthang\b.*\bnam\b")
# notes that are not part of a signature block: a name-only row under one is a pupil, not a signer
NOTE_WORDS = ("ghi chu", "tong cong", "tong so", "danh sach nay co")
# a cell of digits and date/number separators holding 4+ digits: a date, a year, a date serial, an ID
_NUMBER_DATA = re.compile(r"^[\d\s/.\-:]*(?:\d[\s/.\-:]*){4,}$")
_NAME_LIKE = re.compile(r"^(?:[^\W\d_]+\s+){1,4}[^\W\d_]+$")


def _filled(cells: Sequence[str | None]) -> list[str]:
    return [str(c).strip() for c in cells if c is not None and str(c).strip()]


def _note_word(spec: HeaderSpec, text: str) -> str | None:
    """The footer phrase a cell starts with (a whole phrase: "ghi chu" starts "Ghi chú: …", never
    "Ghi Chương"), "ngay thang nam" for a place-and-date line, or None."""
    t = fold(text)
    for w in spec.footer_words:
        if t == w or t.startswith(w + " "):
            return w
    return "ngay thang nam" if _PLACE_DATE.search(t) else None


def _person_data(text: str) -> bool:
    """A cell that holds a person's data: a date, a birth year, a date serial or an ID (digits and
    separators only, 4+ digits), or a person's name (2-5 words starting with a Vietnamese family
    name: :func:`rules.ingest.inbox.mask_personal`)."""
    if _NUMBER_DATA.match(text):
        return True
    if not _NAME_LIKE.match(text):
        return False
    from rules.ingest.inbox import mask_personal
    from rules.provinces import slugify

    slug = slugify(text)
    return mask_personal(slug) != slug


def is_footer_row(spec: HeaderSpec, cells: Sequence[str | None]) -> bool:
    """A note, total or signature line ("Người lập biểu", "Tổng cộng: 35", "…, ngày … tháng … năm"),
    by the row's own content only.

    At most two filled cells, one of which *starts* with a footer phrase (or is a place-and-date
    line), and no other cell holding a person's data: a name beside a date ("Lê Văn Cường",
    "ngày 05 tháng 09 năm 2012"), a pupil whose family name folds to a footer word ("Tống Cộng",
    "02/03/2010") or an ID are data, and a data row that merely mentions "ghi chú" in a note column
    has more cells.
    """
    texts = _filled(cells)
    if not texts or len(texts) > 2:
        return False
    notes = [t for t in texts if _note_word(spec, t)]
    return bool(notes) and not any(_person_data(t) for t in texts if t not in notes)


def _signer_like(texts: list[str]) -> bool:
    """A row of signers' names under a signature line: one or two cells, no digits."""
    return 0 < len(texts) <= 2 and not any(ch.isdigit() for t in texts for ch in t)


def footer_rows(spec: HeaderSpec, sparse: Sequence[tuple[int, Sequence[str | None]]], n_rows: int) -> list[int]:
    """Indexes (into a body of ``n_rows`` rows) of its note, total and signature rows.

    ``sparse``: (index, cells) of the body's rows with at most two filled cells (blank ones too), in
    order; every other row is data. Each row is judged by its own content (:func:`is_footer_row`),
    never by the rows above it, so pupils typed under a "Ghi chú" line stay data. The one exception
    is the signers' names under a signature line ("Người lập biểu" … "Trần Văn Lập"): in the
    trailing block of the body, a row of one or two digit-free cells below a signature line (not a
    "Ghi chú"/"Tổng cộng" note) with only notes, blanks and such rows between is a footer row too.
    """
    notes = {i: _note_word(spec, next(t for t in _filled(c) if _note_word(spec, t)))
             for i, c in sparse if is_footer_row(spec, c)}
    # the trailing block: sparse rows running to the end of the body, blank, notes or digit-free
    block: list[tuple[int, list[str]]] = []
    expect = n_rows - 1
    for i, cells in reversed(sparse):
        texts = _filled(cells)
        if i != expect or not (not texts or i in notes or _signer_like(texts)):
            break
        block.append((i, texts))
        expect -= 1
    signers: list[int] = []
    under_signature = False
    for i, texts in reversed(block):
        if not texts:
            continue
        if i in notes:
            under_signature = notes[i] not in NOTE_WORDS
        elif under_signature:
            signers.append(i)
    return sorted([*notes, *signers])
