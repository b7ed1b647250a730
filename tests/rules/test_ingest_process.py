"""process_upload, the error report (read back with openpyxl), re-upload, supersede rule, fuzzing."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.ingest import (
    UploadError,
    count_upload,
    empty_raw_frame,
    error_report_path,
    header_info,
    is_error_report,
    process_upload,
    read_upload,
    supersede,
    write_error_report,
    write_structural_report,
)
from rules.ingest.lineage import list_name
from rules.ingest.report import ERROR_HEADERS, WARNING_HEADER

FILES = Path(__file__).resolve().parents[1] / "corpus" / "files"
TODAY = dt.date(2026, 1, 15)


@pytest.fixture(scope="module")
def bad_rows():
    return process_upload(FILES / "bad_rows.csv", province="lam_dong", sector="students", unit="thcs_nd",
                          today=TODAY)


def test_counts_reconcile_and_frames_partition_rows(bad_rows):
    c = bad_rows.counts
    assert c["rows_read"] == c["accepted"] + c["rejected"] == bad_rows.raw.height == 8
    keys = ["sheet", "row_number"]
    assert set(bad_rows.normalised_valid.select(keys).rows()).isdisjoint(bad_rows.quarantined.select(keys).rows())
    assert bad_rows.quarantined.filter(pl.col("row_number") == 7)["reason_code"].item() == "missing_name;missing_date"
    assert bad_rows.quarantined["reason_column"].to_list()[0] == "Họ và tên"
    assert bad_rows.summary_lines()[0].startswith("bad_rows.csv: đọc/read 8, hợp lệ/accepted 1, bị loại/rejected 7")
    assert "Nguyễn" not in "\n".join(bad_rows.summary_lines())  # counts and codes only


def test_count_upload_refuses_a_lost_row(bad_rows):
    with pytest.raises(AssertionError, match="reconcile"):
        count_upload(bad_rows.raw, bad_rows.normalised_valid.head(0), bad_rows.quarantined)


def test_same_file_twice_gives_identical_rows(bad_rows):
    again = process_upload(FILES / "bad_rows.csv", province="lam_dong", sector="students", unit="thcs_nd",
                           today=TODAY)
    assert again.raw.equals(bad_rows.raw) and again.counts == bad_rows.counts


def test_error_report_layout(bad_rows, tmp_path: Path):
    path = write_error_report(bad_rows, tmp_path / "r.errors.xlsx")
    assert is_error_report(path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Dữ liệu", "Hướng dẫn"]
    ws = wb["Dữ liệu"]
    header = [c.value for c in ws[1]]
    assert header == ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân", "Lớp", WARNING_HEADER,
                      *ERROR_HEADERS]
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    assert len(rows) == 8
    assert rows[0][4] == "079212000123" and rows[0][7] is None  # leading zero kept, good row has no error
    assert rows[1][7] == "missing_name" and rows[1][10] == "3"  # source row as the uploader sees it
    assert "Thiếu họ và tên" in rows[1][8] and "Full name is missing" in rows[1][9]
    rules = ws.conditional_formatting
    assert any("$H2" in r.formula[0] for cf in rules for r in cf.rules)
    assert "7 dòng bị lỗi" in wb["Hướng dẫn"]["A3"].value


def test_report_uploaded_again_reads_like_the_original(bad_rows, tmp_path: Path):
    report = write_error_report(bad_rows, tmp_path / "thcs_nd__sua.xlsx")
    again = read_upload(report, province="lam_dong", sector="students", unit="thcs_nd")
    assert again.ignored_columns == [WARNING_HEADER, *ERROR_HEADERS]
    assert again.original_headers == bad_rows.upload.original_headers
    cols = ["full_name", "date_of_birth", "gender", "national_id", "class"]
    assert again.raw.select(cols).fill_null("").equals(bad_rows.raw.select(cols).fill_null(""))


def test_report_from_frames_of_a_multi_file_asset(tmp_path: Path):
    """The asset form: raw + quarantined rows of one file; headers re-read from the upload beside it."""
    src = tmp_path / "multi_sheet.xlsx"
    shutil.copy(FILES / "multi_sheet.xlsx", src)
    result = process_upload(src, province="lam_dong", sector="students", today=TODAY)
    assert header_info(src, sector="students", sheet="6A2")[0] == ["HỌ TÊN", "SỐ CCCD", "NGÀY SINH"]
    path = write_error_report(result.raw, result.quarantined, error_report_path(src))
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["6A1", "6A2", "Hướng dẫn"]
    assert [c.value for c in wb["6A2"][1]][:3] == ["HỌ TÊN", "SỐ CCCD", "NGÀY SINH"]
    assert wb["6A2"]["A3"].value == "Phạm Thị Dung"


def test_structural_report(tmp_path: Path):
    with pytest.raises(UploadError) as info:
        read_upload(FILES / "no_name_column.csv", province="lam_dong", sector="students")
    path = write_structural_report(info.value, tmp_path / "x.errors.xlsx")
    ws = openpyxl.load_workbook(path).active
    values = {ws.cell(i, 1).value: ws.cell(i, 2).value for i in range(1, ws.max_row + 1)}
    assert values["Mã lỗi / Error code"] == "missing_name_column"
    assert "Số CCCD" in values["Tiêu đề tìm thấy / Headers found"]


def test_empty_raw_frame_matches_contract_columns():
    raw = read_upload(FILES / "bom_utf8.csv", province="lam_dong", sector="students").raw
    assert empty_raw_frame("students").schema == raw.schema


def _uploads(rows):
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return pl.DataFrame(
        [(sha, name, t0 + dt.timedelta(hours=h), "lam_dong", "students", unit, err)
         for sha, name, h, unit, err in rows],
        schema=["file_sha256", "file_name", "uploaded_at", "province", "sector", "unit", "error_code"],
        orient="row",
    )


def test_supersede_rule():
    out = supersede(_uploads([
        ("a", "u1__v1.xlsx", 0, "u1", None),
        ("b", "u1__v2.xlsx", 1, "u1", None),           # corrected file: supersedes v1
        ("a", "u1__v1_again.xlsx", 2, "u1", None),     # same bytes again: no-op
        ("c", "u1__broken.xlsx", 3, "u1", "corrupt_file"),  # broken: replaces nothing
        ("d", "u2__ds.csv", 0, "u2", None),
    ]))
    assert out["status"].to_list() == ["superseded", "current", "duplicate", "failed", "current"]
    assert out["superseded_by"].to_list() == ["b", None, None, None, None]


def test_supersede_keeps_separate_lists_of_one_unit():
    """Batches (đợt 1, đợt 2) are separate lists; a corrected batch or the returned error report
    supersedes only its own list."""
    out = supersede(_uploads([
        ("a", "u1__ds_dot_1.xlsx", 0, "u1", None),
        ("b", "u1__ds_dot_2.xlsx", 1, "u1", None),
        ("c", "u1__ds_dot_1_sua.xlsx", 2, "u1", None),
        ("d", "u1__ds_dot_2.errors.xlsx", 3, "u1", None),
    ]))
    assert out["status"].to_list() == ["superseded", "superseded", "current", "current"]
    assert out["superseded_by"].to_list() == ["c", "d", None, None]
    assert list_name("u1__DS đợt 1 (sửa lại).xlsx") == "ds_dot_1"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abcdef"), st.integers(0, 5), st.sampled_from(["u1", "u2", "u3"])),
                min_size=1, max_size=12))
def test_supersede_invariants(rows):
    # the same bytes always read the same way: file "f" is the broken one
    uploads = _uploads([(sha, f"{unit}__{sha}.xlsx", h, unit, "corrupt_file" if sha == "f" else None)
                        for sha, h, unit in rows])
    out = supersede(uploads)
    assert out.height == uploads.height and out.drop("status", "superseded_by").equals(uploads)
    lists = out.with_columns(pl.col("file_name").map_elements(list_name, return_dtype=pl.Utf8).alias("list"))
    current = lists.filter(pl.col("status") == "current")
    assert not current.select("unit", "list").is_duplicated().any()  # at most one current file per list
    live = lists.filter(~pl.col("status").is_in(["failed", "duplicate"]))
    assert set(current.select("unit", "list").iter_rows()) == set(live.select("unit", "list").iter_rows())
    readable = uploads.filter(pl.col("error_code").is_null())
    n_dup = readable.height - readable["file_sha256"].n_unique()
    assert out.filter(pl.col("status") == "duplicate").height == n_dup
    assert current["file_sha256"].is_unique().all()
    assert out.equals(supersede(uploads))  # deterministic


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=600), suffix=st.sampled_from([".xlsx", ".xls", ".csv", ".txt"]),
       prefix=st.sampled_from([b"", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\xef\xbb\xbfH\xe1\xbb\x8d"]))
def test_garbage_never_escapes_as_a_traceback(tmp_path: Path, data: bytes, suffix: str, prefix: bytes):
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(prefix + data)
    try:
        up = read_upload(path, province="lam_dong", sector="students")
    except UploadError as err:
        assert "fuzz" in str(err)
    else:
        assert up.raw.height >= 1


def test_files_of_the_synthetic_writer_read_exactly_as_their_truth(tmp_path: Path):
    """Uploads as rules.synth writes them (titles, header variants, class sheets, numbering rows,
    blank rows, footers, CSV with BOM / ; ): every data row found, with the truth's sheet,
    row_number and excel_row, and counts that reconcile."""
    from rules.synth.writer import write_province

    manifest = write_province(tmp_path, "lam_dong", 3000, 11)
    n_files = 0
    for sector, meta in manifest["sectors"].items():
        for f in meta["files"]:
            truth = pl.read_parquet(tmp_path / f["truth"]).select("sheet", "row_number", "excel_row")
            result = process_upload(tmp_path / f["file"], province="lam_dong", sector=sector, today=TODAY)
            assert result.raw.select("sheet", "row_number", "excel_row").equals(truth), f["file"]
            c = result.counts
            assert c["rows_read"] == truth.height == c["accepted"] + c["rejected"]
            n_files += 1
    assert n_files >= 10
