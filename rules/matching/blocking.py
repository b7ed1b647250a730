"""Candidate generation: several exact-key passes, each bounded by a per-record cap.

A pass looks records up in the index on a key (column hashes combined into one uint64). The index's
keys are sorted once per pass, so a block is a slice found by binary search (no hash table rebuilt per
chunk, no join against the whole register). A record whose block exceeds the pass's cap gets no pairs
from that pass (flag ``candidate_cap_hit``) instead of thousands, so the number of pairs, and the
memory they take, is bounded by records x sum(caps) whatever the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from rules.matching.config import MatchConfig, PassSpec

_POW10 = 10 ** np.arange(12, dtype=np.int64)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def column_hashes(df: pl.DataFrame, cols: set[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per column: (uint64 hash of each value, not-null mask); each column is hashed once."""
    out = {}
    for c in cols:
        s = df[c]
        out[c] = (s.hash(seed=7).to_numpy().astype(np.uint64, copy=False), s.is_not_null().to_numpy())
    return out


def combine(hashes: dict[str, tuple[np.ndarray, np.ndarray]], cols: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One uint64 key per row for a multi-column key (wrapping multiply-add), and where it is defined."""
    key, ok = hashes[cols[0]][0].copy(), hashes[cols[0]][1].copy()
    with np.errstate(over="ignore"):
        for c in cols[1:]:
            h, m = hashes[c]
            key = key * _MIX + h
            ok &= m
    return key, ok


@dataclass
class SortedKeys:
    """A pass's index keys sorted, so that a block is a slice found by binary search."""

    keys: np.ndarray  # uint64, sorted
    pidx: np.ndarray  # uint32, index row of each sorted key


@dataclass
class PreparedIndex:
    """Per-pass sorted index keys, computed once per index and reused for every chunk."""

    passes: dict[str, SortedKeys]
    id_table: SortedKeys | None  # sorted 12-digit IDs for id_variants passes
    token_counts: pl.DataFrame | None = None  # (tok, n): register count of each name token (token passes)


def _argsort(values: np.ndarray) -> np.ndarray:
    """Argsort of uint64 keys with polars (multi-threaded; numpy sorts on one core)."""
    return pl.Series(values).arg_sort().to_numpy()


def _sorted(keys: np.ndarray, ok: np.ndarray) -> SortedKeys:
    """Keys where ``ok``, sorted, with their index rows (one multi-threaded polars sort)."""
    df = pl.DataFrame({"k": keys, "p": np.arange(len(keys), dtype=np.uint32)})
    if not ok.all():
        df = df.filter(pl.Series(ok))
    df = df.sort("k")
    return SortedKeys(df["k"].to_numpy(), df["p"].to_numpy())


def prepare_index(index: pl.DataFrame, config: MatchConfig) -> PreparedIndex:
    cols = {c for spec in config.passes if spec.kind == "exact" for c in spec.index_keys}
    hashes = column_hashes(index, cols)
    passes: dict[str, SortedKeys] = {}
    id_table = None
    token_counts = None
    for spec in config.passes:
        if spec.kind == "id_variants":
            ids = index[spec.index_keys[0]]
            ok = ids.is_not_null().to_numpy()
            vals = ids.fill_null(0).cast(pl.Int64).to_numpy().view(np.uint64)
            id_table = _sorted(vals, ok)
            continue
        if spec.kind == "token":
            toks = _tokens(index, spec.index_keys[0])
            if token_counts is None:
                token_counts = toks.group_by("tok").agg(pl.len().alias("n"))
            rest = spec.index_keys[1:]
            frame = toks.with_columns(index.select(rest)[toks["pidx"].cast(pl.Int64)].get_columns()) if rest else toks
            th = column_hashes(frame, {"tok", *rest})
            key, ok = combine(th, ("tok", *rest))
            st = _sorted(key, ok)
            st.pidx = frame["pidx"].to_numpy()[st.pidx]
            passes[spec.name] = st
            continue
        passes[spec.name] = _sorted(*combine(hashes, spec.index_keys))
    return PreparedIndex(passes, id_table, token_counts)


def _tokens(frame: pl.DataFrame, name_col: str) -> pl.DataFrame:
    """(pidx, tok): one row per distinct name token of each row (the name split on spaces)."""
    return (
        frame.select(pl.col(name_col).str.split(" ").list.unique().alias("tok"))
        .with_row_index("pidx")
        .explode("tok")
        .filter(pl.col("tok").is_not_null() & (pl.col("tok") != ""))
    )


def rarest_tokens(feats: pl.DataFrame, name_col: str, counts: pl.DataFrame | None) -> pl.Series:
    """Per row, the token of its name that fewest register people carry (among tokens the register has).

    Why: a blocking key on the rarest token survives any token order, an extra token (a nickname, a
    note) and a typo in the other tokens. Ties go to the alphabetically first token (deterministic).
    """
    n = feats.height
    if counts is None or n == 0:
        return pl.Series("rtok", [None] * n, dtype=pl.Utf8)
    toks = _tokens(feats, name_col).join(counts, on="tok", how="inner")
    best = toks.sort(["pidx", "n", "tok"]).group_by("pidx", maintain_order=True).first()
    return (
        pl.DataFrame({"pidx": pl.int_range(n, dtype=pl.UInt32, eager=True)})
        .join(best.select("pidx", "tok"), on="pidx", how="left")
        .sort("pidx")["tok"]
        .alias("rtok")
    )


def lookup(
    table: SortedKeys, rids: np.ndarray, keys: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (rid, pidx) of every record whose block has 1..cap people, and the rids over the cap."""
    # queries sorted first: binary searches then walk the index keys in order (cache friendly)
    q = _argsort(keys)
    keys, rids = keys[q], rids[q]
    lo = np.searchsorted(table.keys, keys, side="left")
    hi = np.searchsorted(table.keys, keys, side="right")
    n = hi - lo
    over = rids[n > cap]
    keep = (n > 0) & (n <= cap)
    lo, n, rids = lo[keep], n[keep], rids[keep]
    total = int(n.sum())
    if total == 0:
        return np.empty(0, np.uint32), np.empty(0, np.uint32), over
    ends = np.cumsum(n)
    pos = np.repeat(lo - (ends - n), n) + np.arange(total)  # lo..hi-1 for each record, flattened
    return np.repeat(rids, n).astype(np.uint32), table.pidx[pos], over


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

    pairs: pl.DataFrame  # (rid, pidx), de-duplicated, sorted by record
    pass_counts: dict[str, int]  # pairs per pass before de-duplication
    cap_hit: np.ndarray  # bool per record: some pass skipped because its block exceeded the cap
    hit: dict[str, np.ndarray]  # pass -> bool per record: the pass produced at least one pair


def generate_pairs(feats: pl.DataFrame, prepared: PreparedIndex, config: MatchConfig) -> Candidates:
    """Candidate pairs (rid, pidx) for a chunk of record features (``rid`` = row in ``feats``)."""
    n = feats.height
    cols = {c for spec in config.passes if spec.kind == "exact" for c in spec.record_keys}
    if any(spec.kind == "token" for spec in config.passes):
        feats = feats.with_columns(
            rarest_tokens(
                feats, next(s.record_keys[0] for s in config.passes if s.kind == "token"), prepared.token_counts
            )
        )
        cols |= {"rtok"} | {c for spec in config.passes if spec.kind == "token" for c in spec.record_keys[1:]}
    hashes = column_hashes(feats, cols)
    counts: dict[str, int] = {}
    hit: dict[str, np.ndarray] = {}
    cap_hit = np.zeros(n, dtype=bool)
    rid_parts: list[np.ndarray] = []
    pidx_parts: list[np.ndarray] = []
    for spec in config.passes:
        if spec.kind == "id_variants":
            skip = hit.get(spec.only_if_no_hit_in) if spec.only_if_no_hit_in else None
            rid, pidx = _id_variant_pass(feats, spec, prepared, skip)
        else:
            keys = ("rtok", *spec.record_keys[1:]) if spec.kind == "token" else spec.record_keys
            key, ok = combine(hashes, keys)
            rows = np.flatnonzero(ok)
            rid, pidx, over = lookup(prepared.passes[spec.name], rows, key[rows], spec.cap)
            cap_hit[over] = True
        counts[spec.name] = len(rid)
        mask = np.zeros(n, dtype=bool)
        mask[rid] = True
        hit[spec.name] = mask
        rid_parts.append(rid)
        pidx_parts.append(pidx)
    rid = np.concatenate(rid_parts) if rid_parts else np.empty(0, np.uint32)
    pidx = np.concatenate(pidx_parts) if pidx_parts else np.empty(0, np.uint32)
    # de-duplicate (rid, pidx) through one uint64 code, which also sorts by record
    code = pl.Series((rid.astype(np.uint64) << np.uint64(32)) | pidx.astype(np.uint64)).unique().sort().to_numpy()
    pairs = pl.DataFrame(
        {
            "rid": (code >> np.uint64(32)).astype(np.uint32),
            "pidx": (code & np.uint64(0xFFFFFFFF)).astype(np.uint32),
        }
    )
    return Candidates(pairs, counts, cap_hit, hit)


def _id_variant_pass(
    feats: pl.DataFrame, spec: PassSpec, prepared: PreparedIndex, skip: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Records (without a hit in ``skip``) paired with everyone one digit edit away from their ID."""
    empty = (np.empty(0, np.uint32), np.empty(0, np.uint32))
    ids = feats[spec.record_keys[0]]
    todo = ids.is_not_null().to_numpy()
    if skip is not None:
        todo &= ~skip
    rows = np.flatnonzero(todo)
    if rows.size == 0 or prepared.id_table is None:
        return empty
    pos, var = id_variants(ids.to_numpy()[rows])
    rid, pidx, _ = lookup(prepared.id_table, rows[pos], var.astype(np.int64).view(np.uint64), spec.cap)
    # a record close to many IDs is not informative: apply the same cap per record
    per = np.bincount(rid, minlength=feats.height)
    keep = per[rid] <= spec.cap
    return rid[keep], pidx[keep]
