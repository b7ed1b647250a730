"""Decisions: staleness per row, idempotent import, every ambiguous row in exactly one state; labels."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.review import (
    apply_decisions,
    blend_m,
    build_blocks,
    candidate_people,
    empty_ledger,
    evaluate,
    fingerprints,
    precision_band,
    remaining_queue,
    threshold_what_if,
)
from rules.review.reader import ParsedWorkbook
from tests.rules.review_helpers import situation

STATES = {"ambiguous", "matched_by_review", "rejected_by_review"}


def _parsed(queue, records, register, picks: dict[str, tuple[str, int | None]]) -> ParsedWorkbook:
    people = candidate_people(register, queue["candidate_id"])
    _, blocks = build_blocks(queue, records, people, "Hồ Chí Minh")
    choices = pl.DataFrame([{"block": b, "decision": d, "rank": r, "notes": None, "excel_row_review": 6}
                            for b, (d, r) in picks.items()],
                           schema={"block": pl.Utf8, "decision": pl.Utf8, "rank": pl.Int64, "notes": pl.Utf8,
                                   "excel_row_review": pl.Int64})
    meta = {"province": "ho_chi_minh", "sector": "students", "workbook_id": "w", "exported_at": "t"}
    return ParsedWorkbook(meta=meta, reviewer="A", blocks=blocks.with_columns(pl.col("n_candidates").cast(pl.Int64)),
                          choices=choices)


def _import(parsed, queue, register, results, ledger, at=None):
    fp = fingerprints(queue, candidate_people(register, queue["candidate_id"]))
    ev = evaluate(parsed, queue, fp, results, ledger, import_id="i", decided_at=at or datetime.now(UTC),
                  workbook_sha256="s", file_label="wb.xlsx")
    ledger = pl.concat([ledger, ev.new], how="vertical_relaxed")
    results = apply_decisions(results, fp, ledger)
    return ev, ledger, results, remaining_queue(queue, results)


def test_decisions_apply_and_a_second_import_changes_nothing():
    queue, records, register, results = situation()
    picks = {"B0001": ("match", 2), "B0002": ("none", None), "B0003": ("unsure", None)}
    parsed = _parsed(queue, records, register, picks)
    ev, ledger, res1, q1 = _import(parsed, queue, register, results, empty_ledger())
    assert ev.counts()["applied"] == 2 and ev.counts()["unsure_recorded"] == 1
    by_row = dict(res1.select("row_number", "status").iter_rows())
    assert by_row[1] == "matched_by_review" and by_row[2] == "rejected_by_review" and by_row[3] == "ambiguous"
    assert res1.filter(pl.col("row_number") == 1)["person_id"][0] == "079215000002"
    assert res1.filter(pl.col("row_number") == 2)["person_id"][0] is None
    assert set(res1["status"]) <= STATES and res1.height == results.height
    assert q1.select("row_number").n_unique() == 6  # decided rows left the queue; the "not sure" one stays
    ev2, ledger2, res2, _ = _import(parsed, q1, register, res1, ledger)
    assert ev2.new.height == 0 and ev2.counts()["already_imported"] == 3
    assert ledger2.height == ledger.height and res2.equals(res1)


def test_a_stale_workbook_is_refused_only_for_the_rows_that_changed():
    queue, records, register, results = situation()
    parsed = _parsed(queue, records, register, {"B0001": ("match", 1), "B0002": ("match", 1), "B0003": ("none", None)})
    # after the export: the register changes a candidate of row 1; a match run compares row 2 differently
    # (a field now agrees at another level); row 3 is only rescored (re-estimated parameters: not stale)
    register2 = register.with_columns(
        pl.when(pl.col("person_id") == "079215000002").then(pl.lit("Nữ")).otherwise(pl.col("gender")).alias("gender"))
    queue2 = queue.with_columns(
        pl.when(pl.col("row_number") == 2).then(pl.col("candidate_reason") + "x")
        .otherwise(pl.col("candidate_reason")).alias("candidate_reason"),
        pl.when(pl.col("row_number") == 3).then(pl.col("candidate_score") - 0.05)
        .otherwise(pl.col("candidate_score")).alias("candidate_score"))
    ev, _, res, _ = _import(parsed, queue2, register2, results, empty_ledger())
    outcome = dict(ev.outcomes.iter_rows())
    assert outcome == {"B0001": "stale_register", "B0002": "stale_match", "B0003": "applied"}
    assert len(ev.messages) == 2 and all("refused" in m and "review it again" in m for m in ev.messages)
    assert dict(res.select("row_number", "status").iter_rows())[1] == "ambiguous"


def test_decisions_survive_a_rerun_of_matching_unless_the_row_changed():
    queue, records, register, results = situation()
    parsed = _parsed(queue, records, register, {"B0001": ("match", 1), "B0002": ("none", None)})
    _, ledger, _, _ = _import(parsed, queue, register, results, empty_ledger())
    # a re-run: the engine says ambiguous again for both; row 2's candidates changed
    queue2 = queue.with_columns(pl.when(pl.col("row_number") == 2).then(pl.lit("079215999999"))
                                .otherwise(pl.col("candidate_id")).alias("candidate_id"))
    rerun = apply_decisions(results, fingerprints(queue2, candidate_people(register, queue2["candidate_id"])), ledger)
    status = dict(rerun.select("row_number", "status").iter_rows())
    assert status[1] == "matched_by_review" and status[2] == "ambiguous"


def test_first_decision_wins_and_a_later_contradiction_is_reported():
    queue, records, register, results = situation()
    first = _parsed(queue, records, register, {"B0001": ("match", 1)})
    _, ledger, res, q = _import(first, queue, register, results, empty_ledger())
    second = _parsed(queue, records, register, {"B0001": ("none", None)})  # an older copy of the workbook
    ev, _ledger2, res2, _ = _import(second, q, register, res, ledger)
    assert dict(ev.outcomes.iter_rows())["B0001"] == "already_decided"
    assert res2.filter(pl.col("row_number") == 1)["status"][0] == "matched_by_review"


def _ledger(reasons_and_ranks: list[tuple[str, int | None, float]]) -> pl.DataFrame:
    rows = []
    for i, (reason, rank, best) in enumerate(reasons_and_ranks):
        rows.append({"file_sha256": "f", "sheet": "", "row_number": i, "fp_match": "a", "fp_register": "b",
                     "decision": "match" if rank else "none", "chosen_rank": rank,
                     "chosen_reason": reason if rank else None,
                     "best_score": best, "decided_at": datetime(2026, 11, 20, tzinfo=UTC)})
    return pl.concat([empty_ledger(), pl.DataFrame(rows)], how="diagonal_relaxed")


M_EM = pl.DataFrame({"comparison": ["dob", "dob", "dob"], "level": ["exact", "year_only", "disagree"],
                     "m": [0.9, 0.05, 0.05]})


def test_labels_move_m_towards_what_reviewers_confirmed():
    """Reviewers confirm many matches whose birth date is known only to the year: m(year_only) rises
    above the unsupervised 0.05, m(exact) falls, and more labels move it further."""
    few = _ledger([("dob=year_only", 1, 0.9)] * 10 + [("dob=exact", 1, 0.9)] * 10)
    many = _ledger([("dob=year_only", 1, 0.9)] * 500 + [("dob=exact", 1, 0.9)] * 500)
    b_few = dict(blend_m(M_EM, few, 50).select("level", "m_blended").iter_rows())
    b_many = dict(blend_m(M_EM, many, 50).select("level", "m_blended").iter_rows())
    assert 0.05 < b_few["year_only"] < b_many["year_only"] < 0.5
    assert 0.9 > b_few["exact"] > b_many["exact"] > 0.5
    assert abs(sum(b_many.values()) - 1.0) < 1e-9  # a distribution stays a distribution
    none = dict(blend_m(M_EM, empty_ledger(), 50).select("level", "m_blended").iter_rows())
    assert none == {"exact": 0.9, "year_only": 0.05, "disagree": 0.05}


@settings(max_examples=50, deadline=None)
@given(n_year=st.integers(0, 300), n_exact=st.integers(0, 300), k=st.floats(0.5, 500))
def test_blended_m_lies_between_the_estimate_and_the_labels(n_year, n_exact, k):
    ledger = _ledger([("dob=year_only", 1, 0.9)] * n_year + [("dob=exact", 1, 0.9)] * n_exact)
    out = blend_m(M_EM, ledger, k)
    for r in out.iter_rows(named=True):
        lo, hi = sorted([r["m_em"], r["m_lab"] if r["m_lab"] is not None else r["m_em"]])
        assert lo - 1e-12 <= r["m_blended"] <= hi + 1e-12


def test_precision_band_and_what_if_use_reviewed_rows():
    # 10 reviewed rows with best score 0.95: 8 confirmed the best candidate, 2 none of them
    ledger = _ledger([("dob=exact", 1, 0.95)] * 8 + [("dob=exact", None, 0.95)] * 2)
    p = precision_band(ledger, (0.9, 1.0))
    assert p["reviewed"] == 10 and p["best_confirmed"] == 8 and abs(p["precision"] - 0.8) < 1e-12
    assert p["ci_low"] < 0.8 < p["ci_high"]
    results = pl.DataFrame({"status": ["unmatched"] * 4 + ["matched"], "score": [0.96, 0.955, 0.85, 0.3, 0.999],
                            "runner_up_score": [None, 0.1, None, None, None]})
    w = threshold_what_if(results, ledger, (0.95, 0.8), 0.99, 4.0, (0.5, 0.9, 0.99, 1.0)).to_dicts()
    assert w[0]["extra_matches"] == 2 and abs(w[0]["est_wrong"] - 0.4) < 1e-9  # measured 20% error in the bin
    assert w[1]["extra_matches"] == 3 and abs(w[1]["est_wrong"] - (0.4 + 0.15)) < 1e-9  # model's 1-p below 0.9
