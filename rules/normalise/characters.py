"""Invisible, odd-space and look-alike characters: the one table (``characters.yaml``) and how it is applied.

Why: a cell that shows ``079211662539`` or ``Việt`` to the person who typed it must read the same to
us. Copy-paste from web pages, PDF and chat apps leaves characters nobody can see (zero-width space,
word joiner, BOM, soft hyphen: Unicode's Default_Ignorable_Code_Point) and odd spaces (NBSP); fonts
and keyboards without Đ give the eth Ð or the African Ɖ; phones and IMEs give full-width or other
scripts' digits; a Cyrillic ``а`` slips into a Latin name. Each of these would turn an ID into
``id_not_digits``, split a syllable, or change a name key.

Applied by the reader once to every cell and header (:func:`clean_series`, :func:`clean_text`), and
by the name normaliser and the folds of headers, syllables and matching features
(:func:`fold_lookalikes`, :data:`D_LIKE`) for text that did not come through the reader.
Everything is data in ``characters.yaml`` except two Unicode rules: digits of category Nd fold by
their digit value, full-width ASCII forms (U+FF01-U+FF5E) by NFKC.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

import polars as pl
from pydantic import Field

from rules.config import StrictModel, load_config

_TABLE_PATH = Path(__file__).with_name("characters.yaml")
# combining marks of Vietnamese letters (five tones; circumflex, breve, horn): a look-alike base
# letter carrying only these is a look-alike of a Vietnamese letter
_VIET_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323\u0302\u0306\u031b")


@dataclass
class CharCounts:
    """How many characters were removed, replaced or folded (counts only, never the text)."""

    invisible_removed: int = 0
    spaces_replaced: int = 0
    lookalikes_folded: int = 0

    def add(self, other: CharCounts) -> None:
        self.invisible_removed += other.invisible_removed
        self.spaces_replaced += other.spaces_replaced
        self.lookalikes_folded += other.lookalikes_folded

    def as_dict(self) -> dict[str, int]:
        return {
            "invisible_removed": self.invisible_removed,
            "spaces_replaced": self.spaces_replaced,
            "lookalikes_folded": self.lookalikes_folded,
        }

    def __bool__(self) -> bool:
        return bool(self.invisible_removed or self.spaces_replaced or self.lookalikes_folded)


@dataclass(frozen=True)
class Table:
    """``characters.yaml`` compiled: code-point sets, Python translate maps and Rust regex classes."""

    ignorable: frozenset[int]  # Default_Ignorable_Code_Point (the property, as listed in the YAML)
    ignorable_ranges: tuple[tuple[int, int], ...]  # every code point removed: ignorable + controls
    spaces: frozenset[int]  # Unicode space separators (Zs, Zl, Zp) other than U+0020
    always: dict[str, str]  # Đ look-alikes
    mixed: dict[str, str]  # Cyrillic/Greek -> Latin, in Latin words only
    simple_fold: dict[str, str]  # always + other-script digits + full-width ASCII forms
    controls: frozenset[int] = frozenset()  # control characters removed too (not default-ignorable)
    blanks: frozenset[int] = frozenset()  # characters drawn as a blank that are not Unicode spaces


OneChar = Annotated[str, Field(min_length=1, max_length=1)]


class Ignorable(StrictModel):
    """Code-point ranges [first, last] that are removed, and code points of them kept."""

    ranges: tuple[tuple[int, int], ...]
    keep: tuple[int, ...] = ()


class Lookalikes(StrictModel):
    """Look-alike letters: folded everywhere (``always``) or only inside Latin words."""

    always: dict[OneChar, str]
    mixed_script: dict[OneChar, str]


class CharacterTable(StrictModel):
    """``characters.yaml``."""

    ignorable: Ignorable
    controls: tuple[tuple[int, int], ...] = ()
    spaces: tuple[int, ...]
    blanks: tuple[int, ...] = ()
    lookalikes: Lookalikes


def _class(ranges: list[tuple[int, int]]) -> str:
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)


@cache
def table() -> Table:
    """The compiled table (cached; a YAML edit needs a new process)."""
    spec = load_config(_TABLE_PATH, CharacterTable)
    keep = set(spec.ignorable.keep)
    ignorable = frozenset(c for a, b in spec.ignorable.ranges for c in range(a, b + 1) if c not in keep)
    spaces = frozenset(spec.spaces)
    controls = frozenset(c for a, b in spec.controls for c in range(a, b + 1))
    blanks = frozenset(spec.blanks)
    always = dict(spec.lookalikes.always)
    mixed = dict(spec.lookalikes.mixed_script)
    # precomposed forms of the look-alikes (Greek Ὰ = Α + grave, Cyrillic ѐ = е + grave), which NFC
    # makes of a look-alike typed with a Vietnamese tone mark, fold to the Latin letter + that mark
    for c in (*range(0x0370, 0x0530), *range(0x1F00, 0x2000)):
        nfd = unicodedata.normalize("NFD", chr(c))
        if len(nfd) > 1 and nfd[0] in mixed and chr(c) not in mixed and set(nfd[1:]) <= _VIET_MARKS:
            mixed[chr(c)] = unicodedata.normalize("NFC", mixed[nfd[0]] + nfd[1:])
    # closed under case mapping (α -> Α, micro sign µ -> Μ are in the table through their other
    # case), so that folding commutes with the title case of names: normalising twice = once
    for c in (0x00B5, *range(0x0370, 0x0530), *range(0x1F00, 0x2000)):
        ch = chr(c)
        if ch in mixed:
            continue
        for other in (ch.upper(), ch.lower()):
            if len(other) == 1 and other in mixed:
                mixed[ch] = mixed[other].lower() if ch.islower() else mixed[other].upper()
                break
    simple = dict(always)
    simple.update({chr(c): str(unicodedata.digit(chr(c))) for c in range(0x80, 0x110000)
                   if unicodedata.category(chr(c)) == "Nd"})
    simple.update({chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFF01, 0xFF5F)})
    return Table(ignorable, tuple(_collapse(sorted(ignorable | controls))), spaces, always, mixed, simple,
                 controls, blanks)


def _collapse(points: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for c in points:
        if out and out[-1][1] == c - 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


@cache
def _regexes() -> dict[str, str]:
    t = table()
    ign = f"[{_class(list(t.ignorable_ranges))}]"
    spc = f"[{_class(_collapse(sorted(t.spaces | t.blanks)))}]"
    simple = f"[{_class(_collapse(sorted(ord(k) for k in t.simple_fold)))}]"
    mixed = f"[{_class(_collapse(sorted(ord(k) for k in t.mixed)))}]"
    return {"ignorable": ign, "spaces": spc, "simple": simple, "mixed": mixed,
            "any": f"{ign}|{spc}|{simple}|{mixed}"}


@cache
def _translate_maps() -> tuple[dict[int, None], dict[int, str], dict[int, str]]:
    t = table()
    return (dict.fromkeys(t.ignorable | t.controls), dict.fromkeys(t.spaces | t.blanks, " "),
            {ord(k): v for k, v in t.simple_fold.items()})


def _is_latin_letter(ch: str) -> bool:
    return ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN")


def _fold_mixed(text: str) -> tuple[str, int]:
    """Cyrillic/Greek look-alikes -> Latin inside Latin words (see ``characters.yaml``)."""
    mixed = table().mixed
    if not any(ch in mixed for ch in text) or not any(_is_latin_letter(ch) for ch in text):
        return text, 0
    out: list[str] = []
    folded = 0
    word: list[str] = []

    def flush() -> None:
        nonlocal folded
        if word:
            letters = [c for c in word if not unicodedata.category(c).startswith("M")]
            if any(c in mixed for c in letters) and all(c in mixed or _is_latin_letter(c) for c in letters):
                folded += sum(c in mixed for c in letters)
                out.append(unicodedata.normalize("NFC", "".join(mixed.get(c, c) for c in word)))
            else:
                out.append("".join(word))
            word.clear()

    for ch in text:
        if unicodedata.category(ch)[0] in "LM":
            word.append(ch)
        else:
            flush()
            out.append(ch)
    flush()
    return "".join(out), folded


def __getattr__(name: str) -> str:
    if name == "CLEAN_PATTERN":  # regex of every character the cleaning changes (built from the table)
        return _regexes()["any"]
    raise AttributeError(name)


def clean_text(text: str) -> tuple[str, CharCounts]:
    """One value: invisible characters removed, odd spaces -> space, look-alikes folded."""
    ign, spc, simple = _translate_maps()
    no_ign = text.translate(ign)
    counts = CharCounts(invisible_removed=len(text) - len(no_ign))
    spaced = no_ign.translate(spc)
    counts.spaces_replaced = sum(a != b for a, b in zip(no_ign, spaced, strict=True))
    folded = spaced.translate(simple)
    counts.lookalikes_folded = sum(a != b for a, b in zip(spaced, folded, strict=True)) if len(folded) == len(
        spaced) else sum(ord(c) in simple for c in spaced)
    folded, n_mixed = _fold_mixed(folded)
    counts.lookalikes_folded += n_mixed
    return folded, counts


def clean_series(values: pl.Series) -> tuple[pl.Series, CharCounts]:
    """A Utf8 column cleaned like :func:`clean_text`, vectorised; cells without such characters
    (nearly all) cost one regex scan. Returns the new column and the counts."""
    rx = _regexes()
    hit = values.str.contains(rx["any"]).fill_null(False)
    if not hit.any():
        return values, CharCounts()
    idx = hit.arg_true()
    sub = values.gather(idx)
    no_ign = sub.str.replace_all(rx["ignorable"], "")
    counts = CharCounts(invisible_removed=int((sub.str.len_chars() - no_ign.str.len_chars()).sum()))
    counts.spaces_replaced = int(no_ign.str.count_matches(rx["spaces"]).sum())
    spaced = no_ign.str.replace_all(rx["spaces"], " ")
    out = spaced
    n_simple = int(spaced.str.count_matches(rx["simple"]).sum())
    if n_simple:
        simple = table().simple_fold
        out = spaced.str.replace_many(list(simple), list(simple.values()))
        counts.lookalikes_folded = n_simple
    needs_mixed = out.str.contains(rx["mixed"]).fill_null(False)
    if needs_mixed.any():
        uniq = out.filter(needs_mixed).unique().to_list()
        fixed = {u: _fold_mixed(u) for u in uniq}
        changed = {u: f for u, f in fixed.items() if f[1]}
        if changed:
            occurrences = out.filter(out.is_in(list(changed))).value_counts()
            counts.lookalikes_folded += sum(changed[v][1] * n for v, n in occurrences.iter_rows())
            out = out.replace(list(changed), [f[0] for f in changed.values()])
    return values.scatter(idx, out), counts


def fold_lookalikes(values: pl.Series) -> pl.Series:
    """Look-alike letters and digits folded (no removal, no spaces): for text that did not come
    through the reader (the name normaliser, register names)."""
    rx = _regexes()
    mask = values.str.contains(f"{rx['simple']}|{rx['mixed']}").fill_null(False)
    if not mask.any():
        return values
    idx = mask.arg_true()
    sub = values.gather(idx)
    simple = table().simple_fold
    sub = sub.str.replace_many(list(simple), list(simple.values()))
    uniq = sub.filter(sub.str.contains(rx["mixed"]).fill_null(False)).unique().to_list()
    if uniq:
        sub = sub.replace(uniq, [_fold_mixed(u)[0] for u in uniq])
    return values.clone().scatter(idx, sub)  # never the caller's Series in place


@cache
def _fold_py() -> re.Pattern[str]:
    t = table()
    ranges = _collapse(sorted(ord(c) for c in {*t.simple_fold, *t.mixed}))
    return re.compile("[" + "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "")
                                    for a, b in ranges) + "]")


def fold_text(text: str) -> str:
    """Look-alike letters and digits folded in one value (headers, matching keys); one C-speed
    regex test for the common value that holds none."""
    if not _fold_py().search(text):
        return text
    return _fold_mixed(text.translate(_translate_maps()[2]))[0]


@cache
def _always_map() -> dict[int, str]:
    return {ord(k): v for k, v in table().always.items()}


def fold_d_lookalikes(text: str) -> str:
    """Only the Đ look-alikes (Ð ð Ɖ ɖ -> Đ đ) folded: for hot paths over text that the reader or
    the name normaliser has already cleaned (matching features)."""
    return text.translate(_always_map())


@cache
def d_like() -> dict[int, str]:
    """``str.translate`` map: đ/Đ and every Đ look-alike -> d/D (for diacritic-free keys)."""
    out = {ord("đ"): "d", ord("Đ"): "D"}
    for k, v in table().always.items():
        out[ord(k)] = "D" if v == "Đ" else "d"
    return out
