"""Identifier numbers built to their real structure (domain README §1.2, §1.3, §2.1).

12-digit personal ID: 3-digit CCCD birth-registration code, gender/century digit, 2 year digits,
6 random digits. Uniqueness is enforced by redrawing the random block of colliding numbers, which
converges in a few rounds because each (code, digit, year) prefix has a million slots.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from rules.provinces import Province, cccd_codes

#: Prefix of the 9-digit CMND of the issuing police for the 2025 units where the domain README gives
#: one (§1.3); elsewhere a stable pseudo prefix is derived from the 2025 code (prefixes are not
#: mappable anyway, so nothing downstream may rely on them).
CMND_PREFIX: dict[str, str] = {
    "ha_noi": "01",
    "ho_chi_minh": "02",
    "hai_phong": "03",
    "son_la": "05",
    "tuyen_quang": "07",
    "quang_ninh": "10",
    "phu_tho": "13",
    "hung_yen": "14",
    "ha_tinh": "18",
    "quang_tri": "19",
    "da_nang": "20",
    "quang_ngai": "21",
    "khanh_hoa": "22",
    "gia_lai": "23",
    "lam_dong": "26",
    "dong_nai": "28",
    "tay_ninh": "29",
    "vinh_long": "32",
    "an_giang": "35",
    "can_tho": "36",
    "ca_mau": "38",
}


def _members(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    if sorted_values.size == 0:
        return np.zeros(values.size, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_values, values), sorted_values.size - 1)
    return sorted_values[pos] == values


def unique_random_block(rng: np.random.Generator, prefix: np.ndarray, width: int) -> np.ndarray:
    """Random ``width``-digit blocks such that ``prefix * 10**width + block`` is unique.

    One full sort finds the first collisions; redrawn blocks are then checked against that sorted
    array, against the values accepted so far and among themselves, so 10M IDs need a single sort.
    """
    scale = 10**width
    block = rng.integers(0, scale, size=prefix.shape[0], dtype=np.int64)
    full = prefix * scale + block
    order = np.argsort(full)
    ordered = full[order]
    dup = order[1:][ordered[1:] == ordered[:-1]]
    accepted = np.empty(0, dtype=np.int64)
    for _ in range(64):
        if dup.size == 0:
            return block
        block[dup] = rng.integers(0, scale, size=dup.size, dtype=np.int64)
        new = prefix[dup] * scale + block[dup]
        o = np.argsort(new, kind="stable")
        self_dup = np.zeros(new.size, dtype=bool)
        self_dup[o[1:]] = new[o][1:] == new[o][:-1]
        bad = self_dup | _members(ordered, new) | _members(accepted, new)
        accepted = np.sort(np.concatenate([accepted, new[~bad]]))
        dup = dup[bad]
    raise RuntimeError("could not draw unique identifiers; a prefix group is too full")


def birth_codes(rng: np.random.Generator, province: Province, migrant: np.ndarray) -> np.ndarray:
    """3-digit CCCD code (as int) of the birth-registration province for each person."""
    own = np.array([int(c) for c in province.cccd_codes], dtype=np.int64)
    # the old province that gave the 2025 unit its name and centre is usually the most populous
    weight = np.array([2.0 if c == "0" + province.code else 1.0 for c in province.cccd_codes])
    others = np.array(sorted(int(c) for c in cccd_codes() if c not in province.cccd_codes), dtype=np.int64)
    n = migrant.shape[0]
    code = own[rng.choice(own.size, size=n, p=weight / weight.sum())]
    code[migrant] = others[rng.integers(0, others.size, size=int(migrant.sum()))]
    return code


def cccd_numbers(rng: np.random.Generator, code: np.ndarray, female: np.ndarray, birth_year: np.ndarray) -> np.ndarray:
    """12-digit personal IDs as int64 (format with ``format_digits(..., 12)``)."""
    digit4 = 2 * ((birth_year - 1900) // 100) + female.astype(np.int64)
    prefix = code * 1000 + digit4 * 100 + birth_year % 100
    return prefix * 10**6 + unique_random_block(rng, prefix, 6)


def cmnd_numbers(rng: np.random.Generator, province: Province, n: int) -> np.ndarray:
    """Unique 9-digit CMND numbers (int64) with the province's issuing prefix."""
    pre = int(CMND_PREFIX.get(province.slug, f"{(int(province.code) * 7) % 37 + 1:02d}"))
    prefix = np.full(n, pre, dtype=np.int64)
    return prefix * 10**7 + unique_random_block(rng, prefix, 7)


def format_digits(values: np.ndarray | pl.Series, width: int, name: str = "") -> pl.Series:
    """Zero-padded digit strings of a fixed width (nulls stay null)."""
    s = values if isinstance(values, pl.Series) else pl.Series(name, values)
    return s.cast(pl.Utf8).str.zfill(width).alias(name)
