"""One report name per list: ``x.csv`` and ``x.xlsx`` never write one ``x.errors.xlsx`` (issue 11, item
11), and a report sent back still names the list of the file it reports on. Two upload names never
share a report (``x.csv`` and ``x.csv.xlsx``, ``x.xlsx`` and ``x.XLSX`` did), and a name that names no
list reports under the unnamed list (``.xlsx`` reported as ``xlsx.errors.xlsx``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rules.ingest.formats import READ_SUFFIXES
from rules.ingest.inbox import inbox_name, is_upload_name, unit_of
from rules.ingest.lineage import list_name
from rules.ingest.report import error_report_path, is_error_report


def test_two_formats_of_one_name_get_two_reports() -> None:
    names = {error_report_path(f"thpt_a__ds_lop_6a{ext}").name for ext in (".xlsx", ".csv", ".xls", ".txt")}
    assert len(names) == 4 and all(n.endswith(".errors.xlsx") for n in names)
    assert error_report_path("thpt_a__ds_lop_6a.xlsx").name == "thpt_a__ds_lop_6a.errors.xlsx"


@pytest.mark.parametrize("ext", [".xlsx", ".csv", ".xls", ".txt", ".CSV"])
def test_a_report_sent_back_names_the_list_and_unit_of_its_file(ext: str) -> None:
    upload = f"thpt_a__ds_dot_1{ext}"
    report = error_report_path(upload).name
    assert list_name(report) == list_name(upload) == "ds_dot_1"
    assert unit_of(report) == unit_of(upload) == "thpt_a"


@pytest.mark.parametrize(("one", "other"), [
    ("thpt_q__x.csv", "thpt_q__x.csv.xlsx"), ("thpt_q__x.txt", "thpt_q__x.txt.xlsx"),
    ("thpt_q__x.xlsx", "thpt_q__x.XLSX"), ("thpt_q__x.xlsx", "thpt_q__x .xlsx"), ("xlsx.xlsx", ".xlsx"),
    ("thpt_q__x.csv.errors.xlsx", "thpt_q__x.csv.xlsx"),  # a report sent back is not the list x.csv
    ("thpt_q__x.xlsx", "thpt_q__x.xlsm"), ("thpt_q__x.xlsx", "thpt_q__x.ods"),  # two files, two reports
])
def test_two_upload_names_never_share_a_report(one: str, other: str) -> None:
    assert error_report_path(one) != error_report_path(other)


def test_ordinary_names_keep_their_report_names() -> None:
    for upload, report in (("thpt_a__DS lớp 6.1.xlsx", "thpt_a__DS lớp 6.1.errors.xlsx"),
                           ("thpt_a__ds.csv", "thpt_a__ds.csv.errors.xlsx"), ("DS 8A.xlsx", "DS 8A.errors.xlsx"),
                           ("thpt_a__ds.CSV", "thpt_a__ds.CSV.errors.xlsx"), ("xlsx.xlsx", "xlsx.errors.xlsx")):
        assert error_report_path(upload).name == report


@pytest.mark.parametrize(("upload", "report"), [
    (".xlsx", "unnamed.errors.xlsx"), ("-.xlsx", "unnamed.errors.xlsx"), ("..csv", "unnamed.csv.errors.xlsx"),
    ("\u200b.csv", "unnamed.csv.errors.xlsx"), (".CSV", "unnamed.CSV.errors.xlsx"),
])
def test_a_name_that_names_no_list_reports_under_the_unnamed_list(upload: str, report: str) -> None:
    assert error_report_path(upload).name == report
    sent_back = inbox_name("thpt_q", report)  # the report fixed and uploaded again lists what the upload did
    assert list_name(sent_back) == list_name(inbox_name("thpt_q", upload)) == "unnamed"


FRAGMENTS = st.sampled_from(["x", "Lớp", " ", ".", "..", "-", "_", "csv", "CSV", "xlsx", "XLSX", "xls", "txt",
                             "errors", "\u200b", "e\u0301"])
SUFFIXES = st.sampled_from([*sorted(READ_SUFFIXES), ".XLSX", ".Xlsx", ".CSV", ".XLSM", ".errors.xlsx",
                            ".csv.errors.xlsx", ".xlsx.xlsx", ".xlsm.xlsx"])
UPLOADS = st.lists(st.tuples(st.sampled_from(["thpt_q", "thpt_r"]), st.lists(FRAGMENTS, max_size=5).map("".join),
                             SUFFIXES), min_size=2, max_size=12)


@given(UPLOADS)
@example([("thpt_q", "x", ".csv"), ("thpt_q", "x.csv", ".xlsx")])
@example([("thpt_q", "x", ".xlsx"), ("thpt_q", "x", ".XLSX"), ("thpt_q", "x ", ".xlsx")])
@example([("thpt_q", "x", ".csv.errors.xlsx"), ("thpt_q", "x.csv", ".xlsx")])
def test_distinct_inbox_names_never_share_a_report_path(uploads) -> None:
    """Over the names ``doisoat upload`` gives uploads in the inbox (and the inbox lists): the only
    report path two of them share is an upload's and that of its own report sent back, one list."""
    reports = Path("reports")
    names = {inbox_name(unit, text + suffix) for unit, text, suffix in uploads}
    owner: dict[Path, str] = {}
    for name in sorted(n for n in names if is_upload_name(n) and not is_error_report(n)):
        path = error_report_path(name, reports)
        assert path not in owner, (name, owner[path])
        owner[path] = name
        assert list_name(path.name) == list_name(name) and unit_of(path.name) == unit_of(name)
    for name in (n for n in names if is_error_report(n)):  # a report sent back keeps its own name
        assert error_report_path(name, reports) == reports / name
        if reports / name in owner:
            assert list_name(owner[reports / name]) == list_name(name)
