"""Fuzzy comparisons computed once per distinct value pair, and the vectorised one-edit test for IDs,
give exactly what rapidfuzz gives pair by pair."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import OSA, JaroWinkler

from rules.matching import build_population_index
from rules.matching.compare import PREDICATES, _fuzzy_level, compare
from rules.matching.config import MatchConfig
from rules.matching.engine import comparison_columns
from rules.matching.features import record_features
from rules.matching.value_pairs import PairScores, distinct_pairs, osa_within_one, rapidfuzz_scorer
from tests.rules.matching_helpers import filler, record, records, register

JW = rapidfuzz_scorer(JaroWinkler.normalized_similarity)
NAMES = ["an", "anh", "thanh", "tan", "thuong", "tung", "pphung", "phuong", "minh", "minhquyy", None]


def _direct(a: list[str | None], b: list[str | None], scorer) -> np.ndarray:
    return np.array([np.nan if x is None or y is None else scorer(x, y) for x, y in zip(a, b, strict=True)])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(NAMES)), min_size=1, max_size=300))
def test_deduplicated_scores_equal_pair_by_pair(pairs):
    pairs = pairs * 3  # every value pair repeats: the sample shows it
    a = pl.Series("gk", [x for x, _ in pairs], dtype=pl.Utf8)
    b = pl.Series("gk", [y for _, y in pairs], dtype=pl.Utf8)
    scores = PairScores(a.to_frame(), b.to_frame(), min_pairs=1)
    assert scores.deduplicates("gk")
    idx = np.arange(len(pairs))
    got = scores.scores("gk", "jw", JW, idx)
    want = _direct(a.to_list(), b.to_list(), JaroWinkler.normalized_similarity)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=0, atol=1e-6)
    # a second level on a subset reuses the table and still answers per pair
    sub = idx[::2]
    np.testing.assert_array_equal(np.isnan(scores.scores("gk", "jw", JW, sub)), np.isnan(want[sub]))


def test_distinct_pairs_inverse_and_representatives():
    a = pl.Series(["x", "y", "x", None, "x", None])
    b = pl.Series(["p", "p", "p", "q", "q", "q"])
    inverse, first = distinct_pairs(a, b)
    assert len(first) == 4  # (x,p) (y,p) (None,q) (x,q)
    assert inverse[0] == inverse[2] and inverse[3] == inverse[5]
    assert len(set(inverse.tolist())) == 4
    rep = first[inverse]
    assert a.gather(rep).eq_missing(a).all() and b.gather(rep).eq_missing(b).all()


def test_distinct_values_keep_the_direct_path():
    ids = pl.Series("idn_s", [f"{i:012d}" for i in range(50_000)])
    other = pl.Series("idn_s", [f"{i + 7:012d}" for i in range(50_000)])
    assert not PairScores(ids.to_frame(), other.to_frame()).deduplicates("idn_s")


DIGITS = st.text(alphabet="0123456789", min_size=11, max_size=13)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(DIGITS | st.none(), DIGITS | st.none()), min_size=1, max_size=60), st.data())
def test_osa_within_one_equals_rapidfuzz(pairs, data):
    # near pairs too: a substitution, an adjacent swap, a deletion of the first side's value
    near = []
    for x, _ in pairs:
        if x is None:
            continue
        i = data.draw(st.integers(0, len(x) - 2))
        kind = data.draw(st.sampled_from(["sub", "swap", "del", "same"]))
        y = {
            "sub": x[:i] + str((int(x[i]) + 1) % 10) + x[i + 1 :],
            "swap": x[:i] + x[i + 1] + x[i] + x[i + 2 :],
            "del": x[:i] + x[i + 1 :],
            "same": x,
        }[kind]
        near.append((x, y))
    pairs = pairs + near
    a = pl.Series([x for x, _ in pairs], dtype=pl.Utf8)
    b = pl.Series([y for _, y in pairs], dtype=pl.Utf8)
    want = np.array([x is not None and y is not None and OSA.distance(x, y) <= 1 for x, y in pairs])
    np.testing.assert_array_equal(osa_within_one(a, b), want)


def test_compare_levels_same_with_and_without_deduplication():
    """The whole comparison vector of 60,000 pairs of a register's people with typos (names repeat,
    so the name parts go through the distinct-pair tables) equals the one computed on chunks too
    small for them (the direct path), level for level."""
    rng = np.random.default_rng(5)
    config = MatchConfig.default()
    people = filler(3000)
    index = build_population_index(register([], with_filler=False).vstack(register(people, with_filler=False)))

    def typo(name: str) -> str:
        i = int(rng.integers(0, len(name)))
        return name[:i] + name[i + 1 :] if rng.random() < 0.5 else name

    rows = [
        record(typo(p["full_name"]), p["date_of_birth"], p["gender"], national_id=p["person_id"], row=i)
        for i, p in enumerate(people)
    ]
    feats = record_features(records(rows))
    cols = [c for c in index.columns if c in comparison_columns(config)]
    n = 60_000
    lf = feats.select([c for c in feats.columns if c in comparison_columns(config)])[rng.integers(0, len(rows), n)]
    rf = index.select(cols)[rng.integers(0, index.height, n)]
    bulk = compare(lf, rf, config, index.height)
    assert PairScores(lf, rf).deduplicates("gk")
    small = [compare(lf.slice(s, 10_000), rf.slice(s, 10_000), config, index.height) for s in range(0, n, 10_000)]
    for comp in config.comparisons:
        np.testing.assert_array_equal(
            bulk.levels[comp.name], np.concatenate([c.levels[comp.name] for c in small]), err_msg=comp.name
        )


def test_a_score_exactly_at_the_level_hits_on_both_paths():
    """Jaro-Winkler("thanh", "tan") is 0.88 in rapidfuzz's float32: it meets ``arg: 0.88`` whether
    scored pair by pair or once per distinct pair (a float64 comparison would miss it)."""
    lv = next(lv for lv in MatchConfig.default().comparison("middle").levels if lv.when == "jw")
    assert lv.arg == 0.88
    n = 50_000
    lf, rf = pl.DataFrame({"mk": ["thanh"] * n}), pl.DataFrame({"mk": ["tan"] * n})
    idx = np.arange(n)
    scores = PairScores(lf, rf)
    assert scores.deduplicates("mk")
    assert _fuzzy_level(scores, lv, idx).all()
    direct = PairScores(lf, rf, min_pairs=10**9)  # never deduplicates: pair by pair
    assert not direct.deduplicates("mk")
    assert _fuzzy_level(direct, lv, idx).all()
    assert PREDICATES["jw"](lf, rf, lv, idx).all()
