"""National second pass benchmark (issue 16 point 4): rows registered in another province.

    .venv/bin/python benchmarks/bench_second_pass.py --sizes small              # a quick look (~1 min)
    flock /tmp/doisoat-heavy.lock .venv/bin/python benchmarks/bench_second_pass.py --sizes 1m 10m

Data (``rules.synth.national``, harsh noise, a TRIAL seed, never bench_match's evaluation seed): a
national register of ``--provinces`` provinces (equal shares of the size), and for each home province
(Ho Chi Minh City: students; the second province: insurance, every age) a sector file of ``--rows``
rows, ``--out-share`` of them people registered in another province.

Steps, each in a fresh process (its wall time and peak RSS are its own):
1. first pass: each home province's rows against its own register (the population_index +
   match_results assets);
2. bucket indexes: every province's register read once and split by birth year, national name
   counts (``rules.matching.national.build_bucket_indexes``);
3. one process per bucket: the unmatched rows visiting it (written once per bucket beforehand, as the
   second_pass_input asset does) against its index (the second_pass asset);
4. merge (the second_pass_results asset), written to ``<data>/second_pass_results.parquet`` with a
   digest of its rows printed, so two runs (two commits) can be compared row for row.

Prints recall and precision of the out-of-province rows after the first pass alone and after the
second pass (recall = rows matched to their true person / out-of-province rows; precision = correct /
matched), the same for the rows registered at home, wall time and peak RSS per step and bucket, and
the load average (``uptime``). Nothing is tuned here: the matching configuration is the repository's.
Data are cached under ``--out-dir`` (git-ignored). 1M and above: run under the shared heavy lock.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# people in the register, rows per home province's file
SIZES = {"small": (200_000, 5_000), "1m": (1_000_000, 20_000), "10m": (10_000_000, 50_000)}
HOMES = (("ho_chi_minh", "students"), (None, "insurance"))  # None: the second province
TRIAL_SEED = 20_261_129  # not bench_match's evaluation seed
SLICE = 250_000


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def in_child(fn, *args):
    ctx = mp.get_context("spawn")
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(fn, args)


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return f"load average {os.getloadavg()}"


# -- children -----------------------------------------------------------------------------------------


def generate_child(d: str, n_people: int, n_rows: int, n_prov: int, out_share: float, seed: int) -> dict:
    from rules.normalise import normalise_records
    from rules.synth import REFERENCE_DATE
    from rules.synth.national import generate_national_register, national_provinces, national_sector_records

    t = time.perf_counter()
    folder = Path(d)
    (folder / "population").mkdir(parents=True, exist_ok=True)
    provinces = national_provinces(n_prov)
    homes = [(p or provinces[1], s) for p, s in HOMES]
    pool = []
    for prov, reg in generate_national_register(provinces, n_people, seed):
        reg.write_parquet(folder / "population" / f"{prov}.parquet")
        pool.append(reg.sample(min(reg.height, max(20 * n_rows // max(n_prov - 1, 1), 2_000)), seed=seed))
        del reg
    for i, (home, sector) in enumerate(homes):
        reg = pl.read_parquet(folder / "population" / f"{home}.parquet")
        others = pl.concat([p for p, prov in zip(pool, provinces, strict=True) if prov != home])
        raw, truth = national_sector_records(reg, others, sector, n_rows, seed + 11 * (i + 1), out_share)
        norm = pl.concat(
            [normalise_records(raw.slice(k, SLICE), sector, today=REFERENCE_DATE) for k in range(0, raw.height, SLICE)],
            how="diagonal_relaxed",
        ).with_columns(file_sha256=pl.lit(f"bench-{home}-{sector}"), sheet=pl.lit(""))
        norm.write_parquet(folder / f"records_{home}_{sector}.parquet")
        truth.with_columns(file_sha256=pl.lit(f"bench-{home}-{sector}"), sheet=pl.lit("")).write_parquet(
            folder / f"truth_{home}_{sector}.parquet"
        )
    (folder / "homes.txt").write_text("\n".join(f"{h} {s}" for h, s in homes) + "\n")
    (folder / "done").write_text("ok\n")
    return {"seconds": time.perf_counter() - t, "rss": peak_rss_gb()}


def first_pass_child(d: str, home: str, sector: str) -> dict:
    from rules.lake_schema import LAKE_ROW_KEY
    from rules.matching import load_or_build_index, match_records

    folder = Path(d)
    t = time.perf_counter()
    index = load_or_build_index([folder / "population" / f"{home}.parquet"], folder / "index" / home)
    t1 = time.perf_counter()
    records = pl.read_parquet(folder / f"records_{home}_{sector}.parquet")
    out = match_records(records, index)
    res = records.select(LAKE_ROW_KEY).hstack(
        out.results.select("status", "person_id", "score"))
    res.write_parquet(folder / f"first_{home}_{sector}.parquet")
    return {"index_seconds": t1 - t, "match_seconds": time.perf_counter() - t1, "rss": peak_rss_gb(),
            "people": index.height, "rows": records.height}


def buckets_child(d: str) -> dict:
    from rules.matching.national import build_bucket_indexes, load_policy

    folder = Path(d)
    t = time.perf_counter()
    files = sorted((folder / "population").glob("*.parquet"))
    sizes = build_bucket_indexes(files, folder / "buckets", load_policy())
    return {"seconds": time.perf_counter() - t, "rss": peak_rss_gb(), "sizes": sizes}


def bucket_child(d: str, bucket: str) -> dict:
    from rules.matching.national import load_bucket_index, match_bucket

    folder = Path(d)
    t = time.perf_counter()
    rows = pl.read_parquet(folder / "second_rows" / f"{bucket}.parquet")
    index = load_bucket_index(folder / "buckets", bucket)
    out, output = match_bucket(rows, index, bucket)
    out.write_parquet(folder / "second_out" / f"{bucket}.parquet")
    return {"seconds": time.perf_counter() - t, "rss": peak_rss_gb(), "rows": rows.height, "people": index.height,
            "pairs": int(sum(output.pass_counts.values())) if output else 0}


# -- scoring ------------------------------------------------------------------------------------------


def score(decisions: pl.DataFrame, truth: pl.DataFrame, out_of_province: bool) -> tuple[int, float, float, int]:
    """(rows, recall, precision, wrong matches) over the rows of one kind; decisions carry status + person_id."""
    key = ["file_sha256", "sheet", "row_number"]
    t = truth.filter(pl.col("out_of_province") == out_of_province).select(*key, pl.col("person_id").alias("true_id"))
    j = t.join(decisions, on=key, how="left")
    matched = j["status"] == "matched"
    correct = matched & (j["person_id"] == j["true_id"]).fill_null(False)
    in_reg = j["true_id"].is_not_null()
    n_m, n_c = int(matched.sum()), int(correct.sum())
    recall = n_c / max(int(in_reg.sum()), 1)
    return t.height, recall, n_c / max(n_m, 1), n_m - n_c


def decisions_digest(merged: pl.DataFrame) -> str:
    """sha256 of the merged decisions sorted by row key (every column, scores to full precision): no value
    is printed, only whether two runs decided every row alike."""
    import hashlib

    rows = merged.sort("file_sha256", "sheet", "row_number")
    h = hashlib.sha256()
    for col in rows.columns:
        h.update(col.encode())
        h.update(rows[col].cast(pl.Utf8).fill_null("\x00null").str.join("\x1f").item().encode())
    return h.hexdigest()[:16]


def run_size(label: str, n_people: int, n_rows: int, args: argparse.Namespace) -> None:
    from rules.lake_schema import LAKE_ROW_KEY
    from rules.matching.national import (
        load_policy,
        merge_decisions,
        no_year_rows,
        row_buckets,
        rows_without_year,
        second_pass_rows,
    )

    d = args.out_dir / f"{label}_{n_people}_{n_rows}_{args.provinces}_{args.out_share}_{args.seed}"
    print(f"\n== national second pass: {n_people:,} people in {args.provinces} provinces; {n_rows:,} rows per home "
          f"file, {args.out_share:.0%} registered in another province (TRIAL seed {args.seed}) ==", flush=True)
    print(f"  {uptime()}", flush=True)
    total0 = time.perf_counter()
    if not (d / "done").exists():
        shutil.rmtree(d, ignore_errors=True)
        g = in_child(generate_child, str(d), n_people, n_rows, args.provinces, args.out_share, args.seed)
        print(f"  generated in {g['seconds']:.1f} s (peak RSS {g['rss']:.2f} GB; not part of the pass)", flush=True)
        total0 = time.perf_counter()
    homes = [tuple(line.split()) for line in (d / "homes.txt").read_text().splitlines()]
    policy = load_policy()
    firsts, records, truths = [], [], []
    t_first = 0.0
    for home, sector in homes:
        r = in_child(first_pass_child, str(d), home, sector)
        t_first += r["index_seconds"] + r["match_seconds"]
        print(f"  first pass {home}/{sector}: {r['rows']:,} rows x {r['people']:,} people: index "
              f"{r['index_seconds']:.1f} s + match {r['match_seconds']:.1f} s, peak RSS {r['rss']:.2f} GB", flush=True)
        firsts.append(pl.read_parquet(d / f"first_{home}_{sector}.parquet"))
        records.append(pl.read_parquet(d / f"records_{home}_{sector}.parquet"))
        truths.append(pl.read_parquet(d / f"truth_{home}_{sector}.parquet"))
    first = pl.concat(firsts)
    rec = pl.concat(records, how="diagonal_relaxed")
    truth = pl.concat(truths, how="diagonal_relaxed")

    shutil.rmtree(d / "buckets", ignore_errors=True)
    b = in_child(buckets_child, str(d))
    sizes = b["sizes"]
    print(f"  bucket indexes: {len(sizes)} buckets of {policy.bucket_years} birth years, "
          f"{sum(sizes.values()):,} people "
          f"(largest {max(sizes.values()):,}) in {b['seconds']:.1f} s, peak RSS {b['rss']:.2f} GB", flush=True)

    rows = second_pass_rows(first, rec, policy)
    visits = row_buckets(rows, policy)
    for sub in ("second_rows", "second_out"):
        shutil.rmtree(d / sub, ignore_errors=True)
        (d / sub).mkdir()
    two = visits.group_by("_row").len().filter(pl.col("len") > 1).height
    print(f"  second pass: {rows.height:,} rows unmatched at home; {visits.height:,} row x bucket visits "
          f"({two:,} rows in two buckets; {rows_without_year(rows).len():,} with no year)", flush=True)
    parts = []
    t_buckets = 0.0
    print("  bucket      people     rows    pairs   wall s  peak RSS GB", flush=True)
    for bucket in policy.bucket_keys():
        sel = visits.filter(pl.col("bucket") == bucket)["_row"]
        if sel.len() == 0:
            continue
        rows[sel].write_parquet(d / "second_rows" / f"{bucket}.parquet")
        r = in_child(bucket_child, str(d), bucket)
        t_buckets += r["seconds"]
        print(f"  {bucket}  {r['people']:>9,} {r['rows']:>8,} {r['pairs']:>8,} {r['seconds']:>8.1f}  {r['rss']:>6.2f}",
              flush=True)
        parts.append(pl.read_parquet(d / "second_out" / f"{bucket}.parquet"))
    if policy.no_year == "report":
        parts.append(no_year_rows(rows[rows_without_year(rows)]))
    t = time.perf_counter()
    merged = merge_decisions(parts)
    t_merge = time.perf_counter() - t
    assert merged.height == rows.height, "every second-pass row is accounted for once"
    merged.write_parquet(d / "second_pass_results.parquet")
    key = list(LAKE_ROW_KEY)  # the partitions' rows meet here
    after = first.join(merged.select(*key, pl.col("status").alias("s2"), pl.col("person_id").alias("p2")),
                       on=key, how="left").with_columns(
        status=pl.coalesce("s2", "status"), person_id=pl.when(pl.col("s2").is_not_null()).then("p2")
        .otherwise("person_id")).drop("s2", "p2")
    wall = time.perf_counter() - total0
    print(f"  times: first pass {t_first:.1f} s, bucket indexes {b['seconds']:.1f} s, buckets {t_buckets:.1f} s "
          f"(sum of processes), merge {t_merge:.2f} s; wall in all {wall:.1f} s", flush=True)
    print("  kind               rows    recall first -> second   precision first -> second   wrong first -> second")
    for oop, name in ((True, "other province"), (False, "home province")):
        n, r1, p1, w1 = score(first, truth, oop)
        _, r2, p2, w2 = score(after, truth, oop)
        print(f"  {name:<15} {n:>7,}    {r1:6.3f} -> {r2:6.3f}            {p1:6.3f} -> {p2:6.3f}"
              f"              {w1:>5,} -> {w2:,}", flush=True)
    counts = merged["status"].value_counts().sort("status")
    print("  second-pass decisions: " + ", ".join(f"{s} {c:,}" for s, c in counts.iter_rows()), flush=True)
    print(f"  decisions digest {decisions_digest(merged)} (sorted by row key; equal digests: equal decisions)",
          flush=True)
    print(f"  {uptime()}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["small"], choices=list(SIZES))
    ap.add_argument("--provinces", type=int, default=8)
    ap.add_argument("--out-share", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=TRIAL_SEED)
    ap.add_argument("--out-dir", type=Path, default=ROOT / "benchmarks" / "out" / "second_pass")
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    print(f"bench_second_pass on {os.cpu_count()} cores; {uptime()}")
    for s in args.sizes:
        run_size(s, *SIZES[s], args)


if __name__ == "__main__":
    main()
