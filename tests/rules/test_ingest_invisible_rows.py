"""Rows that show nothing: every input row ends in exactly one place, and the upload says where.

A row holding only invisible characters (a NUL, a C1 control, a zero-width space, a soft hyphen,
spaces) looks empty to the person who typed the list, so it is a blank row: skipped, counted in
``blank_rows_skipped`` and told in the summary, never a pupil rejected ``missing_name`` and never
lost from the counts. Blank rows between the notes under a list (``Người lập biểu`` … signature)
are blank rows too. Every line below the header is one of: read (accepted + rejected), blank, footer.
"""

from __future__ import annotations

import datetime as dt
import tempfile

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rules.ingest import process_upload
from rules.normalise.characters import table
from tests.rules.upload_files import write_rows

HEADER = ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân"]
PEOPLE = [
    ["1", "Nguyễn Văn An", "05/09/2012", "Nam", "079212000123"],
    ["2", "Trần Thị Bình", "12/01/2011", "Nữ", "001311004567"],
    ["3", "Lê Hoàng Cường", "23/11/2010", "Nam", "048210001234"],
]
WANT = [("Nguyễn Văn An", dt.date(2012, 9, 5)), ("Trần Thị Bình", dt.date(2011, 1, 12)),
        ("Lê Hoàng Cường", dt.date(2010, 11, 23))]
# What a row that shows nothing can hold: controls (not TAB/LF/CR, which end or split a CSV line),
# default-ignorable characters, odd spaces.
_T = table()
SHOWS_NOTHING = sorted((_T.controls - {0x0C}) | {c for c in _T.ignorable if c < 0x10000} | _T.spaces | {0x20})
NOTES = [["", "Người lập biểu", "", "", ""], ["", "", "", "Hiệu trưởng", ""]]

invisible_cell = st.lists(st.sampled_from(SHOWS_NOTHING), max_size=3).map(lambda cps: "".join(map(chr, cps)))
invisible_row = st.lists(invisible_cell, min_size=len(HEADER), max_size=len(HEADER))


_write = write_rows


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(blank_after=[1], fills=[["\x8f", "", "", "", ""]], notes=False, xlsx=False)
@example(blank_after=[3, 3], fills=[["\u200b"] * 5, ["\x00", "\xad", "", "", ""]], notes=True, xlsx=True)
@example(blank_after=[3], fills=[[""] * 5], notes=True, xlsx=False)
@given(blank_after=st.lists(st.integers(0, len(PEOPLE)), max_size=4), fills=st.lists(invisible_row, min_size=4,
       max_size=4), notes=st.booleans(), xlsx=st.booleans())
def test_every_row_ends_in_one_place(blank_after, fills, notes, xlsx):
    """Rows of invisible characters anywhere among the pupils, and among the notes under them: the
    pupils are read as they are, every other line is counted blank or footer, none is lost."""
    body = [list(p) for p in PEOPLE]
    for k, after in enumerate(sorted(blank_after, reverse=True)):
        body.insert(after, fills[k])
    if notes:
        body += [NOTES[0], fills[-1], NOTES[1]]
    # a workbook keeps no row after its last value: a trailing row of nothing is not in the file
    if xlsx:
        while body and not any(body[-1]):
            body.pop()
    with tempfile.TemporaryDirectory() as folder:
        result = process_upload(_write([HEADER, *body], folder, xlsx), province="lam_dong", sector="students",
                                unit="u")
    up = result.upload
    got = result.normalised_valid.sort("row_number").select("name_clean", "dob").rows()
    assert got == WANT and result.counts["rejected"] == 0
    assert result.counts["rows_read"] + up.blank_rows_skipped + up.footer_rows_skipped == len(body)
    assert up.footer_rows_skipped == (2 if notes else 0)
    summary = "\n".join(result.summary_lines())
    if up.blank_rows_skipped:
        assert f"blank rows skipped: {up.blank_rows_skipped}" in summary
    invisible = sum(len(c) - c.count(" ") for row in body for c in row if row not in NOTES and row not in PEOPLE)
    if invisible and not xlsx:
        assert up.cells["invisible_removed"] + up.cells["spaces_replaced"] >= 1
