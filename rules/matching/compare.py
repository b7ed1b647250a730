"""Field comparisons over candidate pairs, vectorised: each comparison assigns every pair a level.

Levels are tried in the order the config lists them; a pair takes the first level whose predicate
holds (so "exact" wins over "one edit"). Fuzzy predicates (Jaro-Winkler, edit distances) run through
``rapidfuzz.process.cpdist`` in C over the pairs still undecided, never in a Python loop per pair.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from rapidfuzz import process
from rapidfuzz.distance import OSA, Hamming, JaroWinkler, Levenshtein

from rules.matching.config import ComparisonSpec, LevelSpec, MatchConfig
from rules.matching.features import FAMILY_VARIANTS
from rules.matching.value_pairs import PairScores, osa_within_one, rapidfuzz_scorer

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
    "grk",
    "grk2",
    "idn_s",
)

MISSING = -2
#: Jaro-Winkler a re-ordered reading of the record's name needs against the register's name.
REORDER_MIN_SIMILARITY = 0.85
ELSE = -1

Predicate = Callable[[pl.DataFrame, pl.DataFrame, LevelSpec, np.ndarray], np.ndarray]


def _pair(lf: pl.DataFrame, rf: pl.DataFrame, col: str, idx: np.ndarray) -> tuple[pl.Series, pl.Series]:
    return lf[col].gather(idx), rf[col].gather(idx)


def _bool(s: pl.Series) -> np.ndarray:
    return s.fill_null(False).to_numpy().astype(bool)


def _exact(lf, rf, lv, idx):
    a, b = _pair(lf, rf, lv.column, idx)
    return _bool(a == b)


#: String scorers of the fuzzy predicates: name -> (scorer, "high" = similarity, "low" = distance).
FUZZY_SCORERS = {
    "jw": (JaroWinkler.normalized_similarity, "high"),
    "lev": (Levenshtein.distance, "low"),
    "osa": (OSA.distance, "low"),
}
_RUNNERS = {name: rapidfuzz_scorer(scorer) for name, (scorer, _) in FUZZY_SCORERS.items()}


def _fuzzy_hit(vals: np.ndarray, lv: LevelSpec, better: str) -> np.ndarray:
    """Scores against the level's ``arg``, in float32 as rapidfuzz computes them (a Jaro-Winkler of
    exactly 0.88 meets ``arg: 0.88``); NaN (a null side) never hits."""
    ok = ~np.isnan(vals)
    v, arg = vals[ok].astype(np.float32), np.float32(lv.arg)
    out = np.zeros(len(vals), dtype=bool)
    out[ok] = v >= arg if better == "high" else v <= arg
    return out


def _fuzzy(lf, rf, lv, idx):
    """A fuzzy predicate on its own (``compare`` shares one ``PairScores`` between all the levels)."""
    return _fuzzy_level(PairScores(lf, rf), lv, idx)


def _fuzzy_level(scores: PairScores, lv: LevelSpec, idx: np.ndarray) -> np.ndarray:
    """A fuzzy predicate (``FUZZY_SCORERS``) through ``scores``, computed once per distinct value pair
    where the column's values repeat; an ID's one-edit test as byte matrices (``osa_within_one``)."""
    if lv.when == "osa" and lv.arg == 1 and not scores.deduplicates(lv.column):
        return osa_within_one(*_pair(scores.lf, scores.rf, lv.column, idx))
    better = FUZZY_SCORERS[lv.when][1]
    return _fuzzy_hit(scores.scores(lv.column, lv.when, _RUNNERS[lv.when], idx), lv, better)


def _hamming(lf, rf, lv, idx):
    a, b = _pair(lf, rf, lv.column, idx)
    same_len = _bool(a.str.len_chars() == b.str.len_chars())
    out = np.zeros(len(idx), dtype=bool)
    if same_len.any():
        m = pl.Series(same_len)
        vals = process.cpdist(a.filter(m).to_list(), b.filter(m).to_list(), scorer=Hamming.distance, workers=1)
        out[same_len] = vals <= lv.arg
    return out


def _parent_name(scorer=None):
    """The record's ``column`` (a guardian's name) against the candidate's ``column`` and
    ``column + "2"`` (mother's and father's names): exact (``scorer`` None) or a similarity of at
    least ``arg``, either parent."""

    def pred(lf, rf, lv, idx):
        a = lf[lv.column].gather(idx)
        out = np.zeros(len(idx), dtype=bool)
        for col in (lv.column, lv.column + "2"):
            if col not in rf.columns:
                continue
            b = rf[col].gather(idx)
            if scorer is None:
                out |= _bool(a == b)
                continue
            ok = _bool(a.is_not_null() & b.is_not_null()) & ~out
            if ok.any():
                m = pl.Series(ok)
                vals = process.cpdist(a.filter(m).to_list(), b.filter(m).to_list(), scorer=scorer, workers=1)
                out[ok] = vals >= lv.arg
        return out

    return pred


def _sci_prefix(lf, rf, lv, idx):
    """The record's rounded ID prefix (``column``, ``features.sci_id_prefix``) against the candidate's
    ID, on the digits a birth date and gender do not already give: the province code (digits 1-3)
    and digits 7 on, where Excel's rounding may have added one."""
    a = lf[lv.column].gather(idx)
    b = rf["idn_s"].gather(idx)
    n = a.str.len_chars()
    frame = pl.DataFrame({"a": a, "b": b, "n": n}).select(
        prov=pl.col("a").str.slice(0, 3) == pl.col("b").str.slice(0, 3),
        ta=pl.col("a").str.slice(6).cast(pl.Int64, strict=False),
        tb=pl.col("b").str.slice(6, pl.col("n") - 6).cast(pl.Int64, strict=False),
        mod=pl.lit(10, pl.Int64).pow(pl.col("n") - 6),
    )
    # rounded up by one, with a carry out of the tail when it was all nines (0 shown for 9)
    tail = ((frame["ta"] - frame["tb"]) % frame["mod"]).is_in([0, 1])
    return _bool(frame["prov"] & tail)


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
    "jw": _fuzzy,
    "lev": _fuzzy,
    "osa": _fuzzy,
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
    "parent_name": _parent_name(),
    "sci_prefix": _sci_prefix,
    "parent_name_jw": _parent_name(JaroWinkler.normalized_similarity),
}


@dataclass
class Comparisons:
    """Per pair: the level of each comparison and what its u is made of (no parameters needed yet).

    ``levels``: comparison -> int16 level index (or ``ELSE`` / ``MISSING``);
    ``tf_log2u``: comparison -> float64 log2 u per pair for pairs at a term-frequency level (NaN
    elsewhere), or None when the comparison has no tf level; ``name_n`` / ``name_year_n``: register
    counts of the candidate's whole name (and name + birth year), for the joint name frequency.
    ``weights``/``total`` are filled by :func:`score` (log2 units: the likelihood ratio plus the
    candidate's birth-year prior ratio, without the share / N prior).
    """

    levels: dict[str, np.ndarray]
    tf_log2u: dict[str, np.ndarray | None]
    name_n: np.ndarray | None = None  # register count of the candidate's whole name
    name_year_n: np.ndarray | None = None  # register count of the candidate's name + birth year
    cand_year: np.ndarray | None = None  # the candidate's birth year (int64, -1 unknown): the year prior
    rec_stratum: np.ndarray | None = None  # the record's row of the year prior (``Estimates.stratum_codes``)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    total: np.ndarray | None = None

    def __len__(self) -> int:
        return len(next(iter(self.levels.values()))) if self.levels else 0


#: The variants of ``_order_variants`` as strings of single-space-separated tokens, and the
#: positions of their first and last tokens in the original token list.
_VARIANT_STRINGS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "rot": lambda s: s.str.replace(r"^(\S+) (.*)$", "${2} ${1}"),
    "rotr": lambda s: s.str.replace(r"^(.*) (\S+)$", "${2} ${1}"),
    "rev": lambda s: s.str.split(" ").list.reverse().list.join(" "),
}
_VARIANT_ENDS: dict[str, tuple[int, int]] = {"rot": (1, 0), "rotr": (-1, -2), "rev": (-1, 0)}


def _order_variants(toks: pl.Expr) -> dict[str, pl.Expr]:
    """Other readings of a name's token list: given name first, family name last, fully reversed."""
    return {
        "rot": pl.concat_list(toks.list.slice(1), toks.list.first()),  # "Vinh Nguyễn Duy" -> "Nguyễn Duy Vinh"
        "rotr": pl.concat_list(toks.list.last(), toks.list.slice(0, toks.list.len() - 1)),  # "Minh Việt Đặng"
        "rev": toks.list.reverse(),
    }


def apply_fixups(lf: pl.DataFrame, rf: pl.DataFrame, fixups: tuple[str, ...]) -> pl.DataFrame:
    """Pair-level repairs before comparing.

    ``name_order_swap``: when family and given name both disagree in place, read the record's name in
    the register's order: if both names hold the same tokens (any order: family last, given first,
    fully reversed, an order nobody foresaw), take the register's order; otherwise try the record's
    tokens with the given name moved back to the end, the family name moved back to the front, and
    fully reversed, and keep a reading that is close to the register's name (Jaro-Winkler at least
    ``REORDER_MIN_SIMILARITY`` and clearly better than as written), so typos still show as typos.
    ``_swapped`` marks those pairs for the ``order`` comparison. Only the pairs where both parts
    disagree in place are examined.
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
        # the same tokens in another order: equal lengths first (cheap), then the sorted tokens
        maybe_same = _bool(df.select(pl.col("l").str.len_bytes() == pl.col("r").str.len_bytes()).to_series())
        same_set = np.zeros(len(sub), dtype=bool)
        if maybe_same.any():
            few = df.filter(pl.Series(maybe_same))
            same_set[maybe_same] = _bool(
                few.select(
                    (pl.col("lt").list.sort() == pl.col("r").str.split(" ").list.sort())
                    & (pl.col("lt").list.len() == pl.col("tt").list.len())
                ).to_series()
            )
        variants = list(_VARIANT_STRINGS)
        df = df.with_columns(
            *[fn(pl.col("l")).alias(k) for k, fn in _VARIANT_STRINGS.items()],
            *[
                pl.struct(
                    pl.col("lt").list.get(first, null_on_oob=True).alias("first"),
                    pl.col("lt").list.get(last, null_on_oob=True).alias("last"),
                ).alias(k + "_ends")
                for k, (first, last) in _VARIANT_ENDS.items()
            ],
        )
        r = df["r"].to_list()
        # "lt": the name as written
        sims = {
            k: process.cpdist(df[col].to_list(), r, scorer=JaroWinkler.normalized_similarity, workers=1)
            for k, col in (("lt", "l"), *((v, v) for v in variants))
        }
        best_k = np.full(len(r), "", dtype=object)
        best_s = np.zeros(len(r))
        rfk, rgk = rf["fk"].gather(sub), rf["gk"].gather(sub)
        for k in variants:
            # a reading whose family and given names are exactly the register's is taken whatever
            # the middle names do (family last + a changed middle name); else it must read alike
            ends = df[k + "_ends"].struct
            parts_agree = _bool((ends.field("first") == rfk) & (ends.field("last") == rgk))
            score_k = np.where(parts_agree, 2.0, sims[k])
            close = (sims[k] >= REORDER_MIN_SIMILARITY) | parts_agree
            better = close & (sims[k] > sims["lt"] + 0.05) & (score_k > best_s)
            best_k[better] = k
            best_s[better] = score_k[better]
        hit = same_set | (best_k != "")
        if hit.any():
            pos = sub[hit]
            keep = pl.Series(hit)
            df, best_k, same_set = df.filter(keep), best_k[hit], same_set[hit]
            df = df.with_columns(
                pl.col("r").str.split(" ").alias("rt"),
                *[v.alias(k + "_l") for k, v in _order_variants(pl.col("lt")).items()],
                *[v.alias(k + "_t") for k, v in _order_variants(pl.col("tt")).items()],
            )
            key_expr = pl.col("lt")
            tone_expr = pl.col("tt")
            for k in variants:
                sel = pl.Series(best_k == k)
                key_expr = pl.when(sel).then(pl.col(k + "_l")).otherwise(key_expr)
                tone_expr = pl.when(sel).then(pl.col(k + "_t")).otherwise(tone_expr)
            # same tokens in another order: the register's order, with the record's tones re-ordered alike
            chosen = df.with_columns(key_expr.alias("k"), tone_expr.alias("tk2")).with_columns(
                pl.when(pl.Series(same_set)).then(pl.col("rt")).otherwise(pl.col("k")).alias("k"),
                pl.when(pl.Series(same_set))
                .then(_reorder_like(pl.col("tt"), pl.col("lt"), pl.col("rt")))
                .otherwise(pl.col("tk2"))
                .alias("t"),
            )
            parts = chosen.select(
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


def _reorder_like(toned: pl.Expr, folded: pl.Expr, target: pl.Expr) -> pl.Expr:
    """The record's toned tokens put in the order in which their folded forms appear in ``target``.

    Folded and toned tokens are aligned one to one; the k-th occurrence of a folded token goes to the
    k-th place that token takes in ``target`` (sorting both by token then by position does that).
    """
    pos_src = folded.list.eval(pl.element().rank("ordinal").cast(pl.Int64) - 1)
    pos_dst = target.list.eval(pl.element().rank("ordinal").cast(pl.Int64) - 1)
    # source token with rank r is placed where the target's token of rank r stands
    by_rank = toned.list.gather(pos_src.list.eval(pl.element().arg_sort()))
    return by_rank.list.gather(pos_dst)


def compare(
    lf: pl.DataFrame, rf: pl.DataFrame, config: MatchConfig, n_index: int, fixups: bool = True
) -> Comparisons:
    """Levels of aligned pairs (row i of ``lf`` = record side, row i of ``rf`` = index side).

    ``fixups=False`` skips the pair repairs (the u sample: random pairs almost never read alike in
    another token order, and the repairs would cost most of the sample's time).
    """
    levels: dict[str, np.ndarray] = {}
    tf: dict[str, np.ndarray | None] = {}
    if fixups:
        lf = apply_fixups(lf, rf, config.pair_fixups)
    scores = PairScores(lf, rf)
    for comp in config.comparisons:
        levels[comp.name], tf[comp.name] = _compare_one(lf, rf, comp, n_index, scores)
    out = Comparisons(levels, tf)
    nf = config.name_frequency
    if nf is not None and lf.height:
        for attr, col in (("name_n", nf.name_count), ("name_year_n", nf.name_year_count)):
            if col and col in rf.columns:
                setattr(out, attr, np.maximum(rf[col].cast(pl.Float64).fill_null(1.0).to_numpy(), 1.0))
    ycol = config.estimation.year_prior_column
    if ycol and ycol in rf.columns:
        out.cand_year = rf[ycol].cast(pl.Int64, strict=False).fill_null(-1).to_numpy()
    return out


def _compare_one(lf: pl.DataFrame, rf: pl.DataFrame, comp: ComparisonSpec, n_index: int, scores: PairScores):
    n = lf.height
    lvl = np.full(n, ELSE, dtype=np.int16)
    if comp.null_columns:
        miss = np.zeros(n, dtype=bool)
        for c in comp.null_columns:  # a record-only column (the register has none) is missing on one side
            miss |= lf[c].is_null().to_numpy() | (rf[c].is_null().to_numpy() if c in rf.columns else False)
        lvl[miss] = MISSING
    for i, lv in enumerate(comp.levels):
        todo = np.flatnonzero(lvl == ELSE)
        if todo.size == 0:
            break
        # fuzzy levels share the call's PairScores (a comparison's levels score the same value pairs)
        fuzzy = lv.when in FUZZY_SCORERS
        hit = _fuzzy_level(scores, lv, todo) if fuzzy else PREDICATES[lv.when](lf, rf, lv, todo)
        lvl[todo[hit]] = i
    tf = None
    for i, lv in enumerate(comp.levels):
        if not lv.tf or lv.tf not in rf.columns:
            continue
        if tf is None:
            tf = np.full(n, np.nan, dtype=np.float64)
        sel = lvl == i
        if sel.any():
            counts = rf[lv.tf].to_numpy()[sel].astype(np.float64)
            tf[sel] = np.log2(np.maximum(lv.u_min, counts / max(n_index, 1)))
    return lvl, tf


def score(comps: Comparisons, est, config: MatchConfig) -> Comparisons:
    """Fill ``weights`` (per comparison, log2 m/u per pair) and ``total`` (their sum plus the joint
    name frequency adjustment and the candidate's birth-year prior ratio ``est.year_prior_log2``;
    log2 units, without the share / N prior) from the estimates ``est``."""
    n = len(comps)
    total = np.zeros(n, dtype=np.float64)
    name_parts = []
    for comp in config.comparisons:
        lvl = comps.levels[comp.name]
        n_lv = len(comp.levels)
        idx = np.where(lvl == ELSE, n_lv, np.where(lvl == MISSING, n_lv + 1, lvl)).astype(np.int64)
        lm = np.append(est.log2_m(comp.name), 0.0)
        lu = np.append(est.log2_u(comp.name), 0.0)
        log_u = lu[idx]
        tf = comps.tf_log2u.get(comp.name)
        if tf is not None:
            log_u = np.where(np.isnan(tf), log_u, tf)
        w = lm[idx] - log_u
        comps.weights[comp.name] = w
        total += w
        if comp.name_part:
            name_parts.append((lvl, log_u))
    total += name_frequency_adjustment(comps, est, config, name_parts)
    for name, adj in implied_adjustment(comps, est, config).items():
        # part of the implying comparison's weight (set aside with it: ``decide.id_conflicts``); it takes
        # back the double-counted agreement but never turns the level's own evidence against the pair
        # (a small register with consecutive IDs makes one-digit neighbours common and the level weak)
        adj = np.maximum(adj, -np.maximum(comps.weights[name], 0.0))
        comps.weights[name] = comps.weights[name] + adj
        total += adj
    if comps.cand_year is not None and est.prior_years is not None:
        total += est.year_prior_log2(comps.cand_year, comps.rec_stratum)
    comps.total = total
    return comps


def implied_adjustment(comps: Comparisons, est, config: MatchConfig) -> dict[str, np.ndarray]:
    """log2 correction where one comparison's level implies another's agreement for different people too
    (``LevelSpec.implies``), so the implied agreement adds only what it says beyond the implying level:
    for a pair at such a level whose implied comparison is at one of the implied labels, the labels'
    u are renormalised among themselves (+ log2 of their sum: P(those labels | different people)).
    Returns, per implying comparison that has such a level, the log2 correction per pair.

    One-sided, as an approximation: a pair whose implied comparison is at another label keeps its
    unconditional u (about one one-edit neighbour in four differs in the year or gender digits), and
    u of the implying level is the register's average, not the row's own neighbour count.

    Why: an ID one digit off is usually off in its six random digits; its province, gender and year
    digits then equal the neighbour's, and a neighbour who is not the person agrees on birth year and
    gender far more often than two random people. Counting those agreements at their unconditional u
    as well (independence) made a stranger whose ID is one typo away look like the person.
    """
    n = len(comps)
    out: dict[str, np.ndarray] = {}
    for comp in config.comparisons:
        for i, lv in enumerate(comp.levels):
            if not lv.implies:
                continue
            adj = out.setdefault(comp.name, np.zeros(n, dtype=np.float64))
            at = comps.levels[comp.name] == i
            if not at.any():
                continue
            for other, labels in lv.implies.items():
                spec = config.comparison(other)
                if spec is None or other not in comps.levels:
                    continue
                lvl = comps.levels[other]
                slot = np.where(lvl == ELSE, len(spec.levels), lvl)
                idx = [j for j, label in enumerate(spec.labels) if label in labels]
                p_agree = float(np.sum(est.u[other][idx])) if idx else 1.0
                hit = at & np.isin(slot, idx) & (lvl != MISSING)
                adj[hit] += math.log2(min(max(p_agree, 1e-12), 1.0))
    return out


def name_frequency_adjustment(comps: Comparisons, est, config: MatchConfig, name_parts) -> np.ndarray:
    """log2 correction for names whose parts are not independent, when every name part agrees exactly.

    The parts' weights assume that a random other person carries this whole name
    E = N x prod(u of the parts) times; the register says O = count(name) - 1 other people do
    (the candidate is one of the count). The correction is -log2((O + 1) / (E + 1)): common
    combinations lose weight, combinations rarer than their parts gain. Likewise for the birth year
    when the years agree: E = (count(name) - 1) x u(year), O = count(name + year) - 1, so namesakes of
    one generation weigh less. Gains are capped at ``max_gain`` (losses are not). The +1 keeps a name
    nobody else carries neutral instead of inventing evidence.
    """
    n = len(comps)
    nf = config.name_frequency
    adj = np.zeros(n, dtype=np.float64)
    if nf is None or not name_parts or comps.name_n is None:
        return adj
    all_exact = np.ones(n, dtype=bool)
    parts_u = np.zeros(n, dtype=np.float64)
    for lvl, log_u in name_parts:
        all_exact &= lvl == 0
        parts_u += log_u
    big_n = max(est.n_index, 1)
    expected = big_n * np.exp2(parts_u)
    a1 = np.minimum(-np.log2(comps.name_n / (expected + 1.0)), nf.max_gain)
    adj[all_exact] = a1[all_exact]
    dob = config.comparison(nf.year_comparison)
    if dob is not None and comps.name_year_n is not None:
        yr_levels = [i for i, lv in enumerate(dob.levels) if lv.label in nf.year_levels]
        year_ok = all_exact & np.isin(comps.levels[dob.name], yr_levels)
        expected_y = (comps.name_n - 1.0) * est.u_year
        a2 = np.minimum(-np.log2(comps.name_year_n / (expected_y + 1.0)), nf.max_gain)
        adj[year_ok] += a2[year_ok]
    return adj


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
