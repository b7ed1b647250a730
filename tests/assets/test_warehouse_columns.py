"""The analyst file documents every column, with types an analyst can use as they are.

Built with the real builder from the report tests' hand-made sources (two provinces, every table):
every table, view and column has a comment; days are DATE; no HUGEINT; a unit without rejected rows
shows 0, not NULL; the README's data dictionary lists every table and view.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.warehouse import LAKE_SOURCES
from rules.lake_schema import lake_table

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def con(sample_analyst_file):
    return sample_analyst_file


def _columns(con) -> list[tuple[str, str, str, str | None]]:
    return con.sql("SELECT table_name, column_name, data_type, comment FROM duckdb_columns() WHERE NOT internal "
                   "ORDER BY table_name, column_index").fetchall()


def test_every_table_view_and_column_has_a_comment(con):
    undocumented = [f"{t}.{c}" for t, c, _, comment in _columns(con) if not (comment or "").strip()]
    assert undocumented == []
    tables = con.sql("SELECT table_name, comment FROM duckdb_tables() WHERE NOT internal "
                     "UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall()
    assert len(tables) >= 20 and [t for t, c in tables if not c] == []


def test_verification_outcomes_status_names_the_answers(con):
    [comment] = con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'verification_outcomes' "
                            "AND column_name = 'status'").fetchall()[0]
    assert {"verified", "mismatch", "not_found"} <= set(comment.replace("|", " ").split())
    assert "ambiguous" not in comment and "superseded" not in comment


def test_days_are_dates_and_sums_are_bigint(con):
    types = {(t, c): ty for t, c, ty, _ in _columns(con)}
    days = {k: v for k, v in types.items()
            if k[1] in ("day", "date") or k[1].endswith(("clearance_day", "decision_day"))}
    assert {("daily_allocation", "day"), ("quota_usage", "day"), ("forecast_daily", "date")} <= set(days)
    assert set(days.values()) == {"DATE"}, days
    assert [k for k, v in types.items() if v == "HUGEINT"] == []
    assert con.execute("SELECT typeof(sum(allocated)) FROM daily_allocation").fetchall()[0][0] == "HUGEINT"  # raw sum
    assert types[("unit_scorecard", "rows")] == "BIGINT" and types[("quota_usage", "allocated_elsewhere")] == "BIGINT"


def test_a_unit_without_rejected_rows_shows_zero(con):
    rows = con.sql("SELECT unit, rejected, matched FROM unit_scorecard ORDER BY unit").fetchall()
    assert rows and all(r is not None and m is not None for _, r, m in rows)
    assert ("tyt_quan_1", 0) in {(u, r) for u, r, _ in rows}


def test_the_readme_data_dictionary_lists_every_table_and_view(con):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    dictionary = readme.split("### Data dictionary", 1)[1].split("###", 1)[0]
    names = [r[0] for r in con.sql("SELECT table_name FROM duckdb_tables() WHERE NOT internal "
                                   "UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()]
    assert [n for n in names if f"`{n}`" not in dictionary] == []


def test_the_warehouse_reads_no_personal_column_it_does_not_mask():
    # file_name becomes file_label (masked slug); person_id / proposed_id are masked (079*******34)
    masked = {"file_name", "person_id", "proposed_id"}
    for source, (table, columns) in LAKE_SOURCES.items():
        personal = {c for c in columns if lake_table(table).column(c).personal}
        assert personal <= masked, (source, personal - masked)
