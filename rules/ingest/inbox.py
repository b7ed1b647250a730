"""The inbox naming rule and the inbox listing: the one owner of "inbox file name" and "unit slug".

Inbox files are named ``<unit>__<listed name>`` (contracts §0). Everything here treats the names
as hostile text typed by uploaders and operators:

* **Unit slugs** are ASCII ``[a-z0-9_]``, start and end with a letter or digit, at most
  ``MAX_UNIT_CHARS`` long (:data:`UNIT_PATTERN`). A unit is used as a folder-free path part and as a
  key in every table analysts see, so personal-looking parts are masked to ``x`` when a unit is
  derived from a file name (:func:`unit_slug`): digit runs of 9 or more (an ID), date-like tokens
  (``05_09_2012``, ``2012_09_05``, ``05092012``) and a person-name shape (a Vietnamese family name
  followed by one to four name words). A unit typed on the command line is checked instead
  (:func:`check_unit`): anything that is not already a safe slug is refused with a suggestion.
  The hex digits a slug may carry (masked or cut text) are a *keyed* pseudonym (HMAC with the
  deployment's key, ``rules.pseudonym``): a plain hash of ``nguyen_van_an_079212000123`` could be
  recomputed by anyone holding a list of pupils, and the slug is seen by analysts, e-mails and metadata.
* **File names** are bounded in UTF-8 *bytes* (Linux allows 255 bytes per name; Vietnamese letters
  take 2-3 bytes each): :func:`bounded_name` cuts at a character boundary, keeps the suffix and
  adds 8 hex digits of the full name's keyed pseudonym (``rules.pseudonym``) so that two long names
  stay two lists. Our own error
  report name (``<stem>.errors.xlsx``) fits too. Path separators, control characters and a leading
  dot are replaced, so a name is always one harmless path part.
* **Listing** (:func:`list_inbox`) returns regular files only, by ``lstat``: symbolic links (to a
  file or a folder), FIFOs, sockets and devices are refused, and so is a province or sector folder
  that is itself a link. With ``units=True`` (a sector inbox) a file not named ``<unit>__<list>``
  is refused too (``misnamed_file``): a unit made up from a free file name would be a new unit that
  competes for the verification quota, so the uploader is told to rename it instead. Refused entries
  come back with a reason so callers can say what they skipped (by count; names are uploader text).
* **Cursor keys** (:func:`name_key`): what a sensor may remember about a file name is its masked
  label plus 8 hex digits of the name, never the name (Dagster keeps cursors in its own storage and
  shows them in the UI).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from rules.errors import UserError
from rules.ingest.formats import READ_SUFFIXES
from rules.provinces import slugify

#: The longest file name the file systems we write to take, in UTF-8 bytes.
NAME_MAX_BYTES = 255
MAX_NAME_BYTES = 200  # leaves room for ".errors.xlsx" and temp prefixes under NAME_MAX_BYTES
MAX_UNIT_CHARS = 64
UNIT_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_]{0,62}[a-z0-9])?$")
UNIT_SEPARATOR = "__"
#: What an inbox reads: every type the reader reads (``rules.ingest.formats``), so what ``doisoat upload``
#: accepts and copies in is read there too; any other file is refused, saying so.
UPLOAD_SUFFIXES = READ_SUFFIXES
#: Files an inbox passes over without a word: what the desktop leaves beside uploads.
_LITTER_NAMES = frozenset({"thumbs.db", "desktop.ini"})
MASK = "x"
FAMILY_SHARE = 0.004

_DIGIT_RUN = re.compile(r"\d{9,}")
# day/month/year and year/month/day with any separator (slugs turn them into "_"), and 8 digits
# that read as ddmmyyyy or yyyymmdd
_DATE = re.compile(
    r"(?<![0-9])(?:"
    r"(?:0?[1-9]|[12]\d|3[01])_(?:0?[1-9]|1[0-2])_(?:19|20)\d\d"
    r"|(?:19|20)\d\d_(?:0?[1-9]|1[0-2])_(?:0?[1-9]|[12]\d|3[01])"
    r"|(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])(?:19|20)\d\d"
    r"|(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r")(?![0-9])"
)
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")
#: The list name given to an upload whose own name names none (``.xlsx``).
UNNAMED_LIST = "unnamed"


class UnitError(UserError, ValueError):
    """A unit typed by an operator that is not a safe slug; ``str()`` is the one-line message."""


class InboxLinkError(UserError, ValueError):
    """An inbox folder that leads outside the inbox (a link): nothing is copied into it."""


@cache
def _family_names() -> frozenset[str]:
    """ASCII-folded Vietnamese family names (rules/reference/names) borne by at least 0.4% of people:
    25 names, about 95% of the population. Rarer ones (``Văn``, ``Kim``, ``Sơn``, ``Long``...) are
    also everyday words and given names, so they are left out."""
    import csv

    from rules.provinces import REFERENCE_DIR

    with open(REFERENCE_DIR / "names" / "family_names.csv", encoding="utf-8") as fh:
        return frozenset(slugify(row["family"]) for row in csv.DictReader(fh)
                         if float(row["share"]) >= FAMILY_SHARE)


def mask_personal(slug: str) -> str:
    """``nguyen_van_an_079212000123_05_09_2012`` -> ``x_x_x``: IDs, dates and person names masked.

    Works on slug text (``[a-z0-9_]``). A person-name shape is a family name from the reference list
    followed by one to four alphabetic words, where it is the whole slug or followed by a masked
    part (an ID or a date beside it), so school names such as ``thpt_le_quy_don`` stay readable.
    """
    text = _DIGIT_RUN.sub(MASK, _DATE.sub(MASK, slug))
    tokens = text.split("_")
    families = _family_names()
    out: list[str] = []
    i = 0
    while i < len(tokens):
        if tokens[i] in families:
            j = i + 1
            while j < len(tokens) and j - i <= 4 and tokens[j].isalpha() and tokens[j] != MASK:
                j += 1
            ends_name = j == len(tokens) or tokens[j] == MASK
            if j - i >= 2 and ends_name and (i == 0 or out[-1] == MASK):
                out.append(MASK)
                i = j
                continue
        out.append(tokens[i])
        i += 1
    collapsed: list[str] = []
    for tok in out:  # "x_x" -> "x": the number of masked parts says nothing useful
        if not (tok == MASK and collapsed and collapsed[-1] == MASK):
            collapsed.append(tok)
    return "_".join(t for t in collapsed if t)


#: Type abbreviations and place words after which a name is an institution's or a street's namesake
#: (THPT Lê Quý Đôn, phường Lê Lợi), not a pupil: a label keeps such names readable. Deliberately short:
#: "trường" alone is also the family name Trương, and a school's name over-masked costs nothing.
_INSTITUTION_WORDS = frozenset({
    "thpt", "thcs", "th", "mn", "mg", "tyt", "bv", "ttyt", "gdtx", "phuong", "xa", "quan", "huyen", "duong", "pho",
})


def mask_name_runs(slug: str) -> str:
    """``ds_nguyen_thi_mai_lop_6a`` -> ``ds_x_6a``: every person-name shape masked wherever it stands.

    A shape is a family name from the reference list followed by one to three alphabetic words, unless
    a type abbreviation or place word comes right before it (``thpt_le_quy_don``, ``phuong_le_loi``
    stay) or right after its first word (``truong_thpt_...``: a school, not Trương). Stricter than
    :func:`mask_personal`, which only masks a name that makes the whole slug or stands beside an ID or
    a date, because unit slugs must stay stable; a label is for reading only (uploads are told apart by
    their file id), so a school's name over-masked costs nothing and a pupil's name shown costs much.
    """
    tokens = slug.split("_")
    families = _family_names()
    out: list[str] = []
    i = 0
    while i < len(tokens):
        j = i + 1
        while tokens[i] in families and j < len(tokens) and j - i <= 3 and tokens[j].isalpha() and tokens[j] != MASK:
            j += 1
        school = j - i >= 2 and tokens[i + 1] in _INSTITUTION_WORDS  # "truong_thpt": a school, not Trương
        if j - i >= 2 and not school and (i == 0 or tokens[i - 1] not in _INSTITUTION_WORDS):
            if not (out and out[-1] == MASK):
                out.append(MASK)
            i = j
            continue
        out.append(tokens[i])
        i += 1
    return "_".join(out)


def unit_slug(text: str) -> str:
    """A safe unit slug from free text (a file-name prefix or stem): ASCII, masked, bounded.

    ``"THPT Lê Quý Đôn"`` -> ``thpt_le_quy_don``; an ID, a date or a pupil's name in it becomes
    ``x`` and the slug gets 8 hex digits of the unmasked text's keyed pseudonym (so that two pupils'
    correction files stay two units while a corrected file still names the same unit, and nobody
    without the deployment's key can test a guessed name, ID or date against it); longer than
    ``MAX_UNIT_CHARS`` keeps the first part plus 8 hex digits of the whole's pseudonym; nothing left
    gives ``unknown``. The result always matches :data:`UNIT_PATTERN`. Only those two cases need the
    key (:func:`rules.pseudonym.deployment_key`).
    """
    from rules.pseudonym import pseudonym

    plain = slugify(text)
    slug = mask_personal(plain)
    if slug != plain:  # two pupils' files must stay two units: a keyed digest of the unmasked text tells them apart
        slug = f"{slug}_{pseudonym('unit-masked', plain)}"
    if len(slug) > MAX_UNIT_CHARS:
        digest = pseudonym("unit-long", slug)
        slug = f"{slug[: MAX_UNIT_CHARS - 9].strip('_')}_{digest}"
    return slug if UNIT_PATTERN.match(slug) else "unknown"


def check_unit(text: str) -> str:
    """A unit typed by an operator (``doisoat upload --unit``): returned when safe, else UnitError.

    Refused rather than silently changed, so the operator knows which unit the rows go to: a path
    (``/abs/dir``, ``../../x``), a newline, capitals, spaces or accents, more than 64 characters, or
    a personal-looking part (an ID, a date, a person's name).
    """
    suggestion = unit_slug(text)
    if UNIT_PATTERN.match(text) and mask_personal(text) == text:
        return text
    why = ("looks like personal data (an ID, a date or a person's name)"
           if UNIT_PATTERN.match(text) else "is not a unit slug")
    raise UnitError(
        f"--unit {text!r} {why}: use a-z, 0-9 and _ only, at most {MAX_UNIT_CHARS} characters, naming "
        f"the school or health unit with its type first (e.g. thpt_le_quy_don); suggestion: {suggestion} / "
        f"đơn vị không hợp lệ: chỉ dùng a-z, 0-9 và _, tên trường hoặc cơ sở y tế"
    )


def safe_part(name: str) -> str:
    """One harmless path part: separators and control characters become ``_``, no leading dot."""
    name = unicodedata.normalize("NFC", _UNSAFE_CHARS.sub("_", name)).strip()
    name = name.lstrip(".") or "upload"
    return name


def bounded_name(name: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """``name`` cut to ``max_bytes`` of UTF-8, suffix kept; cut names get ``~<8 hex>`` of the whole's
    keyed pseudonym (the cut part may hold a pupil's name, and error reports are sent back by e-mail).

    Raises nothing: a suffix longer than the budget is itself cut (such a file is refused later as
    an unsupported type anyway).
    """
    name = safe_part(name)
    raw = name.encode("utf-8")
    if len(raw) <= max_bytes:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix.encode()) > 16:
        stem, suffix = name, ""
    from rules.pseudonym import pseudonym

    tail = f"~{pseudonym('file-name', name)}" + (f".{suffix}" if suffix else "")
    budget = max_bytes - len(tail.encode("utf-8"))
    cut = stem.encode("utf-8")[:budget].decode("utf-8", errors="ignore").rstrip()
    return cut + tail


def is_inbox_name(file_name: str) -> bool:
    """True when ``file_name`` follows the inbox naming rule ``<unit>__<list>.<suffix>``: a prefix
    before ``__`` that makes a unit slug, and a list name after it. ``DS học sinh lớp 6A.xlsx`` is not."""
    prefix, _ = split_inbox_name(Path(file_name).name)
    return prefix is not None and bool(listed_stem(file_name).strip()) and unit_slug(prefix) != "unknown"


def name_key(file_name: str) -> str:
    """A key for a file name that holds no personal data: ``thcs_nu__x.xlsx#1a2b3c4d`` (the masked
    :func:`public_label` plus a keyed pseudonym of the full name, so two names stay two keys and a
    list of pupils cannot be hashed to find them). For state
    kept outside the lake, such as a sensor cursor, which Dagster stores and shows as it is."""
    from rules.pseudonym import pseudonym

    return f"{public_label(file_name)}#{pseudonym('name-key', file_name)}"


def split_inbox_name(file_name: str) -> tuple[str | None, str]:
    """``thpt_x__DS lớp 10.xlsx`` -> (``thpt_x``, ``DS lớp 10.xlsx``); no prefix -> (None, name)."""
    prefix, sep, rest = file_name.partition(UNIT_SEPARATOR)
    stem = file_name.rsplit(".", 1)[0] if "." in file_name else file_name
    if sep and UNIT_SEPARATOR in stem:
        return prefix, rest
    return None, file_name


def inbox_name(unit: str, original_name: str) -> str:
    """The inbox file name of an upload: ``<unit>__<listed name>``, bounded to ``MAX_NAME_BYTES``.

    ``unit`` must already be safe (:func:`check_unit` / :func:`unit_slug`); the listed name is the
    original name without its own unit prefix, made one harmless path part.
    """
    if not UNIT_PATTERN.match(unit):
        raise UnitError(f"unit {unit!r} is not a safe slug")
    _, listed = split_inbox_name(Path(original_name).name)
    listed = _UNSAFE_CHARS.sub("_", listed).strip()
    part = listed_stem(f"{UNIT_SEPARATOR}{listed}")  # the list part: a prefix of ``listed``
    if not names_a_list(part):
        # a name that is all suffix ('.xlsx', '.csv.errors.xlsx', 'x__.xlsx') or whose list part is only
        # punctuation, symbols or invisible characters ('..csv', '-.csv', '_.xlsx', a zero-width space)
        # names no list: the rule needs one, or the inbox would refuse the copy it was just given as
        # misnamed, and such lists would replace each other under odd names
        listed = UNNAMED_LIST + listed[len(part):]
    return bounded_name(f"{unit}{UNIT_SEPARATOR}{listed}")


def names_a_list(text: str) -> bool:
    """True when ``text`` has a letter or a digit (Vietnamese letters count): what is left of it without
    format (Cf), space (Zs) and control (Cc) characters, punctuation and symbols can name a list."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def unit_of(file_name: str) -> str:
    """Unit from the inbox naming rule: the prefix before ``__``, else the stem without correction
    markers (``DS lop 10A1 (sua).xlsx`` is unit ``ds_lop_10a1``, like the file it corrects). Always
    a safe slug (:func:`unit_slug`)."""
    from rules.ingest.lineage import strip_corrections

    name = Path(file_name).name
    prefix, listed = split_inbox_name(name)
    if prefix is not None:
        return _rekeyed_legacy(prefix, listed) or unit_slug(prefix)
    return unit_slug(strip_corrections(slugify(_stem(name))))


def _stem(name: str) -> str:
    """The stem a unit is derived from (an error report ``x.csv.errors.xlsx`` names the unit of ``x.csv``)."""
    return name.split(".", 1)[0] if ".errors." in name else Path(name).stem


_LEGACY_TAG = re.compile(r"_[0-9a-f]{8}$")


def _rekeyed_legacy(prefix: str, listed: str) -> str | None:
    """The keyed unit of an inbox file ``doisoat upload`` copied before unit digests were keyed, else None.

    Such a file carries in its prefix the *plain*-hash unit of its own listed name
    (``x_<sha256[:8]>__Nguyễn Văn An 079212000123.xlsx``). Recognised by recomputing that old tag from
    the listed name, it gets the keyed unit of that name: a correction uploaded now still supersedes it,
    and the plain tag never reaches the analyst file again. A prefix whose text is lost (the original
    name had its own ``__`` prefix, or was cut to 200 bytes) keeps its old unit.
    """
    if not _LEGACY_TAG.search(prefix):
        return None
    from rules.ingest.lineage import strip_corrections

    text = strip_corrections(slugify(_stem(listed)))
    plain = slugify(text)
    old = mask_personal(plain)
    if old != plain:
        old = f"{old}_{hashlib.sha256(plain.encode()).hexdigest()[:8]}"
    if len(old) > MAX_UNIT_CHARS:
        old = f"{old[: MAX_UNIT_CHARS - 9].strip('_')}_{hashlib.sha256(old.encode()).hexdigest()[:8]}"
    return unit_slug(text) if old == prefix else None


def listed_stem(file_name: str) -> str:
    """The part of a file name that names the list (after the unit prefix, without the suffix; an
    error report ``x.csv.errors.xlsx`` sent back names the list of ``x.csv``)."""
    stem = file_name.rsplit(".", 1)[0] if "." in file_name else file_name
    if stem.lower().endswith(".errors"):
        stem = stem[: -len(".errors")]
        base, dot, ext = stem.rpartition(".")
        if dot and "." + ext.lower() in UPLOAD_SUFFIXES:
            stem = base
    return stem.split(UNIT_SEPARATOR, 1)[1] if UNIT_SEPARATOR in stem else ""


def inside(path: Path, folder: Path) -> bool:
    """True when ``path`` resolves inside ``folder`` (links and ``..`` followed)."""
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def is_upload_name(name: str) -> bool:
    """An upload by name: a known suffix, not hidden, not an Excel lock file (``~$``)."""
    return Path(name).suffix.lower() in UPLOAD_SUFFIXES and not is_passed_over(name)


def is_passed_over(name: str) -> bool:
    """Not an upload, nor a file an uploader meant as one: hidden files (``.DS_Store``, our own
    temporaries), Excel's lock files (``~$x.xlsx``) and the desktop's ``Thumbs.db``/``desktop.ini``."""
    return name.startswith((".", "~$")) or name.lower() in _LITTER_NAMES


@dataclass(frozen=True)
class Refused:
    """An inbox entry that is not read, and why (``symlink``, ``not_a_regular_file``, ``linked_folder``,
    ``unsupported_format``, ``misnamed_file``)."""

    name: str
    reason: str


def list_inbox(folder: Path, *, parents: int = 1, units: bool = False) -> tuple[list[Path], list[Refused]]:
    """Regular upload files directly in ``folder`` (sorted) and the entries refused: every entry but a
    passed-over one (:func:`is_passed_over`) and a sub-folder is in exactly one of the two.

    ``units=True`` (a sector inbox, where the unit comes from the file name): a regular file that
    does not follow :func:`is_inbox_name` is refused as ``misnamed_file``.

    Checked with ``lstat``: links are never followed, whatever they point at. ``folder`` and its
    ``parents`` nearest parent folders (the province folder above a sector folder) must not be links
    either; if one is, nothing is read and the folder is refused as ``linked_folder``.
    """
    for level in [folder, *list(folder.parents)[:parents]]:
        try:
            if stat.S_ISLNK(os.lstat(level).st_mode):
                return [], [Refused(level.name, "linked_folder")]
        except FileNotFoundError:
            return [], []
    if not folder.is_dir():
        return [], []
    files: list[Path] = []
    refused: list[Refused] = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if is_passed_over(entry.name):
                continue
            mode = entry.stat(follow_symlinks=False).st_mode
            upload = is_upload_name(entry.name)
            if stat.S_ISDIR(mode) and not upload:
                continue  # a sub-folder (an archive of old lists): never read, and not an upload
            if stat.S_ISLNK(mode):
                refused.append(Refused(entry.name, "symlink"))
            elif not stat.S_ISREG(mode):
                refused.append(Refused(entry.name, "not_a_regular_file"))
            elif not upload:  # a PDF, a .docx, an .ods: said, never silently passed over
                refused.append(Refused(entry.name, "unsupported_format"))
            elif units and not is_inbox_name(entry.name):
                refused.append(Refused(entry.name, "misnamed_file"))
            else:
                files.append(Path(entry.path))
    return sorted(files), sorted(refused, key=lambda r: r.name)


def sha256_regular(path: Path) -> str:
    """SHA-256 of a regular file, opened with ``O_NOFOLLOW``: a file swapped for a link after the
    listing raises OSError instead of being read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise OSError(f"{path.name}: not a regular file")
        digest = hashlib.sha256()
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def public_label(file_name: str) -> str:
    """The name of an upload as analysts and e-mailed reports may see it: ``<unit>__<list>.<suffix>``
    as slugs, with IDs, dates and person names masked (:func:`mask_personal`, and in the list part every
    name shape, :func:`mask_name_runs`), at most 100 characters.

    ``thpt_x__DS lớp 10A1 (sửa).xlsx`` -> ``thpt_x__ds_lop_10a1_sua.xlsx``;
    ``Nguyễn Văn An 079212000123 05-09-2012.xlsx`` -> ``x.xlsx``. Uploads are told apart by their file id
    (the hash), not by this label.
    """
    name = Path(file_name).name
    suffix = Path(name).suffix.lower() if is_upload_name(name) or name.endswith(".parquet") else ""
    prefix, rest = split_inbox_name(name)
    listed = mask_name_runs(mask_personal(slugify(listed_stem(name) if prefix is not None
                                                 else name[: len(name) - len(suffix)])))
    # an old upload's prefix holds a plain-hash tag of the pupil's name: show its keyed unit instead
    unit = (_rekeyed_legacy(prefix, rest) or mask_personal(slugify(prefix))) if prefix is not None else ""
    label = f"{unit[:40]}{UNIT_SEPARATOR}{listed[:50]}" if unit else listed[:90]
    return (label or MASK) + suffix


def unsafe_unit(unit: str) -> bool:
    """True for a unit that is not a safe slug or still holds personal-looking text (older data)."""
    return not UNIT_PATTERN.match(unit) or mask_personal(unit) != unit
