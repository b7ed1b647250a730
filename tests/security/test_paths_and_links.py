"""Classes 2 and 3 of issue 11: text typed by people is never a path, and the inbox never follows links.

``doisoat upload --unit`` is refused unless it is a safe slug; inbox names are one path part of at
most 200 UTF-8 bytes; the inbox readers (``read_inbox``, the sensor's ``scan_inbox``) read regular
files only, found with ``lstat``, and one bad file never blocks the others.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.cli import main
from pipelines.sensors import scan_inbox
from rules.ingest.batch import read_inbox
from rules.ingest.inbox import (
    MAX_NAME_BYTES,
    UNIT_PATTERN,
    UnitError,
    bounded_name,
    check_unit,
    inbox_name,
    list_inbox,
    unit_of,
    unit_slug,
)
from rules.ingest.report import error_report_path

GOOD_CSV = "Họ và tên,Ngày sinh,Số định danh cá nhân\nNguyễn Văn An,05/09/2012,079212000123\n"
# a real-looking 147-character Vietnamese name, decomposed (NFD) as macOS and some zip tools store it
LONG_NAME = unicodedata.normalize("NFD", (
    "Bổ sung điều chỉnh thông tin định danh cá nhân của học sinh trường Trung học cơ sở Nguyễn Trường Tộ "
    "quận Đống Đa thành phố Hà Nội đợt tháng mười một năm hai nghìn không trăm hai mươi sáu")[:147]) + ".csv"


@pytest.mark.parametrize("unit", ["/abs/dir", "../../x", "..", "a\nb", "thpt x", "THPT_X", "thpt/x", "x" * 65,
                                  "thpt_x_079212000123", "ds_05_09_2012", "nguyen_van_an", "", "_x", "x_"])
def test_unsafe_units_are_refused_with_a_suggestion(unit: str) -> None:
    with pytest.raises(UnitError) as err:
        check_unit(unit)
    message = str(err.value)
    assert "\n" not in message and "suggestion: " in message
    assert UNIT_PATTERN.match(message.rsplit("suggestion: ", 1)[1].split(" ")[0])


@pytest.mark.parametrize("unit", ["thpt_le_quy_don", "tyt_quan_1", "thcs_nguyen_trai", "mn_hoa_sen_2"])
def test_safe_units_are_kept(unit: str) -> None:
    assert check_unit(unit) == unit


@pytest.mark.parametrize("unit", ["/abs/dir", "../../escape", "a\nb"])
def test_upload_unit_never_writes_outside_the_inbox(tmp_path: Path, data_dir: Path, unit: str, capsys) -> None:
    source = tmp_path / "src" / "ds.csv"
    source.parent.mkdir()
    source.write_text(GOOD_CSV, encoding="utf-8")
    before = {p for p in tmp_path.rglob("*")}
    assert main(["upload", str(source), "--province", "ha_noi", "--sector", "students", "--unit", unit]) == 2
    err = capsys.readouterr().err
    assert "--unit" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    written = {p for p in tmp_path.rglob("*")} - before
    # nothing written anywhere but the instance's own (empty, owner-only) folders set up at start
    assert all(p.is_dir() and data_dir / "dagster_home" in (p, *p.parents) for p in written), written
    assert not Path("/abs/dir").exists()


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=400))
def test_unit_slug_is_always_safe(text: str) -> None:
    slug = unit_slug(text)
    assert UNIT_PATTERN.match(slug) and len(slug) <= 64


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=300), st.sampled_from(["", ".xlsx", ".csv", ".CSV", ".errors.xlsx"]))
def test_inbox_names_are_one_bounded_path_part(text: str, suffix: str) -> None:
    name = inbox_name("thpt_x", text + suffix)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert "/" not in name and "\\" not in name and not any(ord(c) < 32 or c == "\x7f" for c in name)
    assert name.startswith("thpt_x__") and name not in (".", "..")
    if suffix and len(text.encode()) < 100 and "." not in text:
        assert name.lower().endswith(suffix.lower())
    assert unit_of(name) == "thpt_x"
    report = error_report_path(Path("/r") / name)
    assert len(report.name.encode("utf-8")) <= 255 and report.name.endswith(".errors.xlsx")


def test_upload_refuses_a_linked_inbox_folder(tmp_path: Path, data_dir: Path, capsys) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (data_dir / "inbox" / "ha_noi").mkdir(parents=True)
    (data_dir / "inbox" / "ha_noi" / "students").symlink_to(outside, target_is_directory=True)
    source = tmp_path / "ds.csv"
    source.write_text(GOOD_CSV, encoding="utf-8")
    assert main(["upload", str(source), "--province", "ha_noi", "--sector", "students", "--unit", "thpt_x"]) == 2
    assert "outside the inbox" in capsys.readouterr().err and list(outside.iterdir()) == []


def test_bounded_names_keep_two_long_lists_apart() -> None:
    a, b = "Danh sách " * 40 + "đợt 1.xlsx", "Danh sách " * 40 + "đợt 2.xlsx"
    assert bounded_name(a) != bounded_name(b)
    assert all(len(bounded_name(n).encode()) <= MAX_NAME_BYTES and bounded_name(n).endswith(".xlsx")
               for n in (a, b))


def test_a_long_vietnamese_file_name_uploads_and_lands_in_the_inbox(tmp_path: Path, data_dir: Path, capsys) -> None:
    unit = "thpt_nguyen_thi_minh_khai"
    assert len(f"{unit}__{LONG_NAME}".encode()) > 255  # the inbox copy that failed with "unexpected OSError"
    source = tmp_path / LONG_NAME
    source.write_text(GOOD_CSV + "Trần Thị B,không rõ,\n", encoding="utf-8")  # one bad row: a report is written
    assert main(["upload", str(source), "--province", "ha_noi", "--sector", "students", "--unit", unit]) == 0
    out = capsys.readouterr().out
    assert "error report" in out
    inbox = list((data_dir / "inbox" / "ha_noi" / "students").iterdir())
    assert len(inbox) == 1 and len(inbox[0].name.encode()) <= MAX_NAME_BYTES
    assert inbox[0].name.startswith(f"{unit}__B") and inbox[0].name.endswith(".csv")


def test_one_bad_file_never_blocks_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, reports = tmp_path / "inbox" / "ha_noi" / "students", tmp_path / "reports"
    inbox.mkdir(parents=True)
    (inbox / "thpt_a__ds.csv").write_text(GOOD_CSV, encoding="utf-8")
    (inbox / ("thpt_b__" + "đ" * 120 + ".csv")).write_text("garbage\x00\x01", encoding="utf-8")  # 240-byte name
    (inbox / "thpt_c__ds.csv").write_text(GOOD_CSV.replace("An", "Anh"), encoding="utf-8")
    import rules.ingest.batch as uploads_module
    from rules.ingest import read_upload as real_read

    def flaky(path, **kw):
        if path.name.startswith("thpt_c"):
            raise OSError(36, "File name too long")
        return real_read(path, **kw)

    monkeypatch.setattr("rules.ingest.read_upload", flaky)
    result = uploads_module.read_inbox(inbox, province="ha_noi", sector="students", reports_dir=reports)
    by_unit = {r["unit"]: r for r in result.uploads.to_dicts()}
    assert by_unit["thpt_a"]["status"] == "read" and by_unit["thpt_a"]["rows_read"] == 1
    assert by_unit["thpt_b"]["status"] == "failed" and by_unit["thpt_b"]["error_code"]
    assert by_unit["thpt_c"]["status"] == "failed" and by_unit["thpt_c"]["error_code"] == "unreadable_file"
    assert "thpt_c__ds.csv" in by_unit["thpt_c"]["error_message"]
    assert all(len(p.name.encode()) <= 255 for p in reports.iterdir())


@pytest.fixture
def hostile_inbox(tmp_path: Path) -> tuple[Path, Path]:
    """An inbox with one real upload beside a link to an outside upload, a link to /etc/passwd named
    like a CSV, a FIFO and a sector folder that is a link to a folder outside."""
    root = tmp_path / "inbox"
    inbox = root / "ha_noi" / "students"
    inbox.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "thpt_z__secret.csv").write_text(GOOD_CSV.replace("An", "Bí Mật"), encoding="utf-8")
    (inbox / "thpt_a__ds.csv").write_text(GOOD_CSV, encoding="utf-8")
    (inbox / "thpt_z__linked.csv").symlink_to(outside / "thpt_z__secret.csv")
    (inbox / "passwd.csv").symlink_to("/etc/passwd")
    os.mkfifo(inbox / "thpt_f__pipe.csv")
    (root / "ha_noi" / "vaccinations").symlink_to(outside, target_is_directory=True)
    return root, tmp_path / "reports"


def test_the_inbox_reads_regular_files_only(hostile_inbox: tuple[Path, Path]) -> None:
    root, reports = hostile_inbox
    result = read_inbox(root / "ha_noi" / "students", province="ha_noi", sector="students", reports_dir=reports)
    rows = {r["file_name"]: r for r in result.uploads.to_dicts()}
    assert rows["thpt_a__ds.csv"]["status"] == "read"
    for name in ("thpt_z__linked.csv", "passwd.csv", "thpt_f__pipe.csv"):
        assert rows[name]["status"] == "failed" and rows[name]["error_code"] == "not_a_regular_file"
    raw = pl.concat(list(result.raws.values()))
    assert raw.height == 1 and "Bí Mật" not in str(raw.to_dicts())
    for report in reports.rglob("*") if reports.exists() else []:
        assert b"root:" not in report.read_bytes()  # nothing of /etc/passwd is copied anywhere


def test_a_linked_sector_folder_is_not_read(hostile_inbox: tuple[Path, Path]) -> None:
    root, reports = hostile_inbox
    files, refused = list_inbox(root / "ha_noi" / "vaccinations")
    assert files == [] and [r.reason for r in refused] == ["linked_folder"]
    result = read_inbox(root / "ha_noi" / "vaccinations", province="ha_noi", sector="vaccinations",
                        reports_dir=reports)
    assert result.raws == {} and all(r["status"] == "failed" for r in result.uploads.to_dicts())


def test_the_sensor_requests_runs_for_regular_files_only(hostile_inbox: tuple[Path, Path]) -> None:
    from rules.ingest.inbox import name_key
    from rules.ingest.upload import file_sha256

    root, _ = hostile_inbox
    state, changed, _misnamed = scan_inbox(root, {})
    assert set(state) == {f"ha_noi/students/{name_key('thpt_a__ds.csv')}"}  # a name key, never the file name
    assert changed == [("ha_noi", "students", file_sha256(root / "ha_noi" / "students" / "thpt_a__ds.csv"))]
