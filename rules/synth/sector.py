"""Synthetic sector records (raw text cells, contracts §3) with their ground truth (contracts §2).

People are drawn from the register by the sector's age profile (pupils 3-18 by school-year age,
vaccinations all ages with children weighted, insurance all ages); ``absent_share`` of the rows are
new people who are not in the register (drawn from a second register with a derived seed, minus any
ID that exists in the real one). Noise is applied by ``rules.synth.noise`` and every label written
to the truth is visible in the row. Everything is vectorised; 1M rows take seconds.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from rules.errors import OptionError
from rules.provinces import Province, resolve_province
from rules.sectors import SECTORS, check_sector
from rules.synth.harsh import harsh_labels, harsh_noise
from rules.synth.names import build_full_names, sample_name_parts
from rules.synth.noise import (
    DATE_LABELS,
    ID_LABELS,
    NAME_LABELS,
    label_list,
    noise_rates,
    noisy_dates,
    noisy_ids,
    noisy_names,
    pick_series,
)
from rules.synth.register import REFERENCE_DATE, generate_register
from rules.synth.units import LEVELS, make_units

SCHOOL_YEAR = 2025  # school year 2025-2026: school age = SCHOOL_YEAR - birth year
MOBILE_PREFIXES = (
    "032",
    "033",
    "034",
    "035",
    "036",
    "037",
    "038",
    "039",
    "056",
    "058",
    "059",
    "070",
    "076",
    "077",
    "078",
    "079",
    "081",
    "082",
    "083",
    "084",
    "085",
    "086",
    "088",
    "089",
    "090",
    "091",
    "093",
    "094",
    "096",
    "097",
    "098",
)
SECTOR_FIELDS: dict[str, tuple[str, ...]] = {
    "students": ("student_code", "school", "class", "guardian_name", "guardian_phone"),
    "vaccinations": ("vaccine", "dose", "vaccination_date"),
    "insurance": ("insurance_code", "card_type"),
}
COMMON_FIELDS = ("full_name", "date_of_birth", "gender", "national_id", "old_id", "phone")
TRUTH_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.Utf8(),
    "sheet": pl.Utf8(),
    "row_number": pl.Int64(),
    "excel_row": pl.Int64(),
    "person_id": pl.Utf8(),
    "noise": pl.List(pl.Utf8()),
    "n_errors": pl.Int64(),
}
#: Noise profiles: ``default`` (independent rates, noise_rates.yaml) and ``harsh`` (a counted number
#: of compounded real errors per row, harsh_rates.yaml).
PROFILES: tuple[str, ...] = ("default", "harsh")
#: (vaccine, doses, min age, max age) — the expanded programme plus common adult vaccines.
VACCINES: tuple[tuple[str, int, int, int], ...] = (
    ("BCG", 1, 0, 1),
    ("Viêm gan B sơ sinh", 1, 0, 1),
    ("DPT-VGB-Hib (5 trong 1)", 3, 0, 2),
    ("Bại liệt (OPV)", 3, 0, 2),
    ("IPV", 2, 0, 2),
    ("Sởi", 1, 0, 2),
    ("MR (Sởi - Rubella)", 1, 1, 6),
    ("Viêm não Nhật Bản", 3, 1, 6),
    ("DPT nhắc lại", 1, 1, 6),
    ("Cúm", 2, 0, 100),
    ("COVID-19 (Pfizer)", 3, 5, 100),
    ("COVID-19 (AstraZeneca)", 3, 18, 100),
    ("Uốn ván (VAT)", 2, 15, 49),
    ("HPV", 2, 9, 26),
)

VACCINE_NAMES = tuple(v[0] for v in VACCINES)
#: BHYT beneficiary group -> benefit level digit (domain README §2.1); DN..GD are working-age groups.
CARD_GROUPS: dict[str, str] = {
    "TE": "1",
    "HS": "4",
    "SV": "4",
    "HT": "3",
    "DN": "4",
    "HC": "4",
    "TN": "4",
    "HN": "1",
    "CN": "2",
    "GD": "4",
}


def _age_weights(sector: str, school_age: np.ndarray, age: np.ndarray) -> np.ndarray:
    if sector == "students":
        return ((school_age >= 3) & (school_age <= 18)).astype(np.float64)
    if sector == "vaccinations":
        return np.select([age < 2, age < 6, age < 18, age < 60], [6.0, 4.0, 1.5, 0.6], 1.0)
    return np.ones(age.shape[0], dtype=np.float64)


def _frame_for(register: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    ref = pl.lit(REFERENCE_DATE)
    df = register.with_columns(
        age=((ref - pl.col("date_of_birth")).dt.total_days() / 365.2425).floor().cast(pl.Int64),
        school_age=(SCHOOL_YEAR - pl.col("date_of_birth").dt.year()).cast(pl.Int64),
    )
    return df, df["age"].to_numpy(), df["school_age"].to_numpy()


class TooFewPeopleError(OptionError):
    """The register is too small for the rows asked (a size or row count the user chose); a ValueError."""


def _weighted_sample(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """k indices without replacement, P proportional to weight (Efraimidis-Spirakis keys)."""
    ok = np.flatnonzero(weights > 0)
    if k > ok.size:
        need = int(np.ceil(weights.size * k / max(ok.size, 1) * 1.05))
        raise TooFewPeopleError(
            f"asked for {k} rows but only {ok.size} eligible people in the register; "
            f"use a register of at least ~{need} people"
        )
    keys = np.log(rng.random(ok.size)) / weights[ok]
    top = np.argpartition(-keys, k - 1)[:k] if k > 0 else np.empty(0, dtype=np.int64)
    return np.sort(ok[top])


def _as_int(ids: pl.Series) -> pl.Series:
    """Digit-string IDs as Int64 (joins and membership tests on 10M ints are far cheaper than on strings)."""
    return ids.cast(pl.Int64, strict=False)


def _names_of(register: pl.DataFrame, register_ids: pl.Series, wanted: pl.Series) -> pl.Series:
    """Full name of the register person with each wanted ID (null when absent)."""
    keys = pl.DataFrame({"k": register_ids, "i": pl.int_range(register.height, dtype=pl.Int64, eager=True)})
    hit = pl.DataFrame({"k": _as_int(wanted)}).join(keys, on="k", how="left", maintain_order="left")
    return register["full_name"].gather(hit["i"])


def _twin_ids(register: pl.DataFrame, sel: pl.DataFrame) -> pl.Series:
    """ID of a sibling born the same day to the same mother (a twin), null when none."""
    reg = register.select("person_id", "mother_id", "date_of_birth").filter(pl.col("mother_id").is_not_null())
    hit = (
        sel.select("person_id", "mother_id", "date_of_birth")
        .with_row_index("_i")
        .join(reg.rename({"person_id": "_sib"}), on=["mother_id", "date_of_birth"], how="inner")
        .filter(pl.col("_sib") != pl.col("person_id"))
        .group_by("_i")
        .agg(pl.col("_sib").min())
    )
    return (
        pl.DataFrame({"_i": pl.int_range(sel.height, dtype=pl.UInt32, eager=True)})
        .join(hit, on="_i", how="left", maintain_order="left")["_sib"]
    )


def _people(
    register: pl.DataFrame, register_ids: pl.Series, idx: np.ndarray, in_register: bool, rng: np.random.Generator
) -> pl.DataFrame:
    """The chosen people with the columns the noise and sector steps need."""
    sel = register[idx]
    pick_father = rng.random(sel.height) < 0.4
    df = sel.with_columns(
        parent_id=pl.when(pl.Series(pick_father) & pl.col("father_id").is_not_null())
        .then(pl.col("father_id"))
        .otherwise(pl.coalesce("mother_id", "father_id")),
    )
    df = df.with_columns(_pname=_names_of(register, register_ids, df["parent_id"]), _twin=_twin_ids(register, sel))
    return df.select(
        pl.col("person_id").alias("true_id"),
        pl.col("person_id") if in_register else pl.lit(None, pl.Utf8).alias("person_id"),
        "full_name",
        pl.col("date_of_birth").alias("dob"),
        "gender",
        "old_id",
        "parent_id",
        pl.col("_pname").alias("parent_name"),
        pl.col("_twin").alias("twin_id"),
        "age",
        "school_age",
        pl.lit(not in_register).alias("not_in_register"),
    )


def _absent_people(
    register: pl.DataFrame,
    register_ids: pl.Series,
    prov: Province,
    sector: str,
    k: int,
    seed: int,
    rng: np.random.Generator,
) -> pl.DataFrame:
    if k == 0:
        return pl.DataFrame()
    share = 0.22 if sector == "students" else 1.0
    size = int(k / share * 1.3) + 200
    other = generate_register(prov.slug, size, seed + 7_919)
    other = other.filter(~_as_int(other["person_id"]).is_in(register_ids.implode()))
    taken = _as_int(register["old_id"].drop_nulls()).implode()
    other = other.with_columns(
        old_id=pl.when(pl.col("old_id").cast(pl.Int64, strict=False).is_in(taken))
        .then(None)
        .otherwise(pl.col("old_id"))
    )
    df, age, school_age = _frame_for(other)
    idx = _weighted_sample(rng, _age_weights(sector, school_age, age), k)
    return _people(df, _as_int(df["person_id"]), idx, in_register=False, rng=rng)


def _phones(rng: np.random.Generator, n: int) -> pl.Series:
    prefix = pick_series(list(MOBILE_PREFIXES), rng.integers(0, len(MOBILE_PREFIXES), n))
    return prefix + pl.Series(rng.integers(0, 10**7, n)).cast(pl.Utf8).str.zfill(7)


def _digits(rng: np.random.Generator, n: int, width: int) -> pl.Series:
    return pl.Series(rng.integers(0, 10**width, n, dtype=np.int64)).cast(pl.Utf8).str.zfill(width)


def _student_fields(df: pl.DataFrame, prov: Province, rng: np.random.Generator, n_units: int) -> pl.DataFrame:
    n = df.height
    units = make_units("students", max(n_units, len(LEVELS)), rng)
    level_of_age = np.digitize(df["school_age"].to_numpy(), [6, 11, 15])  # 0 mn, 1 th, 2 thcs, 3 thpt
    unit_idx = np.zeros(n, dtype=np.int64)
    for li, (key, *_rest) in enumerate(LEVELS):
        choices = np.array([i for i, u in enumerate(units) if u.level == key])
        sel = level_of_age == li
        unit_idx[sel] = choices[rng.integers(0, choices.size, int(sel.sum()))]
    grade = np.clip(df["school_age"].to_numpy() - 5, -2, 12)
    section = rng.integers(1, 5, n)
    kinder = pick_series(["Mầm", "Chồi", "Lá"], np.clip(grade + 2, 0, 2))
    sec = pl.Series(section).cast(pl.Utf8)
    cls = pl.select(
        pl.when(pl.Series(grade >= 1)).then(pl.Series(grade).cast(pl.Utf8) + "A" + sec).otherwise(kinder + " " + sec)
    ).to_series()
    # guardians not in the register get a made-up parent sharing the pupil's family name
    female = rng.random(n) < 0.6
    fam, mid, marked, giv = sample_name_parts(rng, np.full(n, 1985), female)
    made_up = build_full_names(fam, mid, marked, giv, female, np.zeros(n, dtype=bool))
    family = df["full_name"].str.extract(r"^(\S+)", 1)
    made_up = pl.concat_str([family, made_up.str.extract(r"^\S+ (.*)$", 1)], separator=" ")
    return df.with_columns(
        unit=pl.Series([u.slug for u in units]).gather(unit_idx),
        unit_name=pl.Series([u.name for u in units]).gather(unit_idx),
        student_code=prov.code + _digits(rng, n, 8),
        school=pl.Series([u.name for u in units]).gather(unit_idx),
        **{"class": cls},
        guardian_name=pl.coalesce(pl.col("parent_name"), made_up),
        guardian_phone=_phones(rng, n),
    )


def _vaccination_fields(df: pl.DataFrame, rng: np.random.Generator, n_units: int) -> pl.DataFrame:
    n = df.height
    units = make_units("vaccinations", n_units, rng)
    age = df["age"].to_numpy()
    vaccine = np.full(n, VACCINE_NAMES.index("Cúm"), dtype=np.int64)
    seen = np.zeros(n, dtype=bool)
    dose = np.ones(n, dtype=np.int64)
    for i, (_name, doses, lo, hi) in enumerate(VACCINES):  # later fits overwrite earlier ones at 30 %
        sel = (age >= lo) & (age <= hi) & (~seen | (rng.random(n) < 0.3))
        vaccine[sel] = i
        seen |= sel
        dose[sel] = rng.integers(1, doses + 1, int(sel.sum()))
    dob_days = df["dob"].cast(pl.Int32).to_numpy().astype(np.int64)
    start = np.maximum(dob_days, (dt.date(2021, 1, 1) - dt.date(1970, 1, 1)).days)
    end = (REFERENCE_DATE - dt.date(1970, 1, 1)).days - 1
    when = start + (rng.random(n) * np.maximum(end - start, 0)).astype(np.int64)
    return df.with_columns(
        unit=pl.Series([x.slug for x in units]).gather(pick := rng.integers(0, len(units), n)),
        unit_name=pl.Series([x.name for x in units]).gather(pick),
        phone=_phones(rng, n),
        vaccine=pick_series(list(VACCINE_NAMES), vaccine),
        dose=pl.Series(dose).cast(pl.Utf8),
        vaccination_date=pl.Series(when.astype(np.int32)).cast(pl.Date).dt.strftime("%d/%m/%Y"),
    )


def _insurance_fields(df: pl.DataFrame, prov: Province, rng: np.random.Generator, n_units: int) -> pl.DataFrame:
    n = df.height
    units = make_units("insurance", n_units, rng)
    age = df["age"].to_numpy()
    groups = list(CARD_GROUPS)
    working = rng.integers(groups.index("DN"), len(groups), n)  # DN HC TN HN CN GD
    group = np.select(
        [age < 6, age < 18, (age < 23) & (rng.random(n) < 0.5), age < 60, rng.random(n) < 0.5],
        [groups.index("TE"), groups.index("HS"), groups.index("SV"), working, groups.index("HT")],
        working,
    )
    level = pick_series([CARD_GROUPS[g] for g in groups], group)
    code = prov.code + _digits(rng, n, 8)
    has_cmnd_col = rng.random(n) < 0.5
    return df.with_columns(
        unit=pl.Series([x.slug for x in units]).gather(pick := rng.integers(0, len(units), n)),
        unit_name=pl.Series([x.name for x in units]).gather(pick),
        insurance_code=code,
        card_type=pick_series(groups, group) + level + prov.code + code,
        phone=pl.when(pl.Series(rng.random(n) < 0.6)).then(_phones(rng, n)),
        old_id=pl.when(pl.Series(has_cmnd_col)).then(pl.col("old_id")),
    )


def generate_sector_records(
    register: pl.DataFrame,
    sector: str,
    n_rows: int,
    seed: int,
    absent_share: float = 0.07,
    n_units: int | None = None,
    profile: str = "default",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n_rows`` raw records of one sector drawn from ``register``, and their truth.

    records: lineage (``row_number``, ``province`` slug, ``sector``, ``unit``) + the canonical text
    fields of contracts §3 for the sector. truth: contracts §2 columns (``file``/``sheet``/
    ``excel_row`` are null until the rows are written to a file). Raises ValueError when the
    register has too few eligible people. ``n_units`` defaults to one unit per ~300 rows (3-40).
    ``profile`` is ``default`` or ``harsh`` (``n_errors`` in the truth is null for ``default``).
    """
    records, truth, _ = sector_records_with_units(register, sector, n_rows, seed, absent_share, n_units, profile)
    return records, truth


def sector_records_with_units(
    register: pl.DataFrame,
    sector: str,
    n_rows: int,
    seed: int,
    absent_share: float = 0.07,
    n_units: int | None = None,
    profile: str = "default",
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, str]]:
    """``generate_sector_records`` plus the display name of each unit slug (for file titles)."""
    check_sector(sector)
    if profile not in PROFILES:
        raise ValueError(f"unknown noise profile {profile!r}; use one of {', '.join(PROFILES)}")
    if register.height == 0:
        raise ValueError("the register is empty")
    if not 0.0 <= absent_share < 1.0:
        raise ValueError("absent_share must be in [0, 1)")
    prov = resolve_province(register["province"][0])
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 2, SECTORS.index(sector)]).spawn(8)]
    n_dup = round(noise_rates()["duplicate_row"] * n_rows)
    n_base = n_rows - n_dup
    n_absent = round(absent_share * n_base)
    n_present = n_base - n_absent
    n_units = n_units or max(3, min(40, n_rows // 300))

    reg, age, school_age = _frame_for(register)
    idx = _weighted_sample(streams[0], _age_weights(sector, school_age, age), n_present)
    register_ids = _as_int(register["person_id"])
    present = _people(reg, register_ids, idx, in_register=True, rng=streams[0])
    absent = _absent_people(register, register_ids, prov, sector, n_absent, seed, streams[1])
    base = pl.concat([present, absent]) if absent.height else present
    base = base[streams[1].permutation(base.height)]

    if profile == "harsh":
        base = harsh_noise(base, streams[2])
    else:
        base = noisy_ids(noisy_dates(noisy_names(base, streams[2]), streams[3]), streams[4])
        base = base.with_columns(gender_out=pl.col("gender"), n_errors=pl.lit(None, pl.Int64))
    if sector == "students":
        base = _student_fields(base, prov, streams[5], n_units)
    elif sector == "vaccinations":
        base = _vaccination_fields(base, streams[5], n_units)
    else:
        base = _insurance_fields(base, prov, streams[5], n_units)

    rng = streams[6]
    src = rng.choice(n_base, size=n_dup, replace=False) if n_dup else np.empty(0, dtype=np.int64)
    adjacent = rng.random(n_dup) < 0.5
    key = np.concatenate(
        [np.arange(n_base, dtype=np.float64), np.where(adjacent, src + 0.5, rng.random(n_dup) * n_base)]
    )
    full = pl.concat(
        [base.with_columns(duplicate_row=pl.lit(False)), base[src].with_columns(duplicate_row=pl.lit(True))]
    )
    full = full.with_columns(_key=pl.Series(key)).sort("_key").drop("_key")
    if sector == "students":  # class lists come grouped by school and class
        full = full.sort(["unit", "class"], maintain_order=True)

    gender = pl.col("gender_out")
    if sector == "insurance":  # health-insurance exports code gender as 1 = Nam, 2 = Nữ
        gender = pl.when(gender == "Nam").then(pl.lit("1")).when(gender == "Nữ").then(pl.lit("2"))
    fields = [f for f in COMMON_FIELDS if f != "phone" or sector != "students"] + list(SECTOR_FIELDS[sector])
    full = full.with_columns(row_number=pl.int_range(1, full.height + 1, dtype=pl.Int64))
    records = full.select(
        "row_number",
        pl.lit(prov.slug).alias("province"),
        pl.lit(sector).alias("sector"),
        "unit",
        pl.col("name_out").alias("full_name"),
        pl.col("dob_out").alias("date_of_birth"),
        gender.alias("gender"),
        pl.col("id_out").alias("national_id"),
        *[
            pl.col(f) if f in full.columns else pl.lit(None, pl.Utf8).alias(f)
            for f in fields
            if f not in ("full_name", "date_of_birth", "gender", "national_id")
        ],
    )
    labels = harsh_labels() if profile == "harsh" else (*NAME_LABELS, *DATE_LABELS, *ID_LABELS)
    flags = [*labels, "duplicate_row", "not_in_register"]
    truth = full.select(
        pl.lit(None, pl.Utf8).alias("file"),
        pl.lit(None, pl.Utf8).alias("sheet"),
        "row_number",
        pl.lit(None, pl.Int64).alias("excel_row"),
        "person_id",
        label_list(flags).alias("noise"),
        "n_errors",
    )
    names = full.select("unit", "unit_name").unique("unit")
    return records, truth.cast(TRUTH_SCHEMA), dict(zip(names["unit"], names["unit_name"], strict=True))
