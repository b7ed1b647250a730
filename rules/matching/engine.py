"""``match_records``: block, compare and decide for a frame of normalised records, chunk by chunk.

Records are processed in chunks of ``config.chunk_size`` so that candidate pairs (bounded per record
by the pass caps) stay bounded in memory at 10M x 1M; the index and its per-pass keys are prepared
once and shared by all chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from rules.matching.blocking import generate_pairs, prepare_index
from rules.matching.compare import PREDICATE_COLUMNS, compare
from rules.matching.config import MatchConfig
from rules.matching.decide import decide_chunk, same_person_groups
from rules.matching.features import generic_features, record_features

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


def build_generic_index(df: pl.DataFrame, config: MatchConfig) -> pl.DataFrame:
    """Index for a ``generic`` config: mapped features, ``pid`` and register counts for tf levels."""
    id_source = config.raw.get("index_id_source", "person_id")
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


def comparison_columns(config: MatchConfig) -> set[str]:
    """Columns read by the comparisons, fix-ups, decisions and flags of ``config``."""
    cols = set(PREDICATE_COLUMNS) | {config.id_column}
    if config.record_id_column:
        cols.add(config.record_id_column)
    for comp in config.comparisons:
        cols.update(comp.null_columns)
        for lv in comp.levels:
            cols.update(c for c in (lv.column, lv.tf) if c)
    return cols


def record_feature_frame(records: pl.DataFrame, config: MatchConfig) -> pl.DataFrame:
    if config.prepare == "vietnam":
        return record_features(records)
    if config.prepare == "generic":
        return generic_features(records, config.generic_fields)
    raise ValueError(f"unknown prepare kind in matching config: {config.prepare!r}")


def match_records(
    records: pl.DataFrame,
    index: pl.DataFrame,
    config: MatchConfig | None = None,
    progress: Progress | None = None,
) -> MatchOutput:
    """Match normalised records (contracts §4) against a population index.

    Returns one result row per record in input order (contracts §6). ``progress(done, total)`` is
    called after each chunk. No personal data is logged; ``stats`` holds counts and timings only.
    """
    config = config or MatchConfig.default()
    t0 = time.perf_counter()
    feats = record_feature_frame(records, config)
    prepared = prepare_index(index, config)
    # only the columns the comparisons read are gathered per pair
    needed = comparison_columns(config)
    index_cmp = index.select([c for c in index.columns if c in needed - INDEX_UNUSED])
    t_prep = time.perf_counter() - t0
    n = records.height
    pass_counts = {p.name: 0 for p in config.passes}
    decided: list[pl.DataFrame] = []
    reviews: list[pl.DataFrame] = []
    n_pairs = 0
    timing = {"blocking": 0.0, "gather": 0.0, "compare": 0.0, "decide": 0.0}
    if progress is not None:
        progress(0, n)
    for start in range(0, max(n, 1), config.chunk_size):
        chunk = feats.slice(start, config.chunk_size)
        if chunk.height == 0:
            break
        t1 = time.perf_counter()
        cands = generate_pairs(chunk, prepared, config)
        t2 = time.perf_counter()
        timing["blocking"] += t2 - t1
        pairs, cap_hit = cands.pairs, cands.cap_hit
        for k, v in cands.pass_counts.items():
            pass_counts[k] += v
        if config.id_known_pass in cands.hit and config.record_id_column in chunk.columns:
            known = pl.Series("idk", cands.hit[config.id_known_pass])
            chunk = chunk.with_columns(pl.when(pl.col(config.record_id_column).is_not_null()).then(known).alias("idk"))
        n_pairs += pairs.height
        rid = pairs["rid"].to_numpy()
        pidx = pairs["pidx"].to_numpy()
        lf = chunk[rid] if len(rid) else chunk.clear()
        rf = index_cmp[pidx] if len(pidx) else index_cmp.clear()
        t3 = time.perf_counter()
        timing["gather"] += t3 - t2
        comps = compare(lf, rf, config, index.height)
        t4 = time.perf_counter()
        timing["compare"] += t4 - t3
        res, rev = decide_chunk(chunk, rid, pidx, rf, lf, comps, cap_hit, config)
        res = res.with_columns((pl.col("_row") + start).alias("_row"))
        rev = rev.with_columns((pl.col("_row") + start).alias("_row"))
        timing["decide"] += time.perf_counter() - t4
        decided.append(res)
        reviews.append(rev)
        if progress is not None:
            progress(min(start + chunk.height, n), n)
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
    }
    for status in ("matched", "ambiguous", "unmatched"):
        stats[status] = int((out["status"] == status).sum())
    stats["candidate_cap_hit"] = int(out["flags"].list.contains("candidate_cap_hit").sum())
    return MatchOutput(
        results=out.drop("_row").select(*lineage, *RESULT_COLUMNS),
        review_queue=review_out.drop("_row"),
        pass_counts=pass_counts,
        stats=stats,
    )


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
