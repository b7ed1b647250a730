"""u of the levels too rare for a random sample (an ID one digit off, a parent's ID) is counted in the
register: the count matches a brute force, and the run's estimates carry it (u_source ``register``)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.matching import MatchConfig, build_population_index, match_records
from rules.matching.blocking import _sorted, id_neighbour_rate
from rules.matching.estimate import register_u, start_estimates
from tests.rules.matching_helpers import person, register

config = MatchConfig.default()


def _one_edit(a: str, b: str) -> bool:
    """Brute force: one substituted digit, or two different adjacent digits swapped."""
    diff = [i for i in range(12) if a[i] != b[i]]
    if len(diff) == 1:
        return True
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=99), min_size=2, max_size=40, unique=True),
    st.integers(min_value=10**8, max_value=10**10 - 1),
)
def test_id_neighbour_rate_counts_what_a_brute_force_counts(tails, base):
    """IDs sharing all but their last digits (dense, like one birth year's IDs), some transposed."""
    ids = [base * 100 + t for t in tails]
    ids += [int(str(i)[:-2] + str(i)[-1] + str(i)[-2]) for i in ids[:3]]  # adjacent transpositions
    ids = sorted(set(ids))
    table = _sorted(np.asarray(ids, dtype=np.uint64), np.ones(len(ids), dtype=bool))
    text = [f"{i:012d}" for i in ids]
    brute = sum(_one_edit(a, b) for a in text for b in text if a != b) / len(ids)
    assert id_neighbour_rate(table, np.asarray(ids, dtype=np.uint64)) == brute


def test_register_u_sets_the_configured_levels_only():
    est = start_estimates(config, 10_000_000)
    before = {c.name: est.u[c.name].copy() for c in config.comparisons}
    register_u(est, config, {"id_neighbours": 3e-7, "parent_links": 1.5e-7})
    idc = config.comparison("id")
    labels = [lv.label for lv in idc.levels]
    one, parent = labels.index("one_edit"), labels.index("parent_id")
    assert est.u["id"][one] == 3e-7 and est.u_source["id"][one] == "register"
    assert est.u["id"][parent] == 1.5e-7 and est.u_source["id"][parent] == "register"
    for c in config.comparisons:  # nothing else moved
        changed = set(np.flatnonzero(est.u[c.name] != before[c.name]))
        assert changed == ({one, parent} if c.name == "id" else set()), c.name
    # a kind the run could not count keeps the sampled / start value
    fresh = start_estimates(config, 10_000_000)
    register_u(fresh, config, {})
    assert np.array_equal(fresh.u["id"], before["id"])


def test_reviewed_pairs_do_not_move_a_u_counted_in_the_register():
    """A handful of labelled non-matches at ``one_edit`` would outweigh a 300,000-pair sample, but a
    u counted in the register stands for every pair of it: labels keep it (and its source)."""
    from rules.matching.estimate import with_labelled_pairs

    est = register_u(start_estimates(config, 10_000_000), config, {"id_neighbours": 1.5e-7})
    est.u_pairs = 300_000
    one = [lv.label for lv in config.comparison("id").levels].index("one_edit")
    levels = {c.name: np.full(20, -2, dtype=np.int16) for c in config.comparisons}
    levels["id"][:] = one
    out = with_labelled_pairs(est, config, levels, np.zeros(20, dtype=bool))
    assert out.u["id"][one] == 1.5e-7 and out.u_source["id"][one] == "register"


def test_id_neighbours_needs_a_pass_that_holds_the_id_table():
    import pytest

    raw = config.raw
    raw["passes"] = [p for p in raw["passes"] if p["kind"] not in ("id_variants", "id_household")]
    with pytest.raises(ValueError, match="id_neighbours needs an id_variants or id_household pass"):
        MatchConfig.from_dict(raw)


def test_a_register_without_id_neighbours_gets_a_floor_not_the_start_value(tmp_path):
    """IDs far apart: no neighbour found is not "unknown" (the start value 1e-5 would be far too
    common) but half a neighbour over the people counted."""
    from rules.matching.engine import _register_u
    from rules.matching.index import prepared_index

    people = [person(f"0792{i * 7_919_111 % 10**8:08d}", "Lê Văn Tám", dt.date(1990, 1, 1 + i % 28), "Nam")
              for i in range(50)]
    index = build_population_index(register(people, with_filler=False))
    got = _register_u(index, prepared_index(index, config), config)
    assert got["id_neighbours"] == 0.5 / 50 / 50
    assert got["parent_links"] == 0.5 / 50 / 50  # no parent links in this register either


def test_a_run_counts_id_neighbours_and_parent_links_in_its_register(tmp_path):
    """On a generated register the one-edit u is the register's ID density (far below the start
    value 1e-5 that a 300,000-pair sample could never correct) and the parent u is links / N^2."""
    from rules.normalise import normalise_records
    from rules.synth import generate_register, generate_sector_records

    reg = generate_register("ho_chi_minh", 20_000, 611)
    raw, _ = generate_sector_records(reg, "students", 1_000, 612)
    index = build_population_index(reg)
    out = match_records(normalise_records(raw, "students"), index, cache_dir=tmp_path)
    est = out.estimates
    labels = [lv.label for lv in config.comparison("id").levels]
    one, parent = labels.index("one_edit"), labels.index("parent_id")
    assert est.u_source["id"][one] == "register" and est.u_source["id"][parent] == "register"
    links = int(reg["mother_id"].is_not_null().sum() + reg["father_id"].is_not_null().sum())
    assert np.isclose(est.u["id"][parent], links / reg.height / reg.height)
    ids = pl.Series(reg["person_id"]).cast(pl.Int64).to_numpy().astype(np.uint64)
    table = _sorted(ids, np.ones(len(ids), dtype=bool))
    assert 0 < est.u["id"][one] < 1e-5
    # a register of at most 20,000 people is counted whole: exactly the register's rate
    assert np.isclose(est.u["id"][one] * reg.height, id_neighbour_rate(table, ids))
    shown = est.to_frame(config).filter(pl.col("comparison") == "id")
    assert shown.filter(pl.col("level") == "one_edit")["u_source"].item() == "register"


def test_implies_refuses_an_unknown_comparison_or_label():
    import pytest

    raw = config.raw
    idc = next(c for c in raw["comparisons"] if c["name"] == "id")
    one = next(lv for lv in idc["levels"] if lv["label"] == "one_edit")
    for bad, words in (({"dobb": ["exact"]}, "no other comparison named 'dobb'"), ({"dob": ["exactt"]}, "no level")):
        one["implies"] = bad
        with pytest.raises(ValueError, match=words):
            MatchConfig.from_dict(raw)


def test_an_implied_agreement_is_not_counted_twice():
    """A pair whose ID is one digit off and whose birth year and gender agree scores log2 P(year and
    gender agree | different people) lower than the same levels scored independently; with the
    birth date missing only the gender part applies; other ID levels are untouched."""
    from rules.matching.compare import Comparisons, implied_adjustment

    est = start_estimates(config, 10_000_000)
    idc, dob = config.comparison("id"), config.comparison("dob")
    one = [lv.label for lv in idc.levels].index("one_edit")
    parent = [lv.label for lv in idc.levels].index("parent_id")
    exact_dob = [lv.label for lv in dob.levels].index("exact")
    far = [lv.label for lv in dob.levels].index("far")
    levels = {c.name: np.full(4, -2, dtype=np.int16) for c in config.comparisons}
    levels["id"][:] = [one, one, one, parent]
    levels["dob"][:] = [exact_dob, -2, far, exact_dob]
    levels["gender"][:] = [0, 0, 0, 0]
    adj = implied_adjustment(Comparisons(levels, {}), est, config)
    assert set(adj) == {"id"}  # a part of the ID comparison's weight (set aside with it)
    adj = adj["id"]
    implied_dob = [j for j, lb in enumerate(dob.labels) if lb in idc.levels[one].implies["dob"]]
    p_year = float(est.u["dob"][implied_dob].sum())
    p_gender = float(est.u["gender"][0])
    assert np.allclose(adj, [np.log2(p_year) + np.log2(p_gender), np.log2(p_gender), np.log2(p_gender), 0.0])




def test_score_folds_the_implied_correction_into_the_id_weight_and_never_below_zero():
    """Where the level's own evidence is strong (a large register) the ID weight loses exactly the
    implied correction; where it is weak (dense IDs: one bit) the correction stops at zero, so an ID
    one digit off is never evidence against a person because of the year and gender it implies."""
    from rules.matching.compare import Comparisons, implied_adjustment, score

    one = [lv.label for lv in config.comparison("id").levels].index("one_edit")

    def pair():
        levels = {c.name: np.full(1, -2, dtype=np.int16) for c in config.comparisons}
        levels["id"][:], levels["dob"][:], levels["gender"][:] = one, 0, 0
        return Comparisons(levels, {})

    strong = register_u(start_estimates(config, 10_000_000), config, {"id_neighbours": 1.5e-7})
    own = np.log2(strong.m["id"][one] / strong.u["id"][one])
    adj = implied_adjustment(pair(), strong, config)["id"][0]
    assert adj < -5 and np.isclose(score(pair(), strong, config).weights["id"][0], own + adj)
    weak = start_estimates(config, 10_000)
    weak.u["id"][one] = weak.m["id"][one] / 2  # one bit of evidence
    assert np.isclose(score(pair(), weak, config).weights["id"][0], 0.0)
