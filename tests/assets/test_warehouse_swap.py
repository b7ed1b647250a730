"""Publishing swaps the analyst file atomically: an open analyst session keeps reading its version."""

from __future__ import annotations

import duckdb
import polars as pl

from assets.warehouse import SOURCE_SCHEMAS, WarehouseSources, build_warehouse


def _sources(rows: int) -> WarehouseSources:
    uploads = pl.DataFrame({
        "province": ["ha_noi"] * rows, "sector": ["students"] * rows, "unit": [f"u{i}" for i in range(rows)],
        "file_name": [f"u{i}__ds.xlsx" for i in range(rows)], "file_sha256": [f"{i:064x}" for i in range(rows)],
        "status": ["current"] * rows, "rows_read": [10] * rows, "blank_rows_skipped": [0] * rows,
    })
    return WarehouseSources({"uploads": uploads})


def test_open_session_keeps_its_version_and_new_sessions_see_the_new_one(tmp_path):
    target = tmp_path / "warehouse" / "doisoat.duckdb"
    counts = build_warehouse(_sources(2), target)
    assert counts["uploads"] == 2 and set(counts) >= {"rejections", "match_outcomes", "forecast"}
    analyst = duckdb.connect(str(target), read_only=True)
    try:
        assert analyst.execute("SELECT count(*) FROM uploads").fetchone()[0] == 2
        build_warehouse(_sources(5), target)  # publishing while the analyst's session is open
        assert analyst.execute("SELECT count(*) FROM uploads").fetchone()[0] == 2
    finally:
        analyst.close()
    fresh = duckdb.connect(str(target), read_only=True)
    try:
        assert fresh.execute("SELECT count(*) FROM uploads").fetchone()[0] == 5
        comments = dict(fresh.execute("SELECT table_name, comment FROM duckdb_tables()").fetchall())
        assert all(comments.values()) and "uploads" in comments
    finally:
        fresh.close()
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind


def test_an_empty_lake_still_yields_every_documented_table(tmp_path):
    counts = build_warehouse(WarehouseSources({}), tmp_path / "w.duckdb")
    assert counts and all(n == 0 for n in counts.values())
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    finally:
        con.close()
    assert tables == set(counts) and {"largest_backlogs", "unit_scorecard"} <= views
    assert len(SOURCE_SCHEMAS) >= 9
