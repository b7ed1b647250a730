"""The pipeline with the lake on object storage: Delta tables on a local S3-compatible server (moto,
``tests/s3_server.py``).

Checked: raw_records and clean_records through Dagster and the analyst file built from that lake equal
the local lake's; a whole run (register + a vaccinations partition job, a clerical-review import, the
national day, publish) gives the same counts on S3 as on the local lake and leaves no lake table on the
local disk; four processes writing different partitions of match_results lose nothing; a reader during
rewrites of a partition sees whole versions only; vacuum deletes the files of replaced versions and
keeps the current data readable; review's partition lock (PostgreSQL advisory lock, else a local file)
serialises one partition and no other."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from assets.ingest import clean_records, raw_records
from assets.lake import lake_partitions, national_keys, read_lake_table, read_partition
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


# --- a whole run with the lake on object storage ---------------------------------------------------------
# vaccinations: a list without a guardian column keeps ambiguous rows for the review to decide
PROVINCE, SECTOR, DAY = "ho_chi_minh", "vaccinations", "2026-11-20"
SIZE, SEED = 20_000, 11  # as tests/pipelines/test_review_end_to_end.py: namesakes born the same day (review rows)
PICK_FIRST = "Ứng viên 1 / Candidate 1"


def _definitions(paths: DataPaths) -> dg.Definitions:
    """The Definitions of pipelines.definitions with ``paths`` (its ``build_definitions`` reads the env)."""
    from assets import ingest, match, national, publish, register, review
    from pipelines.jobs import JOBS

    modules = [register, ingest, match, national, publish, review]
    return dg.Definitions(assets=dg.load_assets_from_modules(modules),
                          asset_checks=dg.load_asset_checks_from_modules(modules),
                          resources={"paths": paths}, jobs=JOBS, executor=dg.in_process_executor)


def _fill_first_candidate(book: Path, out: Path) -> int:
    """A reviewer who picks candidate 1 in every block; returns the blocks decided."""
    import openpyxl

    wb = openpyxl.load_workbook(book)
    ws, decided = wb.worksheets[0], 0
    ws["C3"] = "Cán bộ S3"
    for r in range(6, ws.max_row + 1):
        if str(ws.cell(r, 2).value or "").startswith("Dữ liệu"):
            ws.cell(r, 13, PICK_FIRST)
            decided += 1
    wb.save(out)
    return decided


def _whole_run(root: Path, lake_root: str) -> dict[str, object]:
    """Register + one sector's partition job, review import, the national day and publish; what they left."""
    from datetime import date

    from assets.partitions import add_days
    from rules.review.service import import_workbook, read_ledger

    paths = DataPaths(root=str(root), lake_root=lake_root)
    layout, defs = paths.layout, _definitions(paths)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("province", [PROVINCE])
        add_days(instance, date.fromisoformat(DAY))
        for job, key in (("register_job", PROVINCE), ("province_job", partition_key(PROVINCE, SECTOR))):
            result = defs.resolve_job_def(job).execute_in_process(partition_key=key, instance=instance)
            assert result.success and all(e.passed for e in result.get_asset_check_evaluations()), job
        before = read_partition(layout, "match_results", PROVINCE, SECTOR)
        book = paths.review_workbooks(PROVINCE) / f"{SECTOR}.xlsx"
        decided = _fill_first_candidate(book, root / "filled.xlsx")
        report = import_workbook(layout, root / "filled.xlsx")
        for job, key in (("national_verification_job", DAY), ("publish_job", None)):
            result = defs.resolve_job_def(job).execute_in_process(partition_key=key, instance=instance)
            assert result.success and all(e.passed for e in result.get_asset_check_evaluations()), job
    results = read_partition(layout, "match_results", PROVINCE, SECTOR)
    rows = {t: read_partition(layout, t, PROVINCE, SECTOR).height
            for t in ("raw_records", "clean_records", "rejected_records", "match_results", "corrected_records",
                      "verified_records")}
    verified = read_partition(layout, "verified_records", PROVINCE, SECTOR)
    with duckdb.connect(str(paths.warehouse()), read_only=True) as con:
        tables = [r[0] for r in con.execute("select table_name from information_schema.tables "
                                            "where table_schema = 'main' order by 1").fetchall()]
        warehouse = {t: con.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
    return {"before": dict(before["status"].value_counts().iter_rows()),
            "after": dict(results["status"].value_counts().iter_rows()),
            "decided": decided, "import": report.counts, "ledger": read_ledger(layout, PROVINCE, SECTOR).height,
            "rows": rows, "with_outcome": int(verified["verification_status"].is_not_null().sum()),
            "warehouse": warehouse}


@pytest.mark.slow
def test_a_whole_run_on_object_storage_reconciles_with_the_local_lake(tmp_path: Path, s3_lake: S3Lake):
    """A sector's partition job, clerical review applied, the national day and publish with DOISOAT_LAKE on
    S3: every count equals the same run on the local lake, and no lake table lands on the local disk."""
    import shutil

    from rules.synth import write_province

    local_root, remote_root = tmp_path / "local", tmp_path / "remote"
    write_province(local_root, PROVINCE, SIZE, SEED, rows_per_sector={SECTOR: 3000})
    shutil.copytree(local_root, remote_root)  # the same files, the same upload times (copy2 keeps mtimes)
    here = _whole_run(local_root, "")
    there = _whole_run(remote_root, s3_lake.uri)
    assert there == here
    rows = there["rows"]
    assert rows["raw_records"] == rows["clean_records"] + rows["rejected_records"] == rows["match_results"]
    assert there["before"].get("ambiguous", 0) > 0 and there["decided"] > 0  # the review really ran
    assert there["import"]["applied"] > 0 and there["after"].get("matched_by_review", 0) > 0
    assert there["with_outcome"] > 0 and there["warehouse"]["match_decisions"] == rows["match_results"]
    assert there["warehouse"]["daily_allocation"] > 0
    # Only the genuinely local things: no lake folder, no national table files (queue and page stay local).
    assert not (remote_root / "lake").exists()
    assert not list((remote_root / "national").rglob("*.parquet"))  # the queue (SQLite) and page only
    assert (remote_root / "national" / "verification_queue.sqlite").exists()
    remote = DataPaths(root=str(remote_root), lake_root=s3_lake.uri).layout
    assert lake_partitions(remote, "review_decisions") == [(PROVINCE, SECTOR)]
    assert national_keys(remote, "daily_allocation") == [DAY]


# --- concurrency on one lake table, vacuum ---------------------------------------------------------------
def _frame(table: str, n: int, tag: str) -> pl.DataFrame:
    """``n`` rows of lake table ``table`` (every required column; Utf8 columns carry ``tag``)."""
    from rules.lake_schema import lake_table

    i = pl.int_range(0, n, eager=True)
    cols = {}
    for c in lake_table(table).columns:
        if c.optional:
            continue
        if c.dtype == pl.Utf8:
            cols[c.name] = pl.format("{}-{}", pl.lit(tag), pl.Series(i))
        elif isinstance(c.dtype, pl.List):
            cols[c.name] = pl.lit([tag], dtype=c.dtype)
        else:
            cols[c.name] = pl.lit(pl.Series(i)).cast(c.dtype, strict=False)
    return pl.select(**cols) if n else pl.DataFrame(schema=lake_table(table).schema(list(cols)))


def _write_match_results(uri: str, env: dict[str, str], province: str, sector: str,
                         versions: list[tuple[str, int]], start_at: float) -> None:
    """A writer process: replace ``match_results`` of its partition once per ``(tag, rows)`` version, as
    the match step does (``rules.lake_store.write_table``: checked, padded, one Delta commit each)."""
    import time

    from rules.lake_store import write_table
    from rules.layout import DataLayout

    os.environ.update(env)
    layout = DataLayout.at("/nonexistent-data-root", lake_root=uri)
    time.sleep(max(0.0, start_at - time.time()))
    for tag, n in versions:
        write_table(layout, "match_results", _frame("match_results", n, tag), province, sector)


def _spawn(s3: S3Lake, jobs: list[tuple[str, str, list[tuple[str, int]]]]) -> list:
    import multiprocessing as mp
    import time

    ctx, start_at = mp.get_context("spawn"), time.time() + 2.0
    procs = [ctx.Process(target=_write_match_results, args=(s3.uri, s3.env, p, s, versions, start_at))
             for p, s, versions in jobs]
    for proc in procs:
        proc.start()
    return procs


def test_concurrent_writers_of_match_results_lose_nothing(tmp_path: Path, s3_lake: S3Lake):
    """Four processes (one per province x sector) replace their partition of match_results at once:
    Delta's conditional-put commits serialise them and every partition lands whole."""
    jobs = [(p, s, [(f"{p}-{s}", 500 + 10 * k)])
            for k, (p, s) in enumerate((p, s) for p in ("ha_noi", "hai_phong") for s in ("students", "insurance"))]
    procs = _spawn(s3_lake, jobs)
    for proc in procs:
        proc.join(timeout=240)
    assert [proc.exitcode for proc in procs] == [0] * len(jobs)
    layout = DataPaths(root=str(tmp_path), lake_root=s3_lake.uri).layout
    assert lake_partitions(layout, "match_results") == sorted((p, s) for p, s, _ in jobs)
    for p, s, [(tag, n)] in jobs:
        got = read_partition(layout, "match_results", p, s)
        assert got.height == n and got["file_sha256"].str.starts_with(f"{tag}-").all()
    assert read_lake_table(layout, "match_results").height == sum(n for *_, [(_, n)] in jobs)


def test_a_reader_during_rewrites_of_match_results_sees_whole_versions(tmp_path: Path, s3_lake: S3Lake):
    """A writer process replaces the partition six times (each version its own size and tag) while this
    process reads it in a loop: every read is exactly one version, whole."""
    from assets.lake import write_partition

    layout = DataPaths(root=str(tmp_path), lake_root=s3_lake.uri).layout
    versions = [(f"v{k}", 300 + 50 * k) for k in range(6)]
    sizes = {"init": 100, **dict(versions)}
    write_partition(layout, "match_results", _frame("match_results", 100, "init"), PROVINCE, SECTOR)
    [writer] = _spawn(s3_lake, [(PROVINCE, SECTOR, versions)])
    seen = set()
    while writer.is_alive():
        got = read_partition(layout, "match_results", PROVINCE, SECTOR, columns=["file_sha256"])
        tags = got["file_sha256"].str.replace(r"-\d+$", "").unique().to_list()
        assert len(tags) == 1 and got.height == sizes[tags[0]], "a read mixed two versions"
        seen.add(tags[0])
    writer.join(timeout=60)
    assert writer.exitcode == 0
    assert len(seen) >= 2  # the reader really read during the rewrites
    assert read_partition(layout, "match_results", PROVINCE, SECTOR).height == sizes["v5"]


def _objects(s3: S3Lake, prefix: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=s3.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="doisoat-test", aws_secret_access_key="doisoat-test")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith(".parquet")]


def test_vacuum_removes_old_files_and_keeps_current_data(tmp_path: Path, s3_lake: S3Lake):
    from rules.lake_store import retention_hours, vacuum

    layout = DataPaths(root=str(tmp_path), lake_root=s3_lake.uri).layout
    for k in range(3):  # three versions of one partition, one of another
        write_partition_(layout, "match_estimates", _frame("match_estimates", 20 + k, f"r{k}"), "hcm", "students")
    write_partition_(layout, "match_estimates", _frame("match_estimates", 7, "other"), "hcm", "insurance")
    prefix = s3_lake.uri.removeprefix(f"s3://{s3_lake.bucket}/") + "/match_estimates/"
    assert len(_objects(s3_lake, prefix)) == 4
    assert vacuum(layout, retention_hours({})) == {}  # nothing is a week old: every file stays
    assert len(_objects(s3_lake, prefix)) == 4
    assert vacuum(layout, 0) == {"match_estimates": 2}  # the two replaced versions' files go
    assert len(_objects(s3_lake, prefix)) == 2
    current = read_partition(layout, "match_estimates", "hcm", "students")
    assert current.equals(_frame("match_estimates", 22, "r2").select(current.columns))
    assert read_lake_table(layout, "match_estimates").height == 22 + 7
    assert vacuum(DataPaths(root=str(tmp_path / "local")).layout, 0) == {}  # the local lake keeps no versions


def test_the_retention_window_is_read_from_the_environment():
    from rules.errors import OptionError
    from rules.lake_store import DEFAULT_RETENTION_HOURS, retention_hours

    assert retention_hours({}) == DEFAULT_RETENTION_HOURS == 168
    assert retention_hours({"DOISOAT_LAKE_RETENTION_HOURS": "24"}) == 24.0
    for bad in ("-1", "a week", "nan"):
        with pytest.raises(OptionError, match="DOISOAT_LAKE_RETENTION_HOURS"):
            retention_hours({"DOISOAT_LAKE_RETENTION_HOURS": bad})


def write_partition_(layout, table: str, df: pl.DataFrame, province: str, sector: str) -> pl.DataFrame:
    from assets.lake import write_partition

    return write_partition(layout, table, df, province, sector)


# --- the partition lock of review across machines ---------------------------------------------------------
def _lock_waits(layout, first: tuple[str, str], second: tuple[str, str]) -> float:
    """Seconds ``second`` waited for the lock while another thread held ``first`` for 0.8 s."""
    import threading
    import time

    from rules.review.service import partition_lock

    held, done = threading.Event(), threading.Event()

    def holder() -> None:
        with partition_lock(layout, *first):
            held.set()
            time.sleep(0.8)
        done.set()

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    started = time.monotonic()
    with partition_lock(layout, *second):
        waited = time.monotonic() - started
    thread.join()
    return waited


def test_the_partition_lock_on_postgresql_serialises_one_partition_only(tmp_path: Path, s3_lake: S3Lake,
                                                                         monkeypatch):
    """With the queue on PostgreSQL (the national deployment, runs on several machines) review's partition
    lock is an advisory lock of that database: a second holder of the same partition waits, another
    partition does not, and no lock file is written (nothing local to share)."""
    from tests.services import POSTGRES, require_service

    require_service(POSTGRES)
    monkeypatch.setenv("DOISOAT_QUEUE_URL", f"postgresql://postgres@{POSTGRES[1]}:{POSTGRES[2]}/test")
    layout = DataPaths(root=str(tmp_path), lake_root=s3_lake.uri).layout
    assert _lock_waits(layout, ("hcm", "students"), ("hcm", "students")) > 0.5
    assert _lock_waits(layout, ("hcm", "students"), ("hcm", "insurance")) < 0.5
    assert not (tmp_path / "cache").exists()


def test_the_partition_lock_without_postgresql_is_a_local_lock_file(tmp_path: Path, s3_lake: S3Lake, monkeypatch):
    monkeypatch.delenv("DOISOAT_QUEUE_URL", raising=False)
    layout = DataPaths(root=str(tmp_path), lake_root=s3_lake.uri).layout
    assert _lock_waits(layout, ("hcm", "students"), ("hcm", "students")) > 0.5
    assert _lock_waits(layout, ("hcm", "students"), ("hcm", "insurance")) < 0.5
    assert layout.partition_lock("hcm", "students").exists()
