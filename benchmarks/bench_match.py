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
import os
import resource
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rules.matching import build_population_index, match_records  # noqa: E402
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
        norm = normalise(raw, sector)
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


def run_doisoat(reg_p: Path, rec_p: Path, tru_p: Path, label: str) -> dict:
    print(f"\n== doisoat rules.matching: {label} ==", flush=True)
    t = time.perf_counter()
    reg = pl.read_parquet(reg_p)
    index = build_population_index(reg)
    del reg
    t_index = time.perf_counter() - t
    records = pl.read_parquet(rec_p)
    truth = pl.read_parquet(tru_p)
    gc.collect()
    t = time.perf_counter()
    out = match_records(records, index)
    t_match = time.perf_counter() - t
    print(
        f"  index build {t_index:.1f} s (cached between runs in production); "
        f"match {t_match:.2f} s = {records.height / t_match:,.0f} rows/s; peak RSS {peak_rss_gb():.2f} GB"
    )
    print(f"  candidate pairs per pass: {out.pass_counts}")
    print(f"  stats: {out.stats}")
    acc = report_accuracy("doisoat", out.results["person_id"], truth)
    return {"seconds": t_match, "index_seconds": t_index, **acc}


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
    run_doisoat(*paths, f"{args.register:,} x {args.rows:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
