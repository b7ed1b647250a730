"""Scores of string comparisons computed once per distinct (record value, candidate value) pair.

Why: name parts repeat. The 10M-person register holds a few hundred distinct given, middle and
family names, so the ~10M candidate pairs of a 1M-row run hold only ~1-5 % distinct value pairs
of each name part. Scoring each distinct pair once, and sharing the scores between a comparison's
levels (Jaro-Winkler >= 0.9 and >= 0.8 on the same given names), replaces most of the fuzzy
levels' cost by one hash, one dense rank and one gather per column. Columns whose values barely
repeat (IDs, whole names, dates) are recognised from a sample and keep the direct path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
from rapidfuzz import process
from rapidfuzz.distance import OSA

#: A scorer over aligned lists of strings (both non-null) -> float per pair.
ListScorer = Callable[[list[str], list[str]], np.ndarray]

#: Dedupe a column only when a sample shows at most this share of distinct value pairs.
MAX_DISTINCT_SHARE = 0.5
SAMPLE_PAIRS = 20_000


def rapidfuzz_scorer(scorer) -> ListScorer:
    """``scorer`` (a rapidfuzz distance or similarity) over aligned lists, in C (``cpdist``)."""

    def run(a: list[str], b: list[str]) -> np.ndarray:
        return process.cpdist(a, b, scorer=scorer, workers=1).astype(np.float64)

    return run


@dataclass
class _Distinct:
    """Distinct value pairs of one column: ``inverse[i]`` is pair i's distinct pair, ``a``/``b`` the
    distinct pairs' values (null where null); ``scores``/``done`` per scorer name, per distinct pair."""

    inverse: np.ndarray
    a: pl.Series
    b: pl.Series
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    done: dict[str, np.ndarray] = field(default_factory=dict)


def distinct_pairs(a: pl.Series, b: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(inverse, first) of the distinct (a[i], b[i]) pairs, exactly (a hash collision is detected by
    comparing the values and the colliding pairs become distinct pairs of their own).

    ``inverse``: int64 per pair in [0, k); ``first``: int64 per distinct pair, a position holding it.
    """
    n = len(a)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    h = pl.DataFrame({"a": a, "b": b}).select(pl.struct("a", "b").hash(seed=7)).to_series()
    inverse = h.rank("dense").cast(pl.Int64).to_numpy() - 1
    k = int(inverse.max()) + 1
    first = np.empty(k, dtype=np.int64)
    first[inverse[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)  # the last write is the first position
    rep = first[inverse]
    same = a.gather(rep).eq_missing(a) & b.gather(rep).eq_missing(b)
    clash = np.flatnonzero(~same.to_numpy())
    if clash.size:  # 64-bit hash collision: those pairs are scored on their own
        inverse = inverse.copy()
        inverse[clash] = k + np.arange(clash.size)
        first = np.concatenate([first, clash])
    return inverse, first


class PairScores:
    """Per compare call: for ``lf[col]`` against ``rf[col]`` (aligned pairs), scores by scorer name,
    computed once per distinct value pair where the column's values repeat (see module doc)."""

    def __init__(self, lf: pl.DataFrame, rf: pl.DataFrame, min_pairs: int = 2 * SAMPLE_PAIRS) -> None:
        self.lf = lf
        self.rf = rf
        self._min_pairs = min_pairs  # below this, deduplicating costs more than it saves
        self._distinct: dict[str, _Distinct | None] = {}

    def _for(self, col: str) -> _Distinct | None:
        if col in self._distinct:
            return self._distinct[col]
        a, b = self.lf[col], self.rf[col]
        found: _Distinct | None = None
        n = len(a)
        if n >= self._min_pairs and a.dtype == pl.Utf8 and b.dtype == pl.Utf8:
            step = max(n // SAMPLE_PAIRS, 1)
            sample = pl.DataFrame({"a": a.gather_every(step), "b": b.gather_every(step)})
            if sample.n_unique() <= MAX_DISTINCT_SHARE * sample.height:
                inverse, first = distinct_pairs(a, b)
                found = _Distinct(inverse, a.gather(first), b.gather(first))
        self._distinct[col] = found
        return found

    def deduplicates(self, col: str) -> bool:
        """Whether ``col``'s scores are computed once per distinct value pair."""
        return self._for(col) is not None

    def scores(self, col: str, name: str, scorer: ListScorer, idx: np.ndarray) -> np.ndarray:
        """``scorer`` of ``lf[col][idx]`` against ``rf[col][idx]``: float per pair, NaN where either is null."""
        d = self._for(col)
        if d is None:
            return score_series(self.lf[col].gather(idx), self.rf[col].gather(idx), scorer)
        if name not in d.scores:
            d.scores[name] = np.full(len(d.a), np.nan)
            d.done[name] = np.zeros(len(d.a), dtype=bool)
        table, done = d.scores[name], d.done[name]
        need = d.inverse[idx]
        todo = np.flatnonzero(np.bincount(need[~done[need]], minlength=len(d.a)))
        if todo.size:
            table[todo] = score_series(d.a.gather(todo), d.b.gather(todo), scorer)
            done[todo] = True
        return table[need]


def score_series(a: pl.Series, b: pl.Series, scorer: ListScorer) -> np.ndarray:
    """``scorer`` of aligned ``a`` and ``b``: float per pair, NaN where either is null."""
    out = np.full(len(a), np.nan)
    ok = (a.is_not_null() & b.is_not_null()).to_numpy()
    if ok.any():
        m = pl.Series(ok)
        out[ok] = scorer(a.filter(m).to_list(), b.filter(m).to_list())
    return out


def osa_within_one(a: pl.Series, b: pl.Series) -> np.ndarray:
    """Per aligned pair: optimal string alignment distance <= 1 (equal, one substitution or one
    swap of adjacent characters, or one insertion or deletion); False where either side is null.

    Why: the ID comparison asks this of ~8M pairs at 10M x 1M and IDs are all distinct, so there is
    nothing to deduplicate. Pairs of ASCII strings of the most common length (12-digit CCCD numbers)
    are compared as byte matrices in numpy; the rest go through rapidfuzz.
    """
    n = len(a)
    out = np.zeros(n, dtype=bool)
    if n == 0:
        return out
    la, lb = a.str.len_bytes(), b.str.len_bytes()
    common = la.drop_nulls().mode()
    width = int(common.sort()[0]) if len(common) else 0
    fast = np.zeros(n, dtype=bool)
    if width > 0:
        fast = (
            ((la == width) & (lb == width) & (a.str.len_chars() == width) & (b.str.len_chars() == width))
            .fill_null(False)
            .to_numpy()
        )
    if fast.any():
        m = pl.Series(fast)
        x, y = _byte_matrix(a.filter(m), width), _byte_matrix(b.filter(m), width)
        diff = x != y
        count = diff.sum(axis=1)
        swap = (diff[:, :-1] & diff[:, 1:] & (x[:, :-1] == y[:, 1:]) & (x[:, 1:] == y[:, :-1])).any(axis=1)
        out[fast] = (count <= 1) | ((count == 2) & swap)
    rest = ~fast & (a.is_not_null() & b.is_not_null()).to_numpy()
    if rest.any():
        m = pl.Series(rest)
        out[rest] = score_series(a.filter(m), b.filter(m), _OSA) <= 1
    return out


_OSA = rapidfuzz_scorer(OSA.distance)


def _byte_matrix(s: pl.Series, width: int) -> np.ndarray:
    """len(s) x width uint8: the bytes of strings that all have ``width`` bytes (no nulls)."""
    arr = s.to_arrow().cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offs = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    return data[offs[0] : offs[-1]].reshape(len(arr), width)
