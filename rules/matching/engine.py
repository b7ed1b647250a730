"""``match_records``: block, compare and decide for a frame of normalised records, chunk by chunk.

Records are processed in chunks of ``config.chunk_size`` so that candidate pairs (bounded per record
by the pass caps) stay bounded in memory at 10M x 1M; the index and its per-pass keys are prepared
once and shared by all chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from rules.matching.blocking import PreparedIndex, generate_pairs, id_neighbour_rate
from rules.matching.compare import PREDICATE_COLUMNS, Comparisons, compare, score
from rules.matching.config import MatchConfig
from rules.matching.decide import decide_chunk, same_person_groups
from rules.matching.estimate import (
    Estimates,
    PairLevels,
    data_version,
    estimate_u,
    load_cached,
    register_u,
    run_em,
    save_cached,
    start_estimates,
    sum_log2_m,
    with_labelled_pairs,
    year_prior,
)
from rules.matching.features import generic_features, record_features
from rules.matching.index import index_source, prepared_index

LINEAGE_COLUMNS: tuple[str, ...] = (
    "file_name",
    "file_sha256",
    "sheet",
    "row_number",
    "excel_row",
    "province",
    "sector",
    "unit",
)
RESULT_COLUMNS: tuple[str, ...] = (
    "status",
    "person_id",
    "score",
    "runner_up_score",
    "reason",
    "flags",
    "proposed_id",
    "same_person_group",
    "validation_reason",
)

Progress = Callable[[int, int], None]


@dataclass
class MatchOutput:
    """What a match run returns: results (one row per input row, input order), the review queue
    (one row per ambiguous row x candidate), candidate pairs per blocking pass, and run counts."""

    results: pl.DataFrame
    review_queue: pl.DataFrame
    pass_counts: dict[str, int]
    stats: dict[str, float | int] = field(default_factory=dict)
    estimates: Estimates | None = None  # the Fellegi-Sunter parameters used (see rules.matching.estimate)


def build_generic_index(df: pl.DataFrame, config: MatchConfig) -> pl.DataFrame:
    """Index for a ``generic`` config: mapped features, ``pid`` and register counts for tf levels."""
    id_source = config.index_id_source
    feats = generic_features(df, config.generic_fields).with_columns(
        df[id_source].cast(pl.Utf8).alias(config.id_column)
    )
    return _with_tf_counts(feats, config)


def _with_tf_counts(feats: pl.DataFrame, config: MatchConfig) -> pl.DataFrame:
    for comp in config.comparisons:
        for lv in comp.levels:
            if lv.tf and lv.tf not in feats.columns and lv.column in feats.columns:
                feats = feats.with_columns(pl.len().over(lv.column).cast(pl.UInt32).alias(lv.tf))
    return feats


# read on the record side only (the register's values are constant or absent)
INDEX_UNUSED = frozenset({"tk", "prec", "dob_sw", "idk", "idf"})
NAME_FREQUENCY_COLUMNS = ("nk_n", "nky_n")


def comparison_columns(config: MatchConfig) -> set[str]:
    """Columns read by the comparisons, fix-ups, decisions and flags of ``config``."""
    cols = set(PREDICATE_COLUMNS) | {config.id_column} | set(NAME_FREQUENCY_COLUMNS)
    if config.record_id_column:
        cols.add(config.record_id_column)
    for comp in config.comparisons:
        cols.update(comp.null_columns)
        for lv in comp.levels:
            cols.update(c for c in (lv.column, lv.tf) if c)
    return cols


def contiguous(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with one chunk per column (a copy only when needed).

    Why: gathering pairs from a frame of several chunks (a Parquet file's row groups, concatenated
    chunks) binary-searches the chunk of every row: 8 times slower than from one chunk.
    """
    return df.rechunk() if any(n > 1 for n in df.n_chunks("all")) else df


def record_feature_frame(records: pl.DataFrame, config: MatchConfig) -> pl.DataFrame:
    if config.prepare == "vietnam":
        return record_features(records)
    if config.prepare == "generic":
        return generic_features(records, config.generic_fields)
    raise ValueError(f"unknown prepare kind in matching config: {config.prepare!r}")


@dataclass
class _Chunk:
    """What phase one keeps of a chunk for estimation and decisions (levels, not features)."""

    start: int
    feats: pl.DataFrame
    rid: np.ndarray  # local record row per pair, sorted
    pidx: np.ndarray
    comps: Comparisons
    cap_hit: np.ndarray


def match_records(
    records: pl.DataFrame,
    index: pl.DataFrame,
    config: MatchConfig | None = None,
    progress: Progress | None = None,
    *,
    estimates: Estimates | None = None,
    cache_dir: str | Path | None = None,
    labels: tuple[dict[str, np.ndarray], np.ndarray] | None = None,
) -> MatchOutput:
    """Match normalised records (contracts §4) against a population index.

    ``labels``: pairs decided by clerical review, as (comparison -> level codes, is_match); they are
    blended into the estimated parameters (``estimate.with_labelled_pairs``) before scoring, so every
    reviewed decision teaches the matcher.

    Returns one result row per record in input order (contracts §6). Parameters are estimated from
    this run's records and register (``rules.matching.estimate``) unless ``estimates`` is given;
    with ``cache_dir`` they are cached there per data version (records, index, config).
    ``progress(done, total)`` is called after each chunk. No personal data is logged; ``stats`` holds
    counts and timings only; ``MatchOutput.estimates`` holds the parameters used.
    """
    config = config or MatchConfig.default()
    t0 = time.perf_counter()
    feats = record_feature_frame(records, config)
    prepared = prepared_index(index, config)  # cached beside an index read by load_or_build_index
    needed = comparison_columns(config)
    index_cmp = contiguous(index.select([c for c in index.columns if c in needed - INDEX_UNUSED]))
    t_prep = time.perf_counter() - t0
    n = records.height
    pass_counts = {p.name: 0 for p in config.passes}
    timing = {"blocking": 0.0, "gather": 0.0, "compare": 0.0, "estimate": 0.0, "decide": 0.0}
    if progress is not None:
        progress(0, n)
    chunks: list[_Chunk] = []
    n_pairs = 0
    for start in range(0, max(n, 1), config.chunk_size):
        chunk = feats.slice(start, config.chunk_size)
        if chunk.height == 0:
            break
        t1 = time.perf_counter()
        cands = generate_pairs(chunk, prepared, config)
        t2 = time.perf_counter()
        timing["blocking"] += t2 - t1
        for k, v in cands.pass_counts.items():
            pass_counts[k] += v
        if config.id_known_pass in cands.hit and config.record_id_column in chunk.columns:
            known = pl.Series("idk", cands.hit[config.id_known_pass])
            chunk = chunk.with_columns(pl.when(pl.col(config.record_id_column).is_not_null()).then(known).alias("idk"))
        rid = cands.pairs["rid"].to_numpy()
        pidx = cands.pairs["pidx"].to_numpy()
        n_pairs += len(rid)
        narrow = contiguous(chunk.select([c for c in chunk.columns if c in needed]))
        lf = narrow[rid] if len(rid) else narrow.clear()
        rf = index_cmp[pidx] if len(pidx) else index_cmp.clear()
        t3 = time.perf_counter()
        timing["gather"] += t3 - t2
        comps = compare(lf, rf, config, index.height)
        timing["compare"] += time.perf_counter() - t3
        chunks.append(_Chunk(start, chunk, rid, pidx, comps, cands.cap_hit))
    t4 = time.perf_counter()
    strata = _strata(records, config)
    est = estimates or _estimate(feats, chunks, index, index_cmp, config, cache_dir, strata, prepared)
    if labels is not None and len(labels[1]):
        est = with_labelled_pairs(est, config, labels[0], labels[1])
    timing["estimate"] = time.perf_counter() - t4
    decided: list[pl.DataFrame] = []
    reviews: list[pl.DataFrame] = []
    # dob, household and parents: who is a twin of whom (``decide.id_conflicts``)
    wanted = (config.id_column, config.record_id_column, "dob", "hh", "par1", "par2")
    keep = [c for c in wanted if c and c in index.columns]
    index_small = contiguous(index.select(keep))
    t5 = time.perf_counter()
    codes = _stratum_codes(strata, est)
    while chunks:  # each chunk is released once decided (its pairs' levels and weights are big at 10M)
        ch = chunks.pop(0)
        ch.comps.rec_stratum = codes[ch.rid.astype(np.int64) + ch.start] if codes is not None else None
        score(ch.comps, est, config)
        rf = index_small[ch.pidx] if len(ch.pidx) else index_small.clear()
        res, rev = decide_chunk(ch.feats, ch.rid, rf, ch.comps, ch.cap_hit, config, est)
        decided.append(res.with_columns((pl.col("_row") + ch.start).alias("_row")))
        reviews.append(rev.with_columns((pl.col("_row") + ch.start).alias("_row")))
        if progress is not None:
            progress(min(ch.start + ch.feats.height, n), n)
    timing["decide"] = time.perf_counter() - t5
    results = (pl.concat(decided) if decided else _empty_results()).sort("_row")
    review = pl.concat(reviews) if reviews else pl.DataFrame()
    results = results.with_columns(same_person_groups(records, feats, results))
    lineage = [c for c in LINEAGE_COLUMNS if c in records.columns]
    lin = pl.DataFrame({"_row": pl.int_range(n, dtype=pl.UInt32, eager=True)})
    if lineage:
        lin = lin.hstack(records.select(lineage))
    out = lin.join(results, on="_row", how="left").sort("_row")
    review_out = (
        lin.join(review, on="_row", how="inner").sort("_row", "candidate_rank") if review.height else _empty_review(lin)
    )
    stats: dict[str, float | int] = {
        "records": n,
        "index_rows": index.height,
        "candidate_pairs": n_pairs,
        "seconds_prepare": round(t_prep, 3),
        **{f"seconds_{k}": round(v, 3) for k, v in timing.items()},
        "seconds_total": round(time.perf_counter() - t0, 3),
        "match_share": round(est.match_share, 4),
        "em_iterations": est.iterations,
        "estimates_from_cache": int(est.from_cache),
    }
    for status in ("matched", "ambiguous", "unmatched"):
        stats[status] = int((out["status"] == status).sum())
    stats["candidate_cap_hit"] = int(out["flags"].list.contains("candidate_cap_hit").sum())
    if "validation_reason" not in out.columns:
        out = out.with_columns(pl.lit(None, pl.Utf8).alias("validation_reason"))
    return MatchOutput(
        results=out.drop("_row").select(*lineage, *RESULT_COLUMNS),
        review_queue=review_out.drop("_row"),
        pass_counts=pass_counts,
        stats=stats,
        estimates=est,
    )


def _canonical_order(feats: pl.DataFrame) -> np.ndarray:
    """Row positions sorted by a hash of the row's features: samples drawn through this order do not
    depend on the order of the file's rows (a shuffled file gets the same estimates)."""
    h = feats.hash_rows(seed=3).to_numpy()
    return np.lexsort((np.arange(len(h)), h)) if len(h) else np.zeros(0, dtype=np.int64)


def _strata(records: pl.DataFrame, config: MatchConfig) -> pl.Series | None:
    """The records' birth-year prior strata (``estimation.year_prior_by``, e.g. the sector), or None."""
    by = config.estimation.year_prior_by
    if not by or by not in records.columns or records.height == 0:
        return None
    return records[by].cast(pl.Utf8)


def _stratum_codes(strata: pl.Series | None, est: Estimates) -> np.ndarray | None:
    """Per record, its row of ``est.year_log2`` (the last row for a stratum the estimates lack)."""
    if strata is None or est.prior_years is None:
        return None
    names = strata.unique().sort(nulls_last=True)
    lookup = pl.DataFrame({"_s": names, "_c": est.stratum_codes(names.to_list())})
    return pl.DataFrame({"_s": strata}).join(lookup, on="_s", how="left", nulls_equal=True, maintain_order="left")[
        "_c"
    ].to_numpy()


def _year_prior(feats: pl.DataFrame, index: pl.DataFrame, config: MatchConfig, strata: pl.Series | None, est):
    """Fill ``est``'s birth-year prior: one row per stratum with at least one record, then all records."""
    opt = config.estimation
    ycol = opt.year_prior_column
    if not ycol or ycol not in feats.columns or ycol not in index.columns:
        return
    names: list[str] = []
    rows = []
    if strata is not None:
        names = [n for n in strata.unique().sort().to_list() if n is not None]
        for name in names:
            years, row = year_prior(
                feats[ycol].filter(strata == name), index[ycol], opt.year_prior_strength, opt.year_prior_max_log2
            )
            rows.append(row)
    years, row = year_prior(feats[ycol], index[ycol], opt.year_prior_strength, opt.year_prior_max_log2)
    est.prior_years, est.year_log2, est.prior_strata = years, np.vstack([*rows, row]), names


def _register_u(index: pl.DataFrame, prepared: PreparedIndex | None, config: MatchConfig) -> dict[str, float]:
    """Per ``u_from`` kind the config uses, its u counted in the register (``estimate.register_u``),
    over the people with an ID (the ID levels compare only pairs where both have one).

    ID neighbours: the one-edit variants of ``id_neighbour_sample`` of the register's own IDs (all of
    them in a smaller register) looked up like the ``id_variants`` pass; none found gives half a
    neighbour over the sample instead of 0. Parent links: mother / father links between people with
    an ID. A kind whose count is impossible (no ID table, no parent columns) is left out."""
    kinds = {lv.u_from for c in config.comparisons for lv in c.levels} - {"sample"}
    out: dict[str, float] = {}
    if "id_neighbours" in kinds and prepared is not None and prepared.id_table is not None:
        keys = prepared.id_table.keys
        n_id, n_sample = len(keys), config.estimation.id_neighbour_sample
        if n_id:
            rng = np.random.default_rng([config.estimation.seed, 1])  # own stream: the pair samples stay as they were
            sample = keys if n_id <= n_sample else keys[rng.integers(0, n_id, n_sample)]
            rate = id_neighbour_rate(prepared.id_table, sample)
            out["id_neighbours"] = max(rate, 0.5 / len(sample)) / n_id
    if "parent_links" in kinds and index.height and config.record_id_column in index.columns:
        has_id = index[config.record_id_column].is_not_null()
        n_id = int(has_id.sum())
        parents = [c for c in ("par1", "par2") if c in index.columns]
        if n_id and parents:
            links = sum(int((index[c].is_not_null() & has_id).sum()) for c in parents)
            out["parent_links"] = max(links, 0.5) / n_id / n_id
    return out


def _estimate(
    feats: pl.DataFrame,
    chunks: list[_Chunk],
    index: pl.DataFrame,
    index_cmp: pl.DataFrame,
    config: MatchConfig,
    cache_dir: str | Path | None,
    strata: pl.Series | None = None,
    prepared: PreparedIndex | None = None,
) -> Estimates:
    """u from random pairs, then m and the match share by EM over the blocked pairs (cached per data)."""
    n, big_n = feats.height, index.height
    opt = config.estimation
    if not opt.enabled or n == 0 or big_n == 0:
        return start_estimates(config, big_n)
    source = index_source(index)
    keyed = feats if strata is None else feats.with_columns(strata.alias("_year_prior_stratum"))
    key = data_version(keyed, index, config, source[1] if source else None)
    cached = load_cached(Path(cache_dir), key) if cache_dir else None
    if cached is not None:
        return cached
    # u: random record x register pairs, compared with the same code as the blocked pairs
    cols = comparison_columns(config)
    parts = [c.feats.select([x for x in c.feats.columns if x in cols]) for c in chunks]
    full = contiguous(pl.concat(parts, how="diagonal_relaxed"))
    order = _canonical_order(feats)
    rng = np.random.default_rng(opt.seed)
    k = int(min(opt.u_sample_pairs, n * big_n))
    s_rid = order[rng.integers(0, n, k)]
    s_pidx = rng.integers(0, big_n, k)
    # gathered in register order (cache friendly at 10M); u is a count per level, so the order of the
    # sample's pairs changes nothing
    by_person = np.argsort(s_pidx, kind="stable")
    s_rid, s_pidx = s_rid[by_person], s_pidx[by_person]
    lf = full[s_rid]
    rf = index_cmp[s_pidx]
    del full
    sample = compare(lf, rf, config, big_n, fixups=False)
    year_equal = 0.0
    if "yr" in rf.columns and "yr" in lf.columns:
        yr_l, yr_r = lf["yr"], rf["yr"]
        both = (yr_l.is_not_null() & yr_r.is_not_null()).to_numpy()
        if both.any():
            year_equal = float((yr_l == yr_r).fill_null(False).to_numpy()[both].mean())
    est = estimate_u(sample.levels, config, k, big_n, year_equal)
    del lf, rf, sample
    register_u(est, config, _register_u(index, prepared, config))
    _year_prior(feats, index, config, strata, est)
    codes = _stratum_codes(strata, est)
    # EM over the blocked pairs of (a hashed sample of) the records
    rid_all = np.concatenate([c.rid.astype(np.int64) + c.start for c in chunks]) if chunks else np.zeros(0, np.int64)
    if len(rid_all) and opt.max_iterations > 0:
        levels = {
            comp.name: np.concatenate([c.comps.levels[comp.name] for c in chunks]) for comp in config.comparisons
        }
        totals = []
        for c in chunks:  # scored again with the estimates for the decisions: free the weights meanwhile
            c.comps.rec_stratum = codes[c.rid.astype(np.int64) + c.start] if codes is not None else None
            totals.append(score(c.comps, est, config).total)
            c.comps.weights, c.comps.total = {}, None
        pairs = PairLevels(rid_all, levels, np.concatenate(totals))
        del totals
        pairs.fixed_log2 = pairs.fixed_log2 - sum_log2_m(pairs, est, config)
        # the share is estimated over the records that have a candidate: decisions are only ever made
        # for those, and a record without any candidate says nothing about the others' prior
        n_em = int(np.count_nonzero(np.bincount(rid_all, minlength=n)))
        if n > opt.max_records:
            chosen = np.zeros(n, dtype=bool)
            chosen[order[rng.choice(n, opt.max_records, replace=False)]] = True
            keep = chosen[rid_all]
            pairs = PairLevels(rid_all[keep], {k_: v[keep] for k_, v in levels.items()}, pairs.fixed_log2[keep])
            n_em = int(np.count_nonzero(np.bincount(pairs.rid, minlength=n)))
        del levels, rid_all
        est = run_em(pairs, n_em, est, config)
    save_cached(Path(cache_dir) if cache_dir else None, key, est)
    return est


def _empty_results() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "_row": pl.UInt32,
            "status": pl.Utf8,
            "person_id": pl.Utf8,
            "score": pl.Float64,
            "runner_up_score": pl.Float64,
            "reason": pl.Utf8,
            "flags": pl.List(pl.Utf8),
            "proposed_id": pl.Utf8,
        }
    )


def _empty_review(lin: pl.DataFrame) -> pl.DataFrame:
    schema = dict(lin.schema)
    schema.update(
        {
            "candidate_rank": pl.Int32,
            "candidate_id": pl.Utf8,
            "candidate_score": pl.Float64,
            "candidate_reason": pl.Utf8,
        }
    )
    return pl.DataFrame(schema=schema)


__all__ = ["MatchOutput", "build_generic_index", "match_records"]
