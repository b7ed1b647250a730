"""Metadata builders: Dagster tables and markdown charts that add up, and carry codes and counts only."""

from __future__ import annotations

import dagster as dg
import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from assets.metadata import count_table, histogram_md, reason_counts, reason_histogram, score_bins, score_distribution


def test_count_table_is_a_dagster_table_sorted_by_rows_with_shares():
    table = count_table([{"flag": "id_corrected", "count": 3}, {"flag": "dob_swapped", "count": 7}], "flag",
                        total=20)
    assert isinstance(table, dg.TableMetadataValue)
    assert [c.name for c in table.schema.columns] == ["flag", "rows", "share"]
    assert [r.data for r in table.records] == [{"flag": "dob_swapped", "rows": 7, "share": "35.0%"},
                                               {"flag": "id_corrected", "rows": 3, "share": "15.0%"}]


def test_reasons_joined_in_one_row_count_once_each_and_the_histogram_names_them():
    quarantined = pl.DataFrame({"reason_code": ["missing_name;unparseable_date", "missing_name",
                                                "missing_name;missing_name"],
                                "full_name": ["Nguyễn Văn A", "Trần Thị B", "Lê C"]})
    assert reason_counts(quarantined) == {"missing_name": 3, "unparseable_date": 1}
    text = reason_histogram(quarantined).value
    assert "missing_name" in text and "█" in text
    assert not any(name in text for name in ("Nguyễn", "Trần", "Lê"))  # codes and counts, never values
    assert "no row rejected" in reason_histogram(quarantined.clear()).value


@given(st.lists(st.tuples(st.floats(0, 1), st.sampled_from(["matched", "ambiguous", "unmatched"])), max_size=200))
def test_score_bins_hold_every_row_once(rows):
    results = pl.DataFrame(rows, schema={"score": pl.Float64, "status": pl.Utf8}, orient="row")
    bins = score_bins(results)
    counted = int(bins.drop("bin").sum().sum_horizontal()[0]) if bins.width > 1 else 0
    assert counted == len(rows)
    if rows:
        assert bins.height == 10 and bins["bin"][0] == "0.9-1.0" and bins["bin"][-1] == "0.0-0.1"


def test_score_distribution_is_markdown_with_statuses_in_decision_order():
    results = pl.DataFrame({"score": [1.0, 0.95, 0.5, 0.02], "status": ["matched", "matched", "ambiguous",
                                                                       "unmatched"]})
    md = score_distribution(results)
    assert isinstance(md, dg.MarkdownMetadataValue)
    head = next(line for line in md.value.splitlines() if line.startswith("| score"))
    assert head.index("matched") < head.index("ambiguous") < head.index("unmatched")
    assert "| 0.9-1.0 |" in md.value and "| 2 |" in md.value


def test_empty_counts_say_so():
    assert "none" in histogram_md({}, "Flags").value
    assert count_table({}, "flag").records == []
