"""A real asset path with the lake on object storage: raw_records and clean_records through Dagster with
the lake as Delta tables on a local S3-compatible server (moto, ``tests/s3_server.py``), then the
analyst DuckDB file built from that lake. Everything must equal the same run on the local Parquet lake,
and nothing of the lake may land on the local disk."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from assets.ingest import clean_records, raw_records
from assets.lake import lake_partitions, read_lake_table, read_partition
from assets.partitions import partition_key
from assets.resources import DataPaths
from assets.warehouse import WarehouseSources, build_warehouse
from tests.s3_server import S3Lake

HEADER = "STT,Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"
TABLES = ("uploads", "raw_records", "clean_records", "rejected_records")


def _inbox(root: Path) -> None:
    inbox = root / "inbox" / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    rows = ["Nguyễn Văn An,01/02/2012,Nam,001212000001", "Lê Thị Cúc,02/02/2012,Nữ,001312000002",
            "Phạm Văn Dũng,31/02/2012,Nam,001212000004", ",03/02/2012,Nữ,001312000005"]
    path = inbox / "thcs_a__ds.csv"
    path.write_text(HEADER + "".join(f"{i},{r}\n" for i, r in enumerate(rows, 1)), encoding="utf-8")
    t0 = 1_780_000_000  # one upload time for both runs (uploaded_at is the file's mtime)
    os.utime(path, (t0, t0))


def _run(paths: DataPaths) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("province", ["ha_noi"])
        return dg.materialize([raw_records, clean_records], partition_key=partition_key("ha_noi", "students"),
                              resources={"paths": paths}, instance=instance)


def test_ingest_and_warehouse_on_a_delta_lake_match_the_local_lake(tmp_path: Path, s3_lake: S3Lake):
    local_root, remote_root = tmp_path / "local", tmp_path / "remote"
    for root in (local_root, remote_root):
        _inbox(root)
    local, remote = DataPaths(root=str(local_root)), DataPaths(root=str(remote_root), lake_root=s3_lake.uri)
    results = [_run(local), _run(remote)]
    for result in results:
        assert result.success
        checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
        assert all(checks.values()) and len(checks) == 6, checks  # reconcile, readable, four lake_schema checks

    assert not (remote_root / "lake").exists()  # the lake went to object storage, not to a local folder
    for table in TABLES:
        here = read_partition(local.layout, table, "ha_noi", "students")
        there = read_partition(remote.layout, table, "ha_noi", "students")
        differ = [c for c in here.columns if not there[c].equals(here[c])]
        assert there.columns == here.columns and differ == [], (table, differ)
        assert lake_partitions(remote.layout, table) == [("ha_noi", "students")]
    clean = read_lake_table(remote.layout, "clean_records")
    rejected = read_lake_table(remote.layout, "rejected_records")
    assert (clean.height, rejected.height) == (2, 2)  # 4 rows read = 2 accepted + 2 quarantined

    # The analyst file is built from the lake as before: same tables, same rows from either lake.
    counts = []
    for paths in (local, remote):
        sources = WarehouseSources.from_layout(paths.layout)
        counts.append(build_warehouse(sources, paths.warehouse()))
    assert counts[0] == counts[1]
    with duckdb.connect(str(remote.warehouse()), read_only=True) as con:
        tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    with duckdb.connect(str(local.warehouse()), read_only=True) as con:
        assert tables == {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    frames_local = WarehouseSources.from_layout(local.layout).frames
    frames_remote = WarehouseSources.from_layout(remote.layout).frames
    for name, df in frames_local.items():
        key = [c for c in df.columns if df[c].dtype != pl.List(pl.Utf8)]
        assert frames_remote[name].sort(key).equals(df.sort(key)), name


def _raw(n: int, sector: str, optional: dict[str, str]) -> pl.DataFrame:
    """``n`` raw_records rows of ``sector`` with the sector's own optional columns ``optional``."""
    from rules.lake_schema import lake_table

    t = lake_table("raw_records")
    row_number = pl.int_range(1, n + 1, eager=True)
    cols = {c.name: pl.Series([f"{c.name}-{sector}"] * n, dtype=c.dtype) for c in t.columns
            if not c.optional and c.dtype == pl.Utf8}
    return pl.DataFrame({**cols, "row_number": row_number, "excel_row": row_number + 1,
                         **{k: pl.Series([v] * n) for k, v in optional.items()}})


def test_optional_columns_read_back_as_written(tmp_path: Path, s3_lake: S3Lake):
    """Delta holds one schema for the whole table; a partition still reads back with the columns it was
    written with (a students' list has student_code, an insured list has insurance_code), as locally."""
    written = {"students": _raw(5, "students", {"student_code": "HS1", "school": "THCS A"}),
               "insured": _raw(3, "insured", {"insurance_code": "BH1"}),
               "vaccination": _raw(0, "vaccination", {})}
    local = DataPaths(root=str(tmp_path / "local")).layout
    remote = DataPaths(root=str(tmp_path / "remote"), lake_root=s3_lake.uri).layout
    from assets.lake import write_partition

    for layout in (local, remote):
        for sector, df in written.items():
            write_partition(layout, "raw_records", df, "hcm", sector)
    for sector in ("students", "insured"):
        here = read_partition(local, "raw_records", "hcm", sector)
        there = read_partition(remote, "raw_records", "hcm", sector)
        assert there.columns == here.columns and there.equals(here), sector
    empty = read_partition(remote, "raw_records", "hcm", "vaccination")
    assert empty.height == 0 and empty.columns == read_partition(local, "raw_records", "hcm", "vaccination").columns
    both = read_lake_table(remote, "raw_records")
    assert set(both.columns) == set(read_lake_table(local, "raw_records").columns)
    assert both.height == 8 and "lake_written_columns" not in both.columns
