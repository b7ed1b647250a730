"""Every file of the bad-files corpus (tests/corpus/files) against its asserted outcome.

The outcomes live in tests/corpus/expected.yaml: an UploadError code, or exact counts and what the
reader decided (sheet, header row, encoding, skipped rows, Excel row numbers).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import polars as pl
import pytest
import yaml

from rules.ingest import UploadError, process_upload, read_upload

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
EXPECTED: dict[str, dict] = yaml.safe_load((CORPUS / "expected.yaml").read_text(encoding="utf-8"))["cases"]


def test_corpus_is_large_enough_and_fully_described():
    files = {p.name for p in (CORPUS / "files").iterdir()}
    assert len(files) >= 25
    assert files == set(EXPECTED), "every corpus file needs an expected outcome and vice versa"
    assert sum("error" in c for c in EXPECTED.values()) >= 12
    assert sum("error" not in c for c in EXPECTED.values()) >= 12


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_case(name: str):
    case = EXPECTED[name]
    path = CORPUS / "files" / name
    if "error" in case:
        with pytest.raises(UploadError) as info:
            process_upload(path, province="lam_dong", sector=case["sector"], unit="u")
        err = info.value
        assert err.code == case["error"]
        assert err.row == case.get("error_row")
        message = str(err)
        assert name in message and err.message_vi in message and err.message_en in message
        assert "Traceback" not in message
        return
    result = process_upload(path, province="lam_dong", sector=case["sector"], unit="u")
    counts, up = result.counts, result.upload
    assert (counts["rows_read"], counts["accepted"], counts["rejected"]) == (
        case["rows_read"], case["accepted"], case["rejected"])
    assert counts["rows_read"] == counts["accepted"] + counts["rejected"]
    assert dict(counts["rejected_by_reason"]) == case.get("rejected_by_reason", {})
    assert up.sheet == case["sheet"]
    assert up.header_row == case["header_row"]
    assert up.encoding == case.get("encoding", "")
    assert up.blank_rows_skipped == case.get("blank_rows_skipped", 0)
    assert up.footer_rows_skipped == case.get("footer_rows_skipped", 0)
    assert sorted(set(up.column_map.values())) == case["fields"]
    assert up.unknown_columns == case.get("unknown_columns", [])
    assert result.raw["excel_row"].to_list() == case["excel_rows"]
    assert [s.sheet for s in up.sheets] == case.get("sheets", [case["sheet"]])
    for sheet in up.sheets:  # row_number counts data rows within each sheet
        numbers = result.raw.filter(pl.col("sheet") == sheet.sheet)["row_number"].to_list()
        assert numbers == list(range(1, sheet.rows + 1))
    assert result.raw["full_name"][0] == case["first_name"]
    valid = result.normalised_valid.sort("row_number")
    for key, column in (("names", "name_clean"), ("ids", "id_clean"), ("genders", "gender_norm")):
        if key in case:  # the value as the person wrote it, whatever the file did to it
            assert valid[column].to_list() == case[key], key
    if "dobs" in case:
        assert [d.isoformat() for d in valid["dob"].to_list()] == case["dobs"]
    assert {k: v for k, v in up.cells.items() if v} == case.get("cells", {})
    assert up.hidden_sheets == case.get("hidden_sheets", [])
    assert up.formulas_evaluated == case.get("formulas_evaluated", 0)


def test_every_cell_is_text_and_lineage_is_complete():
    up = read_upload(CORPUS / "files" / "ids_numbers.xlsx", province="lam_dong", sector="students", unit="u")
    raw = up.raw
    assert all(dtype == pl.String for name, dtype in raw.schema.items() if name not in ("row_number", "excel_row"))
    assert raw["national_id"].to_list()[:4] == ["79212000123", "001311004567", "7.92031E+10", "79203100000"]
    assert raw.select("file_sha256", "sheet", "province", "sector", "unit").unique().rows() == [
        (up.file_sha256, "DS", "lam_dong", "students", "u")]


def test_quoted_newline_keeps_text_and_line_numbers():
    up = read_upload(CORPUS / "files" / "quoted_newlines.csv", province="lam_dong", sector="students")
    notes = [pl.Series([e]).str.json_decode().struct.field("Ghi chú")[0] for e in up.raw["extra"].to_list()]
    assert notes[0] == "dòng 1\ndòng 2\ndòng 3"
    assert up.raw["full_name"][2] == "Lê Hoàng, Cường"


def test_legacy_and_windows_encodings_give_nfc_unicode():
    for name in ("tcvn3.csv", "vni.csv", "viscii.csv", "windows1258.csv"):
        up = read_upload(CORPUS / "files" / name, province="lam_dong", sector="students")
        assert up.raw["full_name"].to_list()[:2] == ["Nguyễn Văn An", "Trần Thị Bình"], name


def test_sheet_override_and_unknown_sheet():
    path = CORPUS / "files" / "wrong_sheet_first.xlsx"
    with pytest.raises(UploadError) as info:
        read_upload(path, province="lam_dong", sector="students", sheet="Hướng dẫn")
    assert info.value.code == "no_header" and "Nhập danh sách ở trang DS" in info.value.found_headers
    with pytest.raises(UploadError) as info:
        read_upload(path, province="lam_dong", sector="students", sheet="Không có")
    assert info.value.code == "sheet_not_found" and info.value.found_headers == ["Hướng dẫn", "DS"]
    assert read_upload(path, province="lam_dong", sector="students", sheet=1).raw.height == 4


def test_structural_errors_name_expected_and_found_headers():
    with pytest.raises(UploadError) as info:
        read_upload(CORPUS / "files" / "no_name_column.csv", province="lam_dong", sector="students")
    err = info.value
    assert "Họ và tên" in err.expected_headers and err.found_headers == ["Ngày sinh", "Giới tính", "Số CCCD"]
    assert "'Họ và tên'" in str(err) and "'Số CCCD'" in str(err)
    assert err.file_sha256 is not None and len(err.file_sha256) == 64
    clone = pickle.loads(pickle.dumps(err))
    assert str(clone) == str(err) and clone.file_sha256 == err.file_sha256


def test_million_row_csv(tmp_path: Path):
    """The 1M-row case of the corpus, built at test time: every row read, in order, with lineage."""
    n = 1_000_000
    body = pl.DataFrame({
        "Họ và tên": pl.Series(["Nguyễn Văn An", "Trần Thị Bình", ""]).sample(n, with_replacement=True, seed=1),
        "Ngày sinh": "05/09/2012",
        "Số CCCD": pl.int_range(0, n, eager=True).cast(pl.String).str.zfill(12),
    })
    path = tmp_path / "big.csv"
    path.write_text("DANH SÁCH HỌC SINH\n\n", encoding="utf-8")
    with open(path, "a", encoding="utf-8") as fh:
        body.write_csv(fh)
    up = read_upload(path, province="ha_noi", sector="students", unit="big")
    assert up.raw.height == n and up.header_row == 3
    assert up.raw["excel_row"][0] == 4 and up.raw["excel_row"][-1] == n + 3
    assert up.raw["national_id"][-1] == f"{n - 1:012d}"
    assert (up.raw["full_name"].fill_null("") == "").sum() == (body["Họ và tên"] == "").sum()


def test_empty_unlabelled_columns_are_dropped_but_unlabelled_values_kept(tmp_path: Path):
    import xlsxwriter

    path = tmp_path / "fmt.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("DS")
    ws.write_row(0, 0, ["Họ và tên", "Ngày sinh"])
    ws.write_row(1, 0, ["Nguyễn Văn An", "05/09/2012"])
    ws.write_row(2, 0, ["Trần Thị Bình", "12/01/2011", None, "ghi chú lạc"])
    ws.write_blank(3, 6, None, wb.add_format({"bg_color": "yellow"}))  # formatting only, far right
    ws.write(4, 5, 1.5)  # a value in a column without a header
    ws.write(4, 0, "Lê Hoàng Cường")
    wb.close()
    up = read_upload(path, province="lam_dong", sector="students")
    assert up.raw.height == 3
    assert up.unknown_columns == ["Cột 4", "Cột 6"]
    assert up.raw["extra"].to_list()[1] == '{"Cột 4":"ghi chú lạc","Cột 6":null}'


def test_missing_path_and_folder_are_upload_errors(tmp_path: Path):
    for path in (tmp_path / "không_có.xlsx", tmp_path):
        with pytest.raises(UploadError) as info:
            read_upload(path, province="lam_dong", sector="students")
        assert info.value.code == "file_not_found" and str(path) in str(info.value)
