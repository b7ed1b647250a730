"""Two columns under one header: the first (visible) one is read, the other kept in ``extra``, and the
upload says so per sheet: column letters and header text, never a cell's value."""

from __future__ import annotations

import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.ingest import process_upload
from tests.rules.upload_files import write_rows

BASE = ["Họ và tên", "Ngày sinh", "Số định danh cá nhân", "Giới tính"]
ROW = ["Nguyễn Văn Tèo", "01/02/2010", "079210000123", "Nam"]
SECOND = ["Trần Thị Bưởi", "05/06/2012", "079311000456", "Nữ"]


@settings(max_examples=25, deadline=None)
@given(twice=st.sets(st.integers(0, len(BASE) - 1), min_size=1), xlsx=st.booleans())
def test_a_repeated_header_is_named_with_the_column_used(twice, xlsx):
    header, row = list(BASE), list(ROW)
    for j in sorted(twice):  # the repeat goes to the right end, holding another person's value
        header.append(BASE[j])
        row.append(SECOND[j])
    with tempfile.TemporaryDirectory() as folder:
        result = process_upload(write_rows([header, row], folder, xlsx), province="lam_dong", sector="students",
                                unit="u")
    assert result.raw["full_name"][0] == ROW[0]
    lines = [x for x in result.summary_lines() if "columns with the same header" in x]
    assert len(lines) == 1
    for k, j in enumerate(sorted(twice)):
        assert f"'{BASE[j]}': {'ABCD'[j]} dùng/used, {'EFGH'[k]} không dùng/not used" in lines[0]
    assert not any(v in lines[0] for v in ROW + SECOND)


def test_the_tried_file():
    with tempfile.TemporaryDirectory() as folder:
        rows = [["Họ và tên", "Họ và tên", "Ngày sinh", "Ngày sinh", "Số định danh cá nhân", "Giới tính"],
                ["Nguyễn Văn Tèo", "Trần Thị Bưởi", "01/02/2010", "05/06/2012", "079210000123", "Nam"]]
        summary = "\n".join(process_upload(write_rows(rows, folder, False), province="lam_dong",
                                           sector="students", unit="u").summary_lines())
    assert "'Họ và tên': A dùng/used, B không dùng/not used; 'Ngày sinh': C dùng/used, D không dùng/not used" in summary
