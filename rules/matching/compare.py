"""Field comparisons over candidate pairs, vectorised: each comparison assigns every pair a level.

Levels are tried in the order the config lists them; a pair takes the first level whose predicate
holds (so "exact" wins over "one edit"). Fuzzy predicates (Jaro-Winkler, edit distances) run through
``rapidfuzz.process.cpdist`` in C over the pairs still undecided, never in a Python loop per pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import OSA, Hamming, JaroWinkler, Levenshtein

from rules.matching.config import ComparisonSpec, LevelSpec, MatchConfig
from rules.matching.features import FAMILY_VARIANTS

# columns the predicates and fix-ups read besides the ones a level names
PREDICATE_COLUMNS: tuple[str, ...] = (
    "nk",
    "tk",
    "fk",
    "mk",
    "gk",
    "gt",
    "fkc",
    "dob",
    "dob_sw",
    "yr",
    "mo",
    "prec",
    "par1",
    "par2",
    "idk",
)

MISSING = -2
ELSE = -1

Predicate = Callable[[pl.DataFrame, pl.DataFrame, LevelSpec, np.ndarray], np.ndarray]


def _pair(lf: pl.DataFrame, rf: pl.DataFrame, col: str, idx: np.ndarray) -> tuple[pl.Series, pl.Series]:
    return lf[col].gather(idx), rf[col].gather(idx)


def _bool(s: pl.Series) -> np.ndarray:
    return s.fill_null(False).to_numpy().astype(bool)


def _exact(lf, rf, lv, idx):
    a, b = _pair(lf, rf, lv.column, idx)
    return _bool(a == b)


def _fuzzy(scorer, better: str):
    def pred(lf, rf, lv, idx):
        a, b = _pair(lf, rf, lv.column, idx)
        ok = _bool(a.is_not_null() & b.is_not_null())
        out = np.zeros(len(idx), dtype=bool)
        if ok.any():
            sa = a.filter(pl.Series(ok)).to_list()
            sb = b.filter(pl.Series(ok)).to_list()
            vals = process.cpdist(sa, sb, scorer=scorer, workers=1)
            out[ok] = vals >= lv.arg if better == "high" else vals <= lv.arg
        return out

    return pred


def _hamming(lf, rf, lv, idx):
    a, b = _pair(lf, rf, lv.column, idx)
    same_len = _bool(a.str.len_chars() == b.str.len_chars())
    out = np.zeros(len(idx), dtype=bool)
    if same_len.any():
        m = pl.Series(same_len)
        vals = process.cpdist(a.filter(m).to_list(), b.filter(m).to_list(), scorer=Hamming.distance, workers=1)
        out[same_len] = vals <= lv.arg
    return out


def _either_empty(lf, rf, lv, idx):
    a, b = _pair(lf, rf, lv.column, idx)
    return _bool((a == "") | (b == ""))


def _token_subset(lf, rf, lv, idx):
    """All tokens of one side occur on the other (a partly dropped middle name: "thi huyen" vs "huyen")."""
    a, b = _pair(lf, rf, lv.column, idx)
    ta, tb = a.str.split(" "), b.str.split(" ")
    n_common = pl.DataFrame({"a": ta, "b": tb}).select(pl.col("a").list.set_intersection("b").list.len())
    common = n_common.to_series()
    return _bool((common == ta.list.len()) | (common == tb.list.len()))


def _dob_swapped(lf, rf, lv, idx):
    return _bool(lf["dob_sw"].gather(idx) == rf["dob"].gather(idx))


def _year_only(lf, rf, lv, idx):
    prec = lf["prec"].gather(idx)
    return _bool((prec == "year") & (lf["yr"].gather(idx) == rf["yr"].gather(idx)))


def _month_year(lf, rf, lv, idx):
    same = (lf["yr"].gather(idx) == rf["yr"].gather(idx)) & (lf["mo"].gather(idx) == rf["mo"].gather(idx))
    return _bool(same & (lf["prec"].gather(idx) == "month"))


def _year_equal(lf, rf, lv, idx):
    return _bool(lf["yr"].gather(idx) == rf["yr"].gather(idx))


def _year_near(lf, rf, lv, idx):
    d = (lf["yr"].gather(idx).cast(pl.Int32) - rf["yr"].gather(idx).cast(pl.Int32)).abs()
    return _bool(d <= (lv.arg or 1))


def _name_swapped(lf, rf, lv, idx):
    """The record's name tokens were re-ordered for this pair (see ``apply_fixups``)."""
    if "_swapped" not in lf.columns:
        return np.zeros(len(idx), dtype=bool)
    return _bool(lf["_swapped"].gather(idx))


def _parent_of(lf, rf, lv, idx):
    """The record's ID is the ID of this person's mother or father (register links)."""
    a = lf[lv.column].gather(idx)
    return _bool((a == rf["par1"].gather(idx)) | (a == rf["par2"].gather(idx)))


def _id_unknown(lf, rf, lv, idx):
    """The record's ID is not the ID of anyone in the register (``idk`` set by the blocking)."""
    if "idk" not in lf.columns:
        return np.zeros(len(idx), dtype=bool)
    return _bool(lf["idk"].gather(idx).not_())


def _year_far(lf, rf, lv, idx):
    d = (lf["yr"].gather(idx).cast(pl.Int32) - rf["yr"].gather(idx).cast(pl.Int32)).abs()
    return _bool(d >= (lv.arg or 10))


def _exact_toned_or_untoned(lf, rf, lv, idx):
    """Folded values equal and the tones agree too, or the record carries no tones on this value."""
    a, b = _pair(lf, rf, lv.column, idx)
    ta, tb = lf["gt"].gather(idx), rf["gt"].gather(idx)
    return _bool((a == b) & ((ta == tb) | (ta == a)))


def _always(lf, rf, lv, idx):
    return np.ones(len(idx), dtype=bool)


PREDICATES: dict[str, Predicate] = {
    "exact": _exact,
    "exact_toned_or_untoned": _exact_toned_or_untoned,
    "jw": _fuzzy(JaroWinkler.normalized_similarity, "high"),
    "lev": _fuzzy(Levenshtein.distance, "low"),
    "osa": _fuzzy(OSA.distance, "low"),
    "hamming": _hamming,
    "either_empty": _either_empty,
    "token_subset": _token_subset,
    "dob_swapped": _dob_swapped,
    "year_only": _year_only,
    "month_year": _month_year,
    "year_equal": _year_equal,
    "year_near": _year_near,
    "name_swapped": _name_swapped,
    "parent_of": _parent_of,
    "id_unknown": _id_unknown,
    "year_far": _year_far,
    "always": _always,
}


@dataclass
class Comparisons:
    """Per pair: the level index of each comparison, and the summed log2 weight."""

    levels: dict[str, np.ndarray]  # comparison -> int16 (level index, ELSE or MISSING)
    weights: dict[str, np.ndarray]  # comparison -> float64 weight per pair
    total: np.ndarray  # prior + sum of weights


def apply_fixups(lf: pl.DataFrame, rf: pl.DataFrame, fixups: tuple[str, ...]) -> pl.DataFrame:
    """Pair-level repairs before comparing.

    ``name_order_swap``: when family and given name both disagree in place, try the record's tokens
    with the given name moved back to the end ("Vinh Nguyễn Duy" -> "Nguyễn Duy Vinh") and fully
    reversed; if either reads like the register's name (Jaro-Winkler >= 0.85 and clearly better than
    as written), compare the parts in that order, so typos still show as typos. ``_swapped`` marks
    those pairs for the ``order`` comparison. Only the few pairs where both parts disagree are examined.
    """
    if "name_order_swap" not in fixups or "nk" not in lf.columns or lf.height == 0:
        return lf
    swapped = np.zeros(lf.height, dtype=bool)
    both_differ = _bool((lf["fk"] != rf["fk"]) & (lf["gk"] != rf["gk"]) & (lf["nk"].str.contains(" ")))
    sub = np.flatnonzero(both_differ)
    if sub.size:
        df = pl.DataFrame(
            {"l": lf["nk"].gather(sub), "t": lf["tk"].gather(sub), "r": rf["nk"].gather(sub)}
        ).with_columns(pl.col("l").str.split(" ").alias("lt"), pl.col("t").str.split(" ").alias("tt"))
        rot = pl.concat_list(pl.col("lt").list.slice(1), pl.col("lt").list.first())
        rot_t = pl.concat_list(pl.col("tt").list.slice(1), pl.col("tt").list.first())
        df = df.with_columns(
            rot.alias("rot"),
            pl.col("lt").list.reverse().alias("rev"),
            rot_t.alias("rot_t"),
            pl.col("tt").list.reverse().alias("rev_t"),
        )
        r = df["r"].to_list()
        sims = {
            k: process.cpdist(df[k].list.join(" ").to_list(), r, scorer=JaroWinkler.normalized_similarity, workers=1)
            for k in ("lt", "rot", "rev")
        }
        use_rot = (sims["rot"] >= 0.85) & (sims["rot"] >= sims["rev"]) & (sims["rot"] > sims["lt"] + 0.05)
        use_rev = ~use_rot & (sims["rev"] >= 0.85) & (sims["rev"] > sims["lt"] + 0.05)
        chosen = df.select(
            pl.when(pl.Series(use_rot)).then(pl.col("rot")).otherwise(pl.col("rev")).alias("k"),
            pl.when(pl.Series(use_rot)).then(pl.col("rot_t")).otherwise(pl.col("rev_t")).alias("t"),
        )
        hit = use_rot | use_rev
        if hit.any():
            pos = sub[hit]
            parts = chosen.filter(pl.Series(hit)).select(
                pl.col("k").list.first().alias("fk"),
                pl.when(pl.col("k").list.len() > 2)
                .then(pl.col("k").list.slice(1, pl.col("k").list.len() - 2).list.join(" "))
                .otherwise(pl.lit(""))
                .alias("mk"),
                pl.col("k").list.last().alias("gk"),
                pl.col("t").list.last().alias("gt"),
            )
            parts = parts.with_columns(pl.col("fk").replace(FAMILY_VARIANTS).alias("fkc"))
            lf = lf.with_columns(lf[c].scatter(pos, parts[c]) for c in ("fk", "mk", "gk", "gt", "fkc"))
            swapped[pos] = True
    return lf.with_columns(pl.Series("_swapped", swapped))


def compare(lf: pl.DataFrame, rf: pl.DataFrame, config: MatchConfig, n_index: int) -> Comparisons:
    """Score aligned pairs (row i of ``lf`` = record side, row i of ``rf`` = index side)."""
    n = lf.height
    total = np.full(n, config.prior, dtype=np.float64)
    levels: dict[str, np.ndarray] = {}
    weights: dict[str, np.ndarray] = {}
    lf = apply_fixups(lf, rf, config.pair_fixups)
    for comp in config.comparisons:
        lvl, w = _compare_one(lf, rf, comp, n_index)
        levels[comp.name] = lvl
        weights[comp.name] = w
        total += w
    return Comparisons(levels, weights, total)


def _compare_one(lf: pl.DataFrame, rf: pl.DataFrame, comp: ComparisonSpec, n_index: int):
    n = lf.height
    lvl = np.full(n, ELSE, dtype=np.int16)
    if comp.null_columns:
        miss = np.zeros(n, dtype=bool)
        for c in comp.null_columns:
            miss |= lf[c].is_null().to_numpy() | rf[c].is_null().to_numpy()
        lvl[miss] = MISSING
    for i, lv in enumerate(comp.levels):
        todo = np.flatnonzero(lvl == ELSE)
        if todo.size == 0:
            break
        hit = PREDICATES[lv.when](lf, rf, lv, todo)
        lvl[todo[hit]] = i
    w = np.zeros(n, dtype=np.float64)
    w[lvl == ELSE] = comp.else_weight
    for i, lv in enumerate(comp.levels):
        sel = lvl == i
        if not sel.any():
            continue
        if lv.tf:
            counts = rf[lv.tf].to_numpy()[sel].astype(np.float64)
            u = np.maximum(lv.u_min, counts / max(n_index, 1))
            w[sel] = np.log2(lv.m / np.minimum(u, lv.m))
        else:
            w[sel] = lv.fixed_weight()
    return lvl, w


def level_label(comp: ComparisonSpec, level: int) -> str:
    if level == MISSING:
        return "missing"
    if level == ELSE:
        return comp.else_label
    return comp.levels[level].label


def probability(total: np.ndarray) -> np.ndarray:
    """Match probability from total log2 odds."""
    return 1.0 / (1.0 + np.exp2(-np.clip(total, -60, 60)))


def weight_of_probability(p: float) -> float:
    return math.log2(p / (1 - p))
