"""Review workbook round trip as a reviewer fills it in Excel (openpyxl), lenient reading, privacy."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.review import (
    ReviewPolicy,
    ReviewPolicyError,
    ReviewWorkbookError,
    build_blocks,
    candidate_people,
    read_workbook,
    write_private,
    write_workbook,
)
from rules.review.choices import Choice, choice_labels, parse_choice
from rules.review.workbook import DECISION_COL, HEADER_ROW, NOTES_COL
from tests.rules.review_helpers import situation

META = {"workbook_id": "w1", "province": "ho_chi_minh", "sector": "students", "unit": "",
        "exported_at": "2026-11-20T00:00:00+00:00", "register_version": "r1", "match_run_id": "m1", "blocks": "8"}


def _export(tmp_path: Path, outside: set[str] | None = None) -> tuple[Path, pl.DataFrame, pl.DataFrame]:
    queue, records, register, _ = situation(outside=outside)
    people = candidate_people(register, queue["candidate_id"])
    lines, blocks = build_blocks(queue, records, people, "Hồ Chí Minh")
    path = write_private(tmp_path / "review" / "students.xlsx", write_workbook(lines, blocks, META,
                                                                                ReviewPolicy.from_yaml()))
    return path, lines, blocks


def _unit_rows(ws) -> dict[str, int]:
    """Excel row of each block's unit line."""
    return {ws.cell(r, 1).value: r for r in range(HEADER_ROW + 2, ws.max_row + 1)
            if ws.cell(r, 1).value and str(ws.cell(r, 2).value).startswith("Dữ liệu")}


def test_workbook_is_owner_only_with_hidden_keys_and_drop_downs(tmp_path):
    path, _lines, blocks = _export(tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    wb = openpyxl.load_workbook(path)
    assert [wb[s].sheet_state for s in wb.sheetnames] == ["visible", "visible", "veryHidden", "veryHidden"]
    assert wb["_blocks"].protection.sheet and wb["_doisoat"].protection.sheet
    ws = wb.worksheets[0]
    units = _unit_rows(ws)
    assert len(units) == 8 == blocks.height
    validations = ws.data_validations.dataValidation
    assert len(validations) == 8
    assert all(v.formula1.strip('"').split(",") == choice_labels(2) for v in validations)
    # candidate lines are coloured by agreement: dob=year_only of candidate 2 is not the green of exact
    r = units["B0001"]
    assert ws.cell(r + 1, 4).fill.fgColor.rgb != ws.cell(r + 2, 4).fill.fgColor.rgb
    assert ws.cell(r + 1, 9).value == "Trần Thị Mẹ (079180000001)"  # the mother, from the register
    assert "Hướng dẫn" in wb.sheetnames[1] and "Instructions" in wb.sheetnames[1]


def test_candidates_outside_the_province_show_no_personal_data(tmp_path):
    _, lines, _ = _export(tmp_path, outside={"079215000002"})
    hidden = lines.filter(pl.col("outside"))
    assert hidden.height == 1
    assert hidden["full_name"][0].startswith("(ngoài tỉnh")
    assert hidden.select("date_of_birth", "person_id", "gender", "mother", "father").row(0) == (None,) * 5
    assert hidden["probability"][0] is not None  # the score is not personal data


def test_round_trip_with_a_reviewer_who_sorts_types_marks_and_deletes(tmp_path):
    path, _, _blocks = _export(tmp_path)
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    ws["C3"] = "Cán bộ A"
    units = _unit_rows(ws)
    ws.cell(units["B0001"], DECISION_COL + 1, "Ứng viên 2 / Candidate 2")  # chosen from the list
    ws.cell(units["B0002"], DECISION_COL + 1, " uv1 ")  # typed
    ws.cell(units["B0003"], DECISION_COL + 1, "khong ai")  # typed, no diacritics
    ws.cell(units["B0004"], DECISION_COL + 1, "Chưa chắc / Not sure")
    ws.cell(units["B0004"], NOTES_COL + 1, "gọi lại trường")
    ws.cell(units["B0005"] + 2, DECISION_COL + 1, "x")  # a tick on candidate 2's own line
    ws.cell(units["B0006"], DECISION_COL + 1, "maybe the first")  # not a choice
    ws.cell(units["B0007"], DECISION_COL + 1, "079215000601")  # the candidate's ID typed
    ws.cell(units["B0007"] + 2, DECISION_COL + 1, "x")  # ... and a tick on the other candidate: contradiction
    # sort the data rows (descending by column B), then delete block 8 entirely
    data = [[c.value for c in row] for row in ws.iter_rows(min_row=HEADER_ROW + 2, max_row=ws.max_row)]
    data = sorted((r for r in data if r[0] != "B0008"), key=lambda r: str(r[1]), reverse=True)
    ws.delete_rows(HEADER_ROW + 2, ws.max_row)
    for i, r in enumerate(data):
        for j, v in enumerate(r):
            ws.cell(HEADER_ROW + 2 + i, j + 1, v)
    filled = tmp_path / "filled.xlsx"
    wb.save(filled)

    parsed = read_workbook(filled)
    got = {r["block"]: (r["decision"], r["rank"]) for r in parsed.choices.iter_rows(named=True)}
    assert got == {"B0001": ("match", 2), "B0002": ("match", 1), "B0003": ("none", None),
                   "B0004": ("unsure", None), "B0005": ("match", 2)}
    assert parsed.reviewer == "Cán bộ A"
    assert parsed.deleted == 1  # B0008
    assert parsed.undecided == 2  # B0006 unreadable, B0007 contradicting
    assert any("B0006" in m and "not one of the choices" in m for m in parsed.messages)
    assert any("B0007" in m and "contradicting" in m for m in parsed.messages)
    notes = dict(parsed.choices.select("block", "notes").iter_rows())
    assert notes["B0004"] == "gọi lại trường"
    assert parsed.blocks.filter(pl.col("block") == "B0001")["row_number"][0] == 1


def test_a_file_that_is_not_a_review_workbook_is_refused_in_one_line(tmp_path):
    other = tmp_path / "list.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "Họ tên"
    wb.save(other)
    with pytest.raises(ReviewWorkbookError, match="not a doisoat review workbook"):
        read_workbook(other)
    garbage = tmp_path / "g.xlsx"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(ReviewWorkbookError, match="not a readable"):
        read_workbook(garbage)


@given(k=st.integers(1, 5), n=st.integers(1, 5), style=st.sampled_from(["label", "digit", "uv", "cand", "hash"]))
def test_any_way_of_naming_candidate_k_reads_as_k(k, n, style):
    ids = [f"07921500000{i}" for i in range(1, n + 1)]
    text = {"label": choice_labels(n)[k - 1] if k <= n else f"Ứng viên {k}", "digit": str(k), "uv": f"UV {k}",
            "cand": f"candidate{k}", "hash": f"#{k}"}[style]
    got = parse_choice(text, ids)
    assert got == (Choice("match", k) if k <= n else "unreadable")


def test_an_id_typed_as_a_number_still_picks_its_candidate():
    ids = ["079215000601", "079215000602"]
    assert parse_choice(79215000602, ids) == Choice("match", 2)  # Excel dropped the leading zero
    assert parse_choice("79215000601.0", ids) == Choice("match", 1)
    assert parse_choice("079 215 000 602", ids) == Choice("match", 2)
    assert parse_choice("079215000699", ids) == "unreadable"  # an ID that is no candidate is not guessed


@pytest.mark.parametrize("text,kind", [("Không ai trong số này / None of them", "none"), ("KHÔNG", "none"),
                                       ("none of them", "none"), ("?", "unsure"), ("chua chac", "unsure"),
                                       ("Not sure", "unsure"), ("", None), ("banana", "unreadable")])
def test_none_and_not_sure_are_read_leniently(text, kind):
    got = parse_choice(text, ["079215000001"])
    assert (got.kind if isinstance(got, Choice) else got) == kind


def test_review_policy_refuses_unknown_keys():
    with pytest.raises(ReviewPolicyError, match="unknown key"):
        ReviewPolicy.from_dict({"prior_strenght": 5})
    with pytest.raises(ReviewPolicyError, match="precision_band"):
        ReviewPolicy.from_dict({"precision_band": [0.99, 0.9]})


# ------------------------------------------------------------------------------------ file names chosen by clerks
FAMILIES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý"]
GIVEN = ["Văn", "Thị", "Minh", "Ngọc", "Thu", "Hải", "Duyên", "Khôi", "Quỳnh", "Tâm", "Phúc", "Trâm"]
PUPIL_FILE_NAMES = st.builds(
    lambda family, given, tail: f"{family} {' '.join(given)}{tail}.xlsx",
    st.sampled_from(FAMILIES), st.lists(st.sampled_from(GIVEN), min_size=1, max_size=3),
    st.sampled_from(["", " (sửa)", " 079215000123", " 05-09-2015"]))


def _person_in(text: str, file_name: str) -> bool:
    """True when ``text`` holds the person named in ``file_name``, as typed or as a slug."""
    from rules.provinces import slugify

    person = file_name.split(" (")[0].removesuffix(".xlsx").rstrip("0123456789- ")
    return person.lower() in text.lower() or slugify(person) in slugify(text)


@given(name=PUPIL_FILE_NAMES)
def test_a_pupil_named_file_that_is_no_workbook_is_named_masked_unless_the_caller_asks(tmp_path_factory, name):
    from rules.ingest.inbox import public_label

    path = tmp_path_factory.mktemp("inbox") / name
    path.write_bytes(b"not a workbook")
    with pytest.raises(ReviewWorkbookError) as masked:
        read_workbook(path)
    assert str(masked.value).startswith(f"{public_label(name)}: ") and not _person_in(str(masked.value), name)
    with pytest.raises(ReviewWorkbookError) as own:  # e.g. `doisoat review import` on the operator's terminal
        read_workbook(path, label=name)
    assert str(own.value).startswith(f"{name}: ")


def test_row_messages_name_a_pupil_named_workbook_masked_unless_the_caller_asks(tmp_path):
    path, _, _ = _export(tmp_path)
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    units = _unit_rows(ws)
    ws.cell(units["B0001"], DECISION_COL + 1, "maybe the first")  # not a choice: one message
    ws.cell(units["B0002"], DECISION_COL + 1, "Ứng viên 1 / Candidate 1")
    ws.cell(units["B0002"] + 2, DECISION_COL + 1, "x")  # contradicting: one message
    ws.cell(ws.max_row + 1, 1, "B9999")  # a block code not in the workbook: one message
    name = "Đoàn Thị Mỹ Duyên.xlsx"  # an invented pupil
    wb.save(tmp_path / name)
    messages = read_workbook(tmp_path / name).messages
    assert len(messages) == 3 and all(m.startswith("x.xlsx row") for m in messages)
    assert not [m for m in messages if _person_in(m, name)]
    own = read_workbook(tmp_path / name, label=name).messages
    assert len(own) == 3 and all(m.startswith(f"{name} row") for m in own)
