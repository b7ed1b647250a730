"""Class 4 of issue 11: spreadsheets are bounded BEFORE they are loaded, and memory stays bounded.

The hostile files are built here (never committed). Memory is asserted on a child process that runs
``doisoat upload`` under an address-space limit of 4 GiB (so a regression fails the test instead of
taking the machine) and reports its own peak RSS, which must stay under 2 GiB.
"""

from __future__ import annotations

import contextlib
import zipfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from rules.ingest import UploadError, limits, process_upload, read_upload, write_error_report
from tests.security.hostile import grid_bomb, lying_directory, run_limited, shared_string_bomb, zip_bomb

CEILING_MIB = 2048


def _upload(path: Path, data: Path) -> dict:
    return run_limited(["upload", str(path), "--province", "ha_noi", "--sector", "students", "--no-inbox"],
                       data=data)


def _refused(result: dict, code: str) -> None:
    assert result["rc"] == 2, result["stderr"][-2000:]
    assert f"[{code}]" in result["stderr"] and "Traceback" not in result["stderr"]
    assert len(result["stderr"].strip().splitlines()) == 1  # one clear line
    assert result["maxrss_mib"] < CEILING_MIB


def test_zip_bomb_is_refused_before_loading_with_bounded_memory(tmp_path: Path) -> None:
    bomb = zip_bomb(tmp_path / "ds.xlsx", unpacked_mib=300)
    assert bomb.stat().st_size < 2 << 20  # about 1 MB on disk
    result = _upload(bomb, tmp_path)
    _refused(result, "expands_too_much")
    assert result["maxrss_mib"] < 400  # refused before any parsing: the size of Python + polars


def test_a_128_mib_shared_string_in_a_small_file_is_refused(tmp_path: Path) -> None:
    bomb = shared_string_bomb(tmp_path / "ten.xlsx", mib=128)
    assert bomb.stat().st_size < 300_000
    _refused(_upload(bomb, tmp_path), "expands_too_much")


def test_a_zip_directory_that_lies_about_sizes_is_still_caught(tmp_path: Path) -> None:
    bomb = lying_directory(tmp_path / "ds.xlsx", unpacked_mib=200)
    with zipfile.ZipFile(bomb) as zf:  # the directory claims no member unpacks larger than it is packed
        assert all(i.file_size <= i.compress_size for i in zf.infolist() if i.filename.endswith("sheet1.xml"))
    _refused(_upload(bomb, tmp_path), "expands_too_much")


@pytest.mark.parametrize("far_cell", ["ZZ1000000", "AD1048576", "SZ100", "A9000000"])
def test_two_cells_far_apart_are_refused_before_calamine_builds_the_grid(tmp_path: Path, far_cell: str) -> None:
    bomb = grid_bomb(tmp_path / "ds.xlsx", far_cell)
    assert bomb.stat().st_size < 4096
    result = _upload(bomb, tmp_path)
    assert result["maxrss_mib"] < 400, result
    assert result["rc"] == 2 and ("[sheet_too_large]" in result["stderr"] or "[too_many_columns]" in result["stderr"])


def test_the_largest_grid_left_to_calamine_stays_under_the_ceiling(tmp_path: Path) -> None:
    """A1 and Z1048576: no reference beyond column Z or row 1,049,999, so no exact scan; the dense
    grid calamine builds (1,048,576 x 26 cells) is the worst case the limits allow."""
    result = _upload(grid_bomb(tmp_path / "ds.xlsx", "Z1048576"), tmp_path)
    assert result["maxrss_mib"] < CEILING_MIB, result
    assert "Traceback" not in result["stderr"]


def test_a_cell_longer_than_excel_allows_is_refused_with_its_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "ds.csv"
    path.write_text("Họ và tên,Ngày sinh\nNguyễn Văn An,05/09/2012\n" + "B" * 40_000 + ",01/01/2012\n",
                    encoding="utf-8")
    with pytest.raises(UploadError) as err:
        read_upload(path, province="ha_noi", sector="students")
    assert err.value.code == "cell_too_long" and err.value.row == 3 and err.value.column == "Cột 1"
    assert "B" * 100 not in str(err.value)


def test_limits_refuse_each_kind_when_lowered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every limit has its own refusal: lowered here so that ordinary files cross them."""
    import xlsxwriter

    path = tmp_path / "ds.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("DS")
    ws.write_row(0, 0, ["Họ và tên", "Ngày sinh"])
    for i in range(1, 3000):
        ws.write_row(i, 0, [f"Người {i} có tên khác {i * 7919 % 10007}", f"{i % 28 + 1:02d}/05/2012"])
    wb.close()
    read_upload(path, province="ha_noi", sector="students")  # fine with the real limits
    cases = [("MAX_FILE_BYTES", 1_000, "file_too_large"), ("MAX_UNPACKED_BYTES", 10_000, "expands_too_much"),
             ("MAX_MEMBERS", 3, "expands_too_much"), ("MAX_ROWS", 100, "too_many_rows"),
             ("MAX_GRID_CELLS", 1_000, None)]
    for name, value, code in cases:
        with monkeypatch.context() as m:
            m.setattr(limits, name, value)
            if code is None:  # the grid is checked only for sheets wider than Z or longer than 1,049,999 rows
                read_upload(path, province="ha_noi", sector="students")
                continue
            with pytest.raises(UploadError) as err:
                read_upload(path, province="ha_noi", sector="students")
            assert err.value.code == code, name


def test_error_report_of_a_large_file_holds_the_bad_rows_only(tmp_path: Path) -> None:
    from rules.ingest.report import SMALL_FILE_ROWS

    n = SMALL_FILE_ROWS + 5_000
    path = tmp_path / "thpt_x__ds.csv"
    bad = set(range(0, n, 100))  # 1% of the rows have no name
    names = ["" if i in bad else f"Nguyễn Văn {chr(65 + i % 26)}" for i in range(n)]
    pl.DataFrame({"Họ và tên": names, "Ngày sinh": ["05/09/2012"] * n,
                  "Số định danh cá nhân": [f"0792120{i:05d}" for i in range(n)]}).write_csv(path)
    result = process_upload(path, province="ha_noi", sector="students")
    assert result.quarantined.height == len(bad)
    report = write_error_report(result, tmp_path / "r.errors.xlsx")
    wb = load_workbook(report, read_only=True)
    data = wb[wb.sheetnames[0]]
    rows = list(data.iter_rows(values_only=True))
    assert len(rows) == 1 + len(bad)  # header + the rejected rows, not the whole file
    assert all(r[-4] for r in rows[1:])  # every row written carries its error code
    guide = " ".join(str(r[0]) for r in wb["Hướng dẫn"].iter_rows(values_only=True) if r[0])
    assert "KHÔNG tải báo cáo này lên lại" in guide and "Do NOT upload this report" in guide


def test_error_report_of_a_small_file_holds_every_row(tmp_path: Path) -> None:
    path = tmp_path / "thpt_x__ds.csv"
    path.write_text("Họ và tên,Ngày sinh\nNguyễn Văn An,05/09/2012\n,06/09/2012\nTrần Thị B,07/09/2012\n",
                    encoding="utf-8")
    result = process_upload(path, province="ha_noi", sector="students")
    wb = load_workbook(write_error_report(result, tmp_path / "r.errors.xlsx"), read_only=True)
    assert len(list(wb[wb.sheetnames[0]].iter_rows(values_only=True))) == 1 + 3


def test_a_wide_ordinary_sheet_passes_the_exact_scan(tmp_path: Path) -> None:
    """30 columns (AA..AD are two-letter references): the exact extent is scanned and found small."""
    import xlsxwriter

    path = tmp_path / "wide.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("DS")
    ws.write_row(0, 0, ["Họ và tên", "Ngày sinh", *[f"Cột thêm {j}" for j in range(28)]])
    for i in range(1, 200):
        ws.write_row(i, 0, [f"Nguyễn Văn {chr(65 + i % 26)}", "05/09/2012", *[str(j) for j in range(28)]])
    wb.close()
    assert read_upload(path, province="ha_noi", sector="students").raw.height == 199


def test_a_long_sheet_name_is_refused(tmp_path: Path) -> None:
    from tests.security.hostile import HEADER, inline_row, write_xlsx

    sheet = ["<?xml version=\"1.0\"?><worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\">"
             "<sheetData>", inline_row(1, HEADER), inline_row(2, ["1", "Nguyễn Văn An"]), "</sheetData></worksheet>"]
    path = write_xlsx(tmp_path / "ds.xlsx", sheet, sheet_name="D" * 5000)
    with pytest.raises(UploadError) as err:
        read_upload(path, province="ha_noi", sector="students")
    assert err.value.code == "name_too_long" and "D" * 100 not in str(err.value)


def test_a_million_rows_with_1pct_bad_rows_report_in_bounded_memory(tmp_path: Path) -> None:
    """The issue's case: 1M rows, 1% rejected. The report holds the 10,000 bad rows, not the million,
    and the whole upload (read, validate, report) stays under the ceiling."""
    n = 1_000_000
    i = pl.int_range(0, n, eager=True)
    pl.DataFrame({
        "Họ và tên": pl.select(pl.when(i % 100 == 0).then(pl.lit("")).otherwise(
            pl.lit("Nguyễn Văn ") + (i % 997).cast(pl.String))).to_series(),
        "Ngày sinh": pl.Series(["05/09/2012"] * n),
        "Số định danh cá nhân": "0792" + (i + 10**7).cast(pl.String).str.zfill(8),
    }).write_csv(tmp_path / "thpt_x__big.csv")
    result = _upload(tmp_path / "thpt_x__big.csv", tmp_path)
    assert result["rc"] == 0, result["stderr"][-500:]
    assert result["maxrss_mib"] < CEILING_MIB, result["maxrss_mib"]
    wb = load_workbook(tmp_path / "thpt_x__big.csv.errors.xlsx", read_only=True)
    assert sum(1 for _ in wb[wb.sheetnames[0]].iter_rows()) == 1 + n // 100


@pytest.fixture(scope="module")
def small_xlsx(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from tests.security.hostile import HEADER, inline_row, write_xlsx

    path = tmp_path_factory.mktemp("x") / "ds.xlsx"
    rows = [inline_row(r, [str(r), f"Người {r}", "05/09/2012"]) for r in range(2, 60)]
    write_xlsx(path, ['<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
                      '2006/main"><sheetData>', inline_row(1, HEADER), *rows, "</sheetData></worksheet>"])
    return path.read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_damaged_zips_give_an_upload_error_or_pass_never_a_crash(small_xlsx: bytes, data) -> None:
    """Flipped bytes anywhere in a real xlsx: the limits raise UploadError or let the reader decide."""
    blob = bytearray(small_xlsx)
    for _ in range(data.draw(st.integers(1, 8))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    with contextlib.suppress(UploadError):
        limits.check_workbook(bytes(blob), "ds.xlsx")
