"""Name structure: notes inside the name cell move to ``name_note``; fused syllables are split."""

from __future__ import annotations

import itertools

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.normalise import normalise_names, normalise_records, normalise_register
from rules.normalise.fused import SYLLABLE_PATTERN, best_split, name_syllables
from rules.normalise.name_notes import split_name_notes
from rules.normalise.syllable import fold, strip_diacritics
from rules.synth.names import name_tables

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _one(name: str | None) -> dict:
    return normalise_names(pl.Series([name], dtype=pl.Utf8)).row(0, named=True)


def _parts(row: dict) -> tuple[str, str, str]:
    return row["family_key"], row["middle_key"], row["given_key"]


@pytest.mark.parametrize(
    ("cell", "name", "note"),
    [
        ("Trần Mỹ Lợi (Bé)", "Trần Mỹ Lợi", "Bé"),
        ("Nguyễn Thị Ngân [Ngân lớn]", "Nguyễn Thị Ngân", "Ngân lớn"),
        ("Lê Văn An - chuyển trường", "Lê Văn An", "chuyển trường"),
        ("Lê Văn An -chuyển trường", "Lê Văn An", "chuyển trường"),
        ("Lê Văn An—chuyển đi", "Lê Văn An", "chuyển đi"),
        ("Trần (Tý) Văn Bình - nghỉ học", "Trần Văn Bình", "Tý; nghỉ học"),
        ("Hà Anh(HS mới", "Hà Anh", "HS mới"),
        ("NGUYỄN VĂN AN {KT}", "Nguyễn Văn An", "KT"),
    ],
)
def test_notes_move_to_name_note(cell: str, name: str, note: str) -> None:
    row = _one(cell)
    assert row["name_clean"] == name
    assert row["name_note"] == note
    assert "note_moved" in row["name_flags"]
    assert _parts(row) == _parts(_one(name))


@pytest.mark.parametrize(
    "cell",
    ["Y-Moan Êban", "H'Hen Niê", "- Nguyễn Văn An", "(Bé)", "Lê An (*)", "Nguyễn Văn An", None, ""],
)
def test_no_note_where_there_is_none(cell: str | None) -> None:
    row = _one(cell)
    assert row["name_note"] is None
    assert "note_moved" not in (row["name_flags"] or [])


def test_a_cell_that_is_only_a_bracket_keeps_its_text_as_the_name() -> None:
    assert _one("(Bé)")["name_clean"] == "Bé"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("NguyễnVăn An", "Nguyễn Văn An"),
        ("NguyenVan An", "Nguyen Van An"),
        ("NGUYỄNVĂN AN", "Nguyễn Văn An"),
        ("nguyenvan an", "Nguyen Van An"),
        ("LươngVăn Minh", "Lương Văn Minh"),
        ("Trần Thị Ngọctrâm", "Trần Thị Ngọc Trâm"),
        ("ThanhAn Lê", "Thanh An Lê"),
        ("Nguyễn ThịHoài Phương", "Nguyễn Thị Hoài Phương"),
    ],
)
def test_fused_syllables_are_split(cell: str, expected: str) -> None:
    row = _one(cell)
    assert row["name_clean"] == expected
    assert "tokens_split" in row["name_flags"]


@pytest.mark.parametrize(
    "cell", ["Nugyễn Văn An", "Nguyễn Văn Huỳnh", "Maria Nguyễn", "Ksor H'Nhi", "Nguyễn Văn Nghiêng"]
)
def test_typos_and_foreign_or_single_syllables_are_not_split(cell: str) -> None:
    row = _one(cell)
    assert "tokens_split" not in row["name_flags"]
    assert row["name_clean"].count(" ") == cell.count(" ")


def test_camel_case_decides_between_equally_short_splits() -> None:
    assert _one("ThanhAn")["name_clean"] == "Thanh An"
    assert _one("ThanHan")["name_clean"] == "Than Han"


def test_note_and_fused_tokens_together() -> None:
    row = _one("NguyễnVăn An (Bé) - chuyển trường")
    assert row["name_clean"] == "Nguyễn Văn An"
    assert row["name_note"] == "Bé; chuyển trường"
    assert {"note_moved", "tokens_split"} <= set(row["name_flags"])


def test_records_and_register_carry_the_note_column() -> None:
    df = pl.DataFrame({"full_name": ["Trần Mỹ Lợi (Bé)", "Lê An"], "date_of_birth": ["01/02/2015", None]})
    out = normalise_records(df, "students")
    assert out["name_note"].to_list() == ["Bé", None]
    reg = pl.DataFrame({"person_id": ["079215000001"], "full_name": ["Lê An"], "date_of_birth": ["2015-02-01"]})
    assert normalise_register(reg.with_columns(pl.col("date_of_birth").str.to_date()))["name_note"].to_list() == [None]


# --- properties ------------------------------------------------------------------------------

_T = name_tables()
FAMILIES = _T.family.to_list()
MIDDLES = [m for g in ("Nam", "Nữ") for m in _T.middle_marked[g].to_list() if m]
GIVENS = [x for g in ("Nam", "Nữ") for x in _T.given[g].to_list()]
real_names = st.builds(
    lambda f, m, g: f"{f} {m} {g}",
    st.sampled_from(FAMILIES),
    st.sampled_from(MIDDLES),
    st.sampled_from(GIVENS),
)
note_text = st.text(alphabet=st.sampled_from(list("abcdeghiklmnoptuvxyàáạêôơư0123456789 ")), min_size=1, max_size=15)


@SETTINGS
@given(real_names, note_text, st.sampled_from(["({})", " ({})", " [{}]", " - {}", " -{}", "—{}", " {{{}}}"]))
def test_any_note_leaves_the_name_parts_unchanged(name: str, note: str, form: str) -> None:
    note = note.strip()
    if not any(c.isalnum() for c in note):
        return
    with_note = _one(name + form.format(note))
    bare = _one(name)
    assert _parts(with_note) == _parts(bare)
    assert with_note["name_clean"] == bare["name_clean"]
    assert with_note["name_note"] == " ".join(note.split())


@SETTINGS
@given(real_names, st.integers(0, 1), st.booleans())
def test_fusing_two_name_parts_is_undone(name: str, gap: int, diacritics: bool) -> None:
    """Any two adjacent parts of a real name, fused (title case), come apart again — unless the
    fused form is itself one syllable or a part is not an inventory syllable."""
    words = name.split(" ")
    if not diacritics:
        words = [strip_diacritics(w) for w in words]
    gap = min(gap, len(words) - 2)
    fused_token = words[gap] + words[gap + 1]
    pieces = [fold(w) for w in (words[gap], words[gap + 1])]
    inventory = name_syllables()
    if pl.Series([fold(fused_token)]).str.contains(SYLLABLE_PATTERN)[0] or not all(p in inventory for p in pieces):
        return
    fused = " ".join([*words[:gap], fused_token, *words[gap + 2 :]])
    assert _parts(_one(fused)) == _parts(_one(" ".join(words)))


@SETTINGS
@given(st.text(alphabet=st.sampled_from(list("aăâbcdđeêghiklmnoôơpqrstuưvxyAĐÔ")), min_size=4, max_size=16))
def test_a_split_is_always_into_inventory_syllables(token: str) -> None:
    cuts = best_split(fold(token))
    if cuts is None:
        return
    bounds = (0, *cuts, len(token))
    pieces = [fold(token)[a:b] for a, b in itertools.pairwise(bounds)]
    assert len(pieces) >= 2 and all(p in name_syllables() for p in pieces)


@SETTINGS
@given(st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=1, max_size=20))
def test_notes_split_never_raises_and_keeps_length(cells: list[str | None]) -> None:
    name, note = split_name_notes(pl.Series(cells, dtype=pl.Utf8))
    assert name.len() == note.len() == len(cells)
    assert all(n is None or any(ch.isalnum() for ch in n) for n in note.to_list())
