"""The lake's schema registry: writes refuse a wrong column or type by name, cast widenings, keep the
table's order; the generated contracts section matches the registry."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.lake_schema import (
    LAKE_TABLES,
    LakeSchemaError,
    conform,
    contracts_markdown,
    key_problems,
    lake_table,
    schema_problems,
)

REPO = Path(__file__).resolve().parents[2]


def _frame(table: str, rows: int = 2) -> pl.DataFrame:
    """A frame of ``table``'s required columns with nulls, in the declared dtypes."""
    t = lake_table(table)
    return pl.DataFrame({c.name: pl.Series(c.name, [None] * rows, dtype=c.dtype) for c in t.columns if not c.optional})


def test_unknown_column_is_named_with_its_table():
    df = _frame("match_estimates").with_columns(pl.lit("x").alias("surprise"))
    with pytest.raises(LakeSchemaError, match=r"lake table match_estimates: column 'surprise' is not in its schema"):
        conform(df, lake_table("match_estimates"))


def test_missing_required_column_is_named():
    with pytest.raises(LakeSchemaError, match=r"lake table daily_allocation: required column 'floor' is missing"):
        conform(_frame("daily_allocation").drop("floor"), lake_table("daily_allocation"))


@pytest.mark.parametrize(("column", "values", "declared"), [
    ("backlog", [1.5, 2.0], "Int64"),            # a float where an integer is due: never truncated
    ("unit_key", [1, 2], "String"),              # a number where text is due
    ("allocated", ["1", "2"], "Int64"),          # text where a number is due
])
def test_wrong_type_is_refused_with_table_and_column(column, values, declared):
    df = _frame("daily_allocation").with_columns(pl.Series(column, values))
    with pytest.raises(LakeSchemaError, match=rf"lake table daily_allocation: column '{column}' is .* says {declared}"):
        conform(df, lake_table("daily_allocation"))


def test_widenings_are_cast_and_columns_reordered():
    df = pl.DataFrame({
        "allocated": pl.Series([3, 4], dtype=pl.Int32), "floor": [1, 2], "oldest_wait_days": [1, 2],  # int -> float
        "backlog": [None, None], "unit_key": ["a/b/c", "a/b/d"],
    })
    out = conform(df, lake_table("daily_allocation"))
    assert out.columns == list(lake_table("daily_allocation").column_names)
    assert out.schema == lake_table("daily_allocation").schema()
    assert out["allocated"].to_list() == [3, 4] and out["oldest_wait_days"].to_list() == [1.0, 2.0]


def test_a_value_too_large_for_the_declared_width_fails_by_table():
    df = _frame("match_results", 1).with_columns(pl.Series("dob_year", [2**40], dtype=pl.Int64))
    with pytest.raises(LakeSchemaError, match="lake table match_results: a value does not fit"):
        conform(df, lake_table("match_results"))


def test_sector_columns_are_optional_others_are_not():
    raw = _frame("raw_records")
    assert "student_code" not in raw.columns
    assert conform(raw.with_columns(pl.lit("HS01").alias("student_code")), lake_table("raw_records"))["student_code"][0]
    assert conform(raw, lake_table("raw_records")).columns == raw.columns


@settings(max_examples=60, deadline=None)
@given(table=st.sampled_from(sorted(LAKE_TABLES)), data=st.data())
def test_any_order_of_the_declared_columns_conforms_to_the_table_order(table, data):
    t = lake_table(table)
    df = _frame(table, 3)
    shuffled = df.select(data.draw(st.permutations(df.columns)))
    out = conform(shuffled, t)
    assert out.columns == [c for c in t.column_names if c in df.columns]
    assert schema_problems(out.schema, t) == []


def test_key_problems_finds_duplicates_and_nulls():
    t = lake_table("forecast_daily")
    df = pl.DataFrame({"date": pl.Series([None, "2026-01-01", "2026-01-01"]).str.to_date(),
                       "series": ["national"] * 3, "remaining": [1, 2, 3]})
    assert key_problems(df, t) == ["primary key (date, series) has nulls",
                                   "primary key (date, series) has 1 duplicate row(s)"]
    assert key_problems(df.slice(1, 1), t) == []


def test_every_table_is_described_and_keyed():
    for t in LAKE_TABLES.values():
        assert t.description and t.where and t.written_by, t.name
        assert t.primary_key, t.name
        assert all(c.description for c in t.columns), t.name


def test_contracts_page_carries_the_generated_section():
    page = (REPO / "docs" / "contracts.md").read_text(encoding="utf-8")
    assert contracts_markdown() in page, "docs/contracts.md is stale: run `python -m rules.lake_schema`"



def test_match_results_table_is_the_engine_output_plus_row_attributes():
    from rules.matching.engine import LINEAGE_COLUMNS, RESULT_COLUMNS

    assert lake_table("match_results").column_names == (*LINEAGE_COLUMNS, *RESULT_COLUMNS, "dob_year", "gender_norm")
