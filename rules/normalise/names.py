"""Vectorised normalisation of Vietnamese person names (contract docs/contracts.md §4, names).

Steps, all polars expressions except two per-unique-value Python maps:
1. NFC (``nfd_fixed`` when that changed the value).
2. Repair of mojibake / legacy-encoded values - Python over the *unique suspicious* values only.
3. look-alikes folded (Ð/ð/Ɖ/ɖ -> Đ/đ...: table of :mod:`rules.normalise.characters`); notes in
   brackets or after a dash move to ``name_note`` (``note_moved``, :mod:`rules.normalise.name_notes`);
   characters other than letters, marks, apostrophe and hyphen become spaces (``punctuation_removed``);
   whitespace trimmed and collapsed, NBSP/tabs included (``spaces_fixed``); fused syllables split
   (``tokens_split``, :mod:`rules.normalise.fused`) - Python over the unique candidate tokens only.
4. Lower case, then canonical tone placement per syllable (``tone_style_fixed``; rule in
   :mod:`rules.normalise.syllable`) - Python over the unique *tokens* that could change only.
5. Display form = title case per syllable (đ kept); key = diacritics dropped, đ -> d.

Token split (``family_key`` / ``middle_key`` / ``given_key``): first token / the tokens between /
last token. A one-token name is taken as a given name (family_key ""), since sector lists that
write one word usually write what the person is called.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from rules.normalise.characters import fold_lookalikes
from rules.normalise.flaglist import flag_list
from rules.normalise.fused import split_fused
from rules.normalise.name_notes import split_name_notes
from rules.normalise.repair import LEGACY, MOJIBAKE, NOT_CP1252, SUSPICIOUS, repair_text
from rules.normalise.syllable import canonical_syllable, fold
from rules.normalise.unique import unique_apply

NAME_COLUMNS: tuple[str, ...] = (
    "name_clean",
    "name_toned",
    "name_key",
    "family_key",
    "middle_key",
    "given_key",
    "name_flags",
    "name_note",
)
# Tokens whose tone might sit off the canonical vowel: a toned vowel next to another vowel.
_TONED = "àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
_VOWEL = "aăâeêioôơuưy" + _TONED
_MAYBE_OFF = f"[{_TONED}][{_VOWEL}]|[{_VOWEL}][{_TONED}]"
# Lower-case Vietnamese letters with diacritics and their base letters, for the folded key.
_VIET_LOWER = [c for c in "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"]
_VIET_BASE = [fold(c) for c in _VIET_LOWER]


def _strip_punctuation(text: pl.Series) -> pl.Series:
    """Non-letters (except inner apostrophes/hyphens) -> space; orphan marks dropped."""
    return (
        text.str.replace_all(r"[^\p{L}\p{M}\s'\-]", " ")
        .str.replace_all(r"(^|[^\p{L}\p{M}])\p{M}+", "$1")
        .str.replace_all(r"(^|\s)['\-]+", "$1")
        .str.replace_all(r"['\-]+(\s|$)", "$1")
    )


def _repair(nfc: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Repair garbled values; returns (text, flag-or-null). Python runs per unique suspicious value."""
    # Garbled text is made of Latin-1/CP1252 characters only (every byte became one of them), so a
    # value holding any other character (ơ, ư, ễ...) is real Unicode and is never "repaired".
    suspicious = (nfc.str.contains(SUSPICIOUS) & ~nfc.str.contains(NOT_CP1252)).fill_null(False)
    uniq = nfc.filter(suspicious).unique().to_list()
    if not uniq:
        return nfc, pl.repeat(None, len(nfc), dtype=pl.Utf8, eager=True)
    fixed = [repair_text(v) for v in uniq]
    changed = [(v, f) for v, f in zip(uniq, fixed, strict=True) if f[1] is not None]
    if not changed:
        return nfc, pl.repeat(None, len(nfc), dtype=pl.Utf8, eager=True)
    old = [v for v, _ in changed]
    text = nfc.replace(old, [f[0] for _, f in changed])
    flag = nfc.replace_strict(old, [f[1] for _, f in changed], default=None, return_dtype=pl.Utf8)
    return text, flag


def _repair_cleaned(
    titled: pl.Series, squeezed: pl.Series, flag: pl.Series, idx: pl.Series
) -> tuple[pl.Series, pl.Series]:
    """Repair pass over the title-cased clean values at ``idx``; repaired values are cleaned again."""
    fixed, sub_flag = _repair(titled.gather(idx))
    changed = sub_flag.is_not_null()
    if not changed.any():
        return squeezed, flag
    rows = idx.filter(changed)
    again = _strip_punctuation(fixed.filter(changed)).str.replace_all(r"\s+", " ").str.strip_chars(" ")
    return squeezed.clone().scatter(rows, again), flag.clone().scatter(rows, sub_flag.filter(changed))


def _canonical_tones(lower: pl.Series) -> pl.Series:
    """Canonical tone placement; Python only on the unique tokens that could change."""
    candidates = lower.filter(lower.str.contains(_MAYBE_OFF).fill_null(False))
    if candidates.is_empty():
        return lower
    tokens = candidates.str.split(" ").explode().unique().drop_nulls().to_list()
    mapping = {t: c for t in tokens if (c := canonical_syllable(t)) != t}
    if not mapping:
        return lower
    # Token-exact replacement via split/join only on the rows that hold a changed token.
    old, new = list(mapping), list(mapping.values())
    needs = lower.str.contains_any(old).fill_null(False)
    replaced = lower.filter(needs).str.split(" ").list.eval(pl.element().replace(old, new)).list.join(" ")
    out = lower.clone()
    return out.scatter(needs.arg_true(), replaced)


def normalise_names(names: pl.Series, repair: bool = True) -> pl.DataFrame:
    """Normalise a Utf8 Series of full names into the contract's name columns (same length/order).

    ``repair=False`` skips mojibake/legacy repair (the population register is clean NFC and
    repair is the only step whose cost grows with the number of distinct accented names).
    Work is done once per distinct name.
    """
    return unique_apply(names.cast(pl.Utf8), lambda u: _normalise_unique_names(u, repair))


def _patch(base: pl.Series, mask: pl.Series, fn: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``fn`` applied only to the rows where ``mask`` holds (fast path for the clean majority)."""
    idx = mask.fill_null(False).arg_true()
    if idx.len() == 0:
        return base
    return base.clone().scatter(idx, fn(base.gather(idx)))


def _fold_lower(lower: pl.Series) -> pl.Series:
    """Diacritic-free key of lower-case text: one Aho-Corasick pass over the Vietnamese letters,
    then the general NFD route only for values that still hold other non-ASCII letters."""
    key = lower.str.replace_many(_VIET_LOWER, _VIET_BASE)
    return _patch(
        key,
        key.str.contains(r"[^\x00-\x7F]"),
        lambda s: (
            s.str.replace_all("đ", "d", literal=True)
            .str.normalize("NFD")
            .str.replace_all(r"\p{M}", "")
            .str.normalize("NFC")
        ),
    )


# A tone mark above typed before the circumflex or breve it sits on (``e`` + tilde + circumflex, as
# some input methods send decomposed text): both marks have combining class 230, so NFC keeps their
# order and cannot compose ``ễ``; the shape mark goes first, as Unicode's decomposition writes it.
_TONE_BEFORE_SHAPE = "([\u0300\u0301\u0303\u0309])([\u0302\u0306])"


def _normalise_unique_names(names: pl.Series, repair: bool) -> pl.DataFrame:
    raw = names.cast(pl.Utf8)
    if raw.str.contains(_TONE_BEFORE_SHAPE).any():
        raw = raw.str.replace_all(_TONE_BEFORE_SHAPE, "$2$1")
    nfc = raw.str.normalize("NFC")
    nfd_fixed = (raw != nfc).fill_null(False)
    if repair:
        text, repair_flag = _repair(nfc)
    else:
        text, repair_flag = nfc, pl.repeat(None, len(nfc), dtype=pl.Utf8, eager=True)
    seen = text.clone()  # what the garbling detector saw (fold_lookalikes scatters in place)
    # Ð/ð/Ɖ/ɖ look like Đ/đ, and other look-alikes, slip into typed data (domain README 3.4/3)
    text = fold_lookalikes(text)
    # Remarks in the cell (nickname in brackets, "- chuyển trường") are not name parts.
    text, note = split_name_notes(text)
    # Fast path: letters in single-space-separated words need no punctuation/space work.
    idx = (~text.str.contains(r"^\p{L}+(?: \p{L}+)*$")).fill_null(True).arg_true()
    sub = text.gather(idx)
    stripped = _strip_punctuation(sub)
    no = pl.repeat(False, len(text), eager=True)
    punct = no.clone().scatter(idx, (stripped != sub).fill_null(False))
    spaces = no.clone().scatter(idx, sub.str.contains(r"^\s|\s$|\s\s|[^\S ]").fill_null(False))
    squeezed = text.clone().scatter(idx, stripped.str.replace_all(r"\s+", " ").str.strip_chars(" "))
    if repair:
        # Cleaning, look-alike folding (a Greek Α beside a CP1252 ß) and title case change what the
        # garbling detector sees (a stray symbol glued to a word; legacy byte tables are
        # case-sensitive). The output is the title-cased clean value, so that value gets one more
        # repair pass: normalising twice then equals once.
        titled = squeezed.str.to_titlecase()
        again = (titled != seen).fill_null(False).arg_true()
        if again.len():
            squeezed, repair_flag = _repair_cleaned(titled, squeezed, repair_flag, again)
    squeezed, split = split_fused(squeezed, _fold_lower)
    lower = squeezed.str.to_lowercase()
    toned = _canonical_tones(lower)
    tone_fixed = (toned != lower).fill_null(False)
    clean = pl.select(pl.when(toned.str.len_bytes() > 0).then(toned)).to_series().str.to_titlecase()
    # Lower-casing the display form again makes the case mapping round-trip for letters whose
    # title case is another code point (µ -> Μ -> μ, ß -> Ss), so that normalising twice equals once.
    relowered = clean.str.to_lowercase()
    toned = pl.select(pl.when(relowered != toned).then(relowered).otherwise(toned)).to_series()
    toned = pl.select(pl.when(toned.str.len_bytes() > 0).then(toned)).to_series().alias("name_toned")
    key = _fold_lower(toned).alias("name_key")
    df = pl.DataFrame(
        {
            "name_clean": clean,
            "name_toned": toned,
            "name_key": key,
            "_rep": repair_flag,
            "_nfd": nfd_fixed,
            "_tone": tone_fixed,
            "_punct": punct,
            "_spaces": spaces,
            "_note": note,
            "_split": split,
        }
    )
    # Token split without regexes: first token, last token (via reversal), and what lies between.
    k = pl.col("name_key")
    first = k.str.splitn(" ", 2).struct[0]
    last = k.str.reverse().str.splitn(" ", 2).struct[0].str.reverse()
    n_first, n_last, n_all = first.str.len_chars(), last.str.len_chars(), k.str.len_chars()
    single = n_first == n_all
    return df.select(
        "name_clean",
        "name_toned",
        "name_key",
        pl.when(single).then(pl.lit("")).otherwise(first).alias("family_key"),
        pl.when(single | (n_first + n_last + 1 >= n_all))
        .then(pl.lit(""))
        .otherwise(k.str.slice(n_first + 1, n_all - n_first - n_last - 2))
        .alias("middle_key"),
        last.alias("given_key"),
        flag_list(
            [
                ("mojibake_repaired", pl.col("_rep") == MOJIBAKE),
                ("legacy_encoding_repaired", pl.col("_rep") == LEGACY),
                ("nfd_fixed", pl.col("_nfd")),
                ("tone_style_fixed", pl.col("_tone")),
                ("punctuation_removed", pl.col("_punct")),
                ("spaces_fixed", pl.col("_spaces")),
                ("note_moved", pl.col("_note").is_not_null()),
                ("tokens_split", pl.col("_split")),
            ]
        ).alias("name_flags"),
        pl.col("_note").alias("name_note"),
    )
