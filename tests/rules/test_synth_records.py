"""Synthetic sector records: determinism, truth consistency, each noise label visible, documented rates."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from rules.synth import NOISE_LABELS, generate_register, generate_sector_records, noise_rates
from rules.synth.noise import EXCEL_EPOCH, noise_config
from rules.synth.register import REFERENCE_DATE
from rules.synth.sector import NAME_LABELS

N = 20_000


@pytest.fixture(scope="module")
def reg() -> pl.DataFrame:
    return generate_register("da_nang", 60_000, seed=5)


@pytest.fixture(scope="module")
def vacc(reg: pl.DataFrame) -> pl.DataFrame:
    """Records + truth + the register row of each person (by the true ID) in one frame."""
    records, truth = generate_sector_records(reg, "vaccinations", N, seed=9)
    assert records.height == truth.height == N
    assert (records["row_number"] == truth["row_number"]).all()
    joined = pl.concat([records, truth.select("person_id", "noise")], how="horizontal")
    return joined.join(
        reg.rename(lambda c: f"r_{c}"), left_on="person_id", right_on="r_person_id", how="left", maintain_order="left"
    )


def _has(label: str) -> pl.Expr:
    return pl.col("noise").list.contains(label)


def test_deterministic(reg: pl.DataFrame) -> None:
    a = generate_sector_records(reg, "students", 2_000, seed=1)
    b = generate_sector_records(reg, "students", 2_000, seed=1)
    c = generate_sector_records(reg, "students", 2_000, seed=2)
    assert a[0].equals(b[0]) and a[1].equals(b[1])
    assert not a[0].equals(c[0])


def test_labels_are_the_documented_vocabulary(vacc: pl.DataFrame) -> None:
    seen = set(vacc["noise"].explode().unique())
    assert seen <= set(NOISE_LABELS)
    assert set(noise_config()) | {"clean"} == set(NOISE_LABELS)
    expected_missing = set()  # parent_id needs children; vaccinations are weighted to children
    assert set(NOISE_LABELS) - seen == expected_missing
    assert vacc.select((pl.col("noise").list.len() == 1) | ~_has("clean")).to_series().all()


def test_clean_rows_equal_the_register(vacc: pl.DataFrame) -> None:
    clean = vacc.filter(_has("clean"))
    assert clean.height > N * 0.3
    assert (clean["full_name"] == clean["r_full_name"]).all()
    assert (clean["national_id"] == clean["person_id"]).all()
    assert (clean["gender"] == clean["r_gender"]).all()
    parsed = clean.select(
        pl.coalesce(
            pl.col("date_of_birth").str.to_date("%d/%m/%Y", strict=False),
            pl.col("date_of_birth").str.to_date("%d-%m-%Y", strict=False),
            pl.col("date_of_birth").str.to_date("%d.%m.%Y", strict=False),
        )
    ).to_series()
    assert (parsed == clean["r_date_of_birth"]).all()


def test_absent_people(reg: pl.DataFrame, vacc: pl.DataFrame) -> None:
    absent = vacc.filter(_has("not_in_register"))
    assert 0.05 <= absent.height / N <= 0.10
    assert absent["person_id"].is_null().all()
    assert vacc.filter(~_has("not_in_register"))["person_id"].is_not_null().all()
    ids = absent["national_id"].drop_nulls()
    assert not ids.is_in(reg["person_id"].implode()).any()


def test_duplicates_are_exact_copies(vacc: pl.DataFrame) -> None:
    dups = vacc.filter(_has("duplicate_row"))
    rate = noise_rates()["duplicate_row"]
    assert abs(dups.height / N - rate) < 0.004
    fields = ["full_name", "date_of_birth", "national_id", "vaccine", "vaccination_date", "phone"]
    counts = vacc.group_by(fields, maintain_order=True).len()
    dup_keys = dups.select(fields).join(counts, on=fields, how="left", nulls_equal=True)
    assert (dup_keys["len"] >= 2).all()


def test_each_label_is_visible(vacc: pl.DataFrame) -> None:
    by = {label: vacc.filter(_has(label)) for label in NOISE_LABELS}
    assert by["no_diacritics"]["full_name"].str.normalize("NFC").str.contains(r"^[\x00-\x7f\u00a0]*$").all()
    nfd = by["nfd"]["full_name"]
    assert (nfd.str.normalize("NFC") != nfd).all()
    up = by["upper_case"]["full_name"]
    assert (up == up.str.to_uppercase()).all()
    assert by["extra_spaces"]["full_name"].str.contains("  |^ | $|\u00a0").all()
    others = [x for x in NAME_LABELS if x != "swapped_order"]
    swapped = by["swapped_order"].filter(~pl.any_horizontal([_has(x) for x in others]))
    assert swapped.height > 0
    rn = swapped["r_full_name"]
    expected = rn.str.extract(r"(\S+)$", 1) + " " + rn.str.extract(r"^(.*) \S+$", 1)  # given name first
    assert (swapped["full_name"] == expected).all()
    others = [x for x in NAME_LABELS if x != "dropped_middle"]
    dropped = by["dropped_middle"].filter(~pl.any_horizontal([_has(x) for x in others]))
    rn = dropped["r_full_name"]
    assert dropped.height > 0
    assert (dropped["full_name"] == rn.str.extract(r"^(\S+)", 1) + " " + rn.str.extract(r"(\S+)$", 1)).all()
    assert by["year_only"]["date_of_birth"].str.contains(r"^\d{4}$").all()
    serial = by["excel_serial"].select(
        pl.lit(EXCEL_EPOCH) + pl.duration(days=pl.col("date_of_birth").cast(pl.Int64)), "r_date_of_birth"
    )
    assert (serial.to_series(0) == serial.to_series(1)).all()
    dm = by["day_month_swapped"]
    assert (dm["date_of_birth"] == dm["r_date_of_birth"].dt.strftime("%m/%d/%Y")).all()
    assert by["id_missing"]["national_id"].is_null().all()
    assert by["id_lost_leading_zero"]["national_id"].str.contains(r"^[1-9]\d+$").all()
    assert by["id_separators"]["national_id"].str.contains(r"^\d{3}[ .]\d{3}[ .]\d{3}").all()
    cm = by["old_cmnd"].filter(~_has("id_separators") & ~_has("id_lost_leading_zero") & ~_has("not_in_register"))
    assert (cm["national_id"] == cm["r_old_id"]).all()
    wd = by["id_wrong_digit"].filter(~_has("id_separators") & ~_has("id_lost_leading_zero") & ~_has("not_in_register"))
    pairs = zip(wd["national_id"], wd["person_id"], strict=True)
    assert all(sum(a != b for a, b in zip(x, y, strict=True)) == 1 for x, y in pairs)
    tr = by["id_transposed"].filter(~_has("id_separators") & ~_has("id_lost_leading_zero") & ~_has("not_in_register"))
    assert all(sorted(x) == sorted(y) and x != y for x, y in zip(tr["national_id"], tr["person_id"], strict=True))


def test_parent_id_on_childrens_rows(reg: pl.DataFrame) -> None:
    records, truth = generate_sector_records(reg, "students", 8_000, seed=4)
    rows = pl.concat([records, truth.select("person_id", "noise")], how="horizontal").filter(_has("parent_id"))
    rows = rows.filter(~_has("id_separators") & ~_has("id_lost_leading_zero"))
    assert rows.height > 0
    j = rows.join(reg, on="person_id", how="left")
    assert ((j["national_id"] == j["mother_id"]) | (j["national_id"] == j["father_id"])).all()


def test_noise_rates_match_the_documented_rates(vacc: pl.DataFrame) -> None:
    rates = noise_rates()
    base = vacc.filter(~_has("duplicate_row") & ~_has("not_in_register"))
    eligible: dict[str, pl.Expr] = {
        "dropped_middle": pl.col("r_full_name").str.count_matches(" ") >= 2,
        "tone_style": pl.col("r_full_name").str.contains(r"(?i)[oòóỏõọ][aàáảãạeèéẻẽẹ]( |$)|[uùúủũụ][yỳýỷỹỵ]( |$)")
        & ~pl.col("r_full_name").str.contains(r"(?i)qu[yỳýỷỹỵ]( |$)"),
        "day_month_swapped": pl.col("r_date_of_birth").dt.day() != pl.col("r_date_of_birth").dt.month(),
        "old_cmnd": pl.col("r_old_id").is_not_null(),
        "id_lost_leading_zero": ~_has("id_missing") & ~_has("old_cmnd"),
        "id_separators": ~_has("id_missing"),
    }
    skip = {"not_in_register", "duplicate_row", "parent_id", "tone_style", "clean"}
    for label, rate in rates.items():
        if label in skip:
            continue
        rows = base.filter(eligible.get(label, pl.lit(True)))
        got = rows.select(_has(label).mean()).item()
        tol = 3.5 * (rate * (1 - rate) / rows.height) ** 0.5 + 0.003
        assert abs(got - rate) < tol, (label, got, rate)


def test_sector_fields(reg: pl.DataFrame) -> None:
    st, st_truth = generate_sector_records(reg, "students", 5_000, seed=3)
    j = st_truth.join(reg, on="person_id", how="inner")
    school_age = 2025 - j["date_of_birth"].dt.year()
    assert school_age.min() >= 3 and school_age.max() <= 18
    assert st["student_code"].str.contains(r"^\d{10}$").all()
    assert st["class"].str.contains(r"^(\d{1,2}A\d|(Mầm|Chồi|Lá) \d)$").all()
    assert st["guardian_phone"].str.contains(r"^0\d{9}$").all()
    assert st["guardian_name"].is_not_null().all()
    assert st["unit"].n_unique() >= 4
    ins, _ = generate_sector_records(reg, "insurance", 3_000, seed=3)
    assert ins["insurance_code"].str.contains(r"^\d{10}$").all()
    assert ins["card_type"].str.contains(r"^[A-Z]{2}[1-5]\d{2}\d{10}$").all()
    assert (ins["card_type"].str.slice(5) == ins["insurance_code"]).all()
    assert set(ins["gender"].unique()) == {"1", "2"}
    vac, _ = generate_sector_records(reg, "vaccinations", 3_000, seed=3)
    when = vac["vaccination_date"].str.to_date("%d/%m/%Y")
    assert when.max() < REFERENCE_DATE and when.min() >= dt.date(2021, 1, 1)


def test_too_many_rows_is_an_error() -> None:
    small = generate_register("ca_mau", 300, seed=1)
    with pytest.raises(ValueError, match="eligible"):
        generate_sector_records(small, "students", 5_000, seed=1)
    with pytest.raises(ValueError, match="unknown sector"):
        generate_sector_records(small, "tax", 10, seed=1)
