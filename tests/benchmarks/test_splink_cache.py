"""Splink's stored results (benchmarks/splink_cache.py) and how bench_match reuses them.

The cache lets the final doisoat run at 10M x 1M be compared with Splink without rerunning Splink
for tens of minutes; a wrong key would compare against another data set's or configuration's
figures, so the key's parts and the reuse path are tested here (no Splink run needed)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import polars as pl
import pytest

from benchmarks import bench_match, splink_cache, splink_runner
from benchmarks.loaders.common import Dataset
from benchmarks.loaders.harsh import SPLINK as HARSH_SPEC
from benchmarks.splink_cache import cache_key


def _dataset(tmp: Path, seed: int | None = 7, harsh: bool = False) -> Dataset:
    d = tmp / f"harsh_1000_100_{seed}_abc"
    d.mkdir(parents=True, exist_ok=True)
    truth = pl.DataFrame(
        {
            "person_id": ["p1", "p2", None, "p4"],
            "n_errors": [0, 1, 2, 5],
            "sector": ["students"] * 4,
        }
    )
    truth.write_parquet(d / "truth.parquet")
    return Dataset(
        name="tiny",
        kind="vietnam",
        records=d / "records.parquet",
        register=d / "register.parquet",
        truth=d / "truth.parquet",
        splink_left=d / "splink_left.parquet",
        splink_right=d / "splink_right.parquet",
        splink=HARSH_SPEC,
        harsh=harsh,
        seed=seed,
    )


# -- the key ----------------------------------------------------------------------------------------


def test_key_is_stable_and_names_every_part() -> None:
    a = cache_key("harsh_10000000_1000000_73915204_f2cd_records", "10m", 73915204, HARSH_SPEC)
    assert a == cache_key("harsh_10000000_1000000_73915204_f2cd_records", "10m", 73915204, HARSH_SPEC)
    assert a.startswith("harsh_10000000_1000000_73915204_f2cd_records__10m__seed73915204__cfg")
    assert "/" not in cache_key("pseudopeople census -> SSA/x", None, None, HARSH_SPEC)


@pytest.mark.parametrize(
    "change",
    [
        {"dataset": "harsh_1000000_100000_73915204_f2cd_records"},
        {"size": "1m"},
        {"seed": 5},
        {"spec": dataclasses.replace(HARSH_SPEC, blocking=(("national_id",), ("full_name", "birth_year")))},
        {"spec": dataclasses.replace(HARSH_SPEC, em_max_pairs=None)},
        {"spec": dataclasses.replace(HARSH_SPEC, u_seed=2)},
        {"spec": dataclasses.replace(HARSH_SPEC, recall=0.9)},
    ],
)
def test_key_changes_with_data_set_size_seed_and_configuration(change: dict) -> None:
    base = {"dataset": "harsh_10000000_1000000_73915204_f2cd_records", "size": "10m", "seed": 73915204}
    base_spec = HARSH_SPEC
    args = base | {k: v for k, v in change.items() if k != "spec"}
    assert cache_key(args["dataset"], args["size"], args["seed"], change.get("spec", base_spec)) != cache_key(
        base["dataset"], base["size"], base["seed"], base_spec
    )


def test_configuration_hash_follows_splink_version_and_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    before = splink_runner.config_hash(HARSH_SPEC)
    monkeypatch.setattr(splink_runner, "splink_version", lambda: "9.9.9")
    assert splink_runner.config_hash(HARSH_SPEC) != before
    monkeypatch.undo()
    monkeypatch.setattr(splink_runner, "THRESHOLD", 0.5)
    assert splink_runner.config_hash(HARSH_SPEC) != before


def test_resources_are_not_part_of_the_configuration() -> None:
    # memory limit, threads, spill folder and chunks change time and memory, never the answer
    fields = {f.name for f in dataclasses.fields(splink_runner.SplinkSpec)}
    assert not fields & {f.name for f in dataclasses.fields(splink_runner.SplinkResources)}


# -- store and load -----------------------------------------------------------------------------------


def test_store_then_load_round_trip(tmp_path: Path) -> None:
    pred = pl.Series("person_id", ["p1", None, "x", "p4"])
    figures = {"seconds": 1234.5, "train_seconds": 100.0, "pairs": 42, "process_seconds": 1300.0, "rss": 9.5}
    splink_cache.store(tmp_path, "k1", pred, figures, spec=HARSH_SPEC, scores={"f1": 0.5})
    hit, why = splink_cache.load(tmp_path, "k1", rows=4)
    assert why == "" and hit is not None
    assert hit.predictions.to_list() == ["p1", None, "x", "p4"]
    assert hit.figures == figures
    assert hit.measured_at.endswith("+00:00")  # UTC
    meta = json.loads((tmp_path / "splink_cache" / "k1" / "result.json").read_text())
    assert meta["config_hash"] == splink_runner.config_hash(HARSH_SPEC) and meta["scores"] == {"f1": 0.5}
    assert not list((tmp_path / "splink_cache").glob(".*tmp*"))  # written atomically, nothing left over


def test_load_misses_say_why(tmp_path: Path) -> None:
    hit, why = splink_cache.load(tmp_path, "absent", rows=4)
    assert hit is None and "no stored Splink result" in why
    splink_cache.store(tmp_path, "k2", pl.Series(["a", "b"]), {}, spec=HARSH_SPEC)
    hit, why = splink_cache.load(tmp_path, "k2", rows=4)  # another data set's row count: stale
    assert hit is None and "stale" in why
    (tmp_path / "splink_cache" / "k2" / "result.json").write_text("{not json")
    hit, why = splink_cache.load(tmp_path, "k2", rows=2)
    assert hit is None and "unreadable" in why


# -- bench_match reuses it ------------------------------------------------------------------------------


def test_a_run_is_stored_and_the_next_run_reads_it_without_splink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = _dataset(tmp_path / "data")
    truth = pl.read_parquet(ds.truth)
    calls = []

    def fake_child(fn, ds_, pred_path, resources):  # stands for the Splink child process
        calls.append(fn.__name__)
        pl.DataFrame({"person_id": ["p1", "p2", None, None]}).write_parquet(pred_path)
        return {"seconds": 50.0, "train_seconds": 20.0, "pairs": 2, "process_seconds": 55.0, "rss": 1.5}

    monkeypatch.setattr(bench_match, "in_child", fake_child)
    rep = bench_match.Report()
    plan = bench_match.SplinkPlan(run=True, cached=True)
    b, _fig = bench_match.splink_result(ds, rep, tmp_path, plan, "10m", truth, tmp_path / "p.parquet")
    assert calls == ["splink_child"] and b is not None and b.overall.recall == pytest.approx(2 / 3)
    assert any("stored for reuse" in line for line in rep.lines)

    def no_child(*args, **kwargs):
        raise AssertionError("Splink must not rerun when its result is stored")

    monkeypatch.setattr(bench_match, "in_child", no_child)
    rep2 = bench_match.Report()
    b2, fig2 = bench_match.splink_result(ds, rep2, tmp_path, plan, "10m", truth, tmp_path / "p2.parquet")
    assert b2 is not None and b2.overall == b.overall
    assert fig2["cached"] and fig2["seconds"] == 50.0 and fig2["rss"] == 1.5
    said = "\n".join(rep2.lines)
    assert "FROM THE CACHE" in said and "measured 20" in said and bench_match.splink_key(ds, "10m") in said

    # the comparison target says where Splink's figures came from
    bench_match.harsh_checks(ds, {"doisoat": (b, {}), "splink": (b2, fig2)}, rep2, None, [])
    (_, what, met, why), *_ = rep2.targets
    assert what == "ahead of Splink on F1" and not met and "from the cache measured" in why

    # another seed is another data set: a miss, and Splink is not allowed to run here -> not measured
    other = dataclasses.replace(ds, seed=8)
    rep3 = bench_match.Report()
    plan3 = bench_match.SplinkPlan(run=False, cached=True, why_not="not run at 10M x 1M without --splink-large")
    b3, fig3 = bench_match.splink_result(other, rep3, tmp_path, plan3, "10m", truth, tmp_path / "p3.parquet")
    assert b3 is None and "not measured" in fig3["error"]
    assert "not measured" in "\n".join(rep3.lines) and "--splink-large" in "\n".join(rep3.lines)


def test_every_harsh_target_is_listed_when_doisoat_did_not_run(tmp_path: Path) -> None:
    ds = _dataset(tmp_path / "data", harsh=True)
    rep = bench_match.Report()
    results = {"doisoat": (None, {"error": "not run in this invocation (--only-splink)"}), "splink": (None, {})}
    bench_match.harsh_checks(ds, results, rep, "10m", ["insurance", "students", "vaccinations"])
    names = [t[1] for t in rep.targets]
    # ahead of Splink; per sector precision + 4 recall levels; time; RSS
    assert len(names) == 1 + 3 * 5 + 2
    assert "students: recall 4+ >= 0.5" in names and "peak RSS <= 12 GB" in names
    assert all(not met and why.startswith("not measured") for _, _, met, why in rep.targets)


def test_results_can_be_read_from_another_checkouts_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the final doisoat run (another worktree, its own --out-dir) reads the store where Splink was measured
    ds = _dataset(tmp_path / "data")
    truth = pl.read_parquet(ds.truth)
    store_dir = tmp_path / "measured_here"
    key = bench_match.splink_key(ds, "10m")
    splink_cache.store(store_dir, key, pl.Series(["p1", None, None, "p4"]), {"seconds": 1.0}, spec=ds.splink)
    monkeypatch.setattr(bench_match, "in_child", lambda *a, **k: pytest.fail("Splink must not rerun"))
    plan = bench_match.SplinkPlan(run=False, cached=True, cache_dir=store_dir)
    b, fig = bench_match.splink_result(
        ds, bench_match.Report(), tmp_path / "elsewhere", plan, "10m", truth, tmp_path / "p"
    )
    assert b is not None and fig["cached"] and b.overall.recall == pytest.approx(2 / 3)
