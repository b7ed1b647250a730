"""Splink 5 (DuckDB backend) as its documentation teaches, on standardised inputs, for any data set.

A ``SplinkSpec`` names the columns and the blocking; the run is always the same competent recipe:
blocking rules for prediction (ID, date of birth, name + birth year where the data set has them),
the share of matches from deterministic rules, u by random sampling, m by EM on two blocking rules,
then the best candidate per record with match probability >= 0.9. Nothing is tuned on truth.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import polars as pl

THRESHOLD = 0.9


@dataclass(frozen=True)
class SplinkSpec:
    """Columns (both sides use the same names) and rules; ``unique_id`` is the row key."""

    names: tuple[str, ...] = ()  # NameComparison, term frequencies on
    names_plain: tuple[str, ...] = ()  # NameComparison without term frequencies (middle names)
    dob: str | None = None  # Date column: DateOfBirthComparison
    dob_text: str | None = None  # text date (yyyymmdd): Levenshtein 1, 2
    ids: tuple[str, ...] = ()  # Levenshtein 1, 2
    exact: tuple[str, ...] = ()  # ExactMatch
    blocking: tuple[tuple[str, ...], ...] = ()
    deterministic: tuple[tuple[str, ...], ...] = ()
    em_blocks: tuple[tuple[str, ...], ...] = ()
    recall: float = 0.8
    u_pairs: float = 5e6
    extra: dict = field(default_factory=dict)


def run_splink(left: pl.DataFrame, right: pl.DataFrame, spec: SplinkSpec) -> tuple[pl.Series, dict]:
    """Best register ``unique_id`` per ``left`` row (null below the threshold) and timing figures."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    t = time.perf_counter()
    comparisons = [cl.NameComparison(c).configure(term_frequency_adjustments=True) for c in spec.names]
    comparisons += [cl.NameComparison(c) for c in spec.names_plain]
    if spec.dob:
        comparisons.append(cl.DateOfBirthComparison(spec.dob, input_is_string=False))
    if spec.dob_text:
        comparisons.append(cl.LevenshteinAtThresholds(spec.dob_text, [1, 2]))
    comparisons += [cl.LevenshteinAtThresholds(c, [1, 2]) for c in spec.ids]
    comparisons += [cl.ExactMatch(c) for c in spec.exact]
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=[block_on(*b) for b in spec.blocking],
        comparisons=comparisons,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    db = DuckDBAPI()
    linker = Linker(
        [db.register(left.to_arrow(), table_name="records"), db.register(right.to_arrow(), table_name="register")],
        settings,
        log_level=logging.ERROR,
    )
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*b) for b in spec.deterministic], recall=spec.recall
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=spec.u_pairs)
    for b in spec.em_blocks:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*b))
    t_train = time.perf_counter() - t
    pred = linker.inference.predict(threshold_match_probability=THRESHOLD).as_duckdbpyrelation().pl()
    best = (
        pred.sort("match_probability", descending=True)
        .group_by("unique_id_l")
        .first()
        .select(pl.col("unique_id_l").alias("unique_id"), pl.col("unique_id_r").cast(pl.Utf8).alias("pid"))
    )
    joined = left.select(pl.col("unique_id")).join(
        best.with_columns(pl.col("unique_id").cast(left["unique_id"].dtype)),
        on="unique_id",
        how="left",
        maintain_order="left",
    )
    return joined["pid"], {"seconds": time.perf_counter() - t, "train_seconds": t_train, "pairs": pred.height}
