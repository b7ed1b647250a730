"""A note written in the name cell (``Trần Mỹ Lợi (bé Su)``) may be personal data: it is kept in the
normalised records for the uploader, and never reaches the analyst warehouse."""

from __future__ import annotations

import duckdb
import polars as pl

from assets.warehouse import WarehouseSources, build_warehouse
from rules.normalise import normalise_records

NOTE = "con bà Xuyến Quỳnh"


def test_name_notes_never_reach_analyst_tables_or_views(tmp_path):
    raw = pl.DataFrame(
        {
            "province": ["ha_noi"] * 2,
            "sector": ["students"] * 2,
            "unit": ["thpt_a"] * 2,
            "file_sha256": ["a" * 64] * 2,
            "full_name": [f"Trần Mỹ Lợi ({NOTE})", f"Lê Văn An - {NOTE}"],
            "date_of_birth": ["01/02/2015", "03/04/2015"],
        }
    )
    clean = normalise_records(raw, "students")
    assert clean["name_note"].to_list() == [NOTE, NOTE]  # the note is there to leak
    target = tmp_path / "warehouse" / "doisoat.duckdb"
    build_warehouse(WarehouseSources({"clean": clean, "matches": clean.with_columns(status=pl.lit("unmatched"))}),
                    target)
    con = duckdb.connect(str(target), read_only=True)
    try:
        relations = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        found = []
        for rel in relations:
            for row in con.execute(f"SELECT * FROM {rel}").fetchall():
                found += [rel for v in row if v is not None and ("Xuyến" in str(v) or "Xuyen" in str(v))]
        columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns").fetchall()}
        assert con.execute("SELECT sum(accepted_rows) FROM data_quality").fetchone()[0] == 2
    finally:
        con.close()
    assert found == []
    assert "name_note" not in columns
