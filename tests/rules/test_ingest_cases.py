"""The real-world failure cases of issue 12 (tests/corpus/cases), each with its right value.

Kinds: A invisible characters, C legacy font in a whole sheet, D CR-only line ends, E hidden sheet
and formulas without saved values. Each file is read, normalised and validated, then matched
against a register subset (tests/corpus/cases/expected.yaml says how it was drawn).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml

from rules.ingest import process_upload

CASES = Path(__file__).resolve().parents[1] / "corpus" / "cases"
EXPECTED: dict[str, dict] = yaml.safe_load((CASES / "expected.yaml").read_text(encoding="utf-8"))


def test_every_case_file_has_an_expectation():
    files = {p.name for p in CASES.iterdir() if p.suffix in (".csv", ".xlsx")}
    assert files == set(EXPECTED)
    assert {c["kind"] for c in EXPECTED.values()} == {"A", "C", "D", "E"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_case_reads_right(name: str):
    case = EXPECTED[name]
    result = process_upload(CASES / name, province="ho_chi_minh", sector="students")
    up = result.upload
    assert (result.counts["rows_read"], result.counts["accepted"]) == (case["rows_read"], case["accepted"])
    got = result.normalised_valid.sort("row_number").select("name_clean", "dob", "gender_norm", "id_clean").rows()
    want = [(n, dt.date.fromisoformat(str(d)), g, i) for n, d, g, i in case["rows"]]
    assert got == want
    if "headers" in case:
        assert up.original_headers == case["headers"]
    for key, value in case.get("cells", {}).items():
        assert up.cells[key] == value, key
    assert up.hidden_sheets == case.get("hidden_sheets", [])
    assert up.formulas_evaluated == case.get("formulas_evaluated", 0)
    if "sheets" in case:
        assert [s.sheet for s in up.sheets] == case["sheets"]
    if "excel_rows" in case:
        assert result.raw["excel_row"].to_list() == case["excel_rows"]
    assert "invisible_removed" in up.cells


def test_hidden_sheet_is_read_when_named():
    case = EXPECTED["15_ds_lop_6a.xlsx"]["sheet_override"]
    result = process_upload(CASES / "15_ds_lop_6a.xlsx", province="ho_chi_minh", sector="students",
                            sheet=case["sheet"])
    assert result.counts["rows_read"] == case["rows_read"]
    assert result.upload.sheet == case["sheet"] and result.upload.hidden_sheets == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_case_matches_its_person(name: str, tmp_path: Path):
    from rules.matching import match_file

    register = shutil.copy(CASES / "register_subset.parquet", tmp_path / "register.parquet")
    out = tmp_path / "out.csv"
    match_file(register, CASES / name, "students", out, progress=False)
    res = pl.read_csv(out, infer_schema=False).sort(pl.col("row_number").cast(pl.Int64))
    assert res["status"].to_list() == ["matched"] * len(EXPECTED[name]["match"])
    assert res["person_id"].to_list() == EXPECTED[name]["match"]
