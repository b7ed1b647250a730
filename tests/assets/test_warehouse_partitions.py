"""The analyst file counts each partition's rows under that partition's upload: the same file uploaded
to two partitions (two provinces, or two sectors) has one sha256 but two sets of rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from assets.warehouse import SOURCE_SCHEMAS, WarehouseSources, build_warehouse

SHA = "e" * 64  # one file's bytes, uploaded to every partition below
# (province, sector): rows the partition's validation accepted and refused (rules differ by sector)
PARTITIONS = {("ho_chi_minh", "students"): (3, 1), ("ha_noi", "students"): (2, 0),
              ("ho_chi_minh", "vaccinations"): (1, 3)}


def _frame(name: str, rows: list[dict]) -> pl.DataFrame:
    schema = SOURCE_SCHEMAS[name]
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def _sources() -> dict[str, pl.DataFrame]:
    uploads, clean, rejected = [], [], []
    for (province, sector), (accepted, refused) in PARTITIONS.items():
        where = {"province": province, "sector": sector, "unit": "don_vi_a", "file_sha256": SHA}
        uploads.append({**where, "file_name": "don_vi_a__ds.xlsx", "status": "current",
                        "uploaded_at": datetime(2026, 11, 23, tzinfo=UTC), "rows_read": accepted + refused})
        clean += [where] * accepted
        rejected += [{**where, "file_name": "don_vi_a__ds.xlsx", "reason_code": "missing_name"}] * refused
    return {"uploads": _frame("uploads", uploads), "clean": _frame("clean", clean),
            "rejected": _frame("rejected", rejected)}


def test_the_same_file_in_three_partitions_counts_each_partition_s_rows(tmp_path: Path) -> None:
    path = tmp_path / "doisoat.duckdb"
    build_warehouse(WarehouseSources(_sources()), path)
    con = duckdb.connect(str(path), read_only=True)
    try:
        got = {(p, s): (a, r) for p, s, a, r in
               con.execute("SELECT province, sector, accepted, rejected FROM uploads").fetchall()}
    finally:
        con.close()
    assert got == PARTITIONS
    # the counts reconcile with the lake: accepted rows summed over uploads = clean rows
    assert sum(a for a, _ in got.values()) == sum(a for a, _ in PARTITIONS.values())
