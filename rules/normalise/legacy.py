"""Legacy Vietnamese 8-bit encodings (TCVN3/ABC, VNI-Windows, VISCII): detect and convert.

Why: old ``.xls``/``.csv``/``.dbf`` exports still carry text typed with ``.VnTime`` (TCVN3) or
``VNI-Times`` fonts; read as Latin-1/CP1252 it shows as ``NguyÔn V¨n A`` or ``Nguyeãn Vaên A``
(domain README 3.4/7). Ingestion decodes files with these functions; name normalisation uses them
on fragments that reached it.

Input convention: ``text`` is what the bytes look like when decoded as **CP1252 or Latin-1** (both
are accepted, they differ only in 0x80-0x9F). For raw bytes use :func:`decode_bytes`.

Detection decides from the text, never from a font name, and scores whole words: a candidate
encoding wins only when clearly more of the affected words become well-formed Vietnamese syllables
than as-is (so Spanish ``señor`` or French ``café`` stay untouched), and text that already holds
Unicode-only Vietnamese letters (ơ ư ă đ, U+1EA0-U+1EF9) is never converted. The tables are data
(``legacy_tables.yaml``, with their provenance); ``viparse`` on PyPI was not used so the pipeline
needs no extra dependency for three small tables.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from functools import cache
from pathlib import Path

from rules.config import StrictModel, load_config
from rules.normalise.syllable import is_syllable

ENCODINGS: tuple[str, ...] = ("tcvn3", "vni", "viscii")

_TABLES_PATH = Path(__file__).with_name("legacy_tables.yaml")
# Letters that exist only in Unicode Vietnamese: their presence proves the text is already decoded.
_UNICODE_VIET = re.compile("[ăĂđĐơƠưƯĩĨũŨ\u1ea0-\u1ef9]")
_HIGH = re.compile("[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013-\u2122]")
_WORD = re.compile(r"[^\s\d.,;:!?()\[\]{}\"'/\\|<>=+*&%$#@^~`_-]+")
_MAX_WORDS = 3000  # words sampled for detection: enough for a verdict, cheap on whole documents


@cache
def _cp1252_char_to_byte() -> dict[str, int]:
    """Every character that a byte 0x80-0xFF can become under CP1252 or Latin-1 -> that byte."""
    out: dict[str, int] = {}
    for b in range(0x80, 0x100):
        out[chr(b)] = b  # Latin-1 view (also CP1252's undefined bytes 0x81, 0x8D, 0x8F, 0x90, 0x9D)
        with contextlib.suppress(UnicodeDecodeError):
            out[bytes([b]).decode("cp1252")] = b
    return out


class VniTable(StrictModel):
    """VNI-Windows: base-letter replacements and the mark characters that follow a letter."""

    letters: dict[str, str]
    marks: dict[str, str]


class LegacyTables(StrictModel):
    """``legacy_tables.yaml``: byte value -> Unicode text per single-byte table, and the VNI rule."""

    viscii: dict[int, str]
    tcvn3: dict[int, str]
    vni: VniTable


@cache
def _tables() -> dict:
    t = load_config(_TABLES_PATH, LegacyTables)
    return {"viscii": t.viscii, "tcvn3": t.tcvn3, "vni": {"letters": t.vni.letters, "marks": t.vni.marks}}


@cache
def _translation(encoding: str) -> dict[int, str]:
    """str.translate table for single-character conversions (TCVN3, VISCII, VNI letters+marks)."""
    tables = _tables()
    char_to_byte = _cp1252_char_to_byte()
    out: dict[int, str] = {}
    if encoding in ("tcvn3", "viscii"):
        byte_map: dict[int, str] = tables[encoding]
        for ch, b in char_to_byte.items():
            if b in byte_map:
                out[ord(ch)] = byte_map[b]
        if encoding == "viscii":  # VISCII also reuses six C0 control bytes for capitals
            for b, uni in byte_map.items():
                if b < 0x80:
                    out[b] = uni
        return out
    if encoding == "vni":
        out.update({ord(k): v for k, v in tables["vni"]["letters"].items()})
        out.update({ord(k): v for k, v in tables["vni"]["marks"].items()})
        return out
    raise ValueError(f"unknown legacy encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")


def to_unicode(text: str, encoding: str) -> str:
    """Convert ``text`` (legacy bytes seen as CP1252/Latin-1) from ``encoding`` to NFC Unicode.

    Works on whole documents (one ``str.translate`` pass plus NFC). Characters outside the
    table (ASCII, line breaks) pass through unchanged.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown legacy encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    if not text:
        return text
    return unicodedata.normalize("NFC", text.translate(_translation(encoding)))


def _score(words: list[str]) -> float:
    """Share of words that are well-formed Vietnamese syllables."""
    if not words:
        return 0.0
    return sum(1 for w in words if is_syllable(w)) / len(words)


def _affected_words(text: str) -> list[str]:
    words = []
    for m in _WORD.finditer(text):
        w = m.group(0)
        # a one-letter word is too little evidence: a lone Ñ would "decode" to a vowel
        if _HIGH.search(w) and len(w) >= 2:
            words.append(w)
            if len(words) >= _MAX_WORDS:
                break
    return words


@cache
def _removed() -> dict[int, None]:
    """``str.translate`` map deleting what the cell pass deletes as invisible (``characters.yaml``:
    default-ignorable characters such as the soft hyphen, and C0/C1 controls)."""
    from rules.normalise.characters import table

    t = table()
    return dict.fromkeys(t.ignorable | t.controls)


def _evidence(words: list[str]) -> list[str]:
    """The affected words that can vote: those holding a legacy character the cell pass would keep.

    Why: legacy tables put letters on invisible codes (VISCII capitals on C0/C1 controls, TCVN3
    ``ư`` and VISCII ``ễ`` on the soft hyphen 0xAD), so an invisible character pasted into a Unicode
    word "converts" to a letter: a C1 control typed into the header ``Ngày sinh`` read as the VISCII
    capital ``Ố`` (``Ngày sỐinh``) and the date column was lost. An invisible character is far more
    often a stray than a legacy letter, and real legacy text is full of visible ones (most of its
    lower-case letters), so invisible ones never decide; once visible evidence decides, they are
    converted with the rest of the text.
    """
    strip = _removed()
    return [w for w in words if _HIGH.search(w.translate(strip))]


def detect_legacy(text: str, min_score: float = 0.6) -> str | None:
    """Name the legacy encoding ``text`` is in (``tcvn3`` | ``vni`` | ``viscii``), or None.

    Only words holding a visible character from the 0x80-0xFF range are scored (invisible ones alone
    are no evidence: :func:`_evidence`). An encoding is chosen when at least ``min_score`` of those
    words become Vietnamese syllables after conversion and that beats the text as it is by a clear
    margin. "As it is" means as the cell pass would leave it, invisible characters removed: a stray
    control inside a Unicode word must not make the word look broken and conversion a repair.
    """
    if not text or _UNICODE_VIET.search(text):
        return None
    words = _evidence(_affected_words(text))
    if not words:
        return None
    strip = _removed()
    baseline = _score([w.translate(strip) for w in words])
    if baseline + 0.3 > 1.0:  # already mostly real syllables: no table can win by the margin
        return None
    best, best_score = None, 0.0
    for enc in ENCODINGS:
        converted = [to_unicode(w, enc).translate(strip) for w in words]  # and the cell pass after it
        score = _score([w for c in converted for w in c.split()])
        if score > best_score:
            best, best_score = enc, score
    if best is not None and best_score >= min_score and best_score >= baseline + 0.3:
        return best
    return None


def decode_bytes(data: bytes) -> tuple[str, str | None]:
    """Decode a file's bytes: UTF-8 if valid, else CP1252 and a detected legacy table.

    Returns (text, encoding used: ``utf-8`` | ``tcvn3`` | ``vni`` | ``viscii`` | ``cp1252``).
    """
    try:
        return unicodedata.normalize("NFC", data.decode("utf-8-sig")), "utf-8"
    except UnicodeDecodeError:
        pass
    text = data.decode("latin-1")  # lossless; _translation accepts the Latin-1 view
    enc = detect_legacy(text)
    if enc is None:
        return unicodedata.normalize("NFC", data.decode("cp1252", errors="replace")), "cp1252"
    return to_unicode(text, enc), enc
