"""rules.audit.record: one run's audit rows, only the listed columns, stamped, owner-only."""

import stat

import polars as pl

from rules.audit import record
from rules.layout import DataLayout


def test_record_keeps_listed_columns_stamps_and_is_owner_only(tmp_path) -> None:
    layout = DataLayout.at(tmp_path)
    frame = pl.DataFrame({"person_id": ["1", "2"], "status": ["matched", "none"], "secret_extra": ["x", "y"]})
    n = record(layout, "review_decisions", "hcm/students", "run-1", frame, ("person_id", "status", "absent"))
    path = layout.audit_file("review_decisions", "hcm/students", "run-1")
    back = pl.read_parquet(path)
    assert n == 2 and back.columns == ["person_id", "status", "recorded_at", "run_id", "kind"]
    assert back["run_id"].unique().to_list() == ["run-1"] and back["kind"].unique().to_list() == ["review_decisions"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary file left
