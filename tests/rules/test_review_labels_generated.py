"""Reviewed pairs teach the matcher, on generated data (rules.synth): labels move m towards what the
labelled pairs show. The test plays the reviewers with the generator's truth (tests may read truth
files; the pipeline never does) and fits nothing that ships: the shipped m stays the YAML's."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from rules.matching import MatchConfig, match_file
from rules.review import blend_m, config_m, empty_ledger, precision_band
from rules.synth import write_province

PROVINCE = "ho_chi_minh"


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    """A ledger as if reviewers had looked at the best candidate of every row with one."""
    out = tmp_path_factory.mktemp("gen")
    write_province(out, PROVINCE, 6000, 3, rows_per_sector={"students": 1500})
    frames = []
    for f in sorted((out / "inbox" / PROVINCE / "students").iterdir()):
        res = match_file(out / "population" / f"{PROVINCE}.parquet", f, "students", out / f"{f.stem}.parquet",
                         progress=False, index_dir=out / "index").results
        truth = pl.read_parquet(out / "truth" / PROVINCE / "students" / f"{f.name}.truth.parquet")
        frames.append(res.with_columns(pl.col("sheet").fill_null("")).join(
            truth.select(pl.col("file").alias("file_name"), pl.col("sheet").fill_null(""), "row_number",
                         pl.col("person_id").alias("true_id")), on=["file_name", "sheet", "row_number"]))
    rows = pl.concat(frames, how="diagonal_relaxed").filter(pl.col("proposed_id").is_not_null())
    right = pl.col("proposed_id") == pl.col("true_id").fill_null("")
    ledger = rows.select(
        "file_sha256", "sheet", "row_number", pl.lit("a").alias("fp_match"), pl.lit("b").alias("fp_register"),
        pl.when(right).then(pl.lit("match")).otherwise(pl.lit("none")).alias("decision"),
        pl.when(right).then(pl.lit(1, pl.Int64)).alias("chosen_rank"),
        pl.when(right).then(pl.col("reason")).alias("chosen_reason"), pl.col("score").alias("best_score"),
        pl.lit(datetime(2026, 11, 20, tzinfo=UTC)).alias("decided_at"))
    return pl.concat([empty_ledger(), ledger], how="diagonal_relaxed")


def test_labels_move_every_m_towards_the_labelled_frequency(reviewed):
    m_em = config_m(MatchConfig.default())
    sample = reviewed.sample(fraction=0.1, seed=1)
    few, many = blend_m(m_em, sample, 50), blend_m(m_em, reviewed, 50)
    assert many["n_lab"].max() > 1000 > few["n_lab"].max() > 50
    checked = 0
    for r in many.filter((pl.col("n_lab") > 0) & pl.col("m_em").is_not_null()).iter_rows(named=True):
        gap_before, gap_after = abs(r["m_em"] - r["m_lab"]), abs(r["m_blended"] - r["m_lab"])
        assert gap_after <= gap_before + 1e-12, r
        if gap_before > 0.01:
            assert (r["m_blended"] - r["m_em"]) * (r["m_lab"] - r["m_em"]) > 0, r
            f = few.filter((pl.col("comparison") == r["comparison"]) & (pl.col("level") == r["level"])).row(
                0, named=True)
            assert abs(f["m_blended"] - r["m_lab"]) >= gap_after - 1e-9  # more labels, closer to them
            checked += 1
    assert checked >= 5
    # the generator writes a year-only birth date for ~2% of rows (noise_rates.yaml): reviewed matches
    # show it at about that rate, far below the configured m of 0.95, and the blend follows them down
    year_only = many.filter((pl.col("comparison") == "dob") & (pl.col("level") == "year_only")).row(0, named=True)
    assert 0.005 < year_only["m_lab"] < 0.06
    assert year_only["m_blended"] < 0.2 < year_only["m_em"]


def test_measured_precision_near_the_threshold_is_what_reviewers_found(reviewed):
    band = precision_band(reviewed, (0.9, 1.0))
    in_band = reviewed.filter(pl.col("best_score") >= 0.9)
    assert band["reviewed"] == in_band.height > 500
    assert band["precision"] == pytest.approx((in_band["decision"] == "match").mean())
    assert band["ci_low"] <= band["precision"] <= band["ci_high"]
