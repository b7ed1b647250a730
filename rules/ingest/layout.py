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


def is_footer_row(spec: HeaderSpec, cells: Sequence[str | None]) -> bool:
    """A note, total or signature line ("Người lập biểu", "Tổng cộng: 35", "…, ngày … tháng … năm").

    At most two filled cells, one of which *starts* with a footer word (or is a place-and-date
    line): a data row that merely mentions "ghi chú" in a note column is not a footer.
    """
    texts = [fold(c) for c in cells if c is not None and str(c).strip()]
    if not texts or len(texts) > 2:
        return False
    return any(
        _PLACE_DATE.search(t) or any(t == w or t.startswith(w + " ") for w in spec.footer_words) for t in texts
    )


def footer_start(spec: HeaderSpec, tail: Sequence[Sequence[str | None]]) -> int | None:
    """Index (into ``tail``) where the trailing note/signature block begins, or None.

    Scans upwards over the sparse rows at the end (at most two filled cells, or blank); the block
    starts at the topmost of them that looks like a note. Sparse rows above that stay data, so a
    real person with only a name filled in is never dropped.
    """
    top_note = None
    for k in range(len(tail) - 1, -1, -1):
        filled = [c for c in tail[k] if c is not None and str(c).strip()]
        if len(filled) > 2:
            break
        if is_footer_row(spec, tail[k]):
            top_note = k
    return top_note
