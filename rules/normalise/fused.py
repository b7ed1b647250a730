"""Fused syllables in a name (``NguyễnVăn An``, ``NGUYENVAN AN``): split back into syllables.

Why: a lost space makes one token out of two name parts, so the family, middle and given keys are
all wrong and a row without an ID gets no candidate. Vietnamese is written one syllable per word,
so a token that is not one syllable but is a sequence of known name syllables can be split
without guessing at spelling.

Rule (documented choice):
- a token is a candidate when it is letters only, 4+ letters, and its diacritic-free form is not
  one Vietnamese syllable (initial + nucleus + final of :mod:`rules.normalise.syllable`, matched
  by one vectorised regex);
- a split is accepted only when every piece (2+ letters) is a well-formed syllable AND a syllable
  of the reference name inventory (``rules/reference/names/*.csv``: family, middle and given names
  of a real name list, diacritic-free). This keeps a typo (``Nugyễn``) from being cut into bogus
  syllables: only concatenations of real name syllables are split;
- among accepted splits: fewest pieces, then most cuts at a lower->upper case change
  (``NguyễnVăn``), then the most frequent syllables (log counts of the inventory).
Decisions use the diacritic-free form only, so ``NguyễnVăn`` and ``NguyenVan`` split alike.
Python runs once per distinct candidate token (a few per thousand names), the rest is polars.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path

import polars as pl

from rules.normalise.syllable import NUCLEI, fold

NAMES_DIR = Path(__file__).resolve().parent.parent / "reference" / "names"
_INITIALS_FOLDED = (
    "ngh",
    "ng",
    "nh",
    "ch",
    "gh",
    "gi",
    "kh",
    "ph",
    "qu",
    "th",
    "tr",
    "b",
    "c",
    "d",
    "g",
    "h",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "x",
)
_FINALS_FOLDED = ("ch", "ng", "nh", "c", "m", "n", "p", "t")
MIN_TOKEN = 4
MIN_PIECE = 2
MAX_PIECE = 7  # nghiêng


def _alt(items: set[str] | tuple[str, ...]) -> str:
    return "|".join(sorted(items, key=lambda s: (-len(s), s)))


#: One diacritic-free Vietnamese syllable (lower case).
SYLLABLE_PATTERN = f"^(?:{_alt(_INITIALS_FOLDED)})?(?:{_alt({fold(n) for n in NUCLEI})})(?:{_alt(_FINALS_FOLDED)})?$"
_SYLLABLE = re.compile(SYLLABLE_PATTERN)


@cache
def name_syllables() -> dict[str, float]:
    """Diacritic-free syllables of the reference name lists -> log(1 + occurrences)."""
    counts: dict[str, float] = {}

    def add(text: str, weight: float) -> None:
        for tok in fold(text).split():
            counts[tok] = counts.get(tok, 0.0) + weight

    with open(NAMES_DIR / "family_names.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            add(r["family"], float(r["share"]) * 10_000)
    with open(NAMES_DIR / "middle_names.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            add(r["middle"], float(r["count"]))
    with open(NAMES_DIR / "given_names.csv", encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            add(r["given"], float(r["count"]))
    return {k: math.log1p(v) for k, v in counts.items() if len(k) >= MIN_PIECE and _SYLLABLE.match(k)}


@lru_cache(maxsize=100_000)
def best_split(folded: str, camel: tuple[int, ...] = ()) -> tuple[int, ...] | None:
    """Cut positions splitting ``folded`` into 2+ inventory syllables, or None.

    Dynamic programme over prefixes; score = (pieces, -cuts at ``camel`` positions, -sum of log
    frequencies), smallest wins. ``folded`` is lower-case and diacritic-free.
    """
    inv = name_syllables()
    n = len(folded)
    best: list[tuple[int, int, float, tuple[int, ...]] | None] = [None] * (n + 1)
    best[0] = (0, 0, 0.0, ())
    for end in range(MIN_PIECE, n + 1):
        for start in range(max(0, end - MAX_PIECE), end - MIN_PIECE + 1):
            prev = best[start]
            piece = folded[start:end]
            if prev is None or piece not in inv:
                continue
            cuts = (*prev[3], start) if start else prev[3]
            cand = (prev[0] + 1, prev[1] - (start in camel), prev[2] - inv[piece], cuts)
            if best[end] is None or cand[:3] < best[end][:3]:  # type: ignore[index]
                best[end] = cand
    done = best[n]
    if done is None or done[0] < 2:
        return None
    return done[3]


def _camel(token: str) -> tuple[int, ...]:
    return tuple(i for i in range(1, len(token)) if token[i - 1].islower() and token[i].isupper())


def split_fused(text: pl.Series, fold_lower: Callable[[pl.Series], pl.Series]) -> tuple[pl.Series, pl.Series]:
    """(text with fused tokens split, Boolean "a token was split") for single-spaced name text.

    ``fold_lower`` maps lower-case text to its diacritic-free key (the name normaliser's own), so
    the decision is the same with or without diacritics. Case is kept.
    """
    no = pl.repeat(False, text.len(), eager=True)
    tokens = text.str.split(" ").explode().drop_nulls().unique()
    tokens = tokens.filter((tokens.str.len_chars() >= MIN_TOKEN) & tokens.str.contains(r"^\p{L}+$"))
    if tokens.is_empty():
        return text, no
    folded = fold_lower(tokens.str.to_lowercase())
    cand = pl.DataFrame({"t": tokens, "f": folded}).filter(~pl.col("f").str.contains(SYLLABLE_PATTERN))
    mapping: dict[str, str] = {}
    for tok, f in cand.iter_rows():
        if len(f) != len(tok):
            continue
        cuts = best_split(f, _camel(tok))
        if cuts:
            bounds = (0, *cuts, len(tok))
            mapping[tok] = " ".join(tok[a:b] for a, b in itertools.pairwise(bounds))
    if not mapping:
        return text, no
    old, new = list(mapping), list(mapping.values())
    needs = text.str.contains_any(old).fill_null(False)
    rows = needs.arg_true()
    replaced = text.gather(rows).str.split(" ").list.eval(pl.element().replace(old, new)).list.join(" ")
    changed = replaced != text.gather(rows)
    return text.clone().scatter(rows, replaced), no.scatter(rows, changed)
