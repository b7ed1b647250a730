"""Comparisons: each level of each comparison, frequency weighting, and the weights' direction."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from rules.matching import MatchConfig, build_population_index
from rules.matching.compare import ELSE, MISSING, level_label, score
from rules.matching.compare import compare as _levels
from rules.matching.estimate import start_estimates
from rules.matching.features import record_features
from tests.rules.matching_helpers import person, record, records, register

D = dt.date
config = MatchConfig.default()
COMPS = {c.name: c for c in config.comparisons}
TARGET = person("079195000001", "Nguyễn Thị Thủy Tiên", D(1995, 4, 3), "Nữ", old_id="024000111")
MOTHER = person("079170000002", "Lê Thị Hoa", D(1970, 1, 1), "Nữ")
RARE = person("079195000003", "Nguyễn Thị Thủy Khuê", D(1995, 4, 3), "Nữ")


@pytest.fixture(scope="module")
def index():
    reg = register([TARGET, MOTHER, RARE])
    links = pl.Series("mother_id", [MOTHER["person_id"], None, None] + [None] * (reg.height - 3))
    return build_population_index(reg.with_columns(links))


def compare(lf, rf, cfg, n_index):
    """Levels and weights at the config's start values (what a run with too little data keeps)."""
    return score(_levels(lf, rf, cfg, n_index), start_estimates(cfg, n_index), cfg)


def levels_for(index, row, pid=TARGET["person_id"], idk=True) -> dict[str, str]:
    lf = record_features(records([row]))
    lf = lf.with_columns(pl.when(pl.col("idn_s").is_not_null()).then(pl.lit(idk)).alias("idk"))
    rf = index.filter(pl.col("pid") == pid)
    comps = compare(lf, rf, config, index.height)
    return {name: level_label(COMPS[name], int(lvl[0])) for name, lvl in comps.levels.items()}


def total(index, row, pid=TARGET["person_id"]) -> float:
    lf = record_features(records([row])).with_columns(pl.lit(True).alias("idk"))
    return float(compare(lf, index.filter(pl.col("pid") == pid), config, index.height).total[0])


BASE = {"name": TARGET["full_name"], "dob": TARGET["date_of_birth"], "gender": "Nữ"}


@pytest.mark.parametrize(
    ("change", "field", "label"),
    [
        ({}, "given", "exact"),
        ({"name": "NGUYEN THI THUY TIEN"}, "given", "exact"),  # no tones on the record: not a disagreement
        ({"name": "Nguyễn Thị Thủy Tiến"}, "given", "tone_differs"),
        ({"name": "Nguyễn Thị Thủy Tiênn"}, "given", "one_edit"),  # one typo
        ({"name": "Nguyễn Thị Thủy Tiênnn"}, "given", "fuzzy"),  # two edits, still close
        ({"name": "Nguyễn Thj Thủy Tiên"}, "middle", "one_edit"),
        ({"name": "Nguyễn Thị Thủy Mai"}, "given", "disagree"),
        ({"name": "Nguyen Thi Thuy Tien"}, "family", "exact"),
        ({"name": "Nguyn Thị Thủy Tiên"}, "family", "fuzzy"),
        ({"name": "Trần Thị Thủy Tiên"}, "family", "disagree"),
        ({"name": "Nguyễn Tiên"}, "middle", "one_missing"),
        ({"name": "Nguyễn Thủy Tiên"}, "middle", "partly_missing"),
        ({"name": "Nguyễn Văn Hùng Tiên"}, "middle", "disagree"),
        ({"name": "Tiên Nguyễn Thị Thủy"}, "order", "swapped"),
        ({}, "order", "same"),
        ({"dob": D(1995, 3, 4)}, "dob", "day_month_swapped"),
        ({"dob": D(1995, 4, 13)}, "dob", "one_digit"),
        ({"dob": D(1995, 9, 30)}, "dob", "same_year"),
        ({"dob": D(1960, 9, 30)}, "dob", "far"),
        ({"dob": D(1993, 9, 30)}, "dob", "disagree"),
        ({"gender": "Nam"}, "gender", "disagree"),
        ({"gender": None}, "gender", "missing"),
        ({"national_id": "079195000001"}, "id", "exact"),
        ({"national_id": "079195000010"}, "id", "one_edit"),
        ({"national_id": "079170000002"}, "id", "parent_id"),
        ({"national_id": "024000111"}, "cmnd", "exact"),
        ({}, "id", "missing"),
    ],
)
def test_levels(index, change, field, label):
    assert levels_for(index, record(**(BASE | change)))[field] == label


def test_year_only_and_unknown_id_levels(index):
    row = record(TARGET["full_name"], None, "Nữ", year=1995, national_id="079195999999")
    lv = levels_for(index, row, idk=False)
    assert lv["dob"] == "year_only"
    assert lv["id"] == "unknown_id"


def test_rare_given_name_weighs_more_than_common(index):
    # the filler register has many given names "An"/"Bình"...; "Tiên" and "Khuê" occur once each
    common = build_population_index(register([person("079000000009", "Nguyễn Văn An", D(1990, 1, 1), "Nam")]))
    lf_c = record_features(records([record("Nguyễn Văn An", D(1990, 1, 1), "Nam")]))
    lf_r = record_features(records([record(**BASE)]))
    w_common = compare(lf_c, common.filter(pl.col("pid") == "079000000009"), config, common.height).weights
    w_rare = compare(lf_r, index.filter(pl.col("pid") == TARGET["person_id"]), config, index.height).weights
    assert w_rare["given"][0] > w_common["given"][0] + 2
    assert w_rare["family"][0] < 2  # "Nguyễn" is common in the register: weak evidence


def test_missing_middle_name_is_neutral_and_disagreement_negative(index):
    lf = record_features(
        records(
            [
                record("Nguyễn Tiên", **{k: BASE[k] for k in ("dob", "gender")}),
                record("Nguyễn Văn Hùng Tiên", **{k: BASE[k] for k in ("dob", "gender")}),
            ]
        )
    )
    rf = index.filter(pl.col("pid") == TARGET["person_id"])
    comps = compare(lf, pl.concat([rf, rf]), config, index.height)
    assert abs(comps.weights["middle"][0]) < 0.5  # start values: about as likely for both
    assert comps.weights["middle"][1] < -3


def test_each_disagreement_lowers_the_score(index):
    clean = total(index, record(**BASE))
    for change in ({"gender": "Nam"}, {"dob": D(1993, 9, 30)}, {"name": "Nguyễn Thị Thủy Mai"}):
        assert total(index, record(**(BASE | change))) < clean - 3


def test_levels_are_exclusive_and_missing_is_zero_weight(index):
    lf = record_features(records([record(None, None, None)]))
    comps = compare(lf, index.head(1), config, index.height)
    for name, lvl in comps.levels.items():
        if name != "province":  # the record's province comes from the upload, not the row
            assert lvl[0] == MISSING and comps.weights[name][0] == 0.0
    # log2 likelihood ratio: the sum of the weights (the prior is applied per record, in decide)
    assert np.isclose(comps.total[0], sum(w[0] for w in comps.weights.values()))
    assert ELSE == -1
