"""The benchmark's trade-off diagnostic: the most recall one threshold on a ranking could give at a
precision floor (scoring only). Checked against a brute force over every threshold."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.scoring import Tradeoff, best_tradeoff, harsh_targets, tradeoff_text


def _frame(rows):
    """rows: (proposed, truth, score, n_errors)."""
    proposed, truth, scores, errors = zip(*rows, strict=True) if rows else ((), (), (), ())
    t = pl.DataFrame(
        {"person_id": list(truth), "n_errors": list(errors), "sector": ["s"] * len(rows)},
        schema={"person_id": pl.Utf8, "n_errors": pl.Int64, "sector": pl.Utf8},
    )
    return pl.Series(list(proposed), dtype=pl.Utf8), pl.Series(list(scores), dtype=pl.Float64), t


def _brute(rows, level_errors: set[int], floor: float) -> float:
    n_true = sum(1 for _p, t, _s, e in rows if t is not None and e in level_errors)
    best = 0.0
    for tau in sorted({s for p, _t, s, _e in rows if p is not None}):
        decided = [(p, t, e) for p, t, s, e in rows if p is not None and s >= tau]
        tp = sum(1 for p, t, _e in decided if p == t)
        if decided and tp >= floor * len(decided) and n_true:
            best = max(best, sum(1 for p, t, e in decided if p == t and e in level_errors) / n_true)
    return best


row = st.tuples(
    st.one_of(st.none(), st.sampled_from(["a", "b"])),
    st.one_of(st.none(), st.sampled_from(["a", "b"])),
    st.sampled_from([0.5, 0.9, 0.95, 0.99, 1.0]),
    st.integers(0, 4),
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(row, max_size=30), floor=st.sampled_from([0.5, 0.8, 1.0]))
def test_best_tradeoff_equals_brute_force_over_every_threshold(rows, floor):
    proposed, scores, truth = _frame(rows)
    got = best_tradeoff(proposed, scores, truth, "s", "2-3", floor)
    assert abs(got.recall - _brute(rows, {2, 3}, floor)) < 1e-12


def test_a_target_a_threshold_would_reach_says_so_and_one_it_would_not_says_the_evidence_limits_it():
    # four right rows at 0.99 (two with 2 errors), one wrong at 0.95, one right with 3 errors at 0.9
    rows = [("a", "a", 0.99, 2), ("b", "b", 0.99, 2), ("c", "c", 0.99, 0), ("d", "d", 0.99, 0),
            ("e", "x", 0.95, 1), ("f", "f", 0.9, 3)]
    proposed, scores, truth = _frame(rows)
    t = best_tradeoff(proposed, scores, truth, "s", "2-3", 0.999)
    assert t == Tradeoff(2 / 3, 0.99, 4)  # going lower lets the wrong row in
    assert "the evidence, not the decision rule" in tradeoff_text(t, 0.9)
    assert "would give R = 0.66667" in tradeoff_text(t, 0.5)


def test_harsh_targets_add_the_tradeoff_only_to_recall_targets_not_met():
    from benchmarks.scoring import breakdown

    truth = pl.DataFrame(
        {"person_id": ["a", "b", "c"], "n_errors": [2, 2, 0], "sector": ["s", "s", "t"]},
    )
    b = breakdown(pl.Series(["a", None, "c"], dtype=pl.Utf8), truth)
    lines = dict((w, why) for w, _m, why in harsh_targets(b, {("s", "2-3"): Tradeoff(0.5, 0.97, 1)}))
    assert "evidence, not the decision rule" in lines["s: recall 2-3 >= 0.9"]
    assert lines["t: recall clean >= 0.999"] == "R = 1.00000"
