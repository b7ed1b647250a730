"""Fellegi-Sunter parameters estimated from the data of a run: u by sampling, m and the match share by EM.

Why: weights set by hand fit the data they were set on and nothing else. Here the YAML gives only the
model's structure and start values; every run estimates

- **u** (P(level | two different people)) from ``u_sample_pairs`` random record x register pairs,
  compared with the same code as the blocked pairs (vectorised); levels with a term frequency take
  the pair's value count in the register instead (``count / N``);
- **m** (P(level | same person)) and **the match share** (the share of records whose person is in the
  register) by EM over the blocked candidate pairs, with a *record-level* model: a record is either
  nobody in the register (probability 1 - share) or exactly one of the N people (share / N each).
  For a record with candidates j and likelihood ratios LR_j = prod(m/u), the posterior that j is its
  person is ``(share/N) LR_j / ((1 - share) + (share/N) sum_k LR_k)``; people outside the candidate
  list have a negligible LR. This is the same posterior the decisions use, so twins and namesakes
  compete for one record instead of each scoring 1.0;
- **the birth-year prior**: a file is not a uniform draw from the register (a school list holds
  children, a vaccination list mostly infants), so "share / N each" becomes
  ``share x P_file(year) / (N x P_reg(year))`` for a person born in ``year``: P_reg from the
  register's birth years, P_file from the file's (smoothed toward P_reg). Summed over the register
  the prior is still ``share``. It enters as ``log2(P_file / P_reg)`` per candidate, bounded.

Bounds: m is a MAP estimate (Dirichlet pseudo-counts toward the start values, ``m_strength``
pseudo-matches), clamped to ``m_bounds``; the share likewise (``share_strength``, ``share_bounds``);
u is clamped to ``u_bounds`` and a level seen fewer than ``u_min_hits`` times in the sample keeps its
start u. A small file therefore keeps (nearly) the start values; a big one speaks for itself.

No truth labels are read anywhere: only the records and the register of the run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from rules.matching.config import ComparisonSpec, MatchConfig

ESTIMATOR_VERSION = "3"
LN2 = math.log(2.0)


def default_start(comp: ComparisonSpec) -> tuple[np.ndarray, np.ndarray]:
    """Start (m, u) per level index (listed levels, then else), from the YAML or by level order.

    Defaults when the config gives none: m puts 0.85 on the first level and halves down the list,
    the rest on ``else``; u puts 0.01 on the first level, 0.02, 0.04, ... on the next, the rest on
    ``else``. Values given in the YAML are used as they are (renormalised to sum to 1).
    """
    n = len(comp.levels)
    m_def = [0.85 * (0.1 if i else 1.0) / (2 ** max(i - 1, 0)) for i in range(n)]
    u_def = [0.01 * 2**i for i in range(n)]
    m = np.array([lv.m if lv.m is not None else m_def[i] for i, lv in enumerate(comp.levels)], dtype=np.float64)
    u = np.array([lv.u if lv.u is not None else u_def[i] for i, lv in enumerate(comp.levels)], dtype=np.float64)
    m_else = comp.else_m if comp.else_m is not None else max(1.0 - m.sum(), 0.02)
    u_else = comp.else_u if comp.else_u is not None else max(1.0 - u.sum(), 0.05)
    m = np.append(m, m_else)
    u = np.append(u, u_else)
    return m / m.sum(), u / u.sum()


@dataclass
class Estimates:
    """Parameters of one run: per comparison, m and u per level index (listed levels, then else).

    ``match_share``: estimated share of records whose person is in the register (the prior).
    ``u_year``: P(birth years agree | different people), for the name + birth-year frequency.
    ``u_source``: per level, where u came from (``sample``, ``start``, ``laplace``, ``register``; tf
    levels then use the value count per pair). Counts and iterations describe the fit (no personal data).
    """

    m: dict[str, np.ndarray]
    u: dict[str, np.ndarray]
    u_source: dict[str, list[str]]
    match_share: float
    n_index: int
    u_year: float = 0.0125
    iterations: int = 0
    converged: bool = True
    em_records: int = 0
    em_pairs: int = 0
    u_pairs: int = 0
    history: list[float] = field(default_factory=list)  # match share after each EM iteration
    prior_years: np.ndarray | None = None  # birth years with a prior (int64, ascending) ...
    year_log2: np.ndarray | None = None  # ... log2(P_file(year) / P_reg(year)): one row per stratum
    prior_strata: list[str] = field(default_factory=list)  # row names of year_log2 but the last (all rows)
    from_cache: bool = False

    def stratum_codes(self, names: list[str | None]) -> np.ndarray:
        """Row of ``year_log2`` for each stratum name (a name without a row of its own: the last row,
        estimated from all the run's records)."""
        own = {n: i for i, n in enumerate(self.prior_strata)}
        return np.asarray([own.get(n, len(self.prior_strata)) for n in names], dtype=np.int64)

    def year_prior_log2(self, years: np.ndarray, strata: np.ndarray | None = None) -> np.ndarray:
        """Per candidate, log2 of its birth-year prior ratio (0 for a year not in the table or missing,
        coded < 0). ``years``: int array, one per pair; ``strata``: row of ``year_log2`` per pair
        (``stratum_codes``), None for the last row."""
        out = np.zeros(len(years), dtype=np.float64)
        if self.prior_years is None or self.year_log2 is None or len(self.prior_years) == 0 or len(years) == 0:
            return out
        table = np.atleast_2d(self.year_log2)
        rows = np.full(len(years), table.shape[0] - 1, dtype=np.int64) if strata is None else strata
        pos = np.clip(np.searchsorted(self.prior_years, years), 0, len(self.prior_years) - 1)
        hit = self.prior_years[pos] == years
        out[hit] = table[rows[hit], pos[hit]]
        return out

    def log2_m(self, name: str) -> np.ndarray:
        return np.log2(self.m[name])

    def log2_u(self, name: str) -> np.ndarray:
        return np.log2(self.u[name])

    def prior_log2(self) -> float:
        """log2 of (share / N) / (1 - share): prior odds that one given candidate is the record's person."""
        return math.log2(self.match_share / max(self.n_index, 1)) - math.log2(1.0 - self.match_share)

    def to_frame(self, config: MatchConfig) -> pl.DataFrame:
        """One row per comparison level: ``comparison, level, m, u, match_weight`` (log2 m/u), ``u_source``."""
        rows = []
        for comp in config.comparisons:
            for i, label in enumerate(comp.labels):
                m, u = float(self.m[comp.name][i]), float(self.u[comp.name][i])
                rows.append((comp.name, label, m, u, math.log2(m / u), self.u_source[comp.name][i]))
        return pl.DataFrame(
            rows,
            schema={
                "comparison": pl.Utf8,
                "level": pl.Utf8,
                "m": pl.Float64,
                "u": pl.Float64,
                "match_weight": pl.Float64,
                "u_source": pl.Utf8,
            },
            orient="row",
        )

    def to_dict(self) -> dict:
        """JSON-ready form (also the cache file format)."""
        return {
            "version": ESTIMATOR_VERSION,
            "m": {k: v.tolist() for k, v in self.m.items()},
            "u": {k: v.tolist() for k, v in self.u.items()},
            "u_source": self.u_source,
            "match_share": self.match_share,
            "n_index": self.n_index,
            "u_year": self.u_year,
            "iterations": self.iterations,
            "converged": self.converged,
            "em_records": self.em_records,
            "em_pairs": self.em_pairs,
            "u_pairs": self.u_pairs,
            "history": self.history,
            "prior_years": None if self.prior_years is None else self.prior_years.tolist(),
            "year_log2": None if self.year_log2 is None else self.year_log2.tolist(),
            "prior_strata": self.prior_strata,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Estimates:
        return cls(
            m={k: np.asarray(v, dtype=np.float64) for k, v in d["m"].items()},
            u={k: np.asarray(v, dtype=np.float64) for k, v in d["u"].items()},
            u_source={k: list(v) for k, v in d["u_source"].items()},
            match_share=float(d["match_share"]),
            n_index=int(d["n_index"]),
            u_year=float(d.get("u_year", 0.0125)),
            iterations=int(d.get("iterations", 0)),
            converged=bool(d.get("converged", True)),
            em_records=int(d.get("em_records", 0)),
            em_pairs=int(d.get("em_pairs", 0)),
            u_pairs=int(d.get("u_pairs", 0)),
            history=list(d.get("history", [])),
            prior_years=None if d.get("prior_years") is None else np.asarray(d["prior_years"], dtype=np.int64),
            year_log2=None if d.get("year_log2") is None else np.asarray(d["year_log2"], dtype=np.float64),
            prior_strata=list(d.get("prior_strata", [])),
        )

    def to_markdown(self, config: MatchConfig) -> str:
        """A markdown table of the estimates (Dagster metadata, reports)."""
        lines = [
            f"match share (prior) {self.match_share:.4f} over {self.n_index:,} people; "
            f"EM {self.iterations} iterations{'' if self.converged else ' (not converged)'} on "
            f"{self.em_pairs:,} pairs of {self.em_records:,} records; u from {self.u_pairs:,} random pairs",
            "",
            *self._prior_lines(),
            "| comparison | level | m | u | match weight (log2 m/u) | u from |",
            "|---|---|---:|---:|---:|---|",
        ]
        for r in self.to_frame(config).iter_rows(named=True):
            lines.append(
                f"| {r['comparison']} | {r['level']} | {r['m']:.4g} | {r['u']:.3g} | {r['match_weight']:+.2f} "
                f"| {r['u_source']} |"
            )
        return "\n".join(lines)


    def _prior_lines(self) -> list[str]:
        if self.prior_years is None or self.year_log2 is None or len(self.prior_years) == 0:
            return []
        table = np.atleast_2d(self.year_log2)
        out = []
        for name, row in zip([*self.prior_strata, "all rows"], table, strict=True):
            hi, lo = int(np.argmax(row)), int(np.argmin(row))
            out.append(
                f"birth-year prior ({name}: the file's birth years against the register's): from "
                f"{row[lo]:+.2f} (born {self.prior_years[lo]}) to {row[hi]:+.2f} (born {self.prior_years[hi]}) "
                "log2 units"
            )
        return [*out, ""]


def year_prior(
    record_years: pl.Series, register_years: pl.Series, strength: float, max_log2: float
) -> tuple[np.ndarray, np.ndarray]:
    """The birth-year prior of a run: (years, log2(P_file(year) / P_reg(year))) for every year the
    register has.

    ``P_reg``: share of the register born in the year; ``P_file``: share of the file's rows with that
    birth year, smoothed with ``strength`` pseudo-rows spread as the register
    (``(count + strength x P_reg) / (rows + strength)``), so a small file spread over many years keeps
    a prior close to uniform, a row's own year weighs at most 1 / (1 + strength) of it, and a wrong
    year on a few rows moves nothing. Bounded to +- ``max_log2``. Rows without a
    year, and years nobody in the register has, do not count. Read from the data of the run only.
    """
    reg = register_years.drop_nulls().cast(pl.Int64, strict=False).drop_nulls()
    if reg.len() == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    reg_counts = reg.value_counts(name="n").sort(reg.name)
    years = reg_counts[reg.name].to_numpy().astype(np.int64)
    p_reg = reg_counts["n"].to_numpy().astype(np.float64) / float(reg.len())
    rec = record_years.drop_nulls().cast(pl.Int64, strict=False).drop_nulls()
    rec = rec.filter(rec.is_in(pl.Series(years).implode())) if rec.len() else rec
    counts = np.zeros(len(years), dtype=np.float64)
    if rec.len():
        rc = rec.value_counts(name="n")
        counts[np.searchsorted(years, rc[rec.name].to_numpy().astype(np.int64))] = rc["n"].to_numpy()
    p_file = (counts + strength * p_reg) / (counts.sum() + strength) if counts.sum() + strength > 0 else p_reg
    return years, np.clip(np.log2(p_file / p_reg), -max_log2, max_log2)


def start_estimates(config: MatchConfig, n_index: int) -> Estimates:
    """The start values of ``config`` as an Estimates (what a run with estimation disabled uses)."""
    m, u, src = {}, {}, {}
    for comp in config.comparisons:
        m[comp.name], u[comp.name] = default_start(comp)
        src[comp.name] = ["start"] * (len(comp.levels) + 1)
    return Estimates(m, u, src, config.estimation.match_share, n_index)


# --------------------------------------------------------------------------------------------- u


def estimate_u(
    levels: dict[str, np.ndarray], config: MatchConfig, n_pairs: int, n_index: int, year_equal: float
) -> Estimates:
    """u per level from the levels of ``n_pairs`` random pairs (``levels``: comparison -> level codes,
    see ``compare.MISSING``/``ELSE``); m and the share stay at their start values."""
    est = start_estimates(config, n_index)
    lo, hi = config.estimation.u_bounds
    for comp in config.comparisons:
        lvl = levels[comp.name]
        n_lv = len(comp.levels)
        idx = np.where(lvl < 0, n_lv, lvl)[lvl != -2].astype(np.int64)
        counts = np.bincount(idx, minlength=n_lv + 1).astype(np.float64)
        total = counts.sum()
        u0 = est.u[comp.name]
        u = u0.copy()
        src = ["start"] * (n_lv + 1)
        if total > 0 and not comp.fixed:
            for i in range(n_lv + 1):
                if counts[i] >= config.estimation.u_min_hits:
                    u[i], src[i] = counts[i] / total, "sample"
                elif i < n_lv and comp.levels[i].u is None:
                    u[i], src[i] = (counts[i] + 1.0) / (total + 2.0), "laplace"
            u = np.clip(u, lo, hi)
        est.u[comp.name] = u
        est.u_source[comp.name] = src
    est.u_year = float(np.clip(year_equal, lo, hi)) if year_equal > 0 else est.u_year
    est.u_pairs = n_pairs
    return est


def register_u(est: Estimates, config: MatchConfig, u_values: dict[str, float]) -> Estimates:
    """u of the levels whose ``u_from`` is not ``sample``, counted in the register (in place).

    ``u_values``: per ``u_from`` kind, P(level | two different people) as counted in the register by
    the engine (``id_neighbours``: the mean number of people whose ID is one digit substitution or
    adjacent transposition from a register person's ID, over the people with an ID;
    ``parent_links``: mother / father links between people with an ID, over their number squared).
    Clamped to ``u_bounds``; a kind missing from ``u_values`` leaves the sample / start value.

    Why: at 10M people two IDs one digit apart occur in about 1.5 of 10^7 random pairs, and a
    person's parent in about 1 of 10^7: no affordable random sample sees either, so u stayed at its
    start value (10^-5 and 10^-6, 70 and 10 times too common), which understated the evidence of an
    ID typo or a parent's ID by 6 and 3 log2 units. The register gives both exactly.
    """
    lo, hi = config.estimation.u_bounds
    for comp in config.comparisons:
        if comp.fixed:
            continue
        for i, lv in enumerate(comp.levels):
            value = u_values.get(lv.u_from) if lv.u_from != "sample" else None
            if value is None:
                continue
            est.u[comp.name][i] = float(np.clip(value, lo, hi))
            est.u_source[comp.name][i] = "register"
    return est


# --------------------------------------------------------------------------------------------- EM


@dataclass
class PairLevels:
    """The comparison levels of candidate pairs, sorted by record, ready for EM and for scoring.

    ``levels``: comparison -> int16 level code per pair (-2 missing, -1 else, i listed level);
    ``fixed_log2``: per pair, the part of log2 LR that does not depend on m (minus the log2 u's, with
    term frequencies and the joint name adjustment applied); ``rid``: record per pair (int64, sorted).
    """

    rid: np.ndarray
    levels: dict[str, np.ndarray]
    fixed_log2: np.ndarray


def sum_log2_m(pl_: PairLevels, est: Estimates, config: MatchConfig, skip: str | None = None) -> np.ndarray:
    """Sum over comparisons of log2 m at each pair's level (missing levels add 0)."""
    out = np.zeros(len(pl_.rid), dtype=np.float64)
    for comp in config.comparisons:
        if comp.name == skip:
            continue
        lvl = pl_.levels[comp.name]
        table = np.append(est.log2_m(comp.name), 0.0)  # index n_lv = else; n_lv+1 = missing -> 0
        n_lv = len(comp.levels)
        idx = np.where(lvl == -1, n_lv, np.where(lvl == -2, n_lv + 1, lvl))
        out += table[idx]
    return out


def record_posteriors(
    rid: np.ndarray, log2_lr: np.ndarray, share: float, n_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair, P(this candidate is the record's person); per record group, P(the person is a candidate).

    ``rid`` sorted ascending. Computed in log space per record group (no overflow at 60+ bits).
    Returns (posterior per pair, unique rids' total posterior aligned with ``np.unique(rid)``).
    """
    if len(rid) == 0:
        return np.zeros(0), np.zeros(0)
    return _posteriors(RecordGroups.of(rid), log2_lr, share, n_index)


@dataclass
class RecordGroups:
    """Where each record's run of pairs starts (``rid`` sorted) and the group of each pair."""

    starts: np.ndarray
    grp: np.ndarray

    @classmethod
    def of(cls, rid: np.ndarray) -> RecordGroups:
        starts = np.flatnonzero(np.r_[True, rid[1:] != rid[:-1]])
        grp = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(rid)]))
        return cls(starts, grp)


def _posteriors(g: RecordGroups, log2_lr: np.ndarray, share: float, n_index: int) -> tuple[np.ndarray, np.ndarray]:
    a = log2_lr * LN2 + math.log(share / max(n_index, 1))  # ln((share/N) LR)
    b = math.log(1.0 - share)
    mx = np.maximum(np.maximum.reduceat(a, g.starts), b)
    e = np.exp(a - mx[g.grp])
    denom = np.add.reduceat(e, g.starts) + np.exp(b - mx)
    post = e / denom[g.grp]
    return post, np.add.reduceat(post, g.starts)


@dataclass
class LevelPatterns:
    """Candidate pairs grouped by their comparison-vector pattern (the level of every comparison).

    ``pattern``: pattern number per pair (int64); ``levels``: comparison -> level slot per pattern
    (0..n-1 listed levels, n = else, n+1 = missing). A run has thousands of patterns for millions
    of pairs, so the m part of every pair's weight and the M-step's level counts are computed per
    pattern (Splink aggregates its EM the same way); only the per-record posterior stays per pair.
    """

    pattern: np.ndarray
    levels: dict[str, np.ndarray]

    @property
    def n_patterns(self) -> int:
        return len(next(iter(self.levels.values()))) if self.levels else 1

    @classmethod
    def of(cls, pairs: PairLevels, config: MatchConfig) -> LevelPatterns:
        n = len(pairs.rid)
        code = np.zeros(n, dtype=np.int64)
        base = 1
        slots: dict[str, np.ndarray] = {}
        for comp in config.comparisons:
            n_lv = len(comp.levels)
            lvl = pairs.levels[comp.name]
            slot = np.where(lvl == -1, n_lv, np.where(lvl == -2, n_lv + 1, lvl)).astype(np.int64)
            slots[comp.name] = slot
            if base * (n_lv + 2) >= 1 << 62:  # renumber densely before the code could overflow
                code, base = _dense(code)
            code += slot * base
            base *= n_lv + 2
        pattern, k = _dense(code, base)
        rep = np.zeros(k, dtype=np.int64)
        rep[pattern] = np.arange(n)  # some pair of each pattern (all its pairs have the same levels)
        return cls(pattern, {name: slot[rep] for name, slot in slots.items()})


def _dense(code: np.ndarray, base: int | None = None) -> tuple[np.ndarray, int]:
    """Codes renumbered 0..k-1 (in code order); a lookup table when the code range is small."""
    if base is not None and base <= max(4 * len(code), 1 << 20):
        seen = np.zeros(base, dtype=bool)
        seen[code] = True
        lut = np.cumsum(seen) - 1
        return lut[code], int(seen.sum())
    uniq, inv = np.unique(code, return_inverse=True)
    return inv.astype(np.int64), len(uniq)


def run_em(pairs: PairLevels, n_records: int, est: Estimates, config: MatchConfig) -> Estimates:
    """Estimate m and the match share by EM over ``pairs`` of ``n_records`` records (u stays fixed).

    The pairs are grouped once by level pattern (:class:`LevelPatterns`): each iteration computes the
    m part of the weights and the level counts on the pattern table, and only the record-level
    posterior (which depends on a record's other candidates and on term frequencies) per pair.
    Returns a new Estimates; ``history`` holds the share after each iteration. Levels of ``fixed``
    comparisons keep their start m.
    """
    opt = config.estimation
    m = {k: v.copy() for k, v in est.m.items()}
    start = {c.name: default_start(c)[0] for c in config.comparisons}
    share = est.match_share
    lo, hi = opt.m_bounds
    s_lo, s_hi = opt.share_bounds
    history: list[float] = []
    converged = opt.max_iterations == 0
    it = 0
    groups = RecordGroups.of(pairs.rid) if len(pairs.rid) else None
    pats = LevelPatterns.of(pairs, config)
    k = pats.n_patterns
    for it in range(1, opt.max_iterations + 1):  # noqa: B007 - `it` is reported after the loop
        # E-step: the m part of log2 LR per pattern, the posteriors per pair (they compete per record)
        pat_log2m = np.zeros(k, dtype=np.float64)
        for comp in config.comparisons:
            pat_log2m += np.append(np.log2(m[comp.name]), 0.0)[pats.levels[comp.name]]  # missing adds 0
        if groups is not None:
            post, _ = _posteriors(groups, pat_log2m[pats.pattern] + pairs.fixed_log2, share, est.n_index)
            weight = np.bincount(pats.pattern, weights=post, minlength=k)  # expected matches per pattern
        else:
            post, weight = np.zeros(0), np.zeros(k)
        # M-step on the pattern table
        new_m = {}
        delta = 0.0
        for comp in config.comparisons:
            n_lv = len(comp.levels)
            if comp.fixed:
                new_m[comp.name] = m[comp.name]
                continue
            slot = pats.levels[comp.name]
            ok = slot <= n_lv  # missing levels say nothing about m
            counts = np.bincount(slot[ok], weights=weight[ok], minlength=n_lv + 1)
            mm = (counts + opt.m_strength * start[comp.name]) / (counts.sum() + opt.m_strength)
            mm = np.clip(mm, lo, hi)
            mm /= mm.sum()
            delta = max(delta, float(np.max(np.abs(mm - m[comp.name]))))
            new_m[comp.name] = mm
        matched = float(post.sum())
        new_share = (matched + opt.share_strength * opt.match_share) / (n_records + opt.share_strength)
        new_share = float(np.clip(new_share, s_lo, s_hi))
        delta = max(delta, abs(new_share - share))
        m, share = new_m, new_share
        history.append(share)
        if delta < opt.tolerance:
            converged = True
            break
    return Estimates(
        m=m,
        u=est.u,
        u_source=est.u_source,
        match_share=share,
        n_index=est.n_index,
        u_year=est.u_year,
        iterations=it,
        converged=converged,
        em_records=n_records,
        em_pairs=len(pairs.rid),
        u_pairs=est.u_pairs,
        history=history,
        prior_years=est.prior_years,
        year_log2=est.year_log2,
        prior_strata=est.prior_strata,
    )


def with_labelled_pairs(
    est: Estimates, config: MatchConfig, levels: dict[str, np.ndarray], is_match: np.ndarray, strength: float = 1.0
) -> Estimates:
    """Blend pairs labelled by clerical review into the estimates (a future review module's entry point).

    ``levels``: comparison -> level codes of the labelled pairs (``compare.compare(...).levels``);
    ``is_match``: bool per pair (the reviewer's decision). Each labelled match adds ``strength`` to the
    count of its level in m, each labelled non-match to its level in u (both as extra observations on
    top of the run's estimate, weighted like ``m_strength`` pseudo-matches and ``u_sample_pairs``
    sampled pairs), then the bounds are applied again. Labels of this kind are the data being
    processed, decided by people: never the truth file of a generator.
    """
    opt = config.estimation
    is_match = np.asarray(is_match, dtype=bool)
    m, u = {}, {}
    base_m = max(est.em_records * est.match_share, opt.m_strength, 1.0)
    base_u = max(est.u_pairs, 1)
    for comp in config.comparisons:
        n_lv = len(comp.levels)
        lvl = np.asarray(levels[comp.name])
        ok = lvl != -2
        idx = np.where(lvl == -1, n_lv, lvl).astype(np.int64)
        cm = np.bincount(idx[ok & is_match], minlength=n_lv + 1) * strength
        cu = np.bincount(idx[ok & ~is_match], minlength=n_lv + 1) * strength
        mm = (est.m[comp.name] * base_m + cm) / (base_m + cm.sum())
        uu = (est.u[comp.name] * base_u + cu) / (base_u + cu.sum())
        # a u counted in the register stands for every pair of it, not for a sample: labels keep it
        counted = np.asarray([src == "register" for src in est.u_source[comp.name]], dtype=bool)
        uu = np.where(counted, est.u[comp.name], uu)
        m[comp.name] = np.clip(mm, *opt.m_bounds) / np.clip(mm, *opt.m_bounds).sum()
        u[comp.name] = np.clip(uu, *opt.u_bounds)
    out = Estimates(**{**est.__dict__, "m": m, "u": u, "from_cache": False})
    return out


# ------------------------------------------------------------------------------------------ cache


def cache_root() -> Path:
    """Our cache folder outside a data folder (``rules.layout.user_cache``)."""
    from rules.layout import user_cache

    return user_cache()


def data_version(feats: pl.DataFrame, index: pl.DataFrame, config: MatchConfig, index_key: str | None = None) -> str:
    """sha256 key of (record features, index content, config, estimator version).

    ``index_key``: the cached index's register fingerprint (``index.index_source``), which stands for
    the index without hashing its rows (a second at 10M people).
    """
    h = hashlib.sha256(f"est-v{ESTIMATOR_VERSION}-pl{pl.__version__}".encode())
    h.update(config.fingerprint().encode())
    frames = [feats]
    if index_key:
        h.update(f"index:{index_key}:{index.height}".encode())
    else:
        # the index is a function of the register: its IDs and names stand for it (hashing every
        # column of a 10M-row index would cost seconds for nothing)
        cols = [c for c in (config.id_column, "nk", "dob", "par1", "par2") if c in index.columns]
        frames.append(index.select(cols) if cols else index)
    for frame in frames:
        h.update(str((frame.height, frame.columns)).encode())
        if frame.height:
            rows = frame.hash_rows(seed=11)
            h.update(np.asarray([rows.sum(), rows.min(), rows.max()], dtype=np.uint64).tobytes())
    return h.hexdigest()[:24]


def load_cached(cache_dir: Path | None, key: str) -> Estimates | None:
    if cache_dir is None:
        return None
    path = Path(cache_dir) / f"estimates_{key}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("version") != ESTIMATOR_VERSION:
        return None
    est = Estimates.from_dict(data)
    est.from_cache = True
    return est


def save_cached(cache_dir: Path | None, key: str, est: Estimates) -> None:
    """Write atomically, owner-only; a cache that cannot be written is skipped (never fails a run)."""
    if cache_dir is None:
        return
    try:
        cache_dir = Path(cache_dir)
        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = cache_dir / f".estimates_{key}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(est.to_dict(), fh)
        os.replace(tmp, cache_dir / f"estimates_{key}.json")
    except OSError:
        return


__all__ = [
    "Estimates",
    "PairLevels",
    "cache_root",
    "data_version",
    "default_start",
    "estimate_u",
    "record_posteriors",
    "register_u",
    "run_em",
    "start_estimates",
    "with_labelled_pairs",
    "year_prior",
]
