"""Candidate generation: several exact-key passes, each bounded by a per-record cap.

A pass looks records up in the index on a key (column hashes combined into one uint64). The index's
keys are sorted once per pass, so a block is a slice found by binary search (no hash table rebuilt per
chunk, no join against the whole register). A record whose block exceeds the pass's cap gets no pairs
from that pass (flag ``candidate_cap_hit``) instead of thousands, so the number of pairs, and the
memory they take, is bounded by records x sum(caps) whatever the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from rules.matching.config import MatchConfig, PassSpec

_POW10 = 10 ** np.arange(12, dtype=np.int64)

# Blocking keys derived from feature columns, computed on both sides only when a pass names them.
# Why: a wrong digit in the birth year (or a missing year) must not stop every date key, and a typo
# inside a given name rarely touches its first letter.
DERIVED_KEYS: dict[str, pl.Expr] = {
    "md": pl.col("dobs").str.slice(4, 4),  # month + day of a full birth date (year wrong or missing)
    "gi": pl.col("gk").str.slice(0, 1),  # the given name's initial
}


def with_derived(df: pl.DataFrame, cols: set[str]) -> pl.DataFrame:
    """``df`` with the derived key columns among ``cols`` added (those it lacks)."""
    add = [DERIVED_KEYS[c].alias(c) for c in sorted(cols) if c in DERIVED_KEYS and c not in df.columns]
    return df.with_columns(add) if add else df


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
    _filter: tuple[np.ndarray, np.uint64] | None = field(default=None, repr=False, compare=False)

    def bit_filter(self) -> tuple[np.ndarray, np.uint64]:
        """(slots, shift): the one-hash bit filter of ``keys`` (``_may_exist``), built on first use and
        kept: every chunk of a run looks its ID variants up in the same table."""
        if self._filter is None:
            bits = int(min(27, max(10, np.ceil(np.log2(max(len(self.keys), 1) * 16)))))
            shift = np.uint64(64 - bits)
            seen = np.zeros(1 << bits, dtype=bool)
            with np.errstate(over="ignore"):
                seen[(np.asarray(self.keys, dtype=np.uint64) * _MIX) >> shift] = True
            self._filter = (seen, shift)
        return self._filter


@dataclass
class PreparedIndex:
    """Per-pass sorted index keys, computed once per index and reused for every chunk."""

    passes: dict[str, SortedKeys]
    id_table: SortedKeys | None  # sorted 12-digit IDs for id_variants passes
    token_counts: pl.DataFrame | None = None  # (tok hash, n): register count of each name token (token passes)
    hh_hash: tuple[np.ndarray, np.ndarray] | None = None  # household hash per index row, and where defined
    given_hash: np.ndarray | None = None  # given-name hash per index row (id_household passes)


def _argsort(values: np.ndarray) -> np.ndarray:
    """Argsort of uint64 keys with polars (multi-threaded; numpy sorts on one core)."""
    return pl.Series(values).arg_sort().to_numpy()


def _sorted(keys: np.ndarray, ok: np.ndarray) -> SortedKeys:
    """Keys where ``ok``, sorted, with their index rows (one multi-threaded polars sort)."""
    rows = np.arange(len(keys), dtype=np.uint32)
    if not ok.all():
        keys, rows = keys[ok], rows[ok]
    df = pl.DataFrame({"k": keys, "p": rows}).sort("k")
    return SortedKeys(df["k"].to_numpy(), df["p"].to_numpy())


def _id_table(index: pl.DataFrame, col: str) -> SortedKeys:
    ids = index[col]
    ok = ids.is_not_null().to_numpy()
    return _sorted(ids.fill_null(0).cast(pl.Int64).to_numpy().view(np.uint64), ok)


def prepare_index(index: pl.DataFrame, config: MatchConfig) -> PreparedIndex:
    cols = {c for spec in config.passes if spec.kind == "exact" for c in spec.index_keys}
    index = with_derived(index, cols)
    hashes = column_hashes(index, cols)
    passes: dict[str, SortedKeys] = {}
    id_table = None
    token_counts = None
    hh_hash = None
    given_hash = None
    token_memo: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for spec in config.passes:
        if spec.kind in ("id_variants", "id_household") and id_table is None:
            id_table = _id_table(index, spec.index_keys[0])
        if spec.kind == "id_variants":
            continue
        if spec.kind == "id_household":
            # everyone sharing a household with the holder of the record's ID, sorted by household
            hh_hash = column_hashes(index, {spec.index_keys[-1]})[spec.index_keys[-1]]
            given_hash = column_hashes(index, {"gk"})["gk"][0] if "gk" in index.columns else None
            passes[spec.name] = _sorted(*hh_hash)
            continue
        if spec.kind == "token":
            name_col = spec.index_keys[0]
            if name_col not in token_memo:  # several token passes share one tokenisation
                token_memo[name_col] = token_hashes(index, name_col)
            tok_hash, tok_ok, tok_row = token_memo[name_col]
            if token_counts is None:
                token_counts = (
                    pl.DataFrame({"tok": tok_hash[tok_ok]}).group_by("tok").agg(pl.len().cast(pl.UInt32).alias("n"))
                )
            rest = column_hashes(index, set(spec.index_keys[1:]))
            rest_hash = {c: (h[tok_row], m[tok_row]) for c, (h, m) in rest.items()}
            key, ok = combine({"tok": (tok_hash, tok_ok), **rest_hash}, ("tok", *spec.index_keys[1:]))
            st = _sorted(key, ok)
            st.pidx = tok_row[st.pidx].astype(np.uint32)
            passes[spec.name] = st
            continue
        passes[spec.name] = _sorted(*combine(hashes, spec.index_keys))
    return PreparedIndex(passes, id_table, token_counts, hh_hash, given_hash)


MAX_TOKENS = 6  # name tokens looked at per person (Vietnamese names have 2-5)


def token_hashes(frame: pl.DataFrame, name_col: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hash of each name token of each row, flattened: (uint64 hash, token present, row).

    Tokens by position (at most ``MAX_TOKENS``), hashed column by column, so no exploded string frame
    is built for a 10M-person register. The same hash (seed 7) is used for the records' tokens.
    """
    parts = frame.select(pl.col(name_col).str.split_exact(" ", MAX_TOKENS - 1).alias("s")).unnest("s")
    n = frame.height
    hashes, oks, rows = [], [], []
    ar = np.arange(n, dtype=np.int64)
    for c in parts.columns[:MAX_TOKENS]:
        s = parts[c]
        hashes.append(s.hash(seed=7).to_numpy().astype(np.uint64, copy=False))
        oks.append((s.is_not_null() & (s != "")).fill_null(False).to_numpy())
        rows.append(ar)
    if not hashes:
        return np.zeros(0, np.uint64), np.zeros(0, bool), np.zeros(0, np.int64)
    return np.concatenate(hashes), np.concatenate(oks), np.concatenate(rows)


def rarest_tokens(feats: pl.DataFrame, name_col: str, counts: pl.DataFrame | None) -> pl.Series:
    """Per row, the token of its name that fewest register people carry (among tokens the register has).

    Why: a blocking key on the rarest token survives any token order, an extra token (a nickname, a
    note) and a typo in the other tokens. Ties go to the alphabetically first token (deterministic).
    """
    n = feats.height
    if counts is None or n == 0:
        return pl.Series("rtok", [None] * n, dtype=pl.Utf8)
    toks = (
        feats.select(pl.col(name_col).str.split(" ").alias("t"))
        .with_row_index("row")
        .explode("t")
        .filter(pl.col("t").is_not_null() & (pl.col("t") != ""))
    )
    toks = toks.with_columns(pl.col("t").hash(seed=7).alias("tok")).join(counts, on="tok", how="inner")
    best = toks.sort(["row", "n", "t"]).group_by("row", maintain_order=True).first()
    return (
        pl.DataFrame({"row": pl.int_range(n, dtype=pl.UInt32, eager=True)})
        .join(best.select("row", "t"), on="row", how="left")
        .sort("row")["t"]
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
    feats = with_derived(feats, cols)
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
        elif spec.kind == "id_household":
            rid, pidx = _id_household_pass(feats, spec, prepared)
        else:
            keys = ("rtok", *spec.record_keys[1:]) if spec.kind == "token" else spec.record_keys
            key, ok = combine(hashes, keys)
            for name in spec.skip_if_hit_in:
                ok &= ~hit[name]
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


def _may_exist(table: SortedKeys, queries: np.ndarray) -> np.ndarray:
    """False for queries certainly absent from ``table`` (a one-hash bit filter, ~16 slots per key).

    Why: ~120 variants per ID are looked up and almost none exist; sorting and binary-searching them
    all cost more than the rest of blocking. The filter only drops absent keys, so ``lookup`` on the
    survivors finds exactly what it would find on all of them.
    """
    seen, shift = table.bit_filter()
    with np.errstate(over="ignore"):
        return seen[(queries * _MIX) >> shift]


def _present_variants(table: SortedKeys, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The one-edit variants of ``ids`` (``id_variants``) that may be someone's ID in ``table``: (position
    in ``ids``, variant as uint64). Most variants are nobody's ID; the bit filter drops them cheaply."""
    pos, var = id_variants(ids)
    queries = var.astype(np.int64).view(np.uint64)
    maybe = _may_exist(table, queries)
    return pos[maybe], queries[maybe]


def id_neighbour_rate(table: SortedKeys, sample: np.ndarray) -> float:
    """Mean number of IDs in ``table`` one digit substitution or adjacent transposition away from each
    ID of ``sample`` (uint64 12-digit IDs, usually drawn from ``table`` itself): the register's ID
    density that ``u`` of the one-edit ID level stands for (``estimate.register_u``).

    Why here: the same variants and lookups as the ``id_variants`` pass, so the level's u counts
    exactly the relation the pass finds. A variant is never the ID itself, so a person does not count
    as their own neighbour. Returns 0.0 for an empty sample.
    """
    if len(sample) == 0 or len(table.keys) == 0:
        return 0.0
    _, queries = _present_variants(table, np.asarray(sample, dtype=np.uint64).view(np.int64))
    found = np.searchsorted(table.keys, queries, side="right") - np.searchsorted(table.keys, queries, side="left")
    return float(found.sum()) / len(sample)


def _id_household_pass(feats: pl.DataFrame, spec: PassSpec, prepared: PreparedIndex) -> tuple[np.ndarray, np.ndarray]:
    """Records paired with the household of the register person holding their ID (at most ``cap`` people).

    Why: a school list often carries a parent's or a twin's ID in the child's row; the child is then in
    the ID holder's household, even when the row's name and date are too damaged for the name passes.
    Only rows whose given name is not the holder's are looked at (a row that names the ID's holder
    needs no other candidate), which keeps the pass to the rows it is for.
    """
    empty = (np.empty(0, np.uint32), np.empty(0, np.uint32))
    ids = feats[spec.record_keys[0]]
    rows = np.flatnonzero(ids.is_not_null().to_numpy())
    if rows.size == 0 or prepared.id_table is None or prepared.hh_hash is None:
        return empty
    vals = ids.fill_null(0).cast(pl.Int64).to_numpy()[rows].view(np.uint64)
    rid, holder, _ = lookup(prepared.id_table, rows, vals, 1)  # an ID held by one person only
    hh, hh_ok = prepared.hh_hash
    ok = hh_ok[holder]
    if prepared.given_hash is not None and "gk" in feats.columns:
        g = feats["gk"]
        g_hash = g.hash(seed=7).to_numpy().astype(np.uint64, copy=False)
        ok &= ~(g.is_not_null().to_numpy()[rid] & (g_hash[rid] == prepared.given_hash[holder]))
    if not ok.any():
        return empty
    rid, pidx, _ = lookup(prepared.passes[spec.name], rid[ok], hh[holder[ok]], spec.cap)
    return rid, pidx


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
    pos, queries = _present_variants(prepared.id_table, ids.to_numpy()[rows])
    rid, pidx, _ = lookup(prepared.id_table, rows[pos], queries, spec.cap)
    # a record close to many IDs is not informative: apply the same cap per record
    per = np.bincount(rid, minlength=feats.height)
    keep = per[rid] <= spec.cap
    return rid[keep], pidx[keep]
