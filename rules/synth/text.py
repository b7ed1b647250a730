"""Vietnamese text transforms used to make (and label) data-entry noise.

Everything here is vectorised: polars ``str.replace_many`` (Aho-Corasick) over small generated
pattern tables, so 1M names take well under a second. Tone-style switching follows domain README
§3.4.5: only ``oa``/``oe``/``uy`` with a glide and *no final consonant* differ between the old style
(``hòa``, ``khỏe``, ``thủy``) and the new one (``hoà``, ``khoẻ``, ``thuỷ``); ``qu`` is a consonant so
``quý`` never changes.
"""

from __future__ import annotations

import unicodedata
from functools import cache

import polars as pl

_TONES = ("\u0300", "\u0301", "\u0309", "\u0303", "\u0323")  # huyền, sắc, hỏi, ngã, nặng
_PAIRS = (("o", "a"), ("o", "e"), ("u", "y"))


def _compose(base: str, tone: str) -> str:
    return unicodedata.normalize("NFC", base + tone)


@cache
def _tone_tables() -> tuple[list[str], list[str], list[str], list[str]]:
    """Word-final vowel pairs (with a trailing space as the word boundary) in both styles.

    ``qu`` + ``y``-with-tone entries map to themselves and start one character earlier, so the
    leftmost match protects ``quý``/``quỳ`` from being rewritten (``qúy`` is never produced).
    """
    old: list[str] = []
    new: list[str] = []
    for a, b in _PAIRS:
        for tone in _TONES:
            for first_upper in (False, True):
                for all_upper in (False, True):
                    x, y = (a.upper(), b.upper()) if all_upper else (a.upper() if first_upper else a, b)
                    old.append(_compose(x, tone) + y + " ")
                    new.append(x + _compose(y, tone) + " ")
    keep_old: list[str] = []
    keep_new: list[str] = []
    for q in ("q", "Q"):
        for tone in _TONES:
            for y in ("y", "Y"):
                u = "U" if y == "Y" else "u"
                keep_new.append(q + u + _compose(y, tone) + " ")
                keep_old.append(q + _compose(u, tone) + y + " ")
    return old, new, keep_old, keep_new


def to_new_style(s: pl.Expr) -> pl.Expr:
    """Old tone placement (``hòa``) -> new (``hoà``); NFC input, other text unchanged."""
    old, new, _, _ = _tone_tables()
    return (s + " ").str.replace_many(old, new).str.slice(0, s.str.len_chars())


def to_old_style(s: pl.Expr) -> pl.Expr:
    """New tone placement (``hoà``) -> old (``hòa``); NFC input, other text unchanged."""
    old, new, _, keep = _tone_tables()
    return (s + " ").str.replace_many(keep + new, keep + old).str.slice(0, s.str.len_chars())


def toggle_style(s: pl.Expr) -> pl.Expr:
    """Flip each affected syllable to the other style (what a second typist would write)."""
    old, new, _, keep = _tone_tables()
    return (s + " ").str.replace_many(keep + old + new, keep + new + old).str.slice(0, s.str.len_chars())


@cache
def _strip_table() -> tuple[list[str], list[str]]:
    """Every precomposed Vietnamese letter (both cases) -> its ASCII base; đ -> d."""
    src: list[str] = []
    dst: list[str] = []
    for cp in range(0x00C0, 0x1EFA):
        ch = chr(cp)
        if not ch.isalpha():
            continue
        base = unicodedata.normalize("NFD", ch)[0]
        if base.isascii() and base != ch and base.lower() in "aeiouy":
            src.append(ch)
            dst.append(base)
    src += ["đ", "Đ"]
    dst += ["d", "D"]
    return src, dst


def strip_diacritics(s: pl.Expr) -> pl.Expr:
    """ASCII fold of NFC Vietnamese text (``Nguyễn Thị Thủy`` -> ``Nguyen Thi Thuy``)."""
    src, dst = _strip_table()
    return s.str.replace_many(src, dst)
