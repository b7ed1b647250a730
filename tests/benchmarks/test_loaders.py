"""Benchmark loaders: the pseudopeople sample data (shipped in the package) and the scoring."""

from __future__ import annotations

import polars as pl
import pytest

from benchmarks.scoring import breakdown, harsh_targets, score


@pytest.fixture(scope="module")
def psp_sets(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("pseudopeople", reason="pseudopeople is in the bench extra (pip install -e '.[bench]')")
    from benchmarks.loaders.psp import pseudopeople_datasets

    return pseudopeople_datasets(tmp_path_factory.mktemp("psp"))


def test_pseudopeople_sample_data_loads_and_links_to_ssa(psp_sets) -> None:
    census, w2 = psp_sets
    register = pl.read_parquet(census.register)
    assert register.height > 15_000 and register["unique_id"].is_unique().all()
    assert census.register == w2.register
    for ds, must in ((census, "dob"), (w2, "ssn")):
        recs, truth = pl.read_parquet(ds.records), pl.read_parquet(ds.truth)
        assert recs.height == truth.height > 9_000
        assert set(recs.columns) >= {"unique_id", "first_name", "last_name", "middle_initial", must}
        assert recs[must].null_count() < recs.height * 0.1
        share = truth["person_id"].is_not_null().mean()
        assert 0.9 < share < 1.0  # most, not all, people have an SSA record
        assert truth["person_id"].drop_nulls().is_in(register["unique_id"].implode()).all()
        # levels from the noise-free run: most rows clean, some with 1-3 field errors
        lv = truth["n_errors"].drop_nulls()
        assert 0.6 < (lv == 0).mean() < 1.0 and (lv >= 1).sum() > 100
        assert (truth.filter(pl.col("n_errors") == 0)["labels"].to_list()[0]) == ["clean"]
    assert ds.config is not None and ds.config.exists()


def test_pseudopeople_standardisation() -> None:
    from benchmarks.loaders.psp import standardise

    ssa = pl.DataFrame(
        {
            "first_name": [" Diana "],
            "middle_name": ["Paula"],
            "last_name": ["Kofron"],
            "date_of_birth": ["19940506"],
            "sex": ["Female"],
            "ssn": ["584-16-0130"],
        }
    )
    census = pl.DataFrame(
        {
            "first_name": ["diana"],
            "middle_initial": ["P"],
            "last_name": ["KOFRON"],
            "date_of_birth": ["05/06/1994"],
            "sex": ["Female"],
        }
    )
    a, b = standardise(ssa, "ssa"), standardise(census, "census")
    cols = ["first_name", "middle_initial", "last_name", "dob", "dob_text", "birth_year", "sex"]
    assert a.select(cols).equals(b.select(cols))
    assert a["ssn"].to_list() == ["584160130"] and b["ssn"].to_list() == [None]
    assert standardise(census.with_columns(date_of_birth=pl.lit("07/71/1958")), "census")["dob"].to_list() == [None]


def test_scores_count_wrong_ids_as_false_positives_and_negatives() -> None:
    truth = pl.Series(["a", "b", None, "d"])
    pred = pl.Series(["a", "x", "c", None])
    s = score(pred, truth)
    assert (s.fp, s.fn, s.predicted, s.in_register) == (2, 2, 3, 3)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(1 / 3)


def test_levels_sectors_and_targets() -> None:
    truth = pl.DataFrame(
        {
            "person_id": ["a", "b", "c", "d", "e", "f"],
            "n_errors": [0, 1, 2, 3, 5, 0],
            "labels": [["clean"], ["typo_given"], ["x", "y"], ["x", "y", "z"], ["q"] * 5, ["clean"]],
            "sector": ["students"] * 3 + ["insurance"] * 3,
        }
    )
    b = breakdown(pl.Series(["a", "b", None, "d", None, "f"]), truth)
    assert b.levels["clean"].recall == 1.0 and b.levels["2-3"].recall == 0.5 and b.levels["4+"].recall == 0.0
    assert b.sectors["students"].recall == pytest.approx(2 / 3)
    assert b.labels["x"].recall == 0.5
    met = {what: ok for what, ok, _ in harsh_targets(b)}
    assert met["insurance: recall 4+ >= 0.5"] is False and met["students: recall clean >= 0.999"] is True
    assert met["students: recall 2-3 >= 0.9"] is False
