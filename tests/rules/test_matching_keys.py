"""Every blocking pass of the shipped configuration finds the kind of row it is for, and the ID counts
only beside the holder's own name (a relative's or a borrowed ID).

A new pass added to ``vietnam.yaml`` without a row here fails ``test_every_pass_has_a_case``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from rules.matching import MatchConfig, build_population_index, match_records
from rules.matching.blocking import generate_pairs, prepare_index
from rules.matching.features import record_features
from tests.rules.matching_helpers import person, record, records, register

D = dt.date
ANH = person("079190123456", "Trần Ngọc Ánh", D(1990, 7, 21), "Nữ", old_id="025111222")
BICH = person("079190765432", "Trần Ngọc Bích", D(1990, 7, 21), "Nữ")  # Ánh's twin sister
HOA = person("079165000001", "Lê Thị Hoa", D(1965, 2, 3), "Nữ")  # their mother
HA = person("079190000001", "Lý Thu Hà", D(1990, 8, 7), "Nữ")  # born 07/08: day and month can swap
THANH = person("079160000002", "Trần Văn Thành", D(1960, 1, 5), "Nam")  # their father
HOUSEHOLDS = {ANH["person_id"]: "H1", BICH["person_id"]: "H1", HOA["person_id"]: "H1"}
PARENTS = {ANH["person_id"]: (HOA["person_id"], THANH["person_id"]), BICH["person_id"]: (None, THANH["person_id"])}
config = MatchConfig.default()

# pass -> (person the row means, the row); each row is damaged so that this pass can find the person
CASES: dict[str, tuple[dict, dict]] = {
    "id_exact": (ANH, record("X Y Z", None, None, ANH["person_id"])),
    "old_cmnd": (ANH, record("X Y Z", None, None, ANH["old_id"])),
    "id_one_edit": (ANH, record("X Y Z", None, None, "079190123457")),
    "id_household": (ANH, record("Trần Ngọc Ánh", None, None, HOA["person_id"])),  # the mother's ID
    "name_dob": (ANH, record("Trần Ngọc Ánh", ANH["date_of_birth"])),
    "given_dob": (ANH, record("Trn Ngọc Ánh", ANH["date_of_birth"])),
    "name_year": (ANH, record("Trần Ngọc Ánh", None, year=1990)),
    "family_given_year": (ANH, record("Trần Ánh", None, year=1990)),
    "dob_day_month_swapped": (HA, record("Lý Thu Hà", D(1990, 7, 8))),
    "name_order_given_first": (ANH, record("Ánh Trần Ngọc", None, year=1990)),
    "name_order_reversed": (ANH, record("Anh Ngoc Tran", None, year=1990)),
    "family_middle_dob": (ANH, record("Trần Ngọc Anhx", ANH["date_of_birth"])),
    "initials_dob": (ANH, record("Tran Nguc Anx", ANH["date_of_birth"])),
    # a name error and a date error together, no ID
    "family_dob": (ANH, record("Trần Văn Hương", ANH["date_of_birth"])),  # given and middle changed
    "family_given_day_month": (ANH, record("Trần Thị Ánh", D(1991, 7, 21))),  # middle changed, year wrong
    "family_middle_day_month": (ANH, record("Trần Ngọc Ánhh", D(1980, 7, 21))),  # given typo, year wrong
    "family_initial_middle_year": (ANH, record("Trần Ngọc Amh", D(1990, 3, 9))),  # given typo, day wrong
    "dob_token_set": (ANH, record("Ngọc Ánh Trần", ANH["date_of_birth"])),
    "dob_rarest_token": (ANH, record("Trần Ngọc Ánh Bé", ANH["date_of_birth"])),
    "year_rarest_token": (ANH, record("Ngọc Ánh Trần Bé", D(1990, 3, 9))),
    # name typo and a wrong date, but the list names the mother, or the father of a child with both
    # parents in the register (a child with only a father has him in the first parent column)
    "guardian_given": (ANH, record("Trần Ngoc Ánh", D(1991, 3, 9), guardian="LÊ THỊ HOA")),
    "guardian2_given": (ANH, record("Trần Ngoc Ánh", D(1991, 3, 9), guardian="Trần Văn Thành")),
}


def _register() -> pl.DataFrame:
    reg = register([ANH, BICH, HOA, HA, THANH])
    mothers = {k: v[0] for k, v in PARENTS.items()}
    fathers = {k: v[1] for k, v in PARENTS.items()}
    return reg.with_columns(
        pl.col("person_id").replace_strict(HOUSEHOLDS, default=None).alias("household_id"),
        pl.col("person_id").replace_strict(mothers, default=None, return_dtype=pl.Utf8).alias("mother_id"),
        pl.col("person_id").replace_strict(fathers, default=None, return_dtype=pl.Utf8).alias("father_id"),
    )


@pytest.fixture(scope="module")
def index():
    return build_population_index(_register())


@pytest.fixture(scope="module")
def prepared(index):
    return prepare_index(index, config)


def _hits(index, prepared, row):
    cands = generate_pairs(record_features(records([row])), prepared, config)
    return cands, {name for name, mask in cands.hit.items() if mask[0]}


def test_every_pass_has_a_case():
    assert {p.name for p in config.passes} == set(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_each_pass_finds_its_kind_of_row(index, prepared, name):
    who, row = CASES[name]
    cands, hits = _hits(index, prepared, row)
    assert name in hits, f"{name} found nobody"
    pos = int(index.with_row_index("i").filter(pl.col("pid") == who["person_id"])["i"][0])
    assert pos in set(cands.pairs["pidx"].to_list())


def test_guardian_passes_find_a_child_with_only_a_father_through_the_first_parent_column(index, prepared):
    cands, hits = _hits(index, prepared, record("Trần Ngoc Bích", D(1991, 3, 9), guardian="Trần Văn Thành"))
    assert "guardian_given" in hits and "guardian2_given" not in hits
    pos = int(index.with_row_index("i").filter(pl.col("pid") == BICH["person_id"])["i"][0])
    assert pos in set(cands.pairs["pidx"].to_list())


def test_guardian_named_like_a_parent_is_evidence_for_the_child(index):
    # a wrong year and a name typo: only the guardian finds her
    row = record("Trần Ngoc Ánh", D(1991, 3, 9), "Nữ", guardian="Lê Thị Hoa")
    res = match_records(records([row]), index, config).results
    assert "guardian=parent_named" in res["reason"][0] and res["proposed_id"][0] == ANH["person_id"]
    stranger = record("Trần Ngoc Ánh", D(1991, 3, 9), "Nữ", guardian="Phạm Văn Khác")
    assert match_records(records([stranger]), index, config).results["reason"][0] == "no_candidates"
    # one wrong digit in the day: found either way; the parent's name weighs for her, another against
    rows = [record("Trần Ngoc Ánh", D(1990, 7, 27), "Nữ", guardian=g) for g in ("Lê Thị Hoa", "Phạm Văn Khác")]
    both = match_records(records(rows), index, config).results
    assert "guardian=parent_named" in both["reason"][0] and "guardian=other_name" in both["reason"][1]
    assert both["score"][0] > both["score"][1]


def test_fallback_passes_do_not_run_where_the_exact_name_and_date_found_someone(index, prepared):
    _c, hits = _hits(index, prepared, record("Trần Ngọc Ánh", ANH["date_of_birth"]))
    assert "name_dob" in hits
    skipping = [p.name for p in config.passes if "name_dob" in p.skip_if_hit_in]
    assert skipping and not hits & set(skipping)


def test_household_pass_ignores_a_row_that_names_the_ids_holder(index, prepared):
    _c, hits = _hits(index, prepared, record("Trần Ngọc Ánh", None, None, ANH["person_id"]))
    assert "id_exact" in hits and "id_household" not in hits


def test_household_pass_is_capped():
    crowd = [person(f"0792000{i:05d}", f"Nguyễn Văn Nam{i}", D(2000, 1, 1), "Nam") for i in range(20)]
    reg = register(crowd).with_columns(
        pl.when(pl.col("person_id").str.starts_with("0792000")).then(pl.lit("BIG")).alias("household_id")
    )
    index = build_population_index(reg)
    cands = generate_pairs(
        record_features(records([record("Lê Thị Lan", None, None, crowd[0]["person_id"])])),
        prepare_index(index, config),
        config,
    )
    cap = next(p.cap for p in config.passes if p.name == "id_household")
    assert cands.pass_counts["id_household"] == 0  # a household of 20 > cap
    assert cap < 20


def _match(index, rows):
    return match_records(records(rows), index, config).results


def test_parents_id_on_a_childs_row_finds_the_child(index):
    res = _match(index, [record("Trần Ngọc Ánh", ANH["date_of_birth"], "Nữ", HOA["person_id"])])
    assert res["status"][0] == "matched" and res["person_id"][0] == ANH["person_id"]


def test_an_id_beside_a_name_that_is_not_its_holders_does_not_match_the_holder(index):
    # someone not in the register writes Ánh's ID (a borrowed ID); nothing of the name is hers but
    # the family name, and there is no date
    res = _match(index, [record("Trần Văn Khải", None, "Nam", ANH["person_id"])])
    assert res["person_id"][0] is None
    assert res["status"][0] != "matched"
    assert "id_belongs_to_other_person" in res["flags"][0]


def test_an_id_beside_its_holders_name_with_a_typo_still_counts(index):
    res = _match(index, [record("Trần Ngọc Anhh", None, "Nữ", ANH["person_id"])])
    assert res["status"][0] == "matched" and res["person_id"][0] == ANH["person_id"]


def test_twin_row_with_the_siblings_id_and_a_typo_never_matches_the_sibling(index):
    res = _match(index, [record("Trần Ngọc Bíchh", BICH["date_of_birth"], "Nữ", ANH["person_id"])])
    assert res["person_id"][0] in (None, BICH["person_id"])


@pytest.mark.parametrize(
    "patch, where",
    [
        ({"passes": [{"name": "a", "record_keys": ["nk"], "skip_if_hit_in": ["b"]}]}, "skip_if_hit_in"),
        ({"id_corroborated_by": ["nosuch"]}, "id_corroborated_by"),
    ],
)
def test_config_refuses_unknown_pass_and_comparison_names(patch, where):
    with pytest.raises(ValueError, match=where):
        MatchConfig.from_dict(config.raw | patch)


def test_missing_gender_does_not_stop_a_match(index):
    res = _match(index, [record("Lý Thu Hà", HA["date_of_birth"], None)])
    assert res["status"][0] == "matched" and res["person_id"][0] == HA["person_id"]
    assert "gender=missing" in res["reason"][0]


def _grown_up_twins(parents: bool) -> pl.DataFrame:
    """Ánh and Bích, twins, each in a household of her own (grown up); Hoa is their mother when
    ``parents`` (the register links her), else nobody's parent is known."""
    reg = register([ANH, BICH, HOA, HA])
    homes = {ANH["person_id"]: "H-ANH", BICH["person_id"]: "H-BICH", HOA["person_id"]: "H-HOA"}
    mother = pl.col("person_id").is_in([ANH["person_id"], BICH["person_id"]]) & pl.lit(parents)
    return build_population_index(
        reg.with_columns(
            pl.col("person_id").replace_strict(homes, default=None).alias("household_id"),
            pl.when(mother).then(pl.lit(HOA["person_id"])).otherwise(None).alias("mother_id"),
        )
    )


def test_grown_up_twin_with_the_siblings_id_is_the_twin_the_name_and_date_say():
    # the row names Ánh exactly (name and date) but carries her twin Bích's ID; the twins live apart,
    # their shared mother says they are siblings: the ID is set aside and Ánh is matched, flagged
    row = record("Trần Ngọc Ánh", ANH["date_of_birth"], "Nữ", BICH["person_id"])
    res = _match(_grown_up_twins(parents=True), [row])
    assert res["person_id"][0] == ANH["person_id"]
    assert "id_belongs_to_other_person" in res["flags"][0]


def test_a_stranger_born_the_same_day_in_another_household_is_not_taken_for_a_twin():
    # the same row without the parent link: nothing says Ánh and Bích are siblings, so the ID's holder
    # is not set aside as a twin: name + date against the ID written in the row is a near-tie, for review
    row = record("Trần Ngọc Ánh", ANH["date_of_birth"], "Nữ", BICH["person_id"])
    res = _match(_grown_up_twins(parents=False), [row])
    assert res["status"][0] == "ambiguous" and res["person_id"][0] is None
