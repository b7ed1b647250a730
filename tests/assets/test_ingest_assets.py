"""raw_records and clean_records through Dagster (materialize) on a small inbox: supersede rule,
reconciling counts, error reports outside the inbox, asset checks."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import dagster as dg
import polars as pl

from assets.ingest import clean_records, raw_records
from assets.partitions import partition_key
from assets.resources import DataPaths

HEADER = "STT,Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"


def _write(path: Path, rows: list[str], mtime: float) -> None:
    path.write_text(HEADER + "".join(f"{i},{r}\n" for i, r in enumerate(rows, 1)), encoding="utf-8")
    os.utime(path, (mtime, mtime))


def test_lists_corrections_and_counts(data_dir: Path):
    inbox = data_dir / "inbox" / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    t0 = time.time() - 3600
    _write(inbox / "thcs_a__ds_dot_1.csv", ["Nguyễn Văn An,01/02/2012,Nam,001212000001",
                                             ",02/02/2012,Nữ,001312000002"], t0)           # one row has no name
    _write(inbox / "thcs_a__ds_dot_2.csv", ["Trần Thị Bình,03/02/2012,Nữ,001312000003"], t0 + 10)
    _write(inbox / "thcs_a__ds_dot_1_sua.csv", ["Nguyễn Văn An,01/02/2012,Nam,001212000001",
                                                 "Lê Thị Cúc,02/02/2012,Nữ,\u200b001312000002",
                                                 "Phạm Văn Dũng,31/02/2012,Nam,001212000004"], t0 + 20)
    (inbox / "thcs_b__ds.csv").write_bytes((inbox / "thcs_a__ds_dot_2.csv").read_bytes())  # same bytes again
    (inbox / "thcs_c__ds.xlsx").write_bytes(b"not a workbook")

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("province", ["ha_noi"])  # the installation's provinces (assets.partitions)
        result = dg.materialize(
            [raw_records, clean_records],
            partition_key=partition_key("ha_noi", "students"),
            resources={"paths": DataPaths(root=str(data_dir))},
            instance=instance,
        )
    assert result.success
    uploads = pl.read_parquet(data_dir / "lake" / "uploads" / "ha_noi" / "students.parquet")
    status = dict(zip(uploads["file_name"], uploads["status"], strict=True))
    assert status == {"thcs_a__ds_dot_1.csv": "superseded", "thcs_a__ds_dot_2.csv": "current",
                      "thcs_a__ds_dot_1_sua.csv": "current", "thcs_b__ds.csv": "duplicate",
                      "thcs_c__ds.xlsx": "failed"}
    raw = pl.read_parquet(data_dir / "lake" / "raw_records" / "ha_noi" / "students.parquet")
    clean = pl.read_parquet(data_dir / "lake" / "clean_records" / "ha_noi" / "students.parquet")
    rejected = pl.read_parquet(data_dir / "lake" / "rejected_records" / "ha_noi" / "students.parquet")
    assert (raw.height, clean.height, rejected.height) == (4, 3, 1)
    assert rejected["reason_code"].to_list() == ["impossible_date"]
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {("uploads", "all_files_readable"): False, ("clean_records", "rows_reconcile"): True,
                      **{(t, "lake_schema"): True
                         for t in ("raw_records", "uploads", "clean_records", "rejected_records")}}
    reports = data_dir / "reports" / "errors" / "ha_noi" / "students"
    assert sorted(p.name for p in reports.iterdir()) == [
        "thcs_a__ds_dot_1_sua.csv.errors.xlsx", "thcs_c__ds.errors.xlsx"]
    assert not list(inbox.glob("*.errors.xlsx"))
    # the reader removed an invisible character from one ID: counted in the uploads table and metadata
    assert dict(zip(uploads["file_name"], uploads["invisible_removed"], strict=True))["thcs_a__ds_dot_1_sua.csv"] == 1
    by_asset = {m.asset_key.path[-1]: m.metadata for m in result.asset_materializations_for_node("raw_records")}
    assert by_asset["uploads"]["invisible_removed"].value == 1
    assert "001312000002" in raw["national_id"].to_list()
    meta = {m.asset_key.path[-1]: m.metadata for m in result.asset_materializations_for_node("clean_records")}
    assert meta["clean_records"]["rows_read"].value == 4 and meta["rejected_records"]["rejected"].value == 1


def test_same_bytes_under_two_names_every_table_names_the_copy_that_counts(data_dir: Path):
    """The uploads table decides which copy of a content hash counts (unit and file); the raw, clean
    and rejected rows follow it whichever copy was read last. A file not named ``<unit>__<list>``
    is refused (failed, told how to name it), never turned into a made-up unit."""
    inbox = data_dir / "inbox" / "ho_chi_minh" / "students"
    inbox.mkdir(parents=True)
    t0 = time.time() - 3600
    rows = ["Nguyễn Văn An,01/02/2013,Nam,079213000001", "Lê Thị Cúc,31/02/2013,Nữ,079313000002"]
    _write(inbox / "thcs_nu__ds_lop_6a.csv", rows, t0)
    _write(inbox / "thcs_zz__ds_lop_6a_copy.csv", rows, t0 + 10)  # same bytes, later, read last (name order)
    _write(inbox / "DS học sinh lớp 6A.csv", rows, t0 - 10)      # same bytes, earliest, no unit prefix
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("province", ["ho_chi_minh"])
        result = dg.materialize([raw_records, clean_records], partition_key=partition_key("ho_chi_minh", "students"),
                                resources={"paths": DataPaths(root=str(data_dir))}, instance=instance)
    assert result.success
    lake = data_dir / "lake"
    uploads = pl.read_parquet(lake / "uploads" / "ho_chi_minh" / "students.parquet")
    status = {r["file_name"]: (r["unit"], r["status"], r["error_code"]) for r in uploads.iter_rows(named=True)}
    assert status == {"thcs_nu__ds_lop_6a.csv": ("thcs_nu", "current", None),
                      "thcs_zz__ds_lop_6a_copy.csv": ("thcs_zz", "duplicate", None),
                      "DS học sinh lớp 6A.csv": (status["DS học sinh lớp 6A.csv"][0], "failed", "misnamed_file")}
    message = uploads.filter(pl.col("status") == "failed")["error_message"][0]
    assert "DS học sinh lớp 6A.csv" in message and "<unit>__<list>.xlsx" in message and "\n" not in message
    for table, n in (("raw_records", 2), ("clean_records", 1), ("rejected_records", 1)):
        frame = pl.read_parquet(lake / table / "ho_chi_minh" / "students.parquet")
        assert frame.height == n, table
        owners = set(zip(frame["unit"], frame["file_name"], strict=True))
        assert owners == {("thcs_nu", "thcs_nu__ds_lop_6a.csv")}, table


def test_file_and_sheet_names_chosen_by_uploaders_never_reach_dagster(data_dir: Path, capfd, tmp_path: Path):
    """Uploads named after a pupil (read, refused as misnamed, unreadable) and a sheet named after one:
    the run reports counts and error codes, the names stay in the private lake and the error reports."""
    import openpyxl

    from tests.security.file_names import dagster_text, name_forms

    inbox = data_dir / "inbox" / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    t0 = time.time() - 3600
    # invented pupils, as clerks name single-pupil corrections
    _write(inbox / "thcs_nu__Đặng Quốc Khánh 001212000123.csv", ["Đặng Quốc Khánh,31/02/2012,Nam,001212000123"], t0)
    _write(inbox / "Hồ Thị Ngọc Diệp (sửa).csv", ["Hồ Thị Ngọc Diệp,01/02/2012,Nữ,001312000124"], t0)
    (inbox / "thcs_nu__Bùi Thanh Tuấn.xlsx").write_bytes(b"not a workbook")
    wb = openpyxl.Workbook()
    wb.active.title = "Ngô Thảo Uyên"
    for row in (HEADER.strip().split(","), ["1", "Ngô Thảo Uyên", "30/02/2012", "Nữ", "001312000125"]):
        wb.active.append(row)
    wb.save(inbox / "thcs_nu__ds_lop_6a.xlsx")
    home = tmp_path / "dagster"
    home.mkdir()
    capfd.readouterr()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        instance.add_dynamic_partitions("province", ["ha_noi"])
        result = dg.materialize([raw_records, clean_records], partition_key=partition_key("ha_noi", "students"),
                                resources={"paths": DataPaths(root=str(data_dir))}, instance=instance)
        assert result.success
        printed = capfd.readouterr()
        text = dagster_text(instance, result.run_id, home, printed.out + printed.err)
    uploads = pl.read_parquet(data_dir / "lake" / "uploads" / "ha_noi" / "students.parquet")
    assert sorted(uploads["status"]) == ["current", "current", "failed", "failed"]  # every case was there
    assert "Ngô Thảo Uyên" in uploads["sheet"].to_list()
    assert "misnamed_file" in text and "corrupt_file" in text  # the run did report the failures
    assert [f for f in name_forms("Đặng Quốc Khánh", "Hồ Thị Ngọc Diệp", "Bùi Thanh Tuấn", "Ngô Thảo Uyên")
            if f in text] == []


def test_an_old_report_that_cannot_be_removed_is_a_warning_without_its_name(data_dir: Path, tmp_path: Path):
    """A folder sits at an old report's name (named after a pupil): the run goes on and says which
    report by its public label, and the pupil's name never reaches Dagster."""
    from tests.security.file_names import dagster_text, name_forms

    inbox = data_dir / "inbox" / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    _write(inbox / "thcs_nu__ds.csv", ["Trần Thị Bình,03/02/2012,Nữ,001312000003"], time.time() - 3600)
    reports = DataPaths(root=str(data_dir)).error_reports("ha_noi", "students")
    (reports / "thcs_nu__Đặng Quốc Khánh 001212000123.errors.xlsx").mkdir(parents=True)
    home = tmp_path / "dagster"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        instance.add_dynamic_partitions("province", ["ha_noi"])
        result = dg.materialize([raw_records], partition_key=partition_key("ha_noi", "students"),
                                resources={"paths": DataPaths(root=str(data_dir))}, instance=instance)
        assert result.success
        warnings = [e.message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
        text = dagster_text(instance, result.run_id, home, "")
    assert any("old error report of thcs_nu__x.xlsx kept" in w for w in warnings), warnings
    assert [f for f in name_forms("Đặng Quốc Khánh") if f in text] == [] and "001212000123" not in text
