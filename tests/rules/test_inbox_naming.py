"""The inbox naming rule ``<unit>__<list>``: who follows it, what a misnamed file becomes, and the
name keys that stand for file names in state kept outside the lake (sensor cursors)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rules.ingest.inbox import (
    UNNAMED_LIST,
    UPLOAD_SUFFIXES,
    inbox_name,
    is_inbox_name,
    list_inbox,
    listed_stem,
    name_key,
    unit_slug,
)

UNITS = st.from_regex(r"[a-z][a-z0-9_]{0,20}[a-z0-9]", fullmatch=True).filter(lambda u: "__" not in u)
LISTED = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda t: t.strip(" ._") and "__" not in t)


@given(UNITS, LISTED)
@example(unit="a0", listed="/")  # found by hypothesis: the base name '.xlsx' named no list
@example(unit="a0", listed="x/.csv.errors")
def test_every_name_we_build_follows_the_rule(unit, listed):
    name = inbox_name(unit_slug(unit), listed + ".xlsx")
    assert is_inbox_name(name)


def test_a_name_that_is_all_suffix_gets_a_list_name():
    assert inbox_name("thcs_nu", ".xlsx") == "thcs_nu__unnamed.xlsx"
    assert inbox_name("thcs_nu", "x__.csv") == "thcs_nu__unnamed.csv"
    assert inbox_name("thcs_nu", ".csv.errors.xlsx") == "thcs_nu__unnamed.csv.errors.xlsx"
    assert inbox_name("thcs_nu", "DS lớp 6A.xlsx") == "thcs_nu__DS lớp 6A.xlsx"  # a named list keeps its name


@pytest.mark.parametrize(("name", "expected"), [
    ("..csv", "thcs_nu__unnamed.csv"), ("-.csv", "thcs_nu__unnamed.csv"), ("_.xlsx", "thcs_nu__unnamed.xlsx"),
    ("\u200b.csv", "thcs_nu__unnamed.csv"), ("\u00a0\u2060.xlsx", "thcs_nu__unnamed.xlsx"),
    ("\ufeff\u200d.xls", "thcs_nu__unnamed.xls"), ("…!?.txt", "thcs_nu__unnamed.txt"),
    ("\u0301.csv", "thcs_nu__unnamed.csv"), ("-.csv.errors.xlsx", "thcs_nu__unnamed.csv.errors.xlsx"),
    ("€ $.csv", "thcs_nu__unnamed.csv"),
    ("ữ.csv", "thcs_nu__ữ.csv"), ("6.xlsx", "thcs_nu__6.xlsx"), ("- Lớp 6A -.xlsx", "thcs_nu__- Lớp 6A -.xlsx"),
])
def test_a_list_part_of_punctuation_or_invisible_characters_names_no_list(name: str, expected: str):
    """Such lists would otherwise replace each other under odd names (``-.csv`` and ``_.csv`` both list '')."""
    assert inbox_name("thcs_nu", name) == expected


@given(UNITS, st.text())
@example(unit="a0", text="\u200b.csv")
@example(unit="a0", text="a.b__")
def test_any_text_gets_a_name_that_follows_the_rule(unit, text):
    assert is_inbox_name(inbox_name(unit_slug(unit), text))


NO_LETTER_OR_DIGIT = st.text(st.characters(categories=("Cf", "Zs", "Cc", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po",
                                                       "Sm", "Sc", "Sk", "So", "Mn")), min_size=1, max_size=12)


@given(UNITS, NO_LETTER_OR_DIGIT, st.sampled_from([*sorted(UPLOAD_SUFFIXES), ".csv.errors.xlsx", ".errors.xlsx"]))
@example(unit="a0", part="..", suffix=".csv")
@example(unit="a0", part="\u200b", suffix=".xlsx")
def test_a_list_part_without_a_letter_or_digit_is_unnamed(unit, part, suffix):
    name = inbox_name(unit_slug(unit), part + suffix)
    assert UNNAMED_LIST in name and listed_stem(name) == UNNAMED_LIST


def test_names_without_a_unit_prefix_do_not():
    for name in ("DS học sinh lớp 6A.xlsx", "Phạm Thu Dung 079313000104.xlsx", "thcs_nu__.xlsx", "__ds.xlsx",
                 "thcs_nu_ds.csv"):
        assert not is_inbox_name(name), name
    for name in ("thcs_nu__ds_lop_6a.xlsx", "thcs_nu__DS lớp 6A (sửa).xlsx", "thcs_nu__ds.csv.errors.xlsx"):
        assert is_inbox_name(name), name


def test_a_sector_inbox_refuses_misnamed_files_and_a_plain_listing_does_not(tmp_path: Path):
    for name in ("thcs_nu__ds_lop_6a.xlsx", "DS học sinh lớp 6A.xlsx"):
        (tmp_path / name).write_bytes(b"x")
    files, refused = list_inbox(tmp_path, units=True)
    assert [p.name for p in files] == ["thcs_nu__ds_lop_6a.xlsx"]
    assert [(r.name, r.reason) for r in refused] == [("DS học sinh lớp 6A.xlsx", "misnamed_file")]
    files, refused = list_inbox(tmp_path)  # review workbooks have no unit: only links are refused there
    assert len(files) == 2 and refused == []


def test_every_file_an_uploader_drops_is_read_or_refused_saying_why(tmp_path: Path):
    """Nothing an uploader meant as a list is passed over in silence: other types are refused as
    ``unsupported_format``; only hidden files, Excel lock files, desktop litter and sub-folders are not listed."""
    meant = {"thcs_nu__ds_lop_6a.xlsx": None, "thcs_nu__ds_lop_6b.xlsm": None,
             "thcs_nu__ds_lop_6c.pdf": "unsupported_format", "thcs_nu__ds_lop_6d.ods": None,
             "DS lớp 6E.docx": "unsupported_format",
             "thcs_nu__ds_lop_6f": "unsupported_format", "DS lớp 6G.xlsx": "misnamed_file"}
    for name in (*meant, ".DS_Store", "~$thcs_nu__ds_lop_6a.xlsx", "Thumbs.db", "desktop.ini", ".tmp-1-0123456789ab"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "cu").mkdir()  # last year's lists, kept aside
    files, refused = list_inbox(tmp_path, units=True)
    assert sorted(p.name for p in files) == sorted(n for n, why in meant.items() if why is None)
    assert sorted((r.name, r.reason) for r in refused) == sorted((n, why) for n, why in meant.items() if why)


def test_an_unsupported_file_is_a_failed_upload_with_what_to_do(tmp_path: Path):
    from rules.ingest.batch import read_inbox

    (tmp_path / "thcs_nu__ds_lop_6c.pdf").write_bytes(b"%PDF-1.4")
    got = read_inbox(tmp_path, province="ha_noi", sector="students", reports_dir=tmp_path / "reports")
    row = got.uploads.row(0, named=True)
    assert got.uploads.height == 1 and row["status"] == "failed" and row["error_code"] == "unsupported_format"
    assert ".xlsx" in row["error_message"] and ".csv" in row["error_message"]
    assert row["uploaded_at"].year > 2000  # its arrival time, from lstat, not 1970


@given(UNITS, st.from_regex(r"[0-9]{12}", fullmatch=True),
       st.sampled_from(["Phạm Thu Dung", "Nguyễn Văn An", "Trần Thị Bích Ngọc"]),
       st.dates(date(1930, 1, 1), date(2026, 12, 31)).map(lambda d: d.strftime("%d-%m-%Y")))
def test_name_keys_hold_no_id_date_or_person_name(unit, pid, person, dob):
    name = f"{unit}__{person} {pid} {dob}.xlsx"
    key = name_key(name)
    assert pid not in key and dob not in key and dob.replace("-", "_") not in key
    assert not re.search(r"\d{9,}", key)
    assert person.split()[-1].lower() not in key.split("#")[0].split("__")[-1]
    other = f"{unit}__{person} {pid[:-1]}{(int(pid[-1]) + 1) % 10} {dob}.xlsx"
    assert key != name_key(other)  # two pupils' files stay two cursor entries


def test_name_key_is_the_public_label_plus_a_digest():
    name = "thcs_nu__Phạm Thu Dung 079313000104 13-05-2013.xlsx"
    key = name_key(name)
    assert re.fullmatch(r"thcs_nu__x\.xlsx#[0-9a-f]{8}", key)
    # keyed: hashing a list of pupils' file names does not find it (Dagster shows the cursor)
    import hashlib

    assert key.split("#")[1] != hashlib.sha256(name.encode()).hexdigest()[:8]
