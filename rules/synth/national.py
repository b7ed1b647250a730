"""A national register (several provinces) and sector files where a share of the rows are people
registered in ANOTHER province: the data of the national second pass (issue 16 point 4).

Built from the province generators (``generate_register``, ``generate_sector_records`` with the
``harsh`` noise profile): each province's register is generated on its own seed, so provinces can be
written one at a time (bounded memory at 10M people). Person IDs are unique nationally (a rare
collision of a migrant's ID with another province's person drops the later person).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl

from rules.provinces import PROVINCE_SLUGS, resolve_province
from rules.synth.register import generate_register
from rules.synth.sector import generate_sector_records

# Ho Chi Minh City first (the case: its students include many children registered elsewhere)
DEFAULT_ORDER: tuple[str, ...] = ("ho_chi_minh", *(p for p in PROVINCE_SLUGS if p != "ho_chi_minh"))


def national_provinces(n: int) -> list[str]:
    """The first ``n`` provinces of a fixed order (Ho Chi Minh City first); 1 <= n <= 34."""
    if not 1 <= n <= len(DEFAULT_ORDER):
        raise ValueError(f"between 1 and {len(DEFAULT_ORDER)} provinces")
    return list(DEFAULT_ORDER[:n])


def province_sizes(provinces: Sequence[str], total: int) -> dict[str, int]:
    """``total`` people shared equally (the remainder to the first provinces)."""
    k = len(provinces)
    if total < k:
        raise ValueError("at least one person per province")
    return {p: total // k + (1 if i < total % k else 0) for i, p in enumerate(provinces)}


def generate_national_register(
    provinces: Sequence[str], total: int, seed: int
) -> Iterator[tuple[str, pl.DataFrame]]:
    """``(province slug, register)`` for each province, ``total`` people in all, deterministic per seed.

    Yields one province at a time so a caller can write it and let it go. IDs already given to an
    earlier province (a migrant's CCCD colliding by chance) are dropped from the later one.
    """
    seen = pl.Series("person_id", [], dtype=pl.Utf8)
    for i, (prov, size) in enumerate(province_sizes(provinces, total).items()):
        reg = generate_register(prov, size, seed * 101 + i)
        if seen.len():
            reg = reg.filter(~pl.col("person_id").is_in(seen.implode()))
        seen = pl.concat([seen, reg["person_id"]])
        yield prov, reg


def national_sector_records(
    home: pl.DataFrame,
    others: pl.DataFrame,
    sector: str,
    n_rows: int,
    seed: int,
    out_share: float = 0.2,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``n_rows`` raw rows of ``home``'s province, ``out_share`` of them people of ``others`` (registers
    of other provinces, or a sample of them), all with harsh noise; and their truth.

    The out-of-province rows carry the home province's slug and units (they were submitted there).
    Truth (contracts §2) gains ``registered_in`` (the person's province slug; null for people in no
    register) and ``out_of_province``. Row numbers run 1..n over the shuffled rows.
    """
    if not 0.0 <= out_share < 1.0:
        raise ValueError("out_share must be in [0, 1)")
    home_slug = resolve_province(home["province"][0]).slug
    n_out = round(n_rows * out_share)
    n_in = n_rows - n_out
    rec_in, truth_in = generate_sector_records(home, sector, n_in, seed, profile="harsh")
    parts = [(rec_in, truth_in.with_columns(registered_in=pl.when(pl.col("person_id").is_not_null())
                                            .then(pl.lit(home_slug)), out_of_province=pl.lit(False)))]
    if n_out:
        # everyone drawn is in the national register (absent_share 0): the rows the second pass can find
        rec_out, truth_out = generate_sector_records(others, sector, n_out, seed + 1, absent_share=0.0, profile="harsh")
        slug_of = others.select("person_id", pl.col("province").alias("_p")).unique("person_id")
        names = {resolve_province(p).name: resolve_province(p).slug for p in slug_of["_p"].unique().to_list()}
        truth_out = truth_out.join(slug_of, on="person_id", how="left", maintain_order="left").with_columns(
            registered_in=pl.col("_p").replace_strict(names, default=None), out_of_province=pl.lit(True)
        ).drop("_p")
        rng = np.random.default_rng(seed + 2)
        units = rec_in["unit"].unique().sort()
        rec_out = rec_out.with_columns(
            province=pl.lit(home_slug),
            unit=units.gather(rng.integers(0, units.len(), rec_out.height)),
        )
        parts.append((rec_out, truth_out))
    records = pl.concat([p[0] for p in parts], how="diagonal_relaxed")
    truth = pl.concat([p[1] for p in parts], how="diagonal_relaxed")
    order = np.random.default_rng(seed + 3).permutation(records.height)
    records = records[order].with_columns(row_number=pl.int_range(1, records.height + 1, dtype=pl.Int64))
    truth = truth[order].with_columns(row_number=pl.int_range(1, records.height + 1, dtype=pl.Int64))
    return records, truth


__all__ = [
    "DEFAULT_ORDER",
    "generate_national_register",
    "national_provinces",
    "national_sector_records",
    "province_sizes",
]
