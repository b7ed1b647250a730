"""Provinces: the 34 units in force since 1 July 2025 and the 63 pre-2025 CCCD codes.

Partition keys are ASCII slugs of the 2025 names (``ho_chi_minh``, ``ha_noi``) because Dagster
keys must stay stable and readable; the CLI also accepts the 2-digit code (``79``) or the name.
CCCD prefixes describe the province of *birth registration* under the old 63-unit map and are
never remapped (domain README 4.2); ``CCCD_CODE_TO_SLUG`` tells which 2025 unit an old code lies in.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from unidecode import unidecode

from rules.errors import UserError

REFERENCE_DIR = Path(__file__).parent / "reference"


@dataclass(frozen=True)
class Province:
    code: str  # 2-digit 2025 code, e.g. "79"
    name: str  # "Hồ Chí Minh"
    slug: str  # "ho_chi_minh"
    unit_type: str
    cccd_codes: tuple[str, ...]  # constituent pre-2025 CCCD codes, e.g. ("074", "077", "079")


def slugify(text: str) -> str:
    """ASCII, lower-case, underscore-separated form of a Vietnamese name."""
    return re.sub(r"[^a-z0-9]+", "_", unidecode(text).lower()).strip("_")


@cache
def provinces() -> tuple[Province, ...]:
    with open(REFERENCE_DIR / "provinces_2025.csv", encoding="utf-8") as fh:
        return tuple(
            Province(
                code=row["code_2025"],
                name=row["name_2025"],
                slug=slugify(row["name_2025"]),
                unit_type=row["unit_type"],
                cccd_codes=tuple(row["merged_from_cccd_codes"].split()),
            )
            for row in csv.DictReader(fh)
        )


@cache
def cccd_codes() -> dict[str, str]:
    """Pre-2025 3-digit CCCD code -> name of the province before 2025."""
    with open(REFERENCE_DIR / "provinces_cccd_codes.csv", encoding="utf-8") as fh:
        return {row["code"]: row["province_name_before_2025"] for row in csv.DictReader(fh)}


PROVINCE_SLUGS: tuple[str, ...] = tuple(p.slug for p in provinces())
CCCD_CODE_TO_SLUG: dict[str, str] = {c: p.slug for p in provinces() for c in p.cccd_codes}


class ProvinceError(UserError, ValueError):
    """A province typed by the user that names none of the 34 (2025) provinces; the message lists some."""


def resolve_province(text: str) -> Province:
    """Find a province by slug, 2-digit code or name (any case, with or without diacritics)."""
    wanted = slugify(text)
    for p in provinces():
        if wanted in (p.slug, p.code, slugify(p.code)) or text.strip() == p.code:
            return p
    for p in provinces():  # a pre-2025 name or CCCD code resolves to the unit it merged into
        if text.strip() in p.cccd_codes or wanted in {slugify(n) for n in _old_names(p)}:
            return p
    raise ProvinceError(
        f"unknown province {text!r}; use a 2025 province slug or code, e.g. "
        + ", ".join(f"{p.slug} ({p.code})" for p in provinces()[:5])
        + ", … (see `doisoat provinces`)"
    )


def _old_names(p: Province) -> list[str]:
    names = cccd_codes()
    return [names[c] for c in p.cccd_codes if c in names]


def by_slug(slug: str) -> Province:
    for p in provinces():
        if p.slug == slug:
            return p
    raise ValueError(f"unknown province slug {slug!r}")
