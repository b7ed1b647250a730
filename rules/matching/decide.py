"""Decisions per record from scored pairs: matched / ambiguous / unmatched, with reasons and flags.

``matched`` needs the best candidate over ``match_threshold`` *and* a margin of ``margin`` log2 units
over the runner-up: two equally good people (namesakes born the same day, twins with a typo in the
given name) go to review as ``ambiguous`` instead of being guessed.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from rules.matching.compare import ELSE, MISSING, Comparisons, probability
from rules.matching.config import MatchConfig


def reason_strings(comps: Comparisons, config: MatchConfig, positions: np.ndarray) -> pl.Series:
    """``name=level;...`` for the pairs at ``positions`` (machine-readable, no personal data)."""
    cols = []
    for comp in config.comparisons:
        labels = np.array(["missing", comp.else_label, *[lv.label for lv in comp.levels]], dtype=object)
        lvl = comps.levels[comp.name][positions]
        cols.append(pl.Series(comp.name, (comp.name + "=") + labels[lvl.astype(np.int64) + 2].astype(str)))
    if not cols:
        return pl.Series("reason", [""] * len(positions), dtype=pl.Utf8)
    return pl.DataFrame(cols).select(pl.concat_str(pl.all(), separator=";").alias("reason"))["reason"]


def decide_chunk(
    chunk: pl.DataFrame,
    rid: np.ndarray,
    pidx: np.ndarray,
    rf: pl.DataFrame,
    lf: pl.DataFrame,
    comps: Comparisons,
    cap_hit: np.ndarray,
    config: MatchConfig,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per record of ``chunk``: status, ids, scores, reason, flags; plus review-queue rows."""
    n = chunk.height
    w = comps.total
    pid = rf[config.id_column] if rf.height else pl.Series(config.id_column, [], dtype=pl.Utf8)
    scored = pl.DataFrame({"rid": rid.astype(np.uint32), "w": w, "pos": np.arange(len(rid), dtype=np.int64)})
    ranked = scored.sort(["rid", "w"], descending=[False, True]).with_columns(
        pl.int_range(pl.len()).over("rid").alias("rank")
    )
    best = ranked.filter(pl.col("rank") == 0)
    second = ranked.filter(pl.col("rank") == 1).select("rid", pl.col("w").alias("w2"))
    best = best.join(second, on="rid", how="left")
    bw = best["w"].to_numpy()
    w2 = best["w2"].fill_null(-np.inf).to_numpy()
    bpos = best["pos"].to_numpy()
    p_best = probability(bw)
    p_second = np.where(np.isfinite(w2), probability(np.where(np.isfinite(w2), w2, 0.0)), np.nan)
    clear = (bw - w2) >= config.margin
    status = np.where(
        (p_best >= config.match_threshold) & clear,
        "matched",
        np.where(p_best >= config.review_threshold, "ambiguous", "unmatched"),
    )
    best_pid = pid.gather(bpos) if len(bpos) else pl.Series([], dtype=pl.Utf8)
    res = (
        pl.DataFrame(
            {
                "_row": best["rid"],
                "status": pl.Series(status, dtype=pl.Utf8),
                "_pid": best_pid.cast(pl.Utf8),
                "score": pl.Series(p_best, dtype=pl.Float64),
                "runner_up_score": pl.Series(p_second, dtype=pl.Float64).fill_nan(None),
                "reason": reason_strings(comps, config, bpos),
                "_best_pos": pl.Series(bpos, dtype=pl.Int64),
            }
        )
        .with_columns(
            pl.when(pl.col("status") == "matched").then(pl.col("_pid")).alias("person_id"),
            pl.when(pl.col("status") != "unmatched").then(pl.col("_pid")).alias("proposed_id"),
        )
        .drop("_pid")
    )
    # records with no candidate at all
    all_rows = pl.DataFrame({"_row": np.arange(n, dtype=np.uint32)})
    res = all_rows.join(res, on="_row", how="left", maintain_order="left").with_columns(
        pl.col("status").fill_null("unmatched"),
        pl.col("score").fill_null(0.0),
        pl.col("reason").fill_null("no_candidates"),
    )
    res = res.with_columns(_flags(chunk, lf, rf, comps, res, rid, cap_hit, config)).drop("_best_pos")
    review = _review_rows(ranked, status, best["rid"].to_numpy(), pid, comps, config)
    return res, review


def _flags(chunk, lf, rf, comps, res, rid, cap_hit, config) -> pl.Expr:
    """Flags per record: id_belongs_to_other_person, id_corrected, candidate_cap_hit."""
    n = chunk.height
    status = res["status"].to_numpy()
    # a truncated block only matters when the record did not find its person
    flags: list[tuple[str, np.ndarray]] = [("candidate_cap_hit", cap_hit & (status != "matched"))]
    col = config.record_id_column
    if col and col in chunk.columns and col in rf.columns:
        holder = np.flatnonzero((lf[col] == rf[col]).fill_null(False).to_numpy()) if rf.height else np.array([], int)
        other = np.zeros(n, dtype=bool)
        if holder.size:
            h_rid = rid[holder]
            h_p = probability(comps.total[holder])
            best_pos = res["_best_pos"].fill_null(-1).to_numpy()
            is_best = best_pos[h_rid] == holder
            matched = status[h_rid] == "matched"
            bad = (matched & ~is_best) | (~matched & (h_p < config.review_threshold))
            other[h_rid[bad]] = True
        flags.append(("id_belongs_to_other_person", other))
        file_id = chunk["idf"] if "idf" in chunk.columns else chunk[col]
        corrected = (status == "matched") & _bool(file_id.is_not_null() & (file_id != res["person_id"]))
        flags.append(("id_corrected", corrected))
    frame = pl.DataFrame({name: arr for name, arr in flags})
    exprs = [pl.when(pl.col(name)).then(pl.lit(name)).otherwise(None) for name, _ in flags]
    lists = frame.select(pl.concat_list(exprs).list.drop_nulls().alias("flags"))["flags"]
    return pl.lit(lists)


def _bool(s: pl.Series) -> np.ndarray:
    return s.fill_null(False).to_numpy().astype(bool)


def _review_rows(ranked, status, best_rids, pid, comps, config) -> pl.DataFrame:
    amb = best_rids[status == "ambiguous"]
    cand = ranked.filter(pl.col("rid").is_in(pl.Series(amb, dtype=pl.UInt32).implode()))
    cand = cand.filter(pl.col("rank") < config.max_review_candidates)
    p = probability(cand["w"].to_numpy())
    keep = (p >= config.review_threshold) | (cand["rank"].to_numpy() == 0)
    cand = cand.filter(pl.Series(keep))
    pos = cand["pos"].to_numpy()
    return pl.DataFrame(
        {
            "_row": cand["rid"],
            "candidate_rank": (cand["rank"] + 1).cast(pl.Int32),
            "candidate_id": pid.gather(pos) if len(pos) else pl.Series([], dtype=pl.Utf8),
            "candidate_score": probability(cand["w"].to_numpy()),
            "candidate_reason": reason_strings(comps, config, pos),
        }
    )


def same_person_groups(records: pl.DataFrame, feats: pl.DataFrame, results: pl.DataFrame) -> pl.Expr:
    """Group rows of one upload (file sha256 + sheet) that are the same person.

    Matched rows group by person_id; others by folded name + birth date (or year) + ID. The group
    number is the 1-based position of the group's first row in the input, so it is stable.
    """
    upload = [c for c in ("file_sha256", "sheet") if c in records.columns]
    res = results.sort("_row")
    person = pl.coalesce(
        pl.col("person_id"),
        pl.when(pl.col("nk").is_not_null()).then(
            pl.concat_str(
                [
                    pl.lit("r:"),
                    pl.col("nk"),
                    pl.coalesce(pl.col("dobs"), pl.col("yr").cast(pl.Utf8)),
                    pl.col("idn_s").fill_null(""),
                ],
                separator="|",
                ignore_nulls=True,
            )
        ),
        pl.concat_str([pl.lit("row:"), pl.col("_row").cast(pl.Utf8)]),
    )
    key_cols = ["nk", "dobs", "yr", "idn_s"] if "nk" in feats.columns else []
    frame = pl.concat(
        [records.select(upload), feats.select(key_cols), res.select("_row", "person_id")], how="horizontal"
    )
    if not key_cols:
        person = pl.coalesce(pl.col("person_id"), pl.concat_str([pl.lit("row:"), pl.col("_row").cast(pl.Utf8)]))
    grp = frame.with_columns(person.alias("_p")).select(
        (pl.col("_row").first().over([*upload, "_p"]).cast(pl.Int64) + 1).alias("same_person_group")
    )["same_person_group"]
    # results are sorted by _row here; the caller's frame is in chunk order = row order
    return pl.lit(grp)


__all__ = ["ELSE", "MISSING", "decide_chunk", "reason_strings", "same_person_groups"]
