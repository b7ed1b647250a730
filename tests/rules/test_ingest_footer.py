"""Note, total and signature rows under a list: a row is a footer row by its own content only.

A pupil typed under a "Ghi chú" line, a pupil whose birth date is written "ngày … tháng … năm …",
and a pupil whose family name folds to a footer word ("Tống Cộng" ~ "tổng cộng") are data. Every
footer row skipped is counted (``footer_rows_skipped``, also in the inbox's uploads table) and named
by row number (never by its text), so rows read + blank + footer = the lines under the header.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rules.ingest import process_upload
from rules.ingest.batch import read_inbox
from tests.rules.upload_files import write_rows

HEADER = ["Họ và tên", "Ngày sinh", "Số định danh cá nhân", "Giới tính"]
FULL = ["Nguyễn Văn An", "01/02/2010", "", "Nam"]
# pupils with only two cells filled: what a list's late additions look like
SPARSE_PUPILS = [
    ["Trần Thị Bình", "02/03/2010", "", ""],
    ["Lê Văn Cường", "ngày 05 tháng 09 năm 2012", "", ""],
    ["Tống Cộng", "02/03/2010", "", ""],  # folds to the footer word "tong cong"
    ["Trương Phong", "", "079210000123", ""],  # folds to "truong phong" (a signature title)
    ["Ghi Chung", "2011", "", ""],  # "ghi chu" is a footer phrase, "Ghi Chung" does not start with it
]
NOTES = [
    ["Ghi chú: HS chuyển đến bổ sung", "", "", ""],
    ["Tổng cộng: 35 học sinh", "", "", ""],
    ["", "", "Lâm Đồng ngày 05 tháng 09 năm 2025", ""],
    ["Người lập biểu", "", "Hiệu trưởng", ""],
    ["(Ký tên)", "", "", ""],
]


def _run(rows: list[list[str]], xlsx: bool):
    with tempfile.TemporaryDirectory() as folder:
        return process_upload(write_rows([HEADER, *rows], folder, xlsx), province="lam_dong",
                              sector="students", unit="u")


def test_the_tried_files_keep_every_pupil():
    for rows, read, footer in (
        ([FULL, ["Trần Thị Bình", "02/03/2010", "", ""], ["Lê Văn Cường", "ngày 05 tháng 09 năm 2012", "", ""]], 3, 0),
        ([FULL, NOTES[0], ["Trần Thị Bình", "02/03/2010", "", ""], ["Lê Văn Cường", "05/09/2012", "", ""]], 3, 1),
        ([FULL, ["Tống Cộng", "02/03/2010", "", ""]], 2, 0),
    ):
        result = _run(rows, xlsx=False)
        assert result.counts["rows_read"] == read
        assert result.upload.footer_rows_skipped == footer


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(order=[0, 5, 6, 1, 9, 4], xlsx=False)
@example(order=[7, 6, 8, 2, 3], xlsx=True)
@given(order=st.lists(st.integers(0, len(SPARSE_PUPILS) + len(NOTES) - 1), max_size=8), xlsx=st.booleans())
def test_pupils_after_notes_are_data_and_every_line_is_counted(order, xlsx):
    """Pupils (name and date, or an ID) and notes in any order under a full row: every pupil is read,
    every note is a counted footer row named by its row number, and the counts close."""
    items = [*SPARSE_PUPILS, *NOTES]
    body = [FULL] + [items[k] for k in order]
    result = _run(body, xlsx)
    up = result.upload
    pupils = [items[k][0] for k in order if k < len(SPARSE_PUPILS)]
    assert sorted(result.raw["full_name"].to_list()) == sorted([FULL[0], *pupils])
    n_notes = sum(1 for k in order if k >= len(SPARSE_PUPILS))
    assert up.footer_rows_skipped == n_notes
    assert result.counts["rows_read"] + up.blank_rows_skipped + up.footer_rows_skipped == len(body)
    summary = "\n".join(result.summary_lines())
    if n_notes:
        first = next(i + 3 for i, k in enumerate(order) if k >= len(SPARSE_PUPILS))  # header 1, FULL 2
        assert f"footer note rows skipped: {n_notes} (dòng/rows {first}" in summary
        assert "Ghi chú" not in summary and "Lâm Đồng" not in summary  # row numbers, never the text


def test_signers_under_a_signature_line_are_footer_but_pupils_under_a_note_are_not():
    signature = [NOTES[3], ["Trần Văn Lập", "", "Ngô Thị Hiệu", ""]]
    result = _run([FULL, *signature], xlsx=True)
    assert result.counts["rows_read"] == 1 and result.upload.footer_rows_skipped == 2
    late = [NOTES[0], ["Phạm Văn Dũng", "", "", ""]]  # a pupil without a date yet: rejected, not lost
    result = _run([FULL, *late], xlsx=True)
    assert result.counts["rows_read"] == 2 and result.upload.footer_rows_skipped == 1
    assert result.counts["rejected"] == 1


def test_the_inbox_counts_and_names_the_footer_rows(tmp_path: Path):
    inbox, reports = tmp_path / "in", tmp_path / "rep"
    inbox.mkdir()
    body = [FULL, NOTES[0], ["Trần Thị Bình", "02/03/2010", "", ""], NOTES[3]]
    (inbox / "thpt_a__ds.csv").write_text("\n".join(",".join(r) for r in [HEADER, *body]) + "\n", encoding="utf-8")
    row = read_inbox(inbox, province="lam_dong", sector="students", reports_dir=reports).uploads.row(0, named=True)
    assert (row["rows_read"], row["blank_rows_skipped"], row["footer_rows_skipped"]) == (2, 0, 2)
    assert row["rows_read"] + row["blank_rows_skipped"] + row["footer_rows_skipped"] == len(body)
    assert "footer note rows skipped: 2 (dòng/rows 3, 5" in row["error_message"]
    assert row["status"] == "read" and "Ghi chú" not in row["error_message"]
