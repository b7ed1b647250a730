"""One report name per list: ``x.csv`` and ``x.xlsx`` never write one ``x.errors.xlsx`` (issue 11, item
11), and a report sent back still names the list of the file it reports on."""

from __future__ import annotations

import pytest

from rules.ingest.inbox import unit_of
from rules.ingest.lineage import list_name
from rules.ingest.report import error_report_path


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
