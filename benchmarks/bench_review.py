"""Clerical review at scale: build, write, read back and validate a workbook of N ambiguous rows.

At national scale ~5% of a province's rows are ambiguous: 1M sector rows -> ~50,000 blocks of 2-5
candidates. Prints seconds per stage, blocks/s, the workbook size and peak RSS. Synthetic frames
(no generator run): the figures are the review code's own.

    .venv/bin/python benchmarks/bench_review.py --rows 50000 --candidates 3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import polars as pl
import psutil

from rules.review import (
    ReviewPolicy,
    build_blocks,
    candidate_people,
    empty_ledger,
    evaluate,
    fingerprints,
    read_workbook,
    write_private,
    write_workbook,
)

REASON = ("given=exact;family=exact;middle=fuzzy;order=same;dob=exact;gender=agree;id=missing;cmnd=missing;"
          "province=agree")


def frames(n: int, k: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    rng = np.random.default_rng(1)
    rows = np.arange(n)
    key = pl.DataFrame({"file_sha256": [f"{r % 50:064x}" for r in rows], "sheet": "DS", "row_number": rows + 1})
    records = key.with_columns(full_name=pl.lit("Nguyễn Văn An"), date_of_birth=pl.lit("01/02/2015"),
                               gender=pl.lit("Nam"), national_id=pl.lit(None, pl.Utf8), old_id=pl.lit(None, pl.Utf8))
    queue = key.join(pl.DataFrame({"candidate_rank": pl.Series(range(1, k + 1), dtype=pl.Int32)}), how="cross")
    queue = queue.with_columns(
        candidate_id=pl.format("079{}", (pl.col("row_number") * 10 + pl.col("candidate_rank")).cast(pl.Utf8)
                               .str.zfill(9)),
        candidate_score=pl.lit(rng.uniform(0.5, 0.99, queue.height)), candidate_reason=pl.lit(REASON),
        file_name=pl.lit("u__ds.xlsx"), excel_row=pl.col("row_number") + 4, province=pl.lit("ho_chi_minh"),
        sector=pl.lit("students"), unit=pl.format("u{}", (pl.col("row_number") % 40).cast(pl.Utf8)))
    register = queue.select(pl.col("candidate_id").alias("person_id")).with_columns(
        full_name=pl.lit("Nguyễn Văn An"), date_of_birth=pl.lit(date(2015, 2, 1)), gender=pl.lit("Nam"),
        old_id=pl.lit(None, pl.Utf8), province=pl.lit("Hồ Chí Minh"), mother_id=pl.lit(None, pl.Utf8),
        father_id=pl.lit(None, pl.Utf8))
    return queue, records, register


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--candidates", type=int, default=3)
    a = ap.parse_args()
    queue, records, register = frames(a.rows, a.candidates)
    t = {}
    t0 = time.perf_counter()
    people = candidate_people(register.lazy(), queue["candidate_id"])
    lines, blocks = build_blocks(queue, records, people, "Hồ Chí Minh")
    t["build_blocks"] = time.perf_counter() - t0
    meta = {"workbook_id": "b", "province": "ho_chi_minh", "sector": "students", "unit": "",
            "exported_at": "now", "register_version": "r", "match_run_id": "m", "blocks": str(blocks.height)}
    t0 = time.perf_counter()
    data = write_workbook(lines, blocks, meta, ReviewPolicy.from_yaml())
    t["write_xlsx"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = write_private(Path(tmp) / "review.xlsx", data)
        t0 = time.perf_counter()
        parsed = read_workbook(path)
        t["read_xlsx"] = time.perf_counter() - t0
        # every block decided "1" (as if filled), then validated against the unchanged state
        parsed.choices = parsed.blocks.select("block", pl.lit("match").alias("decision"),
                                              pl.lit(1, pl.Int64).alias("rank"), pl.lit(None, pl.Utf8).alias("notes"),
                                              pl.lit(6, pl.Int64).alias("excel_row_review"))
        t0 = time.perf_counter()
        fp = fingerprints(queue, people)
        results = queue.select("file_sha256", "sheet", "row_number").unique().with_columns(status=pl.lit("ambiguous"))
        ev = evaluate(parsed, queue, fp, results, empty_ledger(), import_id="b", decided_at=datetime.now(UTC),
                      workbook_sha256="s", file_label="review.xlsx")
        t["validate"] = time.perf_counter() - t0
    rss = psutil.Process().memory_info().rss / 2**30
    print(f"review workbook: {a.rows:,} blocks x {a.candidates} candidates = {lines.height:,} lines, "
          f"{len(data) / 2**20:.1f} MiB")
    for k, v in t.items():
        print(f"  {k:<13} {v:7.2f} s  ({a.rows / v:,.0f} blocks/s)")
    print(f"  applied {ev.counts()['applied']:,}; peak RSS ~{rss:.2f} GiB")


if __name__ == "__main__":
    main()
