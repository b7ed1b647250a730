"""Read a filled review workbook back: the hidden facts, the reviewer, and one choice per block.

Read with fastexcel (calamine, already a runtime dependency), every cell as text. Robust to what
reviewers do to a sheet:

- sorted or filtered rows: lines are found by their block code, wherever they are;
- deleted rows: a block whose lines are gone has no decision (counted, not an error);
- typed text instead of the drop-down: read leniently (``rules.review.choices``); a tick ("x", "✓")
  on a candidate's line picks that candidate;
- contradicting choices within one block, or text that matches no choice: no decision, and a
  message naming the block and the Excel row.

Raises :class:`ReviewWorkbookError` (one line naming the file and what to do) when the file is not
a doisoat review workbook at all.

How the file is named in messages and errors (:func:`shown_name`): a clerk chooses the workbook's
file name and may name it after a pupil (``Đoàn Thị Mỹ Duyên.xlsx``). By default it is the masked
label of :func:`rules.ingest.inbox.public_label` (``x.xlsx``), the one masking owner of uploaded file
names: these lines reach Dagster metadata and logs (``assets.review``). Only a caller whose output goes
to the person who gave the file (``doisoat review import`` printing on the operator's own terminal)
passes the real name as ``label``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import fastexcel
import polars as pl

from rules.errors import UserError
from rules.ingest.inbox import public_label
from rules.review.choices import Choice, is_mark, parse_choice
from rules.review.workbook import BLOCK_COLUMNS, BLOCKS_SHEET, FORMAT, META_SHEET, REVIEWER_LABEL


class ReviewWorkbookError(UserError, ValueError):
    """The file is not a readable doisoat review workbook; the message says what to do and names the
    file by :func:`shown_name` (masked unless the caller gave the real name for its own user)."""


@dataclass
class ParsedWorkbook:
    """``meta``: workbook facts; ``blocks``: the hidden block table; ``choices``: one row per block with a
    decision (``block, decision`` = match/none/unsure, ``rank``, ``notes``, ``excel_row``);
    ``messages``: one line per problem; ``deleted``: blocks with no line left in the sheet."""

    meta: dict[str, str]
    reviewer: str
    blocks: pl.DataFrame
    choices: pl.DataFrame
    messages: list[str] = field(default_factory=list)
    deleted: int = 0
    undecided: int = 0


def shown_name(path: Path, label: str | None = None) -> str:
    """How review messages and errors name the workbook at ``path``: ``label`` when the caller gives one
    (its output goes to the person who gave the file: the real name is theirs to see), else the file's
    masked :func:`rules.ingest.inbox.public_label`, safe for Dagster metadata and logs."""
    return public_label(path.name) if label is None else label


def _sheet(reader: fastexcel.ExcelReader, name: str, label: str) -> list[list[str | None]]:
    try:
        sheet = reader.load_sheet(name, header_row=None, skip_rows=0, dtypes="string")
        frame = sheet.to_polars()
    except fastexcel.FastExcelError:  # calamine's message may quote the sheet's name, which the reviewer chose
        raise ReviewWorkbookError(f"{label}: a sheet of the workbook cannot be read; fill in the workbook written "
                                  "by `doisoat review export` and save it as .xlsx") from None
    return [list(r) for r in frame.iter_rows()]


def read_workbook(path: Path, *, label: str | None = None) -> ParsedWorkbook:
    """The facts, reviewer and choices of the filled workbook at ``path``; messages and errors name it by
    :func:`shown_name` (``label`` when given, else masked)."""
    label = shown_name(path, label)
    try:
        reader = fastexcel.read_excel(str(path))
    except Exception:  # calamine's errors name no row (and may quote the path); ours says what the file should be
        raise ReviewWorkbookError(f"{label}: not a readable .xlsx review workbook; import the workbook written "
                                  "by `doisoat review export` (saved as .xlsx)") from None
    names = reader.sheet_names
    if META_SHEET not in names or BLOCKS_SHEET not in names:
        raise ReviewWorkbookError(f"{label}: not a doisoat review workbook (its hidden sheets are missing); "
                                  "fill in the workbook written by `doisoat review export` and save it as .xlsx")
    meta = {str(r[0]): ("" if r[1] is None else str(r[1])) for r in _sheet(reader, META_SHEET, label) if r and r[0]}
    if meta.get("format") != FORMAT:
        # the hidden cell is not echoed: a reviewer may have typed anything into it
        raise ReviewWorkbookError(f"{label}: not a review workbook of format {FORMAT!r}; "
                                  "export a new workbook with `doisoat review export`")
    raw_blocks = _sheet(reader, BLOCKS_SHEET, label)
    header = [str(c) for c in raw_blocks[0]]
    if header[: len(BLOCK_COLUMNS)] != list(BLOCK_COLUMNS):
        raise ReviewWorkbookError(f"{label}: the hidden block table was changed; export a new workbook")
    blocks = pl.DataFrame([r[: len(BLOCK_COLUMNS)] for r in raw_blocks[1:]], schema=list(BLOCK_COLUMNS),
                          orient="row").with_columns(
        pl.col("row_number").cast(pl.Int64), pl.col("n_candidates").cast(pl.Int64),
        pl.col("excel_row").cast(pl.Int64), pl.col("sheet").fill_null(""))
    visible = [n for n in names if n not in (META_SHEET, BLOCKS_SHEET)]
    for name in visible:
        rows = _sheet(reader, name, label)
        found = _find_header(rows)
        if found is not None:
            return _parse_review(label, meta, blocks, rows, *found)
    raise ReviewWorkbookError(f"{label}: no sheet with the header 'Mã khối / Block' and 'Quyết định / Decision'; "
                              "do not delete or rename those columns")


def _find_header(rows: list[list[str | None]]) -> tuple[int, dict[str, int]] | None:
    wanted = {"block": "mã khối", "line": "dòng", "decision": "quyết định", "notes": "ghi chú"}
    for i, row in enumerate(rows[:50]):
        cols: dict[str, int] = {}
        for j, cell in enumerate(row):
            text = (cell or "").strip().lower()
            for key, start in wanted.items():
                if key not in cols and text.startswith(start):
                    cols[key] = j
        if {"block", "decision"} <= set(cols):
            return i, cols
    return None


def _reviewer(rows: list[list[str | None]], header: int) -> str:
    for row in rows[:header]:
        for j, cell in enumerate(row):
            if cell and cell.strip().lower().startswith(REVIEWER_LABEL.split("/")[0].strip().lower()):
                rest = [c.strip() for c in row[j + 1:] if c and c.strip()]
                return rest[0] if rest else ""
    return ""


def _parse_review(label: str, meta: dict[str, str], blocks: pl.DataFrame, rows: list[list[str | None]],
                  header: int, cols: dict[str, int]) -> ParsedWorkbook:
    ids = {b: c.split(",") if c else [] for b, c in zip(blocks["block"], blocks["candidate_ids"], strict=True)}
    seen: set[str] = set()
    picks: dict[str, list[tuple[Choice, int]]] = {}
    notes: dict[str, str] = {}
    messages: list[str] = []
    unreadable: set[str] = set()

    def cell(row: list[str | None], key: str) -> str | None:
        j = cols.get(key)
        return row[j] if j is not None and j < len(row) else None

    for i, row in enumerate(rows[header + 1:], start=header + 2):  # Excel row numbers
        code = (cell(row, "block") or "").strip().upper()
        if not code:
            continue
        if code not in ids:
            shown = repr(code) if re.fullmatch(r"B\d{1,6}", code) else "(not a block code)"  # never echo a cell
            messages.append(f"{label} row {i}: block code {shown} is not in this workbook; line ignored")
            continue
        seen.add(code)
        line = (cell(row, "line") or "").strip().lower()
        is_unit = not line.startswith(("ứng viên", "ung vien", "candidate"))
        value = cell(row, "decision")
        note = (cell(row, "notes") or "").strip()
        if note:
            notes[code] = f"{notes[code]} | {note}" if code in notes else note
        if value is None or not str(value).strip():
            continue
        if not is_unit:
            rank = _rank_of(line)
            if rank is not None and is_mark(value):
                picks.setdefault(code, []).append((Choice("match", rank), i))
                continue
        choice = parse_choice(value, ids[code])
        if isinstance(choice, Choice):
            picks.setdefault(code, []).append((choice, i))
        elif choice == "unreadable":
            unreadable.add(code)
            messages.append(f"{label} row {i}: block {code}: the decision is not one of the choices "
                            "(pick from the list: Ứng viên k / Candidate k, Không ai / None, Chưa chắc / Not sure); "
                            "left undecided")
    decided = []
    for code, got in picks.items():
        kinds = {(c.kind, c.rank) for c, _ in got}
        if len(kinds) > 1 or code in unreadable:
            messages.append(f"{label} rows {', '.join(str(r) for _, r in got)}: block {code} has contradicting "
                            "decisions; left undecided")
            continue
        choice, excel_row = got[0]
        decided.append({"block": code, "decision": choice.kind, "rank": choice.rank, "notes": notes.get(code),
                        "excel_row_review": excel_row})
    choices = pl.DataFrame(decided, schema={"block": pl.Utf8, "decision": pl.Utf8, "rank": pl.Int64,
                                            "notes": pl.Utf8, "excel_row_review": pl.Int64})
    deleted = len(set(ids) - seen)
    return ParsedWorkbook(meta=meta, reviewer=_reviewer(rows, header), blocks=blocks, choices=choices,
                          messages=messages, deleted=deleted, undecided=len(seen) - choices.height)


def _rank_of(line: str) -> int | None:
    digits = "".join(ch for ch in line.split("/")[0] if ch.isdigit())
    return int(digits) if digits else None
