"""Reviewers' decisions reach the matcher: confirmed pairs of the ledger become engine level codes and
are blended into the estimated m before the run's rows are scored (issue 13, item 3)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from rules.matching import MatchConfig, build_population_index, match_records
from rules.review import labelled_pair_levels

config = MatchConfig.default()


def _ledger(reasons: list[str | None], decisions: list[str]) -> pl.DataFrame:
    n = len(reasons)
    return pl.DataFrame({
        "file_sha256": ["f" * 64] * n, "sheet": [""] * n, "row_number": list(range(1, n + 1)),
        "decision": decisions, "chosen_rank": [1 if d == "match" else None for d in decisions],
        "chosen_reason": reasons, "best_score": [0.9] * n,
        "decided_at": [datetime(2026, 11, 20, tzinfo=UTC)] * n,
    })


def test_reasons_become_level_codes_of_the_engine() -> None:
    middle = next(c for c in config.comparisons if c.name == "middle")
    first = middle.levels[0].label
    ledger = _ledger([f"middle={first};gender=missing", f"middle={middle.else_label}", "middle=no_such_level",
                      None], ["match", "match", "match", "none"])
    levels, is_match = labelled_pair_levels(ledger, config)
    assert is_match.tolist() == [True, True, True]  # "none of them" says nothing about a level
    assert levels["middle"].tolist() == [0, -1, -2]  # unknown label counts for nothing (missing)
    gender_codes = levels["gender"].tolist()
    assert gender_codes == [-2, -2, -2]  # explicit "missing" and absent comparisons are both missing


@pytest.fixture(scope="module")
def generated():
    from rules.normalise import normalise_records
    from rules.synth import generate_register, generate_sector_records

    reg = generate_register("ho_chi_minh", 20_000, 611)
    raw, _ = generate_sector_records(reg, "students", 1_500, 612)
    return build_population_index(reg), normalise_records(raw, "students")


def test_labels_move_the_estimated_m_towards_what_reviewers_saw(generated, tmp_path) -> None:
    index, recs = generated
    plain = match_records(recs, index, cache_dir=tmp_path).estimates
    middle = next(c for c in config.comparisons if c.name == "middle")
    # 300 reviewed matches whose middle names all disagree: reviewers saw that this happens
    ledger = _ledger([f"middle={middle.else_label}"] * 300, ["match"] * 300)
    taught = match_records(recs, index, cache_dir=tmp_path, labels=labelled_pair_levels(ledger, config)).estimates
    assert taught.m["middle"][-1] > plain.m["middle"][-1]  # the else level gained weight
    assert taught.m["middle"][0] < plain.m["middle"][0]  # ... at the expense of agreement
    assert np.isclose(taught.m["middle"].sum(), 1.0)
    assert np.allclose(taught.m["given"], plain.m["given"])  # comparisons without labels are untouched
