"""The reconciliation identities of ``rules.reconcile``: they hold exactly when the counts add up."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from pipelines.rehearsal import max_overlap
from rules.reconcile import partition_checks, partition_table, queue_checks, table_checks

counts = st.integers(min_value=0, max_value=10_000)


@given(matched=counts, ambiguous=counts, unmatched=counts, rejected=counts, lost=st.integers(-3, 3))
def test_a_partition_reconciles_exactly_when_nothing_is_lost(matched, ambiguous, unmatched, rejected, lost):
    read = pl.DataFrame({"province": ["hue", "hue"], "sector": ["students"] * 2,
                         "rows_read": [matched + ambiguous, unmatched + rejected + lost]})  # two uploads
    rej = pl.DataFrame({"province": ["hue"], "sector": ["students"], "rows": [rejected]})
    decisions = pl.DataFrame({"province": ["hue"] * 4, "sector": ["students"] * 4,
                              "status": ["matched", "ambiguous", "unmatched", "rejected"],
                              "rows": [matched, ambiguous, unmatched, rejected]})  # carried rejects count once
    table = partition_table(read, rej, decisions)
    assert table.height == 1
    assert table["ok"][0] == (lost == 0)
    (check,) = partition_checks(table)
    assert check.ok == (lost == 0) and check.what == "hue/students"


def test_review_decisions_count_under_what_they_decided_and_unknown_statuses_fail():
    read = pl.DataFrame({"province": ["hue"], "sector": ["students"], "rows_read": [10]})
    rej = pl.DataFrame(schema={"province": pl.Utf8, "sector": pl.Utf8, "rows": pl.Int64})
    decisions = pl.DataFrame({"province": ["hue"] * 3, "sector": ["students"] * 3,
                              "status": ["matched_by_review", "rejected_by_review", "ambiguous"], "rows": [6, 3, 1]})
    row = partition_table(read, rej, decisions).row(0, named=True)
    assert (row["matched"], row["unmatched"], row["ambiguous"], row["rejected"], row["ok"]) == (6, 3, 1, 0, True)
    odd = decisions.with_columns(pl.lit("mystery").alias("status"))
    assert partition_table(read, rej, odd)["ok"].to_list() == [False]


def test_a_partition_missing_on_one_side_shows_with_zeros_and_fails():
    read = pl.DataFrame({"province": ["hue"], "sector": ["students"], "rows_read": [5]})
    empty = pl.DataFrame(schema={"province": pl.Utf8, "sector": pl.Utf8, "rows": pl.Int64})
    decisions = pl.DataFrame(schema={"province": pl.Utf8, "sector": pl.Utf8, "status": pl.Utf8, "rows": pl.Int64})
    assert partition_table(read, empty, decisions).select("rows_read", "matched", "ok").row(0) == (5, 0, False)


@given(answered=counts, in_flight=counts, waiting=counts, withdrawn=counts)
def test_the_queue_identity_and_the_quota(answered, in_flight, waiting, withdrawn):
    states = {"verified": answered, "sent": in_flight, "pending": waiting, "withdrawn": withdrawn}
    days = pl.DataFrame({"day": ["2026-11-30"], "quota": [answered], "allocated": [answered],
                         "answered": [answered]})
    assert all(c.ok for c in queue_checks(states, days))
    over = days.with_columns(pl.col("answered") + 1, pl.col("allocated") + 1)
    assert [c.ok for c in queue_checks(states, over)] == [True, False]
    assert not queue_checks({**states, "limbo": 1}, days)[0].ok


def test_warehouse_rows_equal_lake_rows():
    assert [c.ok for c in table_checks({"uploads": (3, 3), "match_decisions": (9, 10)})] == [True, False]


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(1, 20)), min_size=1, max_size=20))
def test_max_overlap_is_the_most_intervals_open_at_once(raw):
    spans = [(float(s), float(s + d)) for s, d in raw]
    brute = max(sum(1 for a, b in spans if a <= t < b) for t in {s for s, _ in spans})
    assert max_overlap(spans) == brute
