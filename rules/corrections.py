"""Local corrections before verification: never spend national quota on a cosmetic difference.

The quota is scarce (about 200,000 checks a day for the whole country), and the population
database compares names as written. A matched row whose name differs from the register person's
only cosmetically — case, spacing, NFD, old/new tone placement (hòa/hoà), missing or partial
diacritics ("Pham Minh Tuan") — would come back ``mismatch`` and cost a second check after the unit
fixes it. So, for matched rows whose diacritic-free name key equals the register's, the cleaned
record adopts the register's spelling (flag ``name_spelling_from_register``) and the name as written
is kept beside it. Real differences (a typo, a dropped middle name, another given name) are left
as they are: the verification answer tells the unit what to fix. Dates and gender are never changed.
"""

from __future__ import annotations

import polars as pl

from rules.lake_schema import ROW_KEY
from rules.normalise import normalise_names

FLAG = "name_spelling_from_register"


def adopt_register_spelling(records: pl.DataFrame, matches: pl.DataFrame, register: pl.DataFrame) -> pl.DataFrame:
    """``records`` (normalised, contracts §4) with ``name_clean`` set to the register spelling where the
    difference is cosmetic; adds ``name_as_written`` and the boolean ``name_spelling_from_register``."""
    matched = matches.filter(pl.col("status").is_in(["matched", "matched_by_review"])).select(*ROW_KEY, "person_id")
    people = register.select(pl.col("person_id").cast(pl.Utf8), pl.col("full_name").cast(pl.Utf8)).unique(
        "person_id", keep="first"
    )
    # The register's own spelling (NFC), as the population database stores and compares it.
    people = people.with_columns(
        pl.col("full_name").str.normalize("NFC").alias("register_name"),
        normalise_names(people["full_name"], repair=False)["name_key"].alias("register_key"),
    ).select("person_id", "register_name", "register_key")
    proposals = matched.join(people, on="person_id", how="inner")
    out = records.join(proposals, on=list(ROW_KEY), how="left", maintain_order="left", nulls_equal=True)
    cosmetic = (
        pl.col("register_key").is_not_null()
        & (pl.col("register_key") == pl.col("name_key"))
        & (pl.col("register_name") != pl.col("name_clean"))
    )
    return out.with_columns(
        pl.col("name_clean").alias("name_as_written"),
        pl.when(cosmetic).then(pl.col("register_name")).otherwise(pl.col("name_clean")).alias("name_clean"),
        cosmetic.fill_null(False).alias(FLAG),
    ).drop("person_id", "register_name", "register_key")
