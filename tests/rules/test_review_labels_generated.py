"""Reviewed pairs teach the matcher, on generated data (rules.synth): labels move m towards the truth.

The test plays the reviewers with the generator's truth (tests may read truth files; the pipeline
never does) and fits nothing that ships: the shipped m stays the YAML's."""

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


def _tv(a: pl.DataFrame, b: pl.DataFrame, col_a: str, col_b: str) -> dict[str, float]:
    """Total-variation distance per comparison between two level distributions."""
    both = a.select("comparison", "level", pl.col(col_a).alias("x")).join(
        b.select("comparison", "level", pl.col(col_b).alias("y")), on=["comparison", "level"], how="full",
        coalesce=True).fill_null(0.0)
    return dict(both.group_by("comparison").agg(((pl.col("x") - pl.col("y")).abs().sum() / 2).alias("tv")).iter_rows())


def test_labels_move_m_towards_the_truth_of_the_generated_data(reviewed):
    """An unsupervised estimate that is off (uniform over each comparison's levels, as EM might start)
    blended with a 10% sample of reviewed pairs lands closer to the true m of the whole data set (the
    level frequencies among all its true matches), and a 50% sample closer still."""
    truth = blend_m(pl.DataFrame(schema={"comparison": pl.Utf8, "level": pl.Utf8, "m": pl.Float64}), reviewed, 0)
    truth = truth.select("comparison", "level", pl.col("m_lab").alias("m_true"))
    levels = config_m(MatchConfig.default()).select("comparison", "level")
    levels = pl.concat([levels, truth.select("comparison", "level")]).unique()
    m_em = levels.with_columns((1.0 / pl.len().over("comparison")).alias("m"))
    tv_em = _tv(m_em, truth, "m", "m_true")
    tv_10 = _tv(blend_m(m_em, reviewed.sample(fraction=0.1, seed=1), 50), truth, "m_blended", "m_true")
    tv_50 = _tv(blend_m(m_em, reviewed.sample(fraction=0.5, seed=2), 50), truth, "m_blended", "m_true")
    labelled = set(truth["comparison"])  # comparisons with a known level in some true match
    compared = [c for c in tv_em if c in labelled and tv_em[c] > 0.05]
    assert len(compared) >= 5, tv_em
    for c in compared:
        assert tv_10[c] < tv_em[c], (c, tv_10[c], tv_em[c])
        assert tv_50[c] < tv_10[c], (c, tv_50[c], tv_10[c])
    # the parsed levels measure the generator: a year-only birth date on ~2% of rows (noise_rates.yaml)
    year_only = truth.filter((pl.col("comparison") == "dob") & (pl.col("level") == "year_only"))["m_true"][0]
    assert 0.005 < year_only < 0.06


def test_measured_precision_near_the_threshold_is_what_reviewers_found(reviewed):
    band = precision_band(reviewed, (0.9, 1.0))
    in_band = reviewed.filter(pl.col("best_score") >= 0.9)
    assert band["reviewed"] == in_band.height > 500
    assert band["precision"] == pytest.approx((in_band["decision"] == "match").mean())
    assert band["ci_low"] <= band["precision"] <= band["ci_high"]
