"""Synthetic population register (contract 1 of docs/contracts.md), fully vectorised with numpy.

Why each step exists:
- ages follow the approximate shape of Vietnam's 2019 census pyramid (5-year groups, 0-100), so
  sector selections by age (pupils 3-18, elderly insurance) are realistic;
- parents are linked by birth-year buckets (mother 18-45 years older, her husband -5..+15 years
  older than her, husbands never shared), giving households whose parent IDs can turn up on a
  child's row (the ``parent_id`` noise);
- twins (same parents and birth date, usually the same middle name) and namesakes (same full name
  and birth date, unrelated) are planted on purpose because they are the hard cases for matching;
- a share of people have the new tone placement (``Hoà``), as real registers mix both styles.
The register is a snapshot at ``REFERENCE_DATE``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from rules.provinces import Province, resolve_province
from rules.synth.ids import birth_codes, cccd_numbers, cmnd_numbers, format_digits
from rules.synth.names import build_full_names, name_tables, sample_name_parts

REFERENCE_DATE = dt.date(2026, 1, 1)

#: Percent of the population per 5-year age group 0-4 … 95-99, then age 100 (approximate shape of
#: the 2019 census pyramid: wide 25-39 band, narrower 10-19 cohorts, long thin tail).
AGE_PYRAMID_PERCENT: tuple[float, ...] = (
    8.1,
    8.3,
    7.2,
    6.6,
    7.0,
    8.0,
    8.3,
    7.7,
    7.0,
    6.4,
    5.8,
    5.1,
    4.0,
    2.9,
    1.8,
    1.2,
    0.9,
    0.6,
    0.25,
    0.08,
    0.01,
)

#: Rates of the structural features (assumptions chosen to exercise matching, documented in tests).
NEW_TONE_STYLE_SHARE = 0.35
MIGRANT_SHARE_ADULT = 0.15
MIGRANT_SHARE_CHILD = 0.05
CMND_SHARE_OVER_25 = 0.60
TWIN_PAIR_SHARE = 0.006  # pairs per person
NAMESAKE_SHARE = 0.003  # people who get another person's full name and birth date

REGISTER_SCHEMA: dict[str, pl.DataType] = {
    "person_id": pl.Utf8(),
    "full_name": pl.Utf8(),
    "date_of_birth": pl.Date(),
    "gender": pl.Utf8(),
    "old_id": pl.Utf8(),
    "province": pl.Utf8(),
    "household_id": pl.Utf8(),
    "mother_id": pl.Utf8(),
    "father_id": pl.Utf8(),
}


def _ages(rng: np.random.Generator, n: int) -> np.ndarray:
    groups = np.asarray(AGE_PYRAMID_PERCENT)
    group = rng.choice(groups.size, size=n, p=groups / groups.sum())
    return np.where(group == groups.size - 1, 100, group * 5 + rng.integers(0, 5, size=n))


def _female(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    # sex ratio at birth ~111 boys per 100 girls; women outlive men
    p = np.select([age < 15, age < 60, age < 80], [0.475, 0.5, 0.56], 0.65)
    return rng.random(age.shape[0]) < p


def _birth_dates(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """Days since 1970 of a birth date such that the age on REFERENCE_DATE is ``age``."""
    ref = np.datetime64(REFERENCE_DATE, "D")
    last_birthday = (ref.astype("datetime64[Y]") - age.astype("timedelta64[Y]")).astype("datetime64[D]")
    # birthday falls uniformly in the year before the reference date's anniversary
    offset = rng.integers(0, 365, size=age.shape[0]).astype("timedelta64[D]")
    return (last_birthday - offset - np.timedelta64(1, "D")).astype(np.int64)


def _pick_in_year(
    rng: np.random.Generator, pool: np.ndarray, pool_year: np.ndarray, target_year: np.ndarray
) -> np.ndarray:
    """For each target birth year, a random member of ``pool`` born that year (-1 if none)."""
    order = np.argsort(pool_year, kind="stable")
    pool, pool_year = pool[order], pool_year[order]
    start = np.searchsorted(pool_year, target_year, side="left")
    count = np.searchsorted(pool_year, target_year, side="right") - start
    pick = start + (rng.random(target_year.shape[0]) * np.maximum(count, 1)).astype(np.int64)
    return np.where(count > 0, pool[np.minimum(pick, pool.size - 1)], -1)


def _assign_without_replacement(
    rng: np.random.Generator, pool: np.ndarray, pool_year: np.ndarray, target_year: np.ndarray
) -> np.ndarray:
    """Like ``_pick_in_year`` but each pool member is used at most once (-1 when a year runs out)."""
    order = np.lexsort((rng.random(pool.size), pool_year))
    pool, pool_year = pool[order], pool_year[order]
    t_order = np.lexsort((rng.random(target_year.size), target_year))
    ty = target_year[t_order]
    first = np.r_[True, ty[1:] != ty[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(ty.size), 0))
    rank = np.arange(ty.size) - group_start
    start = np.searchsorted(pool_year, ty, side="left")
    count = np.searchsorted(pool_year, ty, side="right") - start
    chosen = np.where(rank < count, pool[np.minimum(start + rank, pool.size - 1)], -1)
    out = np.empty_like(chosen)
    out[t_order] = chosen
    return out


def _link_parents(
    rng: np.random.Generator, age: np.ndarray, year: np.ndarray, female: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mother and father row indices (-1 = not in the register)."""
    n = age.shape[0]
    p_link = np.select([age < 18, age < 30, age < 45, age < 60], [0.92, 0.75, 0.45, 0.2], 0.0)
    linked = np.flatnonzero(rng.random(n) < p_link)
    gap = np.clip(np.rint(rng.normal(27, 5, size=linked.size)), 18, 45).astype(np.int64)
    women = np.flatnonzero(female & (age >= 18))
    mother = np.full(n, -1, dtype=np.int64)
    mother[linked] = _pick_in_year(rng, women, year[women], year[linked] - gap)
    is_mother = np.zeros(n, dtype=bool)
    is_mother[mother[mother >= 0]] = True
    mothers = np.flatnonzero(is_mother)
    hgap = np.clip(np.rint(rng.normal(3, 3, size=mothers.size)), -5, 15).astype(np.int64)
    men = np.flatnonzero(~female & (age >= 18))
    husband_of = np.full(n, -1, dtype=np.int64)
    husband_of[mothers] = _assign_without_replacement(rng, men, year[men], year[mothers] - hgap)
    father = np.where(mother >= 0, husband_of[np.maximum(mother, 0)], -1)
    return mother, father


def _plant_pairs(rng: np.random.Generator, candidates: np.ndarray, group: np.ndarray, n_pairs: int) -> np.ndarray:
    """Disjoint (a, b) pairs of candidates with the same ``group`` value (e.g. birth year), shape (k, 2)."""
    if candidates.size < 2 or n_pairs <= 0:
        return np.empty((0, 2), dtype=np.int64)
    # pairs are rare: sort only a random sample of candidates large enough to pair up within groups
    if candidates.size > 64 * n_pairs:
        candidates = candidates[rng.random(candidates.size) < 64 * n_pairs / candidates.size]
    c = candidates[np.lexsort((rng.random(candidates.size), group[candidates]))]
    m = c.size // 2
    pairs = np.stack([c[0 : 2 * m : 2], c[1 : 2 * m : 2]], axis=1)
    pairs = pairs[group[pairs[:, 0]] == group[pairs[:, 1]]]
    keep = rng.permutation(pairs.shape[0])[:n_pairs]
    return pairs[np.sort(keep)]


def is_northern(prov: Province) -> bool:
    """North and north-central units (2025 codes up to Hà Tĩnh, 42), for regional surname readings."""
    return int(prov.code) <= 42


def generate_register(province: str, size: int, seed: int) -> pl.DataFrame:
    """A register of ``size`` people living in ``province`` (slug, code or name), deterministic per seed.

    Columns: person_id, full_name, date_of_birth, gender, old_id, province (2025 name), household_id,
    mother_id, father_id (see docs/contracts.md §1).
    """
    if size < 1:
        raise ValueError("size must be at least 1")
    prov = resolve_province(province)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 1]).spawn(8)]
    age = _ages(streams[0], size)
    female = _female(streams[0], age)
    dob = _birth_dates(streams[1], age)
    year = dob.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    mother, father = _link_parents(streams[2], age, year, female)

    fam, mid, marked, giv = sample_name_parts(streams[3], year, female, northern=is_northern(prov))
    new_style = streams[3].random(size) < NEW_TONE_STYLE_SHARE
    # children carry the father's family name (the mother's when no father is known); chains of
    # grandparents resolve in at most ~6 passes because each generation is 18+ years apart
    parent = np.where(father >= 0, father, mother)
    has_parent = parent >= 0
    for _ in range(8):
        new_fam = np.where(has_parent, fam[np.maximum(parent, 0)], fam)
        if np.array_equal(new_fam, fam):
            break
        fam = new_fam

    rng = streams[4]
    linked_young = np.flatnonzero((mother >= 0) & (age < 40))
    twins = _plant_pairs(rng, linked_young, year, round(size * TWIN_PAIR_SHARE))
    a, b = twins[:, 0], twins[:, 1]
    mother[b], father[b], dob[b], fam[b] = mother[a], father[a], dob[a], fam[a]
    same_gender = female[a] == female[b]
    mid[b[same_gender]], marked[b[same_gender]] = mid[a[same_gender]], marked[a[same_gender]]
    tables = name_tables()
    for g_female, g in ((False, "Nam"), (True, "Nữ")):
        clash = same_gender & (female[a] == g_female) & (giv[a] == giv[b])
        giv[b[clash]] = (giv[b[clash]] + 1) % len(tables.given[g])

    in_twins = np.zeros(size, dtype=bool)
    in_twins[twins.ravel()] = True
    pool = np.flatnonzero(~in_twins)
    namesakes = _plant_pairs(rng, pool, year * 2 + female, round(size * NAMESAKE_SHARE))
    d, r = namesakes[:, 0], namesakes[:, 1]
    fam[r], mid[r], marked[r], giv[r], dob[r], new_style[r] = (
        fam[d],
        mid[d],
        marked[d],
        giv[d],
        dob[d],
        new_style[d],
    )

    full_name = build_full_names(fam, mid, marked, giv, female, new_style)

    rng = streams[5]
    migrant = rng.random(size) < np.where(age < 18, MIGRANT_SHARE_CHILD, MIGRANT_SHARE_ADULT)
    code = birth_codes(rng, prov, migrant)
    pid = format_digits(cccd_numbers(rng, code, female, year), 12, "person_id")
    has_cmnd = (age > 25) & (streams[6].random(size) < CMND_SHARE_OVER_25)
    cmnd = np.full(size, -1, dtype=np.int64)
    cmnd[has_cmnd] = cmnd_numbers(streams[6], prov, int(has_cmnd.sum()))

    is_mother = np.zeros(size, dtype=bool)
    is_mother[mother[mother >= 0]] = True
    wife_of = np.full(size, -1, dtype=np.int64)
    wife_of[father[father >= 0]] = mother[father >= 0]
    own = np.where(wife_of >= 0, wife_of, np.arange(size))
    dependant = (mother >= 0) & ((age < 18) | ((age < 30) & ~is_mother & (wife_of < 0)))
    household = np.where(dependant, own[np.maximum(mother, 0)], own)  # row index of the household key

    pid_list = pid.to_frame()
    return pl.DataFrame(
        {
            "person_id": pid,
            "full_name": full_name,
            "date_of_birth": pl.Series(dob.astype(np.int32)).cast(pl.Date),
            "gender": pl.Series(np.where(female, "Nữ", "Nam")),
            "old_id": format_digits(pl.Series(cmnd).replace(-1, None), 9),
            "province": pl.Series([prov.name]).extend_constant(prov.name, size - 1),
            "household_id": "HK" + prov.code + format_digits(household, 9),
            "mother_id": pid_list.select(_gather_nullable(pl.col("person_id"), mother))["person_id"],
            "father_id": pid_list.select(_gather_nullable(pl.col("person_id"), father))["person_id"],
        },
        schema=REGISTER_SCHEMA,
    )


def _gather_nullable(col: pl.Expr, idx: np.ndarray) -> pl.Expr:
    """``col[idx]`` with -1 meaning null."""
    return col.gather(pl.Series(idx).replace(-1, None))
