"""Header aliases as data: ``rules/headers/<sector>.yaml`` (+ ``common.yaml``) -> canonical fields.

Matching is on a *folded* label: NFC, diacritics removed (đ -> d), lower case, punctuation and runs
of spaces collapsed to one space, so "HỌ VÀ TÊN", "Ho va ten" and "Họ  và tên:" are one alias. A
trailing hint in brackets ("Ngày sinh (dd/mm/yyyy)") or a required-field star is ignored when the
full label is not an alias itself. Adding an alias is a YAML edit, never a code change.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from pydantic import Field

from rules.config import StrictModel, load_config
from rules.normalise.characters import fold_text
from rules.sectors import check_sector
from rules.transliterate import to_ascii

HEADERS_DIR = Path(__file__).resolve().parent.parent / "headers"

COMMON_FIELDS: tuple[str, ...] = ("full_name", "date_of_birth", "gender", "national_id", "old_id", "phone")
SECTOR_FIELDS: dict[str, tuple[str, ...]] = {
    "students": ("student_code", "school", "class", "guardian_name", "guardian_phone"),
    "vaccinations": ("vaccine", "dose", "vaccination_date"),
    "insurance": ("insurance_code", "card_type"),
}
FAMILY_MIDDLE = "_family_middle"  # pseudo-field: first part of a name split over two columns
FEMALE_MARK = "_female_mark"  # pseudo-fields: "Nữ" / "Nam" tick columns standing for gender
MALE_MARK = "_male_mark"
PSEUDO_FIELDS = frozenset({FAMILY_MIDDLE, FEMALE_MARK, MALE_MARK})

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_BRACKETS = re.compile(r"[\(\[].*?[\)\]]")


def fold(label: object) -> str:
    """Folded form of a header or text cell: ASCII, lower case, single spaces, no punctuation."""
    if label is None:
        return ""
    return _fold_text(str(label))


@lru_cache(maxsize=1 << 16)
def _fold_text(text: str) -> str:
    """Why cached: header detection folds each cell of a sheet's first rows up to three times (alone,
    and in the two-row pairs above and below it)."""
    text = unicodedata.normalize("NFC", fold_text(text))
    return _NON_ALNUM.sub(" ", to_ascii(text).lower()).strip()


def fold_variants(label: object) -> list[str]:
    """The folded label, then the same without bracketed hints (most specific first)."""
    if label is None:
        return []
    text = str(label)
    full = fold(text)
    stripped = fold(_BRACKETS.sub(" ", text))
    return [v for v in dict.fromkeys((full, stripped)) if v]


@dataclass(frozen=True)
class HeaderSpec:
    """Everything ingest needs to know about one sector's headers."""

    sector: str
    fields: tuple[str, ...]  # canonical fields of the raw frame, in contract order
    aliases: dict[str, str]  # folded alias -> canonical field (or a name-part pseudo-field)
    display: dict[str, list[str]]  # canonical field -> aliases as written in the YAML
    required: tuple[str, ...]
    given_labels: frozenset[str]  # folded headers of the second part of a split name ("Tên")
    report_columns: frozenset[str]  # folded headers of our own error-report columns
    title_words: tuple[str, ...]
    footer_words: tuple[str, ...]

    def lookup(self, label: object) -> str | None:
        """Canonical field for a header label, or None when it is not a known alias."""
        for variant in fold_variants(label):
            if variant in self.aliases:
                return self.aliases[variant]
        return None

    def expected_headers(self, field: str | None = None, limit: int = 4) -> list[str]:
        """Human list of accepted headers, for error messages (one field, or a few per field)."""
        if field is not None:
            return list(self.display.get(field, []))
        return [alias for f in self.fields for alias in self.display.get(f, [])[:1]] + [
            self.display["full_name"][i] for i in range(1, min(limit, len(self.display["full_name"])))
        ]


class NameParts(StrictModel):
    """Headers of a name split over two columns: the family+middle part and the given name."""

    family_middle: tuple[str, ...] = ()
    given: tuple[str, ...] = ()


class GenderMarks(StrictModel):
    """Headers of tick columns standing for gender."""

    female: tuple[str, ...] = ()
    male: tuple[str, ...] = ()


class HeaderFile(StrictModel):
    """One file of ``rules/headers/``: ``common.yaml`` or ``<sector>.yaml``.

    ``fields`` maps a canonical field to its aliases; the other keys are read from ``common.yaml``
    only (a sector file names its ``sector`` and ``required`` fields).
    """

    sector: str | None = None
    required: tuple[str, ...] = ("full_name",)
    fields: dict[str, tuple[str | int, ...] | None] = Field(default_factory=dict)
    name_parts: NameParts = NameParts()
    gender_marks: GenderMarks = GenderMarks()
    report_columns: tuple[str, ...] = ()
    title_words: tuple[str, ...] = ()
    footer_words: tuple[str, ...] = ()


def _load_yaml(name: str) -> HeaderFile:
    return load_config(HEADERS_DIR / name, HeaderFile)


@cache
def header_spec(sector: str) -> HeaderSpec:
    """Load and merge ``common.yaml`` and ``<sector>.yaml`` (cached; YAML edits need a new process)."""
    check_sector(sector)
    common = _load_yaml("common.yaml")
    own = _load_yaml(f"{sector}.yaml")
    display: dict[str, list[str]] = {}
    for source in (common.fields, own.fields):
        for field, names in source.items():
            display.setdefault(field, []).extend(str(n) for n in names or [])
    parts = common.name_parts
    fields = COMMON_FIELDS + SECTOR_FIELDS[sector]
    unknown = set(display) - set(fields)
    if unknown:
        raise ValueError(f"header aliases for fields not in the {sector} contract: {sorted(unknown)}")
    aliases: dict[str, str] = {}
    # Sector fields first, so that e.g. "Họ tên phụ huynh" never falls back to a shorter common alias;
    # within the folded namespace the first definition wins and clashes are reported.
    for field in SECTOR_FIELDS[sector] + COMMON_FIELDS:
        for name in display.get(field, []):
            key = fold(name)
            if key in aliases and aliases[key] != field:
                raise ValueError(f"header alias {name!r} maps to both {aliases[key]} and {field}")
            aliases.setdefault(key, field)
    marks = common.gender_marks
    for pseudo, names in ((FAMILY_MIDDLE, parts.family_middle), (FEMALE_MARK, marks.female), (MALE_MARK, marks.male)):
        for name in names:
            aliases.setdefault(fold(name), pseudo)
    return HeaderSpec(
        sector=sector,
        fields=fields,
        aliases=aliases,
        display=display,
        required=own.required,
        given_labels=frozenset(fold(n) for n in parts.given),
        report_columns=frozenset(fold(c) for c in common.report_columns),
        title_words=tuple(fold(w) for w in common.title_words),
        footer_words=tuple(fold(w) for w in common.footer_words),
    )
