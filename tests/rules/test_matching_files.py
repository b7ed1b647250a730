"""match_file (what `doisoat match` runs) and combining with validation rejects."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import polars as pl
import pytest

from rules.matching import combine_with_rejected, match_file
from tests.rules.matching_helpers import person, register

D = dt.date
KIM = person("079311000001", "Phan Thị Kim", D(2011, 2, 3), "Nữ")
LOC = person("079212000002", "Đặng Hữu Lộc", D(2012, 4, 5), "Nam")


@pytest.fixture
def files(tmp_path):
    reg = tmp_path / "population.parquet"
    register([KIM, LOC]).write_parquet(reg)
    upload = tmp_path / "thpt_a__lop10.csv"
    upload.write_text(
        "DANH SÁCH HỌC SINH\n"
        "Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"
        "PHAN THI KIM,03/02/2011,Nữ,079311000001\n"
        ",,Nam,\n"  # no name, no date: rejected by validation
        "Đặng Hữu Lộc,05/04/2012,Nam,\n"
        "Không Có Ai,01/01/2009,Nam,\n",
        encoding="utf-8",
    )
    return reg, upload, tmp_path


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_match_file_csv_upload(files, suffix):
    reg, upload, tmp = files
    out_path = tmp / f"out{suffix}"
    out = match_file(reg, upload, "students", out_path, progress=False)
    res = pl.read_parquet(out_path) if suffix == ".parquet" else pl.read_csv(out_path, infer_schema=False)
    assert res["row_number"].cast(pl.Int64).to_list() == [1, 2, 3, 4]
    assert res["status"].to_list() == ["matched", "rejected", "matched", "unmatched"]
    assert res["person_id"][0] == KIM["person_id"] and res["person_id"][2] == LOC["person_id"]
    assert "missing_name" in res["reason"][1]
    assert out.stats["rejected"] == 1
    assert not (tmp / ".doisoat_index").exists()  # nothing written beside the register
    cache = Path(os.environ["DOISOAT_CACHE_DIR"])
    assert list((cache / "index").glob("population_index_*.parquet"))
    assert list((cache / "estimates").glob("estimates_*.json"))
    assert (cache / "index").stat().st_mode & 0o077 == 0  # owner-only: personal data


def test_register_on_a_read_only_folder(tmp_path):
    """Issue 11 item 10: inputs are read-only; caches go to our cache folder."""
    share = tmp_path / "share"
    share.mkdir()
    reg = share / "population.parquet"
    register([KIM, LOC]).write_parquet(reg)
    upload = share / "lop.csv"
    upload.write_text("Họ và tên,Ngày sinh,Giới tính\nĐặng Hữu Lộc,05/04/2012,Nam\n", encoding="utf-8")
    share.chmod(0o555)
    try:
        if os.access(share, os.W_OK):
            pytest.skip("running as a user who can write a 0555 folder (root): cannot make it read-only")
        out = match_file(reg, upload, "students", tmp_path / "o.csv", progress=False)
        assert out.results["person_id"].to_list() == [LOC["person_id"]]
        assert sorted(p.name for p in share.iterdir()) == ["lop.csv", "population.parquet"]
    finally:
        share.chmod(0o755)


def test_register_folder_is_never_written(tmp_path, monkeypatch):
    """Even where the folder is writable (root ignores 0555), nothing is written beside the inputs."""
    share = tmp_path / "share"
    share.mkdir()
    reg = share / "population.parquet"
    register([KIM, LOC]).write_parquet(reg)
    upload = share / "lop.csv"
    upload.write_text("Họ và tên,Ngày sinh,Giới tính\nĐặng Hữu Lộc,05/04/2012,Nam\n", encoding="utf-8")
    before = sorted(p.name for p in share.rglob("*"))
    match_file(reg, upload, "students", tmp_path / "o.csv", progress=False)
    assert sorted(p.name for p in share.rglob("*")) == before


def test_rows_rejected_by_validation_are_still_matched_and_flagged(tmp_path):
    """Missing DOB, an ID in scientific notation: the person is proposed from the other fields, the row
    keeps its reason and the flag validation_failed (so it is not verified); no name and no ID: skipped."""
    reg = tmp_path / "population.parquet"
    register([KIM, LOC]).write_parquet(reg)
    upload = tmp_path / "lop.csv"
    upload.write_text(
        "Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"
        "Phan Thị Kim,,Nữ,079311000001\n"  # missing date of birth, ID right
        "Đặng Hữu Lộc,05/04/2012,Nam,7.92120E+10\n"  # ID destroyed by Excel, name + DOB right
        ",,Nam,\n",  # nothing to match on
        encoding="utf-8",
    )
    out = match_file(reg, upload, "students", tmp_path / "o.parquet", progress=False)
    res = out.results
    assert res["row_number"].to_list() == [1, 2, 3]
    assert res["status"].to_list() == ["matched", "matched", "rejected"]
    assert res["person_id"].to_list()[:2] == [KIM["person_id"], LOC["person_id"]]
    assert all("validation_failed" in f for f in res["flags"].to_list()[:2])
    assert res["validation_reason"].to_list()[0] == "missing_date"
    assert res["validation_reason"].to_list()[1] == "id_scientific_notation"
    assert "dob=missing" in res["reason"][0] and "id=missing" in res["reason"][1]
    assert out.stats["validation_failed_matched"] == 2 and out.stats["skipped_no_name_no_id"] == 1


def test_validation_failed_rows_are_not_verified(tmp_path):
    from rules.verify.results import build_requests

    reg = tmp_path / "population.parquet"
    register([KIM, LOC]).write_parquet(reg)
    upload = tmp_path / "lop.csv"
    upload.write_text(
        "Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"
        "Phan Thị Kim,,Nữ,079311000001\n"
        "Đặng Hữu Lộc,05/04/2012,Nam,\n",
        encoding="utf-8",
    )
    out = match_file(reg, upload, "students", tmp_path / "o.parquet", progress=False)
    assert out.results["status"].to_list() == ["matched", "matched"]
    reqs = build_requests(out.results)
    assert reqs["person_id"].to_list() == [LOC["person_id"]]


def test_match_file_normalised_parquet_input(files, tmp_path):
    from tests.rules.matching_helpers import record, records

    reg, _, tmp = files
    inp = tmp / "records.parquet"
    records([record(KIM["full_name"], KIM["date_of_birth"], "Nữ")]).write_parquet(inp)
    out = match_file(reg, inp, "students", tmp / "o.parquet", progress=False)
    assert out.results["person_id"].to_list() == [KIM["person_id"]]


def test_missing_input_and_bad_output_type(files):
    reg, upload, tmp = files
    with pytest.raises(FileNotFoundError, match=r"nope\.csv"):
        match_file(reg, tmp / "nope.csv", "students", tmp / "o.parquet", progress=False)
    with pytest.raises(ValueError, match=r"\.json"):
        match_file(reg, upload, "students", tmp / "o.json", progress=False)


def test_combine_with_rejected_keeps_input_order():
    results = pl.DataFrame(
        {
            "file_sha256": ["a", "a", "b"],
            "sheet": ["", "", ""],
            "row_number": [1, 3, 1],
            "status": ["matched", "unmatched", "matched"],
            "person_id": ["1", None, "2"],
            "score": [1.0, 0.1, 1.0],
            "runner_up_score": [None, None, None],
            "reason": ["x", "y", "z"],
            "flags": [[], [], []],
            "proposed_id": ["1", None, "2"],
            "same_person_group": [1, 2, 3],
            "validation_reason": [None, None, None],
        },
        schema_overrides={"runner_up_score": pl.Float64, "flags": pl.List(pl.Utf8), "validation_reason": pl.Utf8},
    )
    rejected = pl.DataFrame(
        {
            "file_sha256": ["a", "b"],
            "sheet": ["", ""],
            "row_number": [2, 2],
            "reason_code": ["missing_name", "impossible_date"],
        }
    )
    both = combine_with_rejected(results, rejected)
    assert both.select("file_sha256", "row_number").rows() == [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2)]
    assert both["status"].to_list() == ["matched", "rejected", "unmatched", "matched", "rejected"]
    assert both["reason"][1] == "missing_name"


def test_rows_refused_by_validation_but_matched_come_back_in_input_order(tmp_path):
    """Every refused row has a name here, so all go through the matcher: the output is still in the
    file's order, not valid rows first."""
    reg = tmp_path / "population.parquet"
    register([KIM, LOC]).write_parquet(reg)
    upload = tmp_path / "lop.csv"
    upload.write_text(
        "Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"
        "Phan Thị Kim,,Nữ,079311000001\n"  # no date: refused, matched on name + ID
        "Đặng Hữu Lộc,05/04/2012,Nam,\n"
        "Phan Thị Kim,31/02/2011,Nữ,\n",  # impossible date: refused, matched on the name
        encoding="utf-8",
    )
    out = tmp_path / "out.parquet"
    match_file(reg, upload, "students", out, progress=False)
    res = pl.read_parquet(out)
    assert res["row_number"].to_list() == sorted(res["row_number"].to_list())
    assert res.height == 3
