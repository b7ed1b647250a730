"""Name tables (committed CSVs under ``rules/reference/names/``) and vectorised name sampling.

The tables are derived from the UIT-ViNames list by ``build_name_tables.py``; the source list skews
young and southern, so the share of the ``Văn``/``Thị`` middle names is set per birth cohort here
(assumption, no sourced table exists — domain README §3.3: Thị is less common today).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

from rules.synth.text import to_new_style

NAMES_DIR = Path(__file__).resolve().parent.parent / "reference" / "names"

#: (first birth year of the cohort, P(Văn | male), P(Thị | female)); assumption, see module docstring.
MARKER_MIDDLE_BY_COHORT: tuple[tuple[int, float, float], ...] = (
    (0, 0.60, 0.88),
    (1960, 0.50, 0.82),
    (1980, 0.35, 0.72),
    (2000, 0.15, 0.50),
)


@dataclass(frozen=True)
class NameTables:
    """Name parts in the old tone style with their new-style twins, plus sampling weights."""

    family: pl.Series
    family_p: np.ndarray
    # per gender ("Nam", "Nữ"): middles with the marker (Văn/Thị…), middles without, givens
    middle_marked: dict[str, pl.Series]
    middle_marked_p: dict[str, np.ndarray]
    middle_other: dict[str, pl.Series]
    middle_other_p: dict[str, np.ndarray]
    given: dict[str, pl.Series]
    given_p: dict[str, np.ndarray]


def _read(name: str) -> list[dict[str, str]]:
    with open(NAMES_DIR / name, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _p(weights: list[float]) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    return w / w.sum()


@cache
def name_tables() -> NameTables:
    fam = _read("family_names.csv")
    family = pl.Series("family", [r["family"] for r in fam])
    mids = _read("middle_names.csv")
    givs = _read("given_names.csv")
    mm, mmp, mo, mop, gv, gvp = {}, {}, {}, {}, {}, {}
    for g, marker in (("Nam", "Văn"), ("Nữ", "Thị")):
        rows = [r for r in mids if r["gender"] == g]
        marked = [r for r in rows if r["middle"].split(" ")[0] == marker]
        other = [r for r in rows if r["middle"].split(" ")[0] != marker]
        # "" (no middle name) stays a possible value: it becomes a null and concat skips it
        mm[g] = pl.Series("middle", [r["middle"] for r in marked])
        mmp[g] = _p([float(r["count"]) for r in marked])
        mo[g] = pl.Series("middle", [r["middle"] or None for r in other], dtype=pl.Utf8)
        mop[g] = _p([float(r["count"]) for r in other])
        rows = [r for r in givs if r["gender"] == g]
        gv[g] = pl.Series("given", [r["given"] for r in rows])
        gvp[g] = _p([float(r["count"]) for r in rows])
    return NameTables(
        family=family,
        family_p=_p([float(r["share"]) for r in fam]),
        middle_marked=mm,
        middle_marked_p=mmp,
        middle_other=mo,
        middle_other_p=mop,
        given=gv,
        given_p=gvp,
    )


def marker_probability(birth_year: np.ndarray, female: np.ndarray) -> np.ndarray:
    """P(middle name is Văn / Thị) per person, by birth cohort and gender."""
    p = np.empty(birth_year.shape, dtype=np.float64)
    for start, p_van, p_thi in MARKER_MIDDLE_BY_COHORT:
        sel = birth_year >= start
        p[sel] = np.where(female[sel], p_thi, p_van)
    return p


#: Hoàng/Huỳnh and Vũ/Võ are one Hán character read differently by region (domain README §3.2): the
#: table's split is southern (the source list is from HCMC); northern provinces swap each pair.
REGIONAL_PAIRS: tuple[tuple[str, str], ...] = (("Hoàng", "Huỳnh"), ("Vũ", "Võ"))


def family_shares(northern: bool) -> np.ndarray:
    """Family-name probabilities for a region (assumption: the north mirrors the south's split)."""
    t = name_tables()
    p = t.family_p.copy()
    if northern:
        names = t.family.to_list()
        for a, b in REGIONAL_PAIRS:
            i, j = names.index(a), names.index(b)
            p[i], p[j] = max(p[i], p[j]), min(p[i], p[j])
    return p


def sample_name_parts(
    rng: np.random.Generator, birth_year: np.ndarray, female: np.ndarray, northern: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Indices into the tables: family, middle (marked or other), a marked flag, given.

    Middle and given indices are per gender table; keep ``female`` to resolve them.
    """
    t = name_tables()
    n = birth_year.shape[0]
    fam = rng.choice(len(t.family), size=n, p=family_shares(northern))
    marked = rng.random(n) < marker_probability(birth_year, female)
    mid = np.zeros(n, dtype=np.int64)
    giv = np.zeros(n, dtype=np.int64)
    for g, sel_g in (("Nam", ~female), ("Nữ", female)):
        for is_marked, table_p in ((True, t.middle_marked_p[g]), (False, t.middle_other_p[g])):
            sel = sel_g & (marked == is_marked)
            mid[sel] = rng.choice(len(table_p), size=int(sel.sum()), p=table_p)
        giv[sel_g] = rng.choice(len(t.given_p[g]), size=int(sel_g.sum()), p=t.given_p[g])
    return fam, mid, marked, giv


def build_full_names(
    fam: np.ndarray,
    mid: np.ndarray,
    marked: np.ndarray,
    giv: np.ndarray,
    female: np.ndarray,
    new_style: np.ndarray,
) -> pl.Series:
    """NFC full names from table indices; ``new_style`` rows use the new tone placement."""
    t = name_tables()
    mids = []
    givs = []
    for g, sel_g in (("Nam", ~female), ("Nữ", female)):
        for is_marked, table in ((True, t.middle_marked[g]), (False, t.middle_other[g])):
            sel = np.flatnonzero(sel_g & (marked == is_marked))
            mids.append(pl.DataFrame({"i": sel, "v": table.gather(mid[sel])}))
        sel = np.flatnonzero(sel_g)
        givs.append(pl.DataFrame({"i": sel, "v": t.given[g].gather(giv[sel])}))
    middle = pl.concat(mids).sort("i")["v"]
    given = pl.concat(givs).sort("i")["v"]
    df = pl.DataFrame({"f": t.family.gather(fam), "m": middle, "g": given, "new": new_style})
    full = pl.concat_str([pl.col("f"), pl.col("m"), pl.col("g")], separator=" ", ignore_nulls=True)
    return df.select(pl.when(pl.col("new")).then(to_new_style(full)).otherwise(full).alias("full_name"))["full_name"]
