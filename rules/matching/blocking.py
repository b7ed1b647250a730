"""Candidate generation: several exact-key passes, each bounded by a per-record cap.

A pass joins records to the index on a key (hashed to one UInt64 so multi-column keys join fast).
Block sizes on the index side are counted once; a record whose block exceeds the pass's cap gets no
pairs from that pass (flag ``candidate_cap_hit``) instead of thousands, so the number of pairs, and
the memory they take, is bounded by records x sum(caps) whatever the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from rules.matching.config import MatchConfig, PassSpec

_POW10 = 10 ** np.arange(12, dtype=np.int64)


def _key(cols: tuple[str, ...]) -> pl.Expr:
    if len(cols) == 1:
        return pl.col(cols[0]).hash(seed=7)
    return pl.struct([pl.col(c) for c in cols]).hash(seed=7)


def _not_null(cols: tuple[str, ...]) -> pl.Expr:
    return pl.all_horizontal([pl.col(c).is_not_null() for c in cols])


@dataclass
class PreparedIndex:
    """Per-pass index keys and block sizes, computed once per index and reused for every chunk."""

    keys: dict[str, pl.DataFrame]  # pass -> (key, pidx)
    sizes: dict[str, pl.DataFrame]  # pass -> (key, n)
    id_table: pl.DataFrame | None  # (idn, pidx) for id_variants passes


def prepare_index(index: pl.DataFrame, config: MatchConfig) -> PreparedIndex:
    keys: dict[str, pl.DataFrame] = {}
    sizes: dict[str, pl.DataFrame] = {}
    id_table = None
    base = index.with_row_index("pidx")
    for spec in config.passes:
        if spec.kind == "id_variants":
            col = spec.index_keys[0]
            id_table = base.filter(pl.col(col).is_not_null()).select(pl.col(col).alias("_id"), "pidx")
            continue
        k = base.filter(_not_null(spec.index_keys)).select(_key(spec.index_keys).alias("_key"), "pidx")
        keys[spec.name] = k
        sizes[spec.name] = k.group_by("_key").agg(pl.len().alias("_n"))
    return PreparedIndex(keys, sizes, id_table)


def id_variants(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All 12-digit numbers one substituted digit or one adjacent transposition away from each id.

    Returns (row position in ``ids``, variant). Arithmetic on int64, no string work: 108
    substitutions + up to 11 transpositions per id.
    """
    ids = ids.astype(np.int64)
    digits = (ids[:, None] // _POW10[None, :]) % 10  # (n, 12), position k = 10**k
    rows, vals = [], []
    n = len(ids)
    ar = np.arange(n)
    for k in range(12):
        for v in range(10):
            delta = (v - digits[:, k]) * _POW10[k]
            keep = delta != 0
            rows.append(ar[keep])
            vals.append(ids[keep] + delta[keep])
    for k in range(11):
        a, b = digits[:, k], digits[:, k + 1]
        delta = (b - a) * _POW10[k] + (a - b) * _POW10[k + 1]
        keep = delta != 0
        rows.append(ar[keep])
        vals.append(ids[keep] + delta[keep])
    return np.concatenate(rows), np.concatenate(vals)


@dataclass
class Candidates:
    """Candidate pairs of a chunk and what the passes saw."""

    pairs: pl.DataFrame  # (rid, pidx), de-duplicated, sorted
    pass_counts: dict[str, int]  # pairs per pass before de-duplication
    cap_hit: np.ndarray  # bool per record: some pass skipped because its block exceeded the cap
    hit: dict[str, np.ndarray]  # pass -> bool per record: the pass produced at least one pair


def generate_pairs(feats: pl.DataFrame, prepared: PreparedIndex, config: MatchConfig) -> Candidates:
    """Candidate pairs (rid, pidx) for a chunk of record features (``rid`` = row in ``feats``)."""
    recs = feats.with_row_index("rid")
    counts: dict[str, int] = {}
    found: dict[str, pl.Series] = {}
    hit: dict[str, np.ndarray] = {}
    cap_hit = np.zeros(feats.height, dtype=bool)
    parts: list[pl.DataFrame] = []
    for spec in config.passes:
        if spec.kind == "id_variants":
            pairs = _id_variant_pass(recs, spec, prepared, found)
        else:
            pairs, over = _exact_pass(recs, spec, prepared)
            if over.len():
                cap_hit[over.to_numpy()] = True
        counts[spec.name] = pairs.height
        found[spec.name] = pairs["rid"].unique()
        mask = np.zeros(feats.height, dtype=bool)
        mask[found[spec.name].to_numpy()] = True
        hit[spec.name] = mask
        parts.append(pairs)
    empty = pl.DataFrame(schema={"rid": pl.UInt32, "pidx": pl.UInt32})
    all_pairs = pl.concat(parts).unique() if parts else empty
    return Candidates(all_pairs.sort("rid", "pidx"), counts, cap_hit, hit)


def _exact_pass(recs: pl.DataFrame, spec: PassSpec, prepared: PreparedIndex) -> tuple[pl.DataFrame, pl.Series]:
    rk = recs.filter(_not_null(spec.record_keys)).select("rid", _key(spec.record_keys).alias("_key"))
    rk = rk.join(prepared.sizes[spec.name], on="_key", how="inner")
    over = rk.filter(pl.col("_n") > spec.cap)["rid"]
    rk = rk.filter(pl.col("_n") <= spec.cap).drop("_n")
    pairs = rk.join(prepared.keys[spec.name], on="_key", how="inner").select("rid", "pidx")
    return pairs, over


def _id_variant_pass(
    recs: pl.DataFrame, spec: PassSpec, prepared: PreparedIndex, found: dict[str, pl.Series]
) -> pl.DataFrame:
    col = spec.record_keys[0]
    todo = recs.filter(pl.col(col).is_not_null())
    if spec.only_if_no_hit_in and spec.only_if_no_hit_in in found:
        todo = todo.filter(~pl.col("rid").is_in(found[spec.only_if_no_hit_in].implode()))
    empty = pl.DataFrame(schema={"rid": pl.UInt32, "pidx": pl.UInt32})
    if todo.height == 0 or prepared.id_table is None:
        return empty
    pos, var = id_variants(todo[col].to_numpy())
    cand = pl.DataFrame({"rid": todo["rid"].to_numpy()[pos], "_id": var})
    pairs = cand.join(prepared.id_table, on="_id", how="inner").select("rid", "pidx")
    # a record close to many IDs is not informative: apply the same cap
    n = pairs.group_by("rid").agg(pl.len().alias("_n"))
    keep = n.filter(pl.col("_n") <= spec.cap)["rid"]
    return pairs.filter(pl.col("rid").is_in(keep.implode()))
