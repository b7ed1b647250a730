"""Vectorised normalisation of Vietnamese person names (contract docs/contracts.md §4, names).

Steps, all polars expressions except two per-unique-value Python maps:
1. NFC (``nfd_fixed`` when that changed the value).
2. Repair of mojibake / legacy-encoded values - Python over the *unique suspicious* values only.
3. Ð/ð (Latin eth, a look-alike) -> Đ/đ; characters other than letters, marks, apostrophe and
   hyphen become spaces (``punctuation_removed``); whitespace trimmed and collapsed, NBSP/tabs
   included (``spaces_fixed``).
4. Lower case, then canonical tone placement per syllable (``tone_style_fixed``; rule in
   :mod:`rules.normalise.syllable`) - Python over the unique *tokens* that could change only.
5. Display form = title case per syllable (đ kept); key = diacritics dropped, đ -> d.

Token split (``family_key`` / ``middle_key`` / ``given_key``): first token / the tokens between /
last token. A one-token name is taken as a given name (family_key ""), since sector lists that
write one word usually write what the person is called.
"""

from __future__ import annotations

import polars as pl

from rules.normalise.repair import SUSPICIOUS, repair_text
from rules.normalise.syllable import canonical_syllable

NAME_COLUMNS: tuple[str, ...] = (
    "name_clean",
    "name_toned",
    "name_key",
    "family_key",
    "middle_key",
    "given_key",
    "name_flags",
)
_VIET_UNICODE_ONLY = "ăđơưĩũ\u1ea0-\u1ef9"
# Tokens whose tone might sit off the canonical vowel: a toned vowel next to another vowel.
_TONED = "àáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
_VOWEL = "aăâeêioôơuưy" + _TONED
_MAYBE_OFF = f"[{_TONED}][{_VOWEL}]|[{_VOWEL}][{_TONED}]"


def _repair(nfc: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Repair garbled values; returns (text, flag-or-null). Python runs per unique suspicious value."""
    suspicious = nfc.str.contains(SUSPICIOUS).fill_null(False)
    uniq = nfc.filter(suspicious).unique().to_list()
    if not uniq:
        return nfc, pl.Series(nfc.name, [None] * len(nfc), dtype=pl.Utf8)
    fixed = [repair_text(v) for v in uniq]
    changed = [(v, f) for v, f in zip(uniq, fixed, strict=True) if f[1] is not None]
    if not changed:
        return nfc, pl.Series(nfc.name, [None] * len(nfc), dtype=pl.Utf8)
    old = [v for v, _ in changed]
    text = nfc.replace(old, [f[0] for _, f in changed])
    flag = nfc.replace_strict(old, [f[1] for _, f in changed], default=None, return_dtype=pl.Utf8)
    return text, flag


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
    """
    raw = names.cast(pl.Utf8)
    nfc = raw.str.normalize("NFC")
    nfd_fixed = (raw != nfc).fill_null(False)
    if repair:
        text, repair_flag = _repair(nfc)
    else:
        text, repair_flag = nfc, pl.Series([None] * len(nfc), dtype=pl.Utf8)
    text = text.str.replace_all("\u00d0", "Đ", literal=True).str.replace_all("\u00f0", "đ", literal=True)
    no_punct = (
        text.str.replace_all(r"[^\p{L}\p{M}\s'\-]", " ")
        .str.replace_all(r"(^|\s)['\-]+|['\-]+(\s|$)", " ")
        .str.replace_all(r"(^|[^\p{L}\p{M}])\p{M}+", "$1")
    )
    punct = (no_punct != text).fill_null(False)
    spaces = text.str.contains(r"^\s|\s$|\s\s|[^\S ]").fill_null(False)
    squeezed = no_punct.str.replace_all(r"\s+", " ").str.strip_chars(" ")
    lower = squeezed.str.to_lowercase()
    toned = _canonical_tones(lower)
    tone_fixed = (toned != lower).fill_null(False)
    toned = pl.select(pl.when(toned.str.len_bytes() > 0).then(toned)).to_series().alias("name_toned")
    key = (
        toned.str.replace_all("đ", "d", literal=True)
        .str.normalize("NFD")
        .str.replace_all(r"\p{M}", "")
        .str.normalize("NFC")
        .alias("name_key")
    )
    df = pl.DataFrame(
        {
            "name_toned": toned,
            "name_key": key,
            "_rep": repair_flag,
            "_nfd": nfd_fixed,
            "_tone": tone_fixed,
            "_punct": punct,
            "_spaces": spaces,
        }
    )
    parts = pl.col("name_key").str.split(" ")
    n = parts.list.len()
    flag = pl.lit  # shorthand
    return df.select(
        pl.col("name_toned").str.to_titlecase().alias("name_clean"),
        "name_toned",
        "name_key",
        pl.when(n > 1).then(parts.list.first()).when(n == 1).then(flag("")).alias("family_key"),
        pl.when(n > 2)
        .then(parts.list.slice(1, n - 2).list.join(" "))
        .when(n >= 1)
        .then(flag(""))
        .alias("middle_key"),
        parts.list.last().alias("given_key"),
        pl.concat_list(
            pl.col("_rep"),
            pl.when(pl.col("_nfd")).then(flag("nfd_fixed")),
            pl.when(pl.col("_tone")).then(flag("tone_style_fixed")),
            pl.when(pl.col("_punct")).then(flag("punctuation_removed")),
            pl.when(pl.col("_spaces")).then(flag("spaces_fixed")),
        )
        .list.drop_nulls()
        .alias("name_flags"),
    )
