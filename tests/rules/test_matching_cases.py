"""The shared real-world cases for matching (../shared/cases, kinds F and G) through the real
`doisoat match` path (`match_file`: reader, normaliser, validator, matcher), with their right values
from expect.json; and properties of decisions that must hold for every file."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules.matching import build_population_index, match_file, match_records
from tests.rules.matching_helpers import person, record, records, register

CASES = Path(__file__).resolve().parents[3] / "shared" / "cases"
if not CASES.is_dir():
    CASES = Path("/work/shared/cases")
needs_cases = pytest.mark.skipif(not (CASES / "expect.json").exists(), reason="shared cases folder not present")


def _run_case(name: str, tmp_path: Path) -> pl.DataFrame:
    reg = shutil.copy(CASES / "register.parquet", tmp_path / "register.parquet")
    f = shutil.copy(CASES / name, tmp_path / name)
    out = tmp_path / "out.csv"
    match_file(reg, f, "students", out, progress=False)
    return pl.read_csv(out, infer_schema=False)


@needs_cases
@pytest.mark.parametrize("name", ["17_ds_sinh_doi.csv", "18_ds_dao_ten.csv"])
def test_shared_case_gets_its_right_values(name, tmp_path):
    expect = json.loads((CASES / "expect.json").read_text(encoding="utf-8"))[name]["match"]
    res = _run_case(name, tmp_path)
    assert res.height == len(expect)
    for row_number, allowed in expect.items():
        row = res.filter(pl.col("row_number") == row_number).row(0, named=True)
        got = row["person_id"] if row["status"] == "matched" else None
        assert got in allowed, f"row {row_number}: {row['status']} {got} not in {allowed}"


@needs_cases
def test_twin_carrying_the_siblings_id_is_flagged(tmp_path):
    res = _run_case("17_ds_sinh_doi.csv", tmp_path)
    for rn in ("3", "5"):  # rows with the twin sibling's ID
        row = res.filter(pl.col("row_number") == rn).row(0, named=True)
        assert "id_belongs_to_other_person" in row["flags"]


D = dt.date
THU = person("079311000001", "Nguyễn Hoàng Hồng Thu", D(2011, 6, 15), "Nữ")
THUY = person("079311000002", "Nguyễn Hoàng Hồng Thúy", D(2011, 6, 15), "Nữ")
KHANG = person("079209000003", "Hồ Nhật Khang", D(2009, 12, 2), "Nam")
THANG = person("079209000004", "Hồ Nhật Thắng", D(2009, 12, 2), "Nam")
SAME_1 = person("079190000005", "Lê Thị Mai", D(1990, 6, 15), "Nữ")
SAME_2 = person("079190000006", "Lê Thị Mai", D(1990, 6, 15), "Nữ")
VIET = person("079211000007", "Đặng Minh Việt", D(2011, 4, 9), "Nam")
KHUONG = person("079314000008", "Hoàng Thị Thúy Khương", D(2014, 7, 24), "Nữ")
PEOPLE = [THU, THUY, KHANG, THANG, SAME_1, SAME_2, VIET, KHUONG]


@pytest.fixture(scope="module")
def index():
    return build_population_index(register(PEOPLE))


def _one(index, row) -> dict:
    return match_records(records([row]), index).results.row(0, named=True)


@pytest.mark.parametrize(("row_person", "id_of"), [(THU, THUY), (THUY, THU), (KHANG, THANG), (THANG, KHANG)])
def test_sibling_id_prefers_the_person_the_name_and_date_describe(index, row_person, id_of):
    r = _one(index, record(row_person["full_name"], row_person["date_of_birth"], row_person["gender"],
                           national_id=id_of["person_id"]))
    assert r["person_id"] in (row_person["person_id"], None)  # never the sibling
    assert r["proposed_id"] == row_person["person_id"]
    assert "id_belongs_to_other_person" in r["flags"]


@pytest.mark.parametrize(("name", "holder"), [("Hồ Nhật Thắg", THANG), ("Nguyễn Hoàng Hồng Thúyy", THUY)])
def test_the_id_holder_with_a_typo_in_the_name_is_still_matched(index, name, holder):
    """The other direction of the twin rule: the row is the ID holder's own, with a typo that does not
    read like the twin's name; the ID is not set aside and the holder is matched, unflagged."""
    r = _one(index, record(name, holder["date_of_birth"], holder["gender"], national_id=holder["person_id"]))
    assert r["status"] == "matched" and r["person_id"] == holder["person_id"]
    assert "id_belongs_to_other_person" not in r["flags"]


def test_near_tie_is_ambiguous_never_matched(index):
    r = _one(index, record(SAME_1["full_name"], SAME_1["date_of_birth"], "Nữ"))
    assert r["status"] == "ambiguous" and r["person_id"] is None


@pytest.mark.parametrize(
    ("name", "who"),
    [
        ("Minh Việt Đặng", VIET),  # family last
        ("Việt Minh Đặng", VIET),  # fully reversed
        ("Việt Đặng Minh", VIET),  # given first
        ("Thúy Khương Hoàng Thị", KHUONG),  # two-token given name first
        ("Đặng Minh Việt Bin", VIET),  # an extra token (nickname)
        ("Văn Việt Đặng", VIET),  # family last and a different middle name
    ],
)
def test_any_name_order_without_id_is_matched(index, name, who):
    r = _one(index, record(name, who["date_of_birth"], who["gender"]))
    assert r["status"] == "matched" and r["person_id"] == who["person_id"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.randoms(use_true_random=False))
def test_shuffling_a_files_rows_never_changes_any_rows_decision(index, rnd: random.Random):
    rows = [
        record(THU["full_name"], THU["date_of_birth"], "Nữ", national_id=THUY["person_id"]),
        record(THUY["full_name"], THUY["date_of_birth"], "Nữ"),
        record("Minh Việt Đặng", VIET["date_of_birth"], "Nam"),
        record(SAME_1["full_name"], SAME_1["date_of_birth"], "Nữ"),
        record("Hồ Nhật Khang", None, "Nam", national_id=KHANG["person_id"]),
        record("Không Có Ai", D(1999, 1, 1), "Nam"),
        record(KHUONG["full_name"], None, "Nữ", year=2014),
        record(THUY["full_name"], THUY["date_of_birth"], "Nữ"),  # the same person twice
    ]
    rows = [dict(r, row_number=i + 1) for i, r in enumerate(rows)]
    cols = ["status", "person_id", "proposed_id", "score", "flags", "reason"]

    def decisions(rs):
        frame = records(rs).with_columns(pl.Series("row_number", [r["row_number"] for r in rs]))
        out = match_records(frame, index).results
        return {r["row_number"]: tuple(str(r[c]) for c in cols) for r in out.iter_rows(named=True)}

    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert decisions(shuffled) == decisions(rows)


def test_duplicates_of_one_person_share_a_group_and_namesakes_do_not(index):
    rows = [
        record(THUY["full_name"], THUY["date_of_birth"], "Nữ"),
        record(THU["full_name"], THU["date_of_birth"], "Nữ"),
        record(THUY["full_name"], THUY["date_of_birth"], "Nữ"),
        record(SAME_1["full_name"], SAME_1["date_of_birth"], "Nữ", national_id=SAME_1["person_id"]),
        record(SAME_2["full_name"], SAME_2["date_of_birth"], "Nữ", national_id=SAME_2["person_id"]),
        record("Không Có Ai", D(1999, 1, 1), "Nam"),
        record("KHONG CO AI", D(1999, 1, 1), "Nam"),
    ]
    g = match_records(records(rows), index).results["same_person_group"].to_list()
    assert g[0] == g[2] and g[0] != g[1]
    assert g[3] != g[4]  # namesakes born the same day, matched to two people by their IDs
    assert g[5] == g[6] and g[5] not in (g[0], g[1], g[3], g[4])


@pytest.mark.parametrize(
    ("name", "row_person", "id_of"), [("Hồ Nhật Khangg", KHANG, THANG), ("Hồ Nhật Thắg", THANG, KHANG)]
)
def test_sibling_id_with_a_typo_in_the_name_never_matches_the_sibling(index, name, row_person, id_of):
    r = _one(index, record(name, row_person["date_of_birth"], row_person["gender"], national_id=id_of["person_id"]))
    assert r["person_id"] in (row_person["person_id"], None)
    assert "id_belongs_to_other_person" in r["flags"]


def test_the_twin_name_margin_is_read_from_the_config(index):
    """The Khangg row sets the ID aside only because Khang's reading beats Thắng's by more than
    ``twin_name_margin``: with a margin no name difference reaches, the ID holder is not set aside."""
    from rules.matching import MatchConfig

    strict = MatchConfig.from_dict({**MatchConfig.default().raw, "twin_name_margin": 50.0})
    row = record("Hồ Nhật Khangg", KHANG["date_of_birth"], KHANG["gender"], national_id=THANG["person_id"])
    r = match_records(records([row]), index, strict).results.row(0, named=True)
    assert "id_belongs_to_other_person" not in r["flags"]
