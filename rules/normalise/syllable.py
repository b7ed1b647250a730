"""Vietnamese syllables: where the tone mark goes, and diacritic folding.

Why this exists: the same name is typed with the tone mark in two places ("old style" hòa, thủy,
khỏe vs "new style" hoà, thuỷ, khoẻ; domain README 3.4/5) and the two spellings are different NFC
code points, so nothing matches unless every syllable is put into one style first.

**Canonical rule (documented choice): the old style** ("kiểu cũ"), because that is what the CCCD
card, Circular 07/2016 ("Hòa Bình") and most administrative lists write. For one syllable:

1. Split off the initial consonant (``qu`` and ``gi`` + vowel count as consonants, so ``quý``,
   ``già`` have a one-letter nucleus) and the final consonant (c, ch, m, n, ng, nh, p, t).
2. If the nucleus holds a letter with a shape mark (ă â ê ô ơ ư), the tone goes on it (on the
   last one for ươ: ``người``).
3. Else with a final consonant, the tone goes on the last vowel (``hoàn``, ``huỳnh``).
4. Else three vowels: the middle one (``hoài``, ``khuỷu``); two vowels: the **first** one
   (``hòa``, ``khỏe``, ``thủy``, ``ủy``, ``mía``, ``của``); one vowel: that one.

Tokens that do not parse as one Vietnamese syllable (foreign or minority-language names, typos)
are left as they are, only NFC-normalised: we never invent a spelling.

Everything here is pure Python on *one token*; callers map it over unique tokens only.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rules.normalise.characters import d_like

# Combining tone marks (the five tones other than "ngang").
TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"
_TONE_SET = frozenset(TONE_MARKS)
_SHAPED = frozenset("ăâêôơư")
_VOWELS = frozenset("aăâeêioôơuưy")

_INITIALS = ("ngh", "ng", "nh", "ch", "gh", "gi", "kh", "ph", "qu", "th", "tr")
_SINGLE_INITIALS = frozenset("bcdđghklmnprstvx")
_FINALS = frozenset({"c", "ch", "m", "n", "ng", "nh", "p", "t"})

# Vowel nuclei of standard Vietnamese (after qu/gi have been split off).
_NUCLEI_TEXT = """a ă â e ê i o ô ơ u ư y ai ao au ay âu ây eo êu ia iê iu oa oă oe oi ôi ơi oo ua uâ uê ui
uô uơ uy ưa ưi ươ ưu yê iêu oai oao oay oeo uây uôi uya uyê uyu ươi ươu yêu"""
NUCLEI = frozenset(_NUCLEI_TEXT.split())

_D_LIKE = d_like()  # đ/Đ and their look-alikes (rules/normalise/characters.yaml) -> d/D


def split_tone(token: str) -> tuple[str, str | None, int]:
    """Return (base without tone marks in NFC, the tone mark or None, number of tone marks)."""
    nfd = unicodedata.normalize("NFD", token)
    tones = [c for c in nfd if c in _TONE_SET]
    base = unicodedata.normalize("NFC", "".join(c for c in nfd if c not in _TONE_SET))
    return base, (tones[0] if tones else None), len(tones)


def parse(base_lower: str) -> tuple[str, str, str] | None:
    """Split a toneless lower-case syllable into (initial, nucleus, final), or None if not Vietnamese."""
    initial = ""
    for ini in _INITIALS:
        if base_lower.startswith(ini):
            initial = ini
            break
    else:
        if base_lower[:1] in _SINGLE_INITIALS:
            initial = base_lower[:1]
    if initial == "gi" and not any(c in _VOWELS for c in base_lower[2:]):
        initial = "g"  # gì, gìn: the i is the vowel
    rest = base_lower[len(initial) :]
    i = 0
    while i < len(rest) and rest[i] in _VOWELS:
        i += 1
    nucleus, final = rest[:i], rest[i:]
    if not nucleus or (final and final not in _FINALS) or nucleus not in NUCLEI:
        return None
    return initial, nucleus, final


def tone_index(nucleus: str, final: str) -> int:
    """Index inside the nucleus that carries the tone in the canonical (old) style."""
    shaped = [k for k, c in enumerate(nucleus) if c in _SHAPED]
    if shaped:
        return shaped[-1]
    if final:
        return len(nucleus) - 1
    if len(nucleus) == 3:
        return 1
    return 0


@lru_cache(maxsize=200_000)
def canonical_syllable(token: str) -> str:
    """One token with its tone mark moved to the canonical place; case is kept; NFC output."""
    token = unicodedata.normalize("NFC", token)
    base, tone, n_tones = split_tone(token)
    if n_tones != 1:
        return token
    lower = base.lower()
    if len(lower) != len(base):
        return token
    parsed = parse(lower)
    if parsed is None:
        return token
    initial, nucleus, final = parsed
    pos = len(initial) + tone_index(nucleus, final)
    out = base[: pos + 1] + tone + base[pos + 1 :]
    return unicodedata.normalize("NFC", out)


def canonical_tone(text: str) -> str:
    """Canonical tone placement for every whitespace-separated token of ``text`` (NFC output)."""
    if not text:
        return text
    return re.sub(r"\S+", lambda m: canonical_syllable(m.group(0)), unicodedata.normalize("NFC", text))


def fold(text: str) -> str:
    """Diacritic-free lower-case form: drops every combining mark, maps đ/Đ (and look-alike Ð) to d."""
    nfd = unicodedata.normalize("NFD", text.translate(_D_LIKE))
    return unicodedata.normalize("NFC", "".join(c for c in nfd if not unicodedata.combining(c))).lower()


def strip_diacritics(text: str) -> str:
    """Remove diacritics but keep case (đ -> d, Đ -> D); used by tests and by callers that need it."""
    nfd = unicodedata.normalize("NFD", text.translate(_D_LIKE))
    return unicodedata.normalize("NFC", "".join(c for c in nfd if not unicodedata.combining(c)))


@lru_cache(maxsize=200_000)
def is_syllable(token: str) -> bool:
    """True when ``token`` (any case, any tone style) is one well-formed Vietnamese syllable."""
    base, _tone, n_tones = split_tone(token)
    if n_tones > 1:
        return False
    lower = base.lower()
    return bool(lower) and parse(lower) is not None
