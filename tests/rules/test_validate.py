"""Validation: pandera checks from reasons.yaml, every row in exactly one of valid / quarantined."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.validate import headers_frame, primary_reason, reasons, sector_schema, validate_records

DOB = [None, "missing_date", "unparseable_date", "impossible_date"]
IDS = [None, "id_wrong_length", "id_not_digits", "id_scientific_notation"]
GENDER = [None, "missing_gender", "unknown_gender"]
PHONE = [None, "phone_invalid"]


def frame(rows: list[tuple]) -> pl.DataFrame:
    """Minimal normalised frame (contracts §4 columns that validation reads) plus lineage."""
    return pl.DataFrame(
        rows,
        schema={"name_key": pl.String, "dob_error": pl.String, "id_error": pl.String,
                "gender_error": pl.String, "phone_error": pl.String},
        orient="row",
    ).with_columns(pl.lit("sha").alias("file_sha256"), pl.int_range(1, pl.len() + 1).alias("row_number"))


def test_reasons_table_has_messages_in_both_languages():
    table = reasons("students")
    for code in ("missing_name", "unparseable_date", "impossible_date", "id_wrong_length", "unknown_gender"):
        assert table[code].reject and table[code].vi and table[code].en
    assert not table["missing_gender"].reject and not table["phone_invalid"].reject
    assert set(sector_schema("students").columns) == {"name_key", "dob_error", "id_error", "gender_error"}


def test_one_row_many_reasons_joined_in_yaml_order():
    df = frame([
        ("nguyen van an", None, None, None, None),
        (None, "unparseable_date", None, None, None),
        ("", None, "id_wrong_length", "unknown_gender", "phone_invalid"),
        ("tran thi binh", "missing_date", None, "missing_gender", None),
        ("  ", "impossible_date", "id_scientific_notation", None, None),
    ])
    valid, bad = validate_records(df, "students", headers={"full_name": "Họ và tên", "date_of_birth": "Ngày sinh"})
    assert valid["row_number"].to_list() == [1]
    assert bad["row_number"].to_list() == [2, 3, 4, 5]
    assert bad["reason_code"].to_list() == [
        "missing_name;unparseable_date",
        "missing_name;id_wrong_length;unknown_gender",
        "missing_date",
        "missing_name;impossible_date;id_scientific_notation",
    ]
    assert bad["reason_column"][0] == "Họ và tên;Ngày sinh"
    assert bad["reason_column"][1] == "Họ và tên;national_id;gender"  # no header given: canonical name
    assert bad["message_vi"][0].count(" ; ") == 1 and "Thiếu họ và tên" in bad["message_vi"][0]
    assert "Full name is missing" in bad["message_en"][0]
    assert bad.select(primary_reason())["reason_code"].to_list() == [
        "missing_name", "missing_name", "missing_date", "missing_name"]
    assert valid.columns == df.columns
    assert bad.columns == [*df.columns, "reason_code", "reason_column", "message_vi", "message_en"]


def test_headers_per_file_for_many_uploads():
    df = pl.concat([frame([(None, None, None, None, None)]).with_columns(pl.lit(s).alias("file_sha256"))
                    for s in ("a", "b", "c")])
    headers = pl.concat([headers_frame("a", {"Họ và tên": "full_name"}), headers_frame("b", {"HO TEN": "full_name"})])
    _, bad = validate_records(df, "students", headers=headers)
    assert bad["reason_column"].to_list() == ["Họ và tên", "HO TEN", "full_name"]


def test_all_valid_gives_empty_quarantine_with_reason_columns():
    valid, bad = validate_records(frame([("an", None, None, "missing_gender", "phone_invalid")]), "insurance")
    assert valid.height == 1 and bad.height == 0
    assert {"reason_code", "message_vi"} <= set(bad.columns)


def test_contract_break_is_a_clear_error_not_a_quarantine():
    with pytest.raises(ValueError, match="contracts"):
        validate_records(frame([("an", None, None, None, None)]).drop("id_error"), "students")


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from([None, "", " ", "an", "binh"]), st.sampled_from(DOB),
                               st.sampled_from(IDS), st.sampled_from(GENDER), st.sampled_from(PHONE)),
                     min_size=0, max_size=40),
       sector=st.sampled_from(["students", "vaccinations", "insurance"]))
def test_every_row_lands_in_exactly_one_output(rows, sector):
    df = frame(rows)
    valid, bad = validate_records(df, sector)
    assert valid.height + bad.height == df.height
    assert set(valid["row_number"]).isdisjoint(set(bad["row_number"]))
    table = reasons(sector)
    for row, codes in zip(bad["row_number"], bad["reason_code"], strict=True):
        name, dob, id_, gender, _ = rows[row - 1]
        expected = [c for c in table if table[c].reject and (
            (c == "missing_name" and not (name or "").strip()) or c in (dob, id_, gender))]
        assert codes.split(";") == expected
    for row in valid["row_number"]:
        name, dob, id_, gender, _ = rows[row - 1]
        assert (name or "").strip() and dob is None and id_ is None and gender != "unknown_gender"
