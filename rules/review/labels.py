"""Reviewed pairs as labels: m per comparison level, precision near the threshold, a threshold what-if.

Every final review decision labels pairs: a picked candidate is a true match; under "none of them"
every candidate is a non-match. Only the *confirmed matches* are used for m here (m = P(level |
same person)); the comparison levels come from ``candidate_reason`` (``given=exact;dob=year_only;…``).

**Blend** (:func:`blend_m`): the unsupervised estimate m_em (from the engine: today the YAML, after
the EM rewrite its estimated parameters) counts as ``k`` pseudo-labels of a Dirichlet prior, so per
level ``m_blended = (n_lab * m_lab + k * m_em) / (n_lab + k)`` with n_lab the labelled matches whose
level of that comparison is known (``missing`` is not a level: it carries no weight). With no labels
m_blended = m_em; with many it tends to m_lab. Input and output are plain frames ``(comparison,
level, m)`` so any estimator can plug in.

**Precision near the threshold** (:func:`precision_band`): among reviewed rows whose best
candidate's score lies in the band, the share where the reviewer confirmed that best candidate, with
a Wilson 95% interval, beside the model's own expectation (mean score). Reviewed rows are ambiguous
ones (a close runner-up), harder than the automatic matches in the same band, so the measured figure
is a conservative (lower) estimate for those.

**What-if** (:func:`threshold_what_if`): for each lower threshold, how many rows not matched today
would be matched (best score in [t', t) with the margin over the runner-up met), and the expected
number of wrong ones: per score bin, (1 - measured precision) where reviewed rows exist in the bin,
else (1 - the model's probability).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from rules.lake_schema import ROW_KEY
from rules.review.decisions import FINAL

M_SCHEMA = {"comparison": pl.Utf8, "level": pl.Utf8, "m": pl.Float64}


def reason_levels(reasons: pl.Series) -> pl.DataFrame:
    """``(pair, comparison, level)`` for a Series of ``name=level;…`` strings (pair = position)."""
    frame = pl.DataFrame({"reason": reasons.cast(pl.Utf8)}).with_row_index("pair")
    return (frame.filter(pl.col("reason").is_not_null())
            .with_columns(pl.col("reason").str.split(";")).explode("reason")
            .filter(pl.col("reason").str.contains("="))
            .select("pair", pl.col("reason").str.split_exact("=", 1).struct.rename_fields(["comparison", "level"]))
            .unnest("reason"))


def labelled_matches(ledger: pl.DataFrame) -> pl.Series:
    """The comparison reasons of the pairs reviewers confirmed as the same person."""
    return ledger.filter(pl.col("decision") == "match")["chosen_reason"].drop_nulls()


def labelled_pair_levels(ledger: pl.DataFrame, config) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The confirmed pairs of ``ledger`` as engine level codes, for
    ``rules.matching.estimate.with_labelled_pairs``: (comparison -> int16 level per pair, is_match).

    Codes follow ``rules.matching.compare``: the index of a listed level, -1 for the else level, -2 for
    ``missing`` (and for a label this configuration does not know, e.g. a reason written under an older
    configuration: it then counts for nothing). Only pairs reviewers confirmed are labels here; a
    "none of them" decision does not say which level a non-match takes.
    """
    reasons = labelled_matches(ledger)
    n = reasons.len()
    levels: dict[str, np.ndarray] = {}
    long = reason_levels(reasons)
    for comp in config.comparisons:
        codes = {lv.label: i for i, lv in enumerate(comp.levels)} | {comp.else_label: -1}
        got = long.filter(pl.col("comparison") == comp.name)
        arr = np.full(n, -2, dtype=np.int16)
        if got.height:
            code = got["level"].replace_strict(codes, default=-2, return_dtype=pl.Int16).to_numpy()
            arr[got["pair"].to_numpy()] = code
        levels[comp.name] = arr
    return levels, np.ones(n, dtype=bool)


def labelled_level_counts(ledger: pl.DataFrame) -> pl.DataFrame:
    """``(comparison, level, n_level, n_lab, m_lab)`` among confirmed matches (``missing`` excluded)."""
    levels = reason_levels(labelled_matches(ledger)).filter(pl.col("level") != "missing")
    counts = levels.group_by("comparison", "level").agg(pl.len().cast(pl.Int64).alias("n_level"))
    totals = levels.group_by("comparison").agg(pl.len().cast(pl.Int64).alias("n_lab"))
    return counts.join(totals, on="comparison").with_columns(
        (pl.col("n_level") / pl.col("n_lab")).alias("m_lab")).sort("comparison", "level")


def blend_m(m_em: pl.DataFrame, ledger: pl.DataFrame, k: float) -> pl.DataFrame:
    """Per (comparison, level): ``m_em, n_lab, n_level, m_lab, m_blended`` (see the module doc).

    ``m_em``: frame ``(comparison, level, m)``; levels seen only in labels get m_em = null and
    m_blended = m_lab; levels without labels of their comparison keep m_em.
    """
    if k < 0:
        raise ValueError(f"prior strength k must be >= 0 (got {k})")
    lab = labelled_level_counts(ledger)
    totals = lab.group_by("comparison").agg(pl.col("n_lab").first())
    base = m_em.select(pl.col("comparison").cast(pl.Utf8), pl.col("level").cast(pl.Utf8),
                       pl.col("m").cast(pl.Float64).alias("m_em"))
    both = (base.join(lab.select("comparison", "level", "n_level"), on=["comparison", "level"], how="full",
                      coalesce=True)
            .join(totals, on="comparison", how="left")
            .with_columns(pl.col("n_lab").fill_null(0), pl.col("n_level").fill_null(0)))
    m_lab = pl.when(pl.col("n_lab") > 0).then(pl.col("n_level") / pl.col("n_lab"))
    blended = (pl.when(pl.col("m_em").is_null()).then(m_lab)
               .otherwise((pl.col("n_level") + k * pl.col("m_em")) / (pl.col("n_lab") + k)))
    if k == 0:
        blended = pl.when(pl.col("n_lab") > 0).then(m_lab).otherwise(pl.col("m_em"))
    return both.with_columns(m_lab.alias("m_lab"), blended.alias("m_blended")).select(
        "comparison", "level", "m_em", "n_lab", "n_level", "m_lab", "m_blended").sort("comparison", "level")


def config_m(config) -> pl.DataFrame:
    """``(comparison, level, m)``: the start values of a ``rules.matching.MatchConfig`` (what a run
    without estimation uses), the stand-in where no EM estimate of a run exists yet."""
    from rules.matching.estimate import start_estimates

    return start_estimates(config, 1).to_frame(config).select("comparison", "level", "m")


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    if n == 0:
        return None, None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _final(ledger: pl.DataFrame) -> pl.DataFrame:
    rows = ledger.filter(pl.col("decision").is_in(FINAL)).sort("decided_at")
    return rows.unique(list(ROW_KEY), keep="last").with_columns(
        ((pl.col("decision") == "match") & (pl.col("chosen_rank") == 1)).alias("best_confirmed"))


def precision_band(ledger: pl.DataFrame, band: tuple[float, float]) -> dict[str, float | int | None]:
    """Measured precision of the best candidate among reviewed rows with best score in ``band``."""
    lo, hi = band
    rows = _final(ledger).filter(pl.col("best_score").is_between(lo, hi, closed="both"))
    n, ok = rows.height, int(rows["best_confirmed"].sum()) if rows.height else 0
    low, high = wilson(ok, n)
    return {"band_low": lo, "band_high": hi, "reviewed": n, "best_confirmed": ok,
            "precision": ok / n if n else None, "ci_low": low, "ci_high": high,
            "model_expected": float(rows["best_score"].mean()) if n else None}


def _logit2(p: pl.Expr) -> pl.Expr:
    q = p.clip(1e-15, 1 - 1e-15)
    return (q / (1 - q)).log(2)


def threshold_what_if(results: pl.DataFrame, ledger: pl.DataFrame, thresholds: tuple[float, ...],
                      current: float, margin: float, bins: tuple[float, ...]) -> pl.DataFrame:
    """Per lower threshold t': ``extra_matches``, ``est_wrong`` (expected wrong among them),
    ``est_error_rate``, ``measured_share`` (share of the extra rows whose bin has reviewed rows)."""
    open_rows = results.filter(pl.col("status").is_in(["ambiguous", "unmatched"]) & pl.col("score").is_not_null())
    margin_ok = pl.col("runner_up_score").is_null() | ((_logit2(pl.col("score")) - _logit2(pl.col("runner_up_score")))
                                                       >= margin)
    cands = open_rows.filter(margin_ok & (pl.col("score") < current)).select("score")
    edges = np.array(sorted(set(bins) | {0.0, 1.0}), dtype=float)
    reviewed = _final(ledger).select("best_score", "best_confirmed").drop_nulls()
    rev_bin = np.searchsorted(edges, reviewed["best_score"].to_numpy(), side="right")
    n_rev = np.bincount(rev_bin, minlength=len(edges) + 1)
    ok_rev = np.bincount(rev_bin, weights=reviewed["best_confirmed"].to_numpy().astype(float),
                         minlength=len(edges) + 1)
    scores = cands["score"].to_numpy()
    cand_bin = np.searchsorted(edges, scores, side="right")
    measured = n_rev[cand_bin] > 0
    err = np.where(measured, 1 - ok_rev[cand_bin] / np.maximum(n_rev[cand_bin], 1), 1 - scores)
    out = []
    for t in thresholds:
        if t >= current:
            continue
        sel = scores >= t
        n = int(sel.sum())
        wrong = float(err[sel].sum()) if n else 0.0
        out.append({"threshold": t, "extra_matches": n, "est_wrong": round(wrong, 2),
                    "est_error_rate": round(wrong / n, 4) if n else None,
                    "measured_share": round(float(measured[sel].mean()), 4) if n else None})
    return pl.DataFrame(out, schema={"threshold": pl.Float64, "extra_matches": pl.Int64, "est_wrong": pl.Float64,
                                     "est_error_rate": pl.Float64, "measured_share": pl.Float64})
