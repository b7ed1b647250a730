"""Text encodings of CSV uploads: UTF-8 (with or without BOM), UTF-16, Windows-1258, legacy 8-bit.

Order of decisions, cheapest and surest first: a BOM decides; NUL bytes in alternate positions mean
UTF-16 without a BOM; bytes that decode as strict UTF-8 are UTF-8. Anything else is 8-bit: the
text is read byte-for-byte (Latin-1) and handed to the normaliser's legacy detector
(``rules.normalise.legacy.detect_legacy``: TCVN3/ABC, VNI, VISCII); when it names an encoding, its
``to_unicode`` converts. Otherwise Windows-1258 (Vietnamese Windows, tone marks as combining
characters, so the result is NFC-normalised). Output is always UTF-8 bytes, which polars reads
without another copy.
"""

from __future__ import annotations

import codecs
import itertools
import re
import unicodedata
from dataclasses import dataclass, replace

import polars as pl

from rules.ingest.errors import UploadError
from rules.ingest.limits import column_letters

# Characters that Windows-1258 puts on Vietnamese text: the five combining tone marks and the
# precomposed base letters ă â ê ô ơ ư đ (both cases). Real Vietnamese in cp1258 is full of them.
_CP1258_VIET = set("\u0300\u0301\u0303\u0309\u0323ăâêôơưđĂÂÊÔƠƯĐ")
_CP1258_TONES = set("\u0300\u0301\u0303\u0309\u0323")
_VIET_VOWELS = set("aăâeêioôơuưyAĂÂEÊIOÔƠUƯY")
_SAMPLE = 1 << 16


@dataclass(frozen=True)
class Decoded:
    """UTF-8 bytes of the file and the name of the encoding they came from."""

    data: bytes
    encoding: str  # utf-8, utf-8-sig, utf-16, utf-32, cp1258, cp1252, tcvn3, vni, viscii, mac_roman
    converted: bool  # True when a legacy 8-bit table was applied
    checked: bool = True  # False: only the head was verified as UTF-8 (the reader verifies the rest)


def _legacy_tools():
    """The normaliser's legacy converter, when it is installed in this tree."""
    try:
        from rules.normalise.legacy import detect_legacy, to_unicode
    except ImportError:  # pragma: no cover - depends on the other module having landed
        return None, None
    return detect_legacy, to_unicode


def _looks_utf16(data: bytes) -> str | None:
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) // 2
    if odd > 0.3 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.3 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


# Control bytes that text never holds (tab, LF, FF, CR excluded; so are the six C0 bytes VISCII uses
# for capital letters), and signatures of binary formats often renamed .csv.
_TEXT_CONTROLS = {0x09, 0x0A, 0x0C, 0x0D, 0x02, 0x05, 0x06, 0x14, 0x19, 0x1E, 0x1A}
_BINARY_CONTROLS = bytes(b for b in range(0x20) if b not in _TEXT_CONTROLS) + b"\x7f"
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!",
                 b"BZh", b"\xfd7zXZ", b"MZ", b"\x7fELF", b"SQLite format")


def looks_binary(data: bytes) -> bool:
    """Bytes of a binary file, not text: a known binary signature, or more than 1 % control bytes
    (NUL included) in the first 64 KiB that are not UTF-8 text, or more than 10 % whatever they are.
    A short UTF-8 list with a few stray control characters in its cells (a NUL or BEL pasted from
    an old program) is text: the reader removes them (``characters.yaml``, ``controls``); random
    bytes are never valid UTF-8 for long. UTF-16 is decided before this is asked."""
    if data.startswith(_BINARY_MAGIC):
        return True
    sample = data[:_SAMPLE].rstrip(b"\x00")  # NUL padding after the text (pre-allocated files) is not data
    if not sample:
        return False
    controls = len(sample) - len(sample.translate(None, _BINARY_CONTROLS))
    if controls <= 0.01 * len(sample):
        return False
    return controls > 0.1 * len(sample) or not _utf8_head(sample)


def _cp1258_score(text: str) -> float:
    """Share of non-ASCII characters that are ones Windows-1258 uses for Vietnamese; 0 when its tone
    marks do not sit on vowels.

    Why the vowels: Windows-1258 reads five Windows-1252 letters as combining tone marks (ì as an
    acute, ò as a dot below, Ì Ò Þ), so Western text such as ``Tô Thì Tâm`` scored as Vietnamese
    Windows and read as ``Tô Th́ Tâm``. Vietnamese typed in Windows-1258 puts each tone mark on a
    vowel; more than one mark in 20 after anything else is not Windows-1258 text.
    """
    high = [c for c in text if ord(c) > 127]
    if not high:
        return 1.0
    marks = [i for i, c in enumerate(text) if c in _CP1258_TONES]
    misplaced = sum(1 for i in marks if i == 0 or text[i - 1] not in _VIET_VOWELS)
    if misplaced * 20 > len(marks):
        return 0.0
    return sum(c in _CP1258_VIET for c in high) / len(high)


def _utf8_head(data: bytes) -> bool:
    """True when the first ``_SAMPLE * 4`` bytes are UTF-8 (a cut multi-byte character is allowed)."""
    head = data[: _SAMPLE * 4]
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return len(head) == _SAMPLE * 4 and exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"


def decode_bytes(data: bytes, *, file: str = "", check_all: bool = True) -> Decoded:
    """Turn the raw bytes of a text upload into UTF-8 with LF line ends; raise UploadError when no
    encoding fits.

    Line ends are normalised here, once: CR alone (Excel for Mac "CSV (Macintosh)"), CRLF, LF and
    any mix of them all end a line, as they do when Excel opens the file.

    With ``check_all=False`` a file whose head is UTF-8 is passed on unchecked (``checked=False``):
    polars validates UTF-8 while parsing at no extra cost, and the reader comes back with
    ``check_all=True`` when it finds an invalid byte later in the file.
    """
    decoded = _decode(data, file, check_all)
    fixed = normalise_line_ends(decoded.data)
    return decoded if fixed is decoded.data else replace(decoded, data=fixed)


def normalise_line_ends(data: bytes) -> bytes:
    """CR LF and a lone CR -> LF (the same object back when there is no lone CR: no copy)."""
    n_cr = data.count(b"\r")
    if not n_cr:
        return data
    if data.count(b"\r\n") == n_cr:
        return data  # CRLF only: polars and the csv module read it as it is
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _decode(data: bytes, file: str, check_all: bool) -> Decoded:
    if data.startswith(codecs.BOM_UTF8):
        body = data[len(codecs.BOM_UTF8):]
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            _check_mixed(body, exc.start, file)
            raise UploadError("unsupported_encoding", file=file) from exc
        return Decoded(body, "utf-8-sig", False)
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: FF FE 00 00 starts both
        return _recode(data, "utf-32", file)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _recode(data, "utf-16", file)
    guess = _looks_utf16(data)
    if guess:
        return _recode(data, guess, file)
    if looks_binary(data):
        raise UploadError("not_text", file=file)
    if not check_all and _utf8_head(data):
        return Decoded(data, "utf-8", False, checked=False)
    try:
        data.decode("utf-8")
        return Decoded(data, "utf-8", False)
    except UnicodeDecodeError as exc:
        _check_mixed(data, exc.start, file)
    return _decode_8bit(data, file)


# Vietnamese letters whose UTF-8 bytes an 8-bit legacy file does not hold by chance (3-byte forms)
_VIET_UNICODE = re.compile("[\u1ea0-\u1ef9]")


def _check_mixed(data: bytes, bad: int, file: str) -> None:
    """Refuse a file that is UTF-8 Vietnamese up to byte ``bad`` and another encoding from there
    (lines pasted from an older TCVN3 / Windows-1258 file), naming the line where it changes: read
    as one 8-bit encoding, the UTF-8 part would be garbled, and "the file uses TCVN3" would be wrong.

    UTF-8 whose broken sequences end in ``?`` is UTF-8 saved again through a Windows code page that
    lacked some of its bytes (shown as ``Há»?``, written back with ``?`` for what it could not
    hold): refused as lost letters (``lossy_ansi_csv``), wherever the first one is."""
    if data[bad: bad + 4].find(b"?") > 0 and _utf8_lost_bytes(data):
        raise UploadError("lossy_ansi_csv", file=file, row=(data[:bad].count(b"\n") or data[:bad].count(b"\r")) + 1)
    prefix = data[:bad]
    try:
        text = prefix.decode("utf-8")
    except UnicodeDecodeError:
        return
    if len(_VIET_UNICODE.findall(text[-(1 << 16):])) < 2:
        return  # ASCII (or no Vietnamese) so far: an 8-bit file, decided by the usual path
    breaks = prefix.count(b"\n") or prefix.count(b"\r")
    raise UploadError("mixed_encoding", file=file, row=breaks + 1)


_BROKEN_THEN_QUESTION = re.compile(rb"[\xc2-\xf4][\x80-\xbf]{0,2}\?")


def _utf8_lost_bytes(data: bytes) -> bool:
    """UTF-8 Vietnamese whose multi-byte letters were cut short by ``?``: at least two intact
    Vietnamese letters (3-byte forms no 8-bit file holds by chance) and mostly cut ones that end
    in ``?`` among the broken sequences."""
    head = data[: _SAMPLE * 4]
    text = head.decode("utf-8", errors="replace")
    if len(_VIET_UNICODE.findall(text)) < 2:
        return False
    broken = text.count("\ufffd")
    return 2 * len(_BROKEN_THEN_QUESTION.findall(head)) >= broken > 0


def _recode(data: bytes, encoding: str, file: str) -> Decoded:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UploadError("unsupported_encoding", file=file) from exc
    return Decoded(text.lstrip("\ufeff").encode("utf-8"), "utf-32" if "32" in encoding else "utf-16", False)


def _decode_8bit(data: bytes, file: str) -> Decoded:
    """An 8-bit text file, in this order: Excel for Mac's Mac Roman; Windows-1258 (Vietnamese
    Windows); a legacy font table (TCVN3, VNI, VISCII); Windows-1252 (Western Windows, what Excel's
    plain 'CSV' writes on a Western PC). Letters that the Windows code page could not hold were
    written as ``?``: such a file is refused naming the line, never read as names with ``?`` in
    them. A file none of these reads is refused as a legacy font file."""
    mac = _mac_roman(data, file)
    if mac is not None:
        return mac
    try:
        text = data.decode("cp1258")
    except UnicodeDecodeError:
        text = ""
    if text and _cp1258_score(text[:_SAMPLE]) >= 0.6:
        _refuse_lost_letters(text[: _SAMPLE * 4], file)
        return Decoded(unicodedata.normalize("NFC", text).encode("utf-8"), "cp1258", False)
    # Not Vietnamese Windows text: a legacy font encoding (never applied to text that passed above).
    detect_legacy, to_unicode = _legacy_tools()
    latin = data.decode("latin-1")
    legacy = detect_legacy(latin[: _SAMPLE * 4]) if detect_legacy else None
    if not legacy:
        western = _western(data)
        if western is not None:
            _refuse_lost_letters(western[: _SAMPLE * 4], file)
            return Decoded(unicodedata.normalize("NFC", western).encode("utf-8"), "cp1252", False)
        raise UploadError("legacy_encoding", file=file, encoding=_name_legacy_family(data))
    try:
        converted = to_unicode(latin, legacy)
    except Exception as exc:  # the converter's failure is the file's problem, told plainly
        raise UploadError("legacy_encoding", file=file, encoding=str(legacy).upper()) from exc
    return Decoded(unicodedata.normalize("NFC", converted).encode("utf-8"), str(legacy).lower(), True)


_LOST_LETTER = re.compile(r"[^\W\d_][?_]|[?_][^\W\d_]")
# A letter a Windows code page could not hold, written as "?": a "?" before a letter (starting or
# inside a word: ``??ng``, ``Nguy?n``), or more than one "?" ending a word (one is a question in a note).
_QUESTION_BEFORE_LETTER = re.compile(r"\?[^\W\d_]")
_QUESTION_AFTER_LETTER = re.compile(r"[^\W\d_]\?")
# The letters of Windows-1252 beyond ASCII (Latin-1's and its own Š Ž Œ Ÿ); not µ ª º, which the
# legacy fonts use for Vietnamese letters, nor any symbol.
_WESTERN_LETTERS = "À-ÖØ-öø-ÿŠšŽžŒœŸ"
_WESTERN_WORD = re.compile(f"[A-Za-z{_WESTERN_LETTERS}]+")


def _refuse_lost_letters(text: str, file: str) -> None:
    """Refuse 8-bit text whose letters were replaced by ``?`` (``lossy_ansi_csv``), naming the first
    line: Excel's plain 'CSV' writes every letter its Windows code page lacks as ``?``, and
    Windows-1252 lacks nearly all Vietnamese ones (``Nguy?n V?n An``), Windows-1258 the
    precomposed ones. Nothing can bring them back."""
    before = _QUESTION_BEFORE_LETTER.search(text)
    after = list(itertools.islice(_QUESTION_AFTER_LETTER.finditer(text), 2))
    if before is None and len(after) < 2:
        return
    first = min(m.start() for m in [*after, *([before] if before else [])])
    head = text[:first]
    raise UploadError("lossy_ansi_csv", file=file, row=head.count("\n") + head.count("\r") - head.count("\r\n") + 1)


def _western(data: bytes) -> str | None:
    """The text of a Windows-1252 (Western) file, or None when the bytes are not that.

    Why: a file that is neither UTF-8, Windows-1258 nor a legacy font table the detector reads is
    most often plain Western text (names with é, à, ü; Vietnamese saved by Excel on a Western PC).
    Refusing it as "the file uses TCVN3" is a wrong diagnosis that sends the uploader to a font
    converter that mangles it. It is Western text when it decodes in Windows-1252 and each word
    holding a non-ASCII character is letters only in one case shape (``Société``, ``HÀ``: legacy
    fonts give symbols, ``Hä vµ tªn``, or a capital inside a word, ``NguyÔn``). VNI, whose marks
    are letters too (``Nguyeãn Vaên``), is not told apart here: the legacy detector, asked first,
    reads it (its words become Vietnamese syllables), and a text it could not read is not VNI.
    """
    from rules.normalise.legacy import _affected_words

    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8D, 0x8F, 0x90, 0x9D: no Windows-1252 text holds them
        return None
    words = _affected_words(text[: _SAMPLE * 4])
    odd = sum(1 for w in words if not (_WESTERN_WORD.fullmatch(w) and (w.islower() or w.isupper() or w.istitle())))
    return None if odd * 20 > len(words) else text


def _mac_roman(data: bytes, file: str) -> Decoded | None:
    """Excel for Mac "CSV (Macintosh)": CR-only line ends and the Mac Roman encoding, which has no
    Vietnamese letters (Excel writes them as ``?``/``_``). Read it when its accented words are
    Vietnamese syllables; refuse it, saying why, when letters were lost; None when it is not one."""
    head = data[: _SAMPLE * 4]
    if b"\r" not in head or b"\n" in head:
        return None
    from rules.normalise.legacy import _affected_words
    from rules.normalise.syllable import is_syllable

    text = data.decode("mac_roman")
    words = _affected_words(text[: _SAMPLE * 4])
    if not words or sum(map(is_syllable, words)) < 0.6 * len(words):
        return None
    if _LOST_LETTER.search(text):
        raise UploadError("lossy_mac_csv", file=file)
    return Decoded(unicodedata.normalize("NFC", text).encode("utf-8"), "mac_roman", True)


def _name_legacy_family(data: bytes) -> str:
    """Rough name for the message only: VNI appends mark bytes to ASCII vowels, TCVN3 replaces them."""
    high = [b for b in data[:_SAMPLE] if b > 127]
    if not high:
        return "8-bit"
    # VNI marks are mostly 0xD8-0xF8 after an ASCII vowel; TCVN3 letters sit in 0xA1-0xFE alone.
    after_vowel = sum(
        1 for i in range(1, min(len(data), _SAMPLE)) if data[i] > 127 and chr(data[i - 1]) in "aeiouyAEIOUY"
    )
    return "VNI" if after_vowel > 0.6 * len(high) else "TCVN3 (ABC)"


# A name whose Vietnamese letters a Windows code page wrote as "?": letters, spaces and "?" only, at
# least two words, and a "?" that starts a word or sits between letters (``Nguy?n V?n An``,
# ``??ng``). Polars/Rust regex. A question in a note (``Da nop?``) ends a word and is never one; a
# web address (``a.php?id=1``) holds other characters and is not a name.
_NAME_SHAPED = r"^\s*[A-Za-z?]+(?:[ .'-]+[A-Za-z?]+)+\s*$"
_LOST_IN_WORD = r"(?:^|[^A-Za-z?])\?+[A-Za-z]|[A-Za-z]\?+[A-Za-z]"


def refuse_lost_letters_in_names(frame: pl.DataFrame, cols: list[str], file: str,
                                 labels: list[str | None] | None = None) -> None:
    """Refuse an all-ASCII text file whose names had their letters replaced by ``?``
    (``lossy_ansi_csv``), naming the first line and its column.

    Why here and not in :func:`decode_bytes`: ASCII is valid UTF-8, so such a file never reaches the
    8-bit path that refuses lost letters (``_refuse_lost_letters``); and in a whole ASCII text a
    ``?`` before a letter can be a note's (``Hoi lai?Xem``) or a link's. A cell shaped like a name
    (:data:`_NAME_SHAPED`) with a ``?`` inside a word is a lost letter: no name is spelled with one.
    Vectorised: one scan per column, nearly always finding nothing. ``frame`` holds ``excel_row``
    (the line a text editor shows); ``labels``: header text per column, for the message.
    """
    hits = frame.select(
        (pl.col(c).str.contains(_LOST_IN_WORD) & pl.col(c).str.contains(_NAME_SHAPED)).fill_null(False).alias(c)
        for c in cols
    )
    found = [(int(frame["excel_row"][idx[0]]), j) for j, c in enumerate(cols)
             if (idx := hits.get_column(c).arg_true()).len()]
    if not found:
        return
    line, j = min(found)
    label = labels[j] if labels and j < len(labels) and labels[j] else column_letters(j + 1)
    raise UploadError("lossy_ansi_csv", file=file, row=line, column=label)
