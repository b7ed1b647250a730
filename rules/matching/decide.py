"""Decisions per record from scored pairs: matched / ambiguous / unmatched, with reasons and flags.

Scores are posteriors of the record-level Fellegi-Sunter model (``rules.matching.estimate``): the
candidates of one record compete for it. ``matched`` needs the person to be among the candidates with
posterior ``match_threshold`` *and* the best to lead the runner-up by ``margin`` log2 units of
likelihood ratio: two equally good people (namesakes born the same day, twins with a typo in the
given name) go to review as ``ambiguous`` instead of being guessed. A file ID that belongs to a
sibling of the person the name and date describe is set aside (``id_conflicts``).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from rules.matching.compare import ELSE, MISSING, Comparisons
from rules.matching.config import ComparisonSpec, MatchConfig
from rules.matching.estimate import Estimates, record_posteriors


def reason_strings(comps: Comparisons, config: MatchConfig, positions: np.ndarray) -> pl.Series:
    """``name=level;...`` for the pairs at ``positions`` (machine-readable, no personal data)."""
    cols = []
    for comp in config.comparisons:
        names = ("missing", comp.else_label, *(lv.label for lv in comp.levels))
        labels = pl.Series(comp.name, [f"{comp.name}={x}" for x in names])
        cols.append(labels.gather(comps.levels[comp.name][positions].astype(np.int64) + 2))
    if not cols:
        return pl.Series("reason", [""] * len(positions), dtype=pl.Utf8)
    return pl.DataFrame(cols).select(pl.concat_str(pl.all(), separator=";").alias("reason"))["reason"]


def _in_labels(comps: Comparisons, comp: ComparisonSpec, labels: tuple[str, ...]) -> np.ndarray:
    idx = [i for i, lv in enumerate(comp.levels) if lv.label in labels]
    return np.isin(comps.levels[comp.name], idx)


def id_conflicts(
    rid: np.ndarray, rf: pl.DataFrame, comps: Comparisons, config: MatchConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Records whose file ID belongs to a register person whose name disagrees, while another candidate
    (same household as the ID's holder or same mother or father and the same birth date, or, where
    the register has no households, the same birth date) agrees on name and birth date.

    Why: a twin or sibling carrying the other's ID is common in school lists; the ID alone would pick
    the sibling at full score. For such records the ID comparison is set aside (all candidates of the
    record), so name and date decide between the siblings, and a near-tie stays ``ambiguous``.
    Returns (bool per pair: the pair's record is in conflict, bool per pair: the pair holds the ID).
    """
    n = len(rid)
    none = np.zeros(n, dtype=bool)
    idc = config.comparison(config.id_comparison) if config.id_comparison else None
    parts = [c for c in config.comparisons if c.name_part]
    dob = config.comparison("dob")
    if idc is None or not parts or dob is None or n == 0 or not idc.levels:
        return none, none
    holder = comps.levels[idc.name] == 0
    if not holder.any():
        return none, holder
    agree = np.ones(n, dtype=bool)
    disagree = np.zeros(n, dtype=bool)
    for c in parts:
        ok = _in_labels(comps, c, c.agreeing)
        agree &= ok
        disagree |= ~ok & (comps.levels[c.name] != MISSING)
    dob_exact = comps.levels[dob.name] == 0
    # name evidence of each candidate: a sibling whose name reads better than the ID holder's (a typo
    # in the given name hides an exact agreement; ``twin_name_margin``) counts like one that agrees
    # outright. Setting the ID aside only leaves the names to decide, with the usual margin
    name_w = np.zeros(n, dtype=np.float64)
    for c in parts:
        name_w += comps.weights.get(c.name, np.zeros(n))
    frame = pl.DataFrame(
        {
            "rid": rid,
            "dob": rf["dob"] if "dob" in rf.columns else pl.Series([None] * n, dtype=pl.Date),
            "hh": rf["hh"] if "hh" in rf.columns else pl.Series([None] * n, dtype=pl.Utf8),
            "par1": rf["par1"] if "par1" in rf.columns else pl.Series([None] * n, dtype=pl.Utf8),
            "par2": rf["par2"] if "par2" in rf.columns else pl.Series([None] * n, dtype=pl.Utf8),
            "bad_holder": holder & disagree,
            "other": ~holder,
            "agree": agree,
            "dob_exact": dob_exact,
            "nw": name_w,
        }
    )
    holders = frame.filter("bad_holder").group_by("rid").agg(
        pl.col("dob").first().alias("h_dob"),
        pl.col("hh").first().alias("h_hh"),
        pl.col("nw").max().alias("h_nw"),
        pl.col("par1").first().alias("h_par1"),
        pl.col("par2").first().alias("h_par2"),
    )
    if holders.height == 0:
        return none, holder
    # a twin: born the same day as the holder, in the holder's household (where the register has
    # households) or a child of the same mother or father (grown-up twins have households of their
    # own); a namesake born that day in another household, of other parents, is nobody's twin
    hh_known = (pl.col("hh").is_not_null() & pl.col("h_hh").is_not_null()).fill_null(False)
    same_hh = (pl.col("hh") == pl.col("h_hh")).fill_null(False)
    same_parent = ((pl.col("par1") == pl.col("h_par1")) | (pl.col("par2") == pl.col("h_par2"))).fill_null(False)
    same_dob = (pl.col("dob") == pl.col("h_dob")).fill_null(False) & (same_hh | ~hh_known | same_parent)
    better_name = pl.col("agree") | (pl.col("nw") > pl.col("h_nw") + config.twin_name_margin)
    cand = frame.join(holders, on="rid", how="left").select(
        "rid",
        (pl.col("other") & better_name & (same_dob | (same_hh & pl.col("dob_exact")))).alias("c"),
    )
    per_rid = cand.group_by("rid").agg(pl.col("c").any())
    bad = per_rid.filter("c")["rid"]
    return pl.Series(rid).is_in(bad.implode()).to_numpy(), holder


def uncorroborated_ids(comps: Comparisons, config: MatchConfig) -> np.ndarray:
    """Per pair: the ID agrees (positive ID weight) but no ``id_corroborated_by`` comparison supports it
    (none with a positive weight) and at least one contradicts it (a negative weight; missing is 0).

    Why: an agreeing ID is strong evidence only if the row is about the ID's holder. A relative's or a
    borrowed ID (a W-2 form carrying a household member's SSN, a school row with a parent's ID) comes
    with the holder's family name but not with the holder's own given name or birth date, so
    P(ID agrees | not the holder, the rest disagrees) is nothing like the register-wide u of an ID.
    For those pairs the ID is set aside and the row is decided on the other fields. A given name with
    a typo still supports (its level weighs > 0); a twin, who shares the birth date, is left to
    ``id_conflicts``, which looks for the sibling.
    """
    n = len(comps)
    names = [c for c in config.id_corroborated_by if c in comps.weights]
    idc = config.id_comparison
    if not names or not idc or idc not in comps.weights or n == 0:
        return np.zeros(n, dtype=bool)
    support = np.zeros(n, dtype=bool)
    against = np.zeros(n, dtype=bool)
    for name in names:
        support |= comps.weights[name] > 0
        against |= comps.weights[name] < 0
    return (comps.weights[idc] > 0) & ~support & against


def decide_chunk(
    chunk: pl.DataFrame,
    rid: np.ndarray,
    rf: pl.DataFrame,
    comps: Comparisons,
    cap_hit: np.ndarray,
    config: MatchConfig,
    est: Estimates,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per record of ``chunk``: status, ids, scores, reason, flags; plus review-queue rows.

    Scores are posteriors of the record-level model (``estimate.record_posteriors``): ``score`` is
    P(best candidate is the record's person), ``runner_up_score`` the same for the second. ``matched``
    needs P(the person is one of the candidates) >= ``match_threshold`` and a log2 likelihood-ratio
    margin of ``margin`` over the runner-up (so the best is at least 2**margin times as likely);
    ``ambiguous`` when the candidates together are at least ``review_threshold`` likely to hold the
    person but no single one qualifies. ``rf``: index columns per pair (``pid``, ID, dob, hh).
    """
    n = chunk.height
    w = comps.total.copy()
    conflict, holder = id_conflicts(rid, rf, comps, config)
    if conflict.any():
        # the holder's agreement and the others' "someone else's ID" are set aside; evidence the ID
        # gives FOR another candidate (it is that child's parent's ID) stays
        idw = comps.weights[config.id_comparison]
        conflict = conflict & (holder | (idw <= 0))
        w[conflict] -= idw[conflict]
    alone = uncorroborated_ids(comps, config) & ~conflict
    if alone.any():
        w[alone] -= comps.weights[config.id_comparison][alone]
    post, _ = record_posteriors(rid.astype(np.int64), w, est.match_share, est.n_index)
    pid = rf[config.id_column] if rf.height else pl.Series(config.id_column, [], dtype=pl.Utf8)
    scored = pl.DataFrame(
        {
            "rid": rid.astype(np.uint32),
            "w": w,
            "p": post,
            "pid": pid.cast(pl.Utf8),
            "pos": np.arange(len(rid), dtype=np.int64),
        }
    )
    # ties broken by person ID, so the order of the file's rows never changes a decision
    ranked = scored.sort(["rid", "w", "pid"], descending=[False, True, False]).with_columns(
        pl.int_range(pl.len()).over("rid").alias("rank"), pl.col("p").sum().over("rid").alias("p_any")
    )
    best = ranked.filter(pl.col("rank") == 0)
    second = ranked.filter(pl.col("rank") == 1).select("rid", pl.col("w").alias("w2"), pl.col("p").alias("p2"))
    best = best.join(second, on="rid", how="left")
    bw = best["w"].to_numpy()
    w2 = best["w2"].fill_null(-np.inf).to_numpy()
    bpos = best["pos"].to_numpy()
    p_best = best["p"].to_numpy()
    clear = (bw - w2) >= config.margin
    # matched: the person is among the candidates (posterior >= match_threshold) and the best is at
    # least 2**margin times as likely as the runner-up; near-ties stay ambiguous whatever the score
    p_any = best["p_any"].to_numpy()
    status = np.where(
        (p_any >= config.match_threshold) & clear,
        "matched",
        np.where(best["p_any"].to_numpy() >= config.review_threshold, "ambiguous", "unmatched"),
    )
    res = (
        pl.DataFrame(
            {
                "_row": best["rid"],
                "status": pl.Series(status, dtype=pl.Utf8),
                "_pid": best["pid"],
                "score": pl.Series(p_best, dtype=pl.Float64),
                "runner_up_score": best["p2"].cast(pl.Float64),
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
    all_rows = pl.DataFrame({"_row": np.arange(n, dtype=np.uint32)})
    res = all_rows.join(res, on="_row", how="left", maintain_order="left").with_columns(
        pl.col("status").fill_null("unmatched"),
        pl.col("score").fill_null(0.0),
        pl.col("reason").fill_null("no_candidates"),
    )
    conflict_rec = np.zeros(n, dtype=bool)
    conflict_rec[rid[conflict]] = True
    res = res.with_columns(_flags(chunk, rid, post, holder, conflict_rec, res, cap_hit, config)).drop("_best_pos")
    review = _review_rows(ranked, status, best["rid"].to_numpy(), comps, config)
    return res, review


def _flags(chunk, rid, post, holder, conflict_rec, res, cap_hit, config) -> pl.Expr:
    """Flags per record: id_belongs_to_other_person, id_corrected, candidate_cap_hit."""
    status = res["status"].to_numpy()
    # a truncated block only matters when the record did not find its person
    flags: list[tuple[str, np.ndarray]] = [("candidate_cap_hit", cap_hit & (status != "matched"))]
    col = config.record_id_column
    if col and col in chunk.columns:
        other = conflict_rec.copy()
        h = np.flatnonzero(holder)
        if h.size:
            h_rid = rid[h]
            best_pos = res["_best_pos"].fill_null(-1).to_numpy()
            is_best = best_pos[h_rid] == h
            matched = status[h_rid] == "matched"
            bad = (matched & ~is_best) | (~matched & (post[h] < config.review_threshold))
            other[h_rid[bad]] = True
        flags.append(("id_belongs_to_other_person", other))
        file_id = chunk["idf"] if "idf" in chunk.columns else chunk[col]
        corrected = (status == "matched") & _bool(file_id.is_not_null() & (file_id != res["person_id"]))
        flags.append(("id_corrected", corrected))
    # each record's flags as a bit pattern, then the pattern's list (a few patterns, many records)
    code = np.zeros(len(status), dtype=np.int64)
    for bit, (_, arr) in enumerate(flags):
        code |= arr.astype(np.int64) << bit
    patterns = pl.Series(
        "flags",
        [[name for bit, (name, _) in enumerate(flags) if c >> bit & 1] for c in range(1 << len(flags))],
        dtype=pl.List(pl.Utf8),
    )
    return pl.lit(patterns.gather(code))


def _bool(s: pl.Series) -> np.ndarray:
    return s.fill_null(False).to_numpy().astype(bool)


REVIEW_MIN_POSTERIOR = 0.01  # candidates below this are not worth a reviewer's time


def _review_rows(ranked, status, best_rids, comps, config) -> pl.DataFrame:
    amb = best_rids[status == "ambiguous"]
    cand = ranked.filter(pl.col("rid").is_in(pl.Series(amb, dtype=pl.UInt32).implode()))
    worth = (pl.col("p") >= REVIEW_MIN_POSTERIOR) | (pl.col("rank") == 0)
    cand = cand.filter((pl.col("rank") < config.max_review_candidates) & worth)
    pos = cand["pos"].to_numpy()
    return pl.DataFrame(
        {
            "_row": cand["rid"],
            "candidate_rank": (cand["rank"] + 1).cast(pl.Int32),
            "candidate_id": cand["pid"],
            "candidate_score": cand["p"].cast(pl.Float64),
            "candidate_reason": reason_strings(comps, config, pos),
        }
    )


def same_person_groups(records: pl.DataFrame, feats: pl.DataFrame, results: pl.DataFrame) -> pl.Expr:
    """Group rows of one upload (file sha256 + sheet) that are the same person.

    Rows matched to one person share a group. Rows not matched group with the rows of the upload that
    carry exactly the same folded name, birth date (or year) and ID; such a group joins a matched
    person's group only when every matched row with that key is matched to that one person (twins or
    namesakes matched to two different people never pull a third row into either). Rows with no name
    are alone. The group number is the 1-based position of the group's first row in the input, so it
    does not depend on chunking; it is a function of the rows, not of their order in a chunk.
    """
    upload = [c for c in ("file_sha256", "sheet") if c in records.columns]
    res = results.sort("_row")
    has_key = "nk" in feats.columns
    key_cols = ["nk", "dobs", "yr", "idn_s"] if has_key else []
    frame = pl.concat(
        [records.select(upload), feats.select(key_cols), res.select("_row", "person_id")], how="horizontal"
    )
    if has_key:
        exact = pl.when(pl.col("nk").is_not_null()).then(
            pl.concat_str(
                [pl.col("nk"), pl.coalesce(pl.col("dobs"), pl.col("yr").cast(pl.Utf8)), pl.col("idn_s").fill_null("")],
                separator="|",
                ignore_nulls=True,
            )
        )
    else:
        exact = pl.lit(None, pl.Utf8)
    frame = frame.with_columns(exact.alias("_k"))
    # per (upload, exact key): the one person its matched rows point at, if exactly one
    per_key = (
        frame.filter(pl.col("_k").is_not_null())
        .group_by([*upload, "_k"])
        .agg(pl.col("person_id").drop_nulls().unique().alias("_ps"))
        .with_columns(pl.when(pl.col("_ps").list.len() == 1).then(pl.col("_ps").list.first()).alias("_kp"))
        .drop("_ps")
    )
    frame = frame.join(per_key, on=[*upload, "_k"], how="left", nulls_equal=True, maintain_order="left")
    person = pl.coalesce(
        pl.concat_str([pl.lit("p:"), pl.col("person_id")]),
        pl.concat_str([pl.lit("p:"), pl.col("_kp")]),
        pl.concat_str([pl.lit("k:"), pl.col("_k")]),
        pl.concat_str([pl.lit("row:"), pl.col("_row").cast(pl.Utf8)]),
    )
    grp = frame.with_columns(person.alias("_p")).select(
        (pl.col("_row").min().over([*upload, "_p"]).cast(pl.Int64) + 1).alias("same_person_group")
    )["same_person_group"]
    return pl.lit(grp)


__all__ = ["ELSE", "MISSING", "decide_chunk", "reason_strings", "same_person_groups", "uncorroborated_ids"]
