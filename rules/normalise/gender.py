"""Gender cells -> ``Nam`` / ``Nữ`` with the per-sector code tables in ``gender_codes.yaml``.

Distinct gender cells are few (a handful per file), so the fold runs in Python per unique value
and the result is mapped back with one ``replace_strict``.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import Field

from rules.config import StrictModel, load_config
from rules.normalise.syllable import fold
from rules.normalise.unique import unique_apply
from rules.sectors import check_sector

GENDER_COLUMNS: tuple[str, ...] = ("gender_norm", "gender_error")
_CODES_PATH = Path(__file__).with_name("gender_codes.yaml")


@cache
def gender_table(sector: str | None) -> dict[str, str]:
    """Folded cell text -> Nam/Nữ: text values of all sectors + ``sector``'s codes (None: text only)."""
    if sector is not None:
        check_sector(sector)
    spec = load_config(_CODES_PATH, GenderCodes)
    table = {str(k): v for k, v in spec.text.items()}
    if sector is not None:
        table.update({str(k): v for k, v in (spec.sectors.get(sector) or {}).items()})
    return table


Gender = Literal["Nam", "Nữ"]


class GenderCodes(StrictModel):
    """``gender_codes.yaml``: folded text accepted in every sector, and per-sector codes."""

    text: dict[str | int, Gender]
    sectors: dict[Literal["students", "vaccinations", "insurance"], dict[str | int, Gender] | None] = Field(
        default_factory=dict)


def _fold_cell(cell: str) -> str:
    text = re.sub(r"\.0+$", "", fold(cell).strip())
    return re.sub(r"\s+", " ", text)


def normalise_genders(values: pl.Series, sector: str | None) -> pl.DataFrame:
    """Map gender cells to ``gender_norm`` (Nam | Nữ | null) and ``gender_error`` (per distinct cell)."""
    return unique_apply(values, lambda s: _map_genders(s, gender_table(sector)))


def _map_genders(s: pl.Series, table: dict[str, str]) -> pl.DataFrame:
    uniq = s.drop_nulls().unique().to_list()
    mapped = {u: table.get(_fold_cell(u)) for u in uniq}
    keys = [k for k, v in mapped.items() if v is not None]
    norm = s.replace_strict(keys, [mapped[k] for k in keys], default=None, return_dtype=pl.Utf8)
    blank = s.is_null() | (s.str.strip_chars() == "")
    df = pl.DataFrame({"gender_norm": norm, "_blank": blank})
    return df.select(
        "gender_norm",
        pl.when(pl.col("_blank"))
        .then(pl.lit("missing_gender"))
        .when(pl.col("gender_norm").is_null())
        .then(pl.lit("unknown_gender"))
        .alias("gender_error"),
    )
