"""The ``doisoat`` command line on real files, as users run it (in process, through ``main``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipelines.cli import main


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated province (register, uploads, truth) shared by the tests below."""
    out = tmp_path_factory.mktemp("gen")
    assert main(["generate", "--province", "da_nang", "--size", "4000", "--seed", "3", "--out", str(out),
                 "--students", "600", "--vaccinations", "200", "--insurance", "200"]) == 0
    return out


def _inbox_files(root: Path, sector: str) -> list[Path]:
    return sorted((root / "inbox" / "da_nang" / sector).iterdir())


def test_generate_lays_out_a_data_folder(province: Path):
    assert (province / "population" / "da_nang.parquet").exists()
    assert (province / "manifest.json").exists()
    for sector in ("students", "vaccinations", "insurance"):
        files = _inbox_files(province, sector)
        assert files and {f.suffix for f in files} <= {".xlsx", ".csv"}
        assert len(list((province / "truth" / "da_nang" / sector).glob("*.truth.parquet"))) == len(files)


def test_generate_harsh_profile_counts_errors_in_the_truth(tmp_path: Path):
    import json

    out = tmp_path / "harsh"
    assert main(["generate", "--province", "da_nang", "--size", "4000", "--seed", "3", "--out", str(out),
                 "--students", "400", "--vaccinations", "0", "--insurance", "0", "--profile", "harsh"]) == 0
    truth = pl.concat([pl.read_parquet(p) for p in (out / "truth" / "da_nang" / "students").glob("*.parquet")])
    assert truth.height == 400 and truth["n_errors"].null_count() == 0
    assert (truth["n_errors"] >= 4).sum() > 20 and (truth["n_errors"] == 0).sum() > 40
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["profile"] == "harsh" and manifest["harsh_profile"]["levels"][0]["share"] == 0.2


def _school_list(path: Path, fixed: bool = False) -> Path:
    """A list as a school secretary makes it: title rows, a header, one row without a name and one
    impossible birth date among good rows (``fixed``: both corrected)."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("DS")
    ws.write_row(0, 0, ["UBND THÀNH PHỐ ĐÀ NẴNG"])
    ws.write_row(1, 0, ["DANH SÁCH HỌC SINH NĂM HỌC 2025-2026"])
    ws.write_row(3, 0, ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân", "Lớp"])
    rows = [
        ["1", "Nguyễn Văn An", "12/03/2012", "Nam", "048212000123", "8A"],
        ["2", "Phạm Thị Dung" if fixed else "", "01/05/2012", "Nữ", "048312000456", "8A"],
        ["3", "Trần Thị Bình", "28/02/2012" if fixed else "31/02/2012", "Nữ", "048312000789", "8A"],
        ["4", "Lê Hoàng Cường", "07/11/2012", "Nam", "048212000999", "8A"],
    ]
    for i, row in enumerate(rows):
        ws.write_row(4 + i, 0, row)
    wb.close()
    return path


def test_upload_prints_counts_writes_the_report_and_fills_the_inbox(data_dir, tmp_path, capsys):
    upload = _school_list(tmp_path / "DS hoc sinh 8A.xlsx")
    assert main(["upload", str(upload), "--province", "Đà Nẵng", "--sector", "students", "--unit", "thcs_x"]) == 0
    out = capsys.readouterr().out
    assert "read 4" in out and "accepted 2" in out and "rejected 2" in out
    assert "missing_name" in out and "impossible_date" in out
    report = tmp_path / "DS hoc sinh 8A.errors.xlsx"
    assert report.exists()
    inbox = data_dir / "inbox" / "da_nang" / "students"
    assert [p.name for p in inbox.iterdir()] == ["thcs_x__DS hoc sinh 8A.xlsx"]
    # The secretary fixes the report and sends it back: it is accepted in full.
    import openpyxl

    wb = openpyxl.load_workbook(report)
    ws = wb.worksheets[0]
    cells = {c.value: c for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    cells["31/02/2012"].value = "28/02/2012"
    header = cells["Họ và tên"]
    blank = next(r for r in range(header.row + 1, ws.max_row + 1) if not ws.cell(r, header.column).value)
    ws.cell(blank, header.column).value = "Phạm Thị Dung"
    wb.save(report)
    assert main(["upload", str(report), "--province", "da_nang", "--sector", "students", "--unit", "thcs_x"]) == 0
    assert "rejected 0" in capsys.readouterr().out


def test_upload_of_a_clean_file_whose_old_report_cannot_be_removed_says_so_and_goes_on(data_dir, tmp_path, capsys):
    upload = _school_list(tmp_path / "DS 8A.xlsx", fixed=True)
    (tmp_path / "DS 8A.errors.xlsx").mkdir()  # a folder at the old report's name
    assert main(["upload", str(upload), "--province", "da_nang", "--sector", "students", "--unit", "thcs_x"]) == 0
    out = capsys.readouterr().out
    assert "rejected 0" in out and "could not be removed (a folder has its name)" in out
    assert [p.name for p in (data_dir / "inbox" / "da_nang" / "students").iterdir()] == ["thcs_x__DS 8A.xlsx"]


def test_upload_of_a_structurally_bad_file_is_one_clear_line_and_exit_2(data_dir, tmp_path, capsys):
    bad = tmp_path / "danh_sach.xlsx"
    bad.write_bytes(b"this is not a spreadsheet at all")
    assert main(["upload", str(bad), "--province", "da_nang", "--sector", "students"]) == 2
    err = capsys.readouterr().err
    assert "danh_sach.xlsx" in err and "Traceback" not in err
    assert not (data_dir / "inbox" / "da_nang" / "students").exists()


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_options_work_before_and_after_the_command(data_dir, tmp_path, monkeypatch, capsys, where):
    """``doisoat upload F … --data D`` and ``doisoat --data D upload F …`` both use D (the tester's
    ``--data`` after the command was refused as an unrecognised argument)."""
    other = tmp_path / "other_data"
    upload = _school_list(tmp_path / "DS 8A.xlsx")
    command = ["upload", str(upload), "--province", "da_nang", "--sector", "students", "--unit", "thcs_x"]
    args = ["--data", str(other), *command] if where == "before" else [*command, "--data", str(other)]
    monkeypatch.setenv("DOISOAT_DATA", str(data_dir))  # main() moves it to --data; monkeypatch restores it
    assert main(args) == 0, capsys.readouterr().err
    assert [p.name for p in (other / "inbox" / "da_nang" / "students").iterdir()] == ["thcs_x__DS 8A.xlsx"]
    assert not (data_dir / "inbox").exists()


def test_global_options_after_the_command_do_not_reset_those_before_it():
    from pipelines.cli import _parser

    parse = _parser().parse_args
    assert parse(["--data", "A", "--debug", "provinces"]).data == Path("A")
    assert parse(["--data", "A", "--debug", "provinces"]).debug is True
    assert parse(["--data", "A", "review", "stats", "--data", "B"]).data == Path("B")  # the later one wins
    assert parse(["provinces"]).data is None and parse(["provinces"]).debug is False


@pytest.mark.parametrize(("args", "needle"), [
    (["upload", "nope.xlsx", "--province", "da_nang", "--sector", "students"], "nope.xlsx"),
    (["upload", "x.csv", "--province", "atlantis", "--sector", "students"], "unknown province"),
    (["upload", "x.csv", "--province", "da_nang", "--sector", "taxes"], "unknown sector"),
])
def test_user_mistakes_are_explained_without_traceback(data_dir, capsys, args, needle):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_match_writes_one_row_per_input_row_in_order(province, data_dir, tmp_path):
    source = next(p for p in _inbox_files(province, "students") if p.suffix == ".csv")
    out = tmp_path / "decisions.csv"
    assert main(["match", "--population", str(province / "population" / "da_nang.parquet"),
                 "--input", str(source), "--sector", "students", "--out", str(out)]) == 0
    result = pl.read_csv(out, schema_overrides={"person_id": pl.Utf8})  # IDs keep their leading zero
    truth = pl.read_parquet(province / "truth" / "da_nang" / "students" / f"{source.name}.truth.parquet")
    assert result.height == truth.height
    assert result["row_number"].to_list() == sorted(truth["row_number"].to_list())
    assert {"row_number", "status", "person_id", "score", "reason"} <= set(result.columns)
    matched = result.filter(pl.col("status") == "matched").join(
        truth.select("row_number", pl.col("person_id").alias("true_id")), on="row_number")
    assert matched.height > 0.8 * truth.height
    assert (matched["person_id"].cast(pl.Utf8) == matched["true_id"]).mean() > 0.99


def test_match_refuses_a_missing_register(data_dir, tmp_path, capsys):
    source = tmp_path / "x.csv"
    source.write_text("Họ và tên,Ngày sinh\nA,01/01/2010\n", encoding="utf-8")
    assert main(["match", "--population", str(tmp_path / "none.parquet"), "--input", str(source),
                 "--sector", "students", "--out", str(tmp_path / "o.parquet")]) == 2
    assert "none.parquet" in capsys.readouterr().err


def test_help_and_python_dash_m_work():
    proc = subprocess.run([sys.executable, "-m", "pipelines", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for command in ("demo", "generate", "upload", "match", "forecast", "report", "ui"):
        assert command in proc.stdout


@pytest.mark.parametrize(("policy", "needle"), [
    ("national_daily_quota: -5\n", "national_daily_quota"),
    ("national_daily_quota: 200000\npolicy: lottery\n", "policy: expected one of"),
    ("national_daily_quota: [unclosed\n", "quota"),
])
def test_forecast_refuses_a_bad_policy_with_a_clear_message(data_dir, tmp_path, capsys, policy, needle):
    path = tmp_path / "quota.yaml"
    path.write_text(policy, encoding="utf-8")
    assert main(["forecast", "--policy", str(path)]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_forecast_what_if_quota_on_an_empty_installation(data_dir, capsys):
    assert main(["forecast", "--quota", "300000"]) == 0
    assert "no verification queue yet" in capsys.readouterr().out


def test_run_for_a_province_without_a_register_is_one_clear_line(data_dir, capsys):
    assert main(["run", "--province", "ha_noi"]) == 2
    err = capsys.readouterr().err
    assert "no population register for ha_noi" in err and "Traceback" not in err and err.count("\n") <= 2


@pytest.mark.parametrize(("day", "needle"), [("2099-01-01", "in the future"), ("2020-01-01", "before the first"),
                                             ("23/11/2026", "not a date")])
def test_verify_day_refuses_days_without_a_quota(data_dir, capsys, day, needle):
    assert main(["verify-day", "--date", day]) == 2
    assert needle in capsys.readouterr().err


def test_a_corrected_file_without_a_unit_prefix_supersedes_the_first(data_dir, tmp_path):
    from rules.ingest.batch import mark_uploads, read_inbox

    first = _school_list(tmp_path / "DS hoc sinh 8A.xlsx")
    assert main(["upload", str(first), "--province", "da_nang", "--sector", "students"]) == 0
    corrected = _school_list(tmp_path / "DS hoc sinh 8A (sua).xlsx", fixed=True)
    assert main(["upload", str(corrected), "--province", "da_nang", "--sector", "students"]) == 0
    inbox = data_dir / "inbox" / "da_nang" / "students"
    uploads = mark_uploads(read_inbox(inbox, province="da_nang", sector="students",
                                      reports_dir=tmp_path / "reports").uploads)
    assert uploads["unit"].unique().to_list() == ["ds_hoc_sinh_8a"]
    status = dict(zip(uploads["file_name"], uploads["status"], strict=True))
    assert status == {"ds_hoc_sinh_8a__DS hoc sinh 8A.xlsx": "superseded",
                      "ds_hoc_sinh_8a__DS hoc sinh 8A (sua).xlsx": "current"}


def test_a_closed_pipe_is_not_an_error(data_dir, tmp_path):
    """``doisoat upload … | head``: the reader going away is not "unexpected BrokenPipeError"."""
    import os

    upload = tmp_path / "ds.csv"
    upload.write_text("Họ và tên,Ngày sinh,Giới tính\n" + "Nguyễn Văn An,05/09/2012,Nam\n" * 3, encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines", "upload", str(upload), "--province", "da_nang", "--sector", "students",
         "--no-inbox"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy(),
    )
    proc.stdout.close()  # like `head` exiting before the command prints
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.wait(timeout=120)
    assert "BrokenPipe" not in err and "unexpected" not in err and "Traceback" not in err, err
    assert proc.returncode in (0, 141)
