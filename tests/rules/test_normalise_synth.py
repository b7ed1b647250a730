"""End to end on synthetic data (rules.synth): cosmetic noise must disappear after normalisation.

The synthetic sector rows carry their noise labels (truth files, tests only). A row whose name
noise is only cosmetic (NFD, tone style, upper case, extra spaces) must normalise to exactly the
register's display name; with missing diacritics too, to the same key. Dates, genders and IDs
with only recoverable damage must come out equal to the register's values.
"""

from __future__ import annotations

import polars as pl
import pytest

from rules.normalise import normalise_records, normalise_register
from rules.synth import REFERENCE_DATE, generate_register, generate_sector_records

COSMETIC_NAME = {"clean", "nfd", "tone_style", "upper_case", "extra_spaces"}
NOT_NAME = {
    "day_month_swapped",
    "year_only",
    "excel_serial",
    "id_lost_leading_zero",
    "id_separators",
    "id_wrong_digit",
    "id_transposed",
    "old_cmnd",
    "parent_id",
    "id_missing",
    "duplicate_row",
}
RECOVERABLE_ID = {"id_lost_leading_zero", "id_separators"}
NAME_NOISE = {"no_diacritics", "partial_diacritics", "name_typo", "dropped_middle", "swapped_order"}
DATE_NOISE = {"day_month_swapped", "year_only", "excel_serial"}


@pytest.fixture(scope="module")
def register() -> pl.DataFrame:
    return generate_register("ho_chi_minh", 20_000, 1)


def _only(labels: set[str]) -> pl.Expr:
    return pl.col("noise").list.eval(pl.element().is_in(sorted(labels))).list.all()


@pytest.mark.parametrize("sector", ["students", "vaccinations", "insurance"])
def test_recoverable_noise_is_removed(register: pl.DataFrame, sector: str) -> None:
    records, truth = generate_sector_records(register, sector, 3000, 2)
    out = normalise_records(records, sector, today=REFERENCE_DATE)
    reg = normalise_register(register, today=REFERENCE_DATE).select(
        "person_id", *[pl.col(c).alias(f"r_{c}") for c in ("name_clean", "name_key", "dob", "gender_norm", "id_clean")]
    )
    rows = out.with_columns(truth.select("person_id", "noise")).join(reg, on="person_id", how="inner")
    assert rows.height > 2000

    cosmetic = rows.filter(_only(COSMETIC_NAME | NOT_NAME))
    assert cosmetic.height > 1000
    assert (cosmetic["name_clean"] == cosmetic["r_name_clean"]).all()

    unaccented = rows.filter(_only(COSMETIC_NAME | NOT_NAME | {"no_diacritics", "partial_diacritics"}))
    assert unaccented.height > cosmetic.height
    assert (unaccented["name_key"] == unaccented["r_name_key"]).all()

    exact_dates = rows.filter(
        ~pl.col("noise").list.eval(pl.element().is_in(["day_month_swapped", "year_only"])).list.any()
    )
    assert (exact_dates["dob"] == exact_dates["r_dob"]).all()
    swapped = rows.filter(pl.col("noise").list.contains("day_month_swapped"))
    # A swap is repaired when the day is > 12, and flagged as ambiguous otherwise - never silently wrong.
    fixed = swapped.filter(pl.col("dob") == pl.col("r_dob"))
    assert (fixed["dob_flags"].list.contains("day_month_swapped")).all()
    assert swapped.filter(pl.col("dob") != pl.col("r_dob"))["dob_flags"].list.contains("ambiguous_day_month").all()
    year_only = rows.filter(pl.col("noise").list.contains("year_only"))
    assert (year_only["dob_precision"] == "year").all()
    assert (year_only["dob_year"] == year_only["r_dob"].dt.year()).all()

    assert (rows["gender_norm"] == rows["r_gender_norm"]).all()

    good_ids = rows.filter(_only(COSMETIC_NAME | NAME_NOISE | DATE_NOISE | RECOVERABLE_ID | {"duplicate_row"}))
    assert (good_ids["id_clean"] == good_ids["r_id_clean"]).all()
    assert (
        good_ids.filter(pl.col("noise").list.contains("id_lost_leading_zero"))["id_flags"]
        .list.contains("leading_zero_restored")
        .all()
    )
