"""match_file (what `doisoat match` runs) and combining with validation rejects."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from rules.matching import combine_with_rejected, match_file
from tests.rules.matching_helpers import person, register

D = dt.date
KIM = person("079201000001", "Phan Thị Kim", D(2001, 2, 3), "Nữ")
LOC = person("079202000002", "Đặng Hữu Lộc", D(2002, 4, 5), "Nam")


@pytest.fixture
def files(tmp_path):
    reg = tmp_path / "population.parquet"
    register([KIM, LOC]).write_parquet(reg)
    upload = tmp_path / "thpt_a__lop10.csv"
    upload.write_text(
        "DANH SÁCH HỌC SINH\n"
        "Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"
        "PHAN THI KIM,03/02/2001,Nữ,079201000001\n"
        ",,Nam,\n"  # no name, no date: rejected by validation
        "Đặng Hữu Lộc,05/04/2002,Nam,\n"
        "Không Có Ai,01/01/1999,Nam,\n",
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
    assert (tmp / ".doisoat_index").is_dir()  # index cached beside the register


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
        },
        schema_overrides={"runner_up_score": pl.Float64, "flags": pl.List(pl.Utf8)},
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
