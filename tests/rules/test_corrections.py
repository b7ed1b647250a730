"""Cosmetic name differences are corrected locally from the register; real differences are not."""

from __future__ import annotations

import polars as pl

from rules.corrections import FLAG, adopt_register_spelling
from rules.normalise import normalise_records

REGISTER = pl.DataFrame({
    "person_id": ["079203000001", "079203000002", "079203000003", "079203000004"],
    "full_name": ["Phạm Minh Tuấn", "Nguyễn Thị Hoà", "Lê Ngọc Chương", "Trần Văn An"],  # new tone style
})


def _records(names: list[str]) -> pl.DataFrame:
    raw = pl.DataFrame({
        "file_sha256": ["f"] * len(names), "sheet": [""] * len(names),
        "row_number": list(range(1, len(names) + 1)), "full_name": names,
    })
    return normalise_records(raw, "students")


def test_only_cosmetic_differences_of_matched_rows_take_the_register_spelling():
    records = _records(["PHAM MINH TUAN", "Nguyễn Thị Hòa", "Lê Ngcọ Chương", "tran van an", "Trần Văn An"])
    matches = pl.DataFrame({
        "file_sha256": ["f"] * 5, "sheet": [""] * 5, "row_number": [1, 2, 3, 4, 5],
        "status": ["matched", "matched", "matched", "unmatched", "matched"],
        "person_id": ["079203000001", "079203000002", "079203000003", None, "079203000004"],
    })
    out = adopt_register_spelling(records, matches, REGISTER)
    assert out.height == records.height
    assert out["row_number"].to_list() == [1, 2, 3, 4, 5]
    # no diacritics and upper case -> register; old/new tone placement -> register spelling
    assert out["name_clean"].to_list()[:2] == ["Phạm Minh Tuấn", "Nguyễn Thị Hoà"]
    # a typo is a real difference; an unmatched row is never touched; identical stays identical
    assert out["name_clean"][2] == records["name_clean"][2]
    assert out["name_clean"][3] == records["name_clean"][3]
    assert out[FLAG].to_list() == [True, True, False, False, False]
    assert out["name_as_written"].to_list() == records["name_clean"].to_list()
