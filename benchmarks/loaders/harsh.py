"""Our generator at the harsh profile: a register and three sectors' rows, normalised, with truth.

The EVALUATION seed is fixed here and is never used while developing: trials use other seeds
(``bench_match.py --trial-seed N``). Data are cached under ``benchmarks/out/data`` keyed by sizes,
seed and a hash of the generator and normaliser code, so a code change regenerates them.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import polars as pl

from benchmarks.loaders.common import Dataset, code_version
from benchmarks.splink_runner import SplinkSpec

#: Seed of the scored harsh data. Chosen once, before any scoring; never used for trials.
EVALUATION_SEED = 73_915_204
PROVINCE = "ho_chi_minh"
SLICE = 250_000

SPLINK = SplinkSpec(
    names=("first_name", "surname"),
    names_plain=("middle_name",),
    dob="dob",
    ids=("national_id",),
    exact=("gender",),
    blocking=(("national_id",), ("dob",), ("full_name", "birth_year")),
    deterministic=(("national_id",), ("full_name", "dob")),
    em_blocks=(("dob",), ("full_name", "birth_year")),
    # Splink's own cap on EM pairs: the DOB block has ~4M pairs at 1M x 100k (used whole) and ~430M
    # at 10M x 1M (a deterministic record sample of ~1e7 pairs: plenty for m, bounded time)
    em_max_pairs=1e7,
)


def _splink_columns(norm: pl.DataFrame, uid: pl.Series) -> pl.DataFrame:
    """The contract §4 columns Splink compares (diacritic-free name parts, date, gender, 12-digit ID)."""
    return norm.select(
        uid.alias("unique_id"),
        pl.col("given_key").alias("first_name"),
        pl.col("family_key").alias("surname"),
        pl.when(pl.col("middle_key") != "").then(pl.col("middle_key")).alias("middle_name"),
        pl.col("name_key").alias("full_name"),
        pl.col("dob"),
        pl.col("dob_year").alias("birth_year"),
        pl.col("gender_norm").alias("gender"),
        pl.col("id_clean").alias("national_id"),
    )


def harsh_dataset(out_dir: Path, n_register: int, n_rows: int, seed: int = EVALUATION_SEED) -> Dataset:
    """Generate (once) and describe the harsh data set of this size and seed."""
    from rules.normalise import normalise_records
    from rules.sectors import SECTORS
    from rules.synth import REFERENCE_DATE, generate_register, generate_sector_records

    tag = f"harsh_{n_register}_{n_rows}_{seed}_{code_version('rules/synth', 'rules/normalise', 'rules/reference')}"
    d = out_dir / tag
    label = f"{n_register:,} x {n_rows:,}"
    ds = Dataset(
        name=f"harsh {label}" + ("" if seed == EVALUATION_SEED else f" (TRIAL seed {seed}, not the evaluation)"),
        kind="vietnam",
        records=d / "records.parquet",
        register=d / "register.parquet",
        truth=d / "truth.parquet",
        splink_left=d / "splink_left.parquet",
        splink_right=d / "splink_right.parquet",
        splink=SPLINK,
        harsh=True,
        size_label=label,
        seed=seed,
    )
    if (d / "done").exists():
        return ds
    d.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    reg = generate_register(PROVINCE, n_register, seed)
    reg.write_parquet(ds.register)
    recs, truths = [], []
    per = [n_rows // len(SECTORS) + (1 if i < n_rows % len(SECTORS) else 0) for i in range(len(SECTORS))]
    for i, (sector, n) in enumerate(zip(SECTORS, per, strict=True)):
        raw, truth = generate_sector_records(reg, sector, n, seed + 1 + i, profile="harsh")
        # normalised in slices: bounded memory, the same per-row result
        norm = pl.concat(
            [normalise_records(raw.slice(k, SLICE), sector, today=REFERENCE_DATE) for k in range(0, raw.height, SLICE)],
            how="diagonal_relaxed",
        )
        recs.append(norm)
        truths.append(
            truth.select("person_id", "n_errors", pl.col("noise").alias("labels")).with_columns(sector=pl.lit(sector))
        )
    records = pl.concat(recs, how="diagonal_relaxed")
    records.write_parquet(ds.records)
    pl.concat(truths).write_parquet(ds.truth)
    del records, recs, truths, reg
    gc.collect()
    (d / "done").write_text("ok\n")
    print(f"  generated {label} (harsh, seed {seed}) in {time.perf_counter() - t:.1f} s -> {d}", flush=True)
    return ds


def ensure_splink_inputs(ds: Dataset) -> None:
    """Splink's standardised inputs (the same contract §4 columns both sides), made on first use:
    the register is normalised only when Splink runs on this size."""
    from rules.normalise import normalise_register
    from rules.synth import REFERENCE_DATE

    if not ds.splink_left.exists():
        records = pl.read_parquet(ds.records)
        _splink_columns(records, pl.int_range(records.height, eager=True).cast(pl.Utf8)).write_parquet(ds.splink_left)
        del records
    if not ds.splink_right.exists():
        reg = pl.read_parquet(ds.register)
        parts = [
            _splink_columns(
                norm := normalise_register(reg.slice(k, 2_000_000), today=REFERENCE_DATE), norm["person_id"]
            )
            for k in range(0, reg.height, 2_000_000)
        ]
        pl.concat(parts).write_parquet(ds.splink_right)
