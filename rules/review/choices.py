"""The reviewer's choice per block: the drop-down's labels and a lenient reading of what was typed.

Excel's drop-down only warns when a value is typed instead of chosen (and pasting bypasses it), so
the reader accepts what a person plausibly means: ``2``, ``ứng viên 2``, ``UV2``, ``candidate 2``,
``#2``, the candidate's 12-digit ID, ``không``/``none``, ``?``/``chưa chắc``/``not sure``, with or
without diacritics, any case or spacing. Anything else is *not* guessed: the block gets no decision
and the import names the cell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from unidecode import unidecode

NONE_LABEL = "Không ai trong số này / None of them"
UNSURE_LABEL = "Chưa chắc / Not sure"


def candidate_label(rank: int) -> str:
    return f"Ứng viên {rank} / Candidate {rank}"


def choice_labels(n_candidates: int) -> list[str]:
    """The drop-down list of a block with ``n_candidates`` candidates (well under Excel's 255 chars)."""
    return [*(candidate_label(k) for k in range(1, n_candidates + 1)), NONE_LABEL, UNSURE_LABEL]


@dataclass(frozen=True)
class Choice:
    """``kind`` is ``match`` (with ``rank``), ``none`` or ``unsure``."""

    kind: str
    rank: int | None = None


_NONE = {"none", "none of them", "khong", "khong ai", "khong ai trong so nay", "khong phai", "khong co", "no",
         "no match", "khong khop", "khong ai ca", "0", "reject", "sai", "khong phai ai"}
_UNSURE = {"?", "??", "chua chac", "khong chac", "not sure", "unsure", "khong biet", "dont know", "don t know",
           "skip", "bo qua", "chua ro", "can xem lai"}
_MARKS = {"x", "v", "ok", "yes", "y", "co", "dung", "chon", "dung nguoi", "this", "this one", "la nguoi nay",
          "✓", "✔", "☑"}


def _fold(text: str) -> str:
    folded = unidecode(text.replace("đ", "d").replace("Đ", "D")).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^a-z0-9?#]+", " ", folded)).strip()


def parse_choice(value: object, candidate_ids: list[str]) -> Choice | str | None:
    """A :class:`Choice`, ``None`` for an empty cell, or the string ``"unreadable"``."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if text in _MARKS:
        return "unreadable"  # a bare mark on the unit's row says nothing about which candidate
    if text in (NONE_LABEL,):
        return Choice("none")
    if text in (UNSURE_LABEL,):
        return Choice("unsure")
    digits = re.sub(r"\D", "", re.sub(r"\.0+$", "", text))
    for form in (digits, digits.zfill(12), digits.zfill(9)):  # an ID typed as a number loses its leading 0
        if len(digits) >= 8 and form in candidate_ids:
            return Choice("match", candidate_ids.index(form) + 1)
    folded = _fold(text)
    if folded in _UNSURE or folded.replace(" ", "") in {"?", "??"}:
        return Choice("unsure")
    if folded in _NONE or folded.startswith(("khong ai", "none of")):
        return Choice("none")
    m = re.fullmatch(r"(?:(?:ung vien|uv|candidate|cand|c|#|so|number|no)\s*)?#?\s*(\d{1,2})"
                     r"(?:\s*(?:candidate|ung vien)\s*\d{1,2})?", folded)
    if m:
        rank = int(m.group(1))
        if 1 <= rank <= len(candidate_ids):
            return Choice("match", rank)
    return "unreadable"


def is_mark(value: object) -> bool:
    """A tick typed on a candidate's own line ("x", "✓", "chọn", "đúng") picks that candidate."""
    if value is None:
        return False
    text = str(value).strip()
    return bool(text) and (text in _MARKS or _fold(text) in _MARKS)
