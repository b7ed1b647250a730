"""Repair of garbled text fragments: mojibake and legacy 8-bit encodings (one value at a time).

Callers run :func:`repair_text` only on the *unique* values that :data:`SUSPICIOUS` selects, so
the Python cost is per distinct garbled value, never per row.
"""

from __future__ import annotations

import re
import unicodedata

from rules.normalise.legacy import _affected_words, _cp1252_char_to_byte, detect_legacy, to_unicode

MOJIBAKE = "mojibake_repaired"
LEGACY = "legacy_encoding_repaired"

# Rows worth a look (polars/Rust regex): a Latin-1/CP1252 character that is not a Vietnamese
# letter, or an upper-case Latin-1 letter right after a lower-case letter (TCVN3 "NguyÔn"), or a
# vowel followed by a Latin-1 accented vowel (VNI "Vaên", "Nguyeãn"), or C1 controls.
_NON_VIET_LATIN1 = (
    "\u0080-\u00bf\u00c4-\u00c7\u00cb\u00ce-\u00d1\u00d6-\u00d8\u00db\u00dc\u00de\u00df"
    "\u00e4-\u00e7\u00eb\u00ee-\u00f1\u00f6-\u00f8\u00fb\u00fc\u00fe\u00ff"
    "\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122"
)
SUSPICIOUS = (
    f"[{_NON_VIET_LATIN1}]"
    r"|\p{Ll}[\u00c0-\u00de]"
    r"|[aeiouyAEIOUY][\u00c0-\u00c3\u00c8-\u00ca\u00cc\u00cd\u00d2-\u00d5\u00d9\u00da\u00e0-\u00e3\u00e8-\u00ea\u00ec\u00ed\u00f2-\u00f5\u00f9\u00fa]"
)
# A character that no CP1252/Latin-1 byte decodes to: its presence rules out mojibake and legacy text.
NOT_CP1252 = "[^\u0000-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u2122]"
_SUSPICIOUS_PY = re.compile(SUSPICIOUS.replace(r"\p{Ll}", "[a-zà-ÿ]"))


_NOT_CP1252_PY = re.compile(NOT_CP1252)
_STRONG_PY = re.compile(f"[{_NON_VIET_LATIN1}]")
_VIET_LETTERS = (
    "a-zA-Zàáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
    "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ"
)
_VIETNAMESE_TEXT = re.compile(f"[{_VIET_LETTERS}0-9\\s.,'()/-]*")


# Where mojibake starts: a UTF-8 lead byte (0xC2-0xF4) seen as CP1252/Latin-1 (``Â``-``ô``) right
# before a continuation byte (0x80-0xBF) seen the same way: a C1 control, NBSP, soft hyphen, a Latin-1
# symbol or one of CP1252's letters and punctuation there. Polars/Rust regex; selects candidates only.
_CONTINUATION = "\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u203a\u20ac\u2122"
MOJIBAKE_CANDIDATE = f"[\u00c2-\u00f4][{_CONTINUATION}]|[\u00c3\u00c6] "  # Ã/Æ + space: NBSP made a space
# What undone mojibake may hold beyond ASCII: Latin letters of Latin-1, Latin Extended-A, Vietnamese
# ơ ư and Latin Extended Additional (ạ..ỹ); combining marks (text typed in decomposed form); C1
# controls (strays of the original text); Latin-1 symbols, NBSP, general punctuation (dashes,
# quotes, zero-width and word-joining characters, which the cell pass removes), the euro and trade
# marks, a BOM. Anything else (IPA ``ʠ`` from ``LÊ`` + NBSP, Cyrillic from ``Ô`` + ``–``, Armenian,
# Arabic) means the bytes were not UTF-8 text by intent: genuine text that merely forms valid UTF-8.
_UNDONE_OK = re.compile(
    "[\x00-\u017f\u01a0\u01a1\u01af\u01b0\u1e00-\u1eff"
    "\u0300-\u036f\u2000-\u206f\u20ac\u2122\ufeff]*"
)


def undo_mojibake(text: str, *, among_mojibake: bool = False) -> str | None:
    """The text before it was garbled, when ``text`` is UTF-8 read as CP1252 or Latin-1, else None.

    Why exact and whole-value: every character must be a byte's CP1252/Latin-1 view (the NBSP, soft
    hyphen and C1 controls of ``LÃª HoÃ\xa0ng CÆ°á»\x9dng`` included: they are bytes of the text,
    not strays), the bytes must be strict UTF-8, and what they spell must be Latin text
    (:data:`_UNDONE_OK`). Genuine Vietnamese or Western text fails one of these: it holds letters no
    single byte is (ư, ạ), or an accented letter followed by a letter or space, which no UTF-8
    sequence is. Text garbled twice is undone twice. The result is NFC.

    One shape is both: an upper-case ``Ã`` or ``Â`` before an NBSP, a soft hyphen or a symbol is
    the mojibake of ``à``/``í``/... (``HÃ\xa0`` for ``Hà``) and also genuine capitals (``XÃ\xa0AN``,
    a commune with an NBSP; ``QUÃ`` and a stray C1 control reads as ``QUÁ``); ``Â`` before one is
    the mojibake of that character alone (``Â\xa0`` for an NBSP) and also a capital with a stray
    after it (``CHÂ\xadU``). So text without a lower-case letter (mojibake of a name in title case
    nearly always has one: ``LÃª``, ``Nguyá»…n``), or that would gain no letter beyond ASCII, is
    undone only when ``among_mojibake`` (its column holds mojibake undone without doubt). A
    combining mark must follow a letter (decomposed ``a`` + grave is ``aÌ€``; ``1Ì`` + a C1 control
    is not that).
    """
    once = _decode_cp1252_view(text, restore_spaces=_has_lower(text))
    if once is None:
        return None
    twice = _decode_cp1252_view(once)
    for fixed in (twice, once):
        if fixed is not None and _UNDONE_OK.fullmatch(fixed):
            if _STRAY_MARK.search(fixed):
                return None
            fixed = unicodedata.normalize("NFC", fixed)
            doubtful = not _has_lower(text) or not _NON_ASCII_LETTER.search(fixed)
            return None if doubtful and not among_mojibake else fixed
    return None


_STRAY_MARK = re.compile("(?:^|[^A-Za-z\u00c0-\u017f\u01a0\u01a1\u01af\u01b0\u0300-\u036f])[\u0300-\u036f]")
_NON_ASCII_LETTER = re.compile(r"[^\W\d_\x00-\x7f]")


def _has_lower(text: str) -> bool:
    return any(c.islower() for c in text)


def _decode_cp1252_view(text: str, restore_spaces: bool = False) -> str | None:
    """If ``text`` is UTF-8 bytes that were decoded as CP1252/Latin-1, return the real text.

    ``restore_spaces``: 0xA0, the last byte of à Ơ Ạ Ỡ, shows as an NBSP that copy-paste often
    turns into a space; a space where a sequence needs its next byte is taken for that byte
    (``HoÃ ng``). Not for text in capitals: ``NGÃ BA`` is the capital Ã and a space; nor where the
    letter would begin a word not going on in lower case (``Ã An``, not ``àAn``; ``Æ n`` is ``Ơn``)."""
    table = _cp1252_char_to_byte()
    buf = bytearray()
    for ch in text:
        o = ord(ch)
        if o < 0x80:
            buf.append(o)
        elif ch in table:
            buf.append(table[ch])
        else:
            return None
    while True:
        try:
            fixed = buf.decode("utf-8")
            break
        except UnicodeDecodeError as exc:
            if (not restore_spaces or exc.reason != "invalid continuation byte" or exc.end >= len(buf)
                    or buf[exc.end] != 0x20):
                return None
            starts_word = exc.start == 0 or buf[exc.start - 1] == 0x20
            if starts_word and not (exc.end + 1 < len(buf) and 0x61 <= buf[exc.end + 1] <= 0x7A):
                # a word-initial letter glued to what follows ("Ã An" -> "àAn"): a capital Ã and a
                # space, as written; "Æ n" (Ơn, its word going on in lower case) is restored
                return None
            buf[exc.end] = 0xA0
    return fixed if fixed != text else None


def repair_text(text: str) -> tuple[str, str | None]:
    """Return (repaired NFC text, flag) with flag ``mojibake_repaired``, ``legacy_encoding_repaired`` or None.

    Mojibake is tried first (it is exact: the bytes must be valid UTF-8), at most twice for text
    that was mis-decoded twice; then legacy-encoding detection on the whole value.
    """
    if not text or not _SUSPICIOUS_PY.search(text) or _NOT_CP1252_PY.search(text):
        return text, None
    # A name met here did not come through the cell pass (which undoes mojibake with its column's
    # evidence) or was changed after it: its own exactness is the evidence, as before.
    fixed = undo_mojibake(text, among_mojibake=True)
    # Accept only a result written in the Vietnamese alphabet: "Âµ" is also UTF-8 for "µ", but
    # that is a case-changed "âµ", not a name.
    if fixed is not None and _VIETNAMESE_TEXT.fullmatch(fixed):
        return fixed, MOJIBAKE
    # A short value is weak evidence (README 3.4/7: "score a phrase, not a single word"): convert
    # only with a byte that no Vietnamese Unicode letter uses (¸ µ ® ¨ ø ...) or two garbled words.
    enc = detect_legacy(text)
    if enc is not None and (_STRONG_PY.search(text) or len(_affected_words(text)) >= 2):
        return to_unicode(text, enc), LEGACY
    return text, None
