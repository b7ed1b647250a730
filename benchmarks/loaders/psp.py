"""pseudopeople (data built by others for testing record linkage): census and W-2/1099 records, each
linked to the Social Security (SSA) records. The package ships its sample data and generates these
files offline (no network; verified with the network namespace removed).

The register is the SSA file, one row per person: its creation record, or the death record for the
few people whose creation lies outside the sample window. Records are the 2020 decennial census
(name, middle initial, date of birth, sex; no SSN) and the W-2/1099 forms (name, middle initial,
SSN; no date of birth). Truth is the simulant_id, null when that person has no SSA record.

Levels and labels: each record is compared with the same simulant's record of a noise-free run of
the same seed (pseudopeople's ``NO_NOISE`` config), field by field; the fields that differ are the
row's labels and their number its error count. Rows whose simulant appears more than once in either
run (row-level duplicates) get no level. This reads truth only, for scoring.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from benchmarks.loaders.common import Dataset, code_version
from benchmarks.splink_runner import SplinkSpec

SEED = 0  # pseudopeople's sample data, default seed
CONFIG_DIR = Path(__file__).resolve().parents[2] / "rules" / "matching"
COLUMNS = ("unique_id", "first_name", "middle_initial", "last_name", "dob", "dob_text", "birth_year", "sex", "ssn")

SPLINK_CENSUS = SplinkSpec(
    names=("first_name", "last_name"),
    dob="dob",
    exact=("middle_initial", "sex"),
    blocking=(("dob",), ("first_name", "last_name"), ("last_name", "birth_year")),
    deterministic=(("first_name", "last_name", "dob"),),
    em_blocks=(("dob",), ("first_name", "last_name")),
)
SPLINK_W2 = SplinkSpec(
    names=("first_name", "last_name"),
    ids=("ssn",),
    exact=("middle_initial",),
    blocking=(("ssn",), ("first_name", "last_name")),
    deterministic=(("ssn",), ("first_name", "last_name", "middle_initial")),
    em_blocks=(("ssn",), ("first_name", "last_name")),
)


def _text(col: str) -> pl.Expr:
    e = pl.col(col).cast(pl.Utf8).str.strip_chars().str.to_lowercase()
    return pl.when(e == "").then(None).otherwise(e)


def _dates(col: str, fmt: str) -> pl.Expr:
    return pl.col(col).cast(pl.Utf8).str.strip_chars().str.to_date(fmt, strict=False)


def standardise(df: pl.DataFrame, source: str) -> pl.DataFrame:
    """Common columns for all three files (what both systems read): lower-case names, the middle
    initial, the date of birth as Date and yyyymmdd text, birth year, sex, SSN digits."""
    cols = set(df.columns)
    middle = _text("middle_name").str.slice(0, 1) if "middle_name" in cols else _text("middle_initial")
    if "date_of_birth" in cols:
        dob = _dates("date_of_birth", "%Y%m%d" if source == "ssa" else "%m/%d/%Y")
    else:
        dob = pl.lit(None, pl.Date)
    ssn = pl.col("ssn").cast(pl.Utf8).str.replace_all(r"\D", "") if "ssn" in cols else pl.lit(None, pl.Utf8)
    out = df.select(
        _text("first_name").alias("first_name"),
        middle.alias("middle_initial"),
        _text("last_name").alias("last_name"),
        dob.alias("dob"),
        _text("sex").alias("sex") if "sex" in cols else pl.lit(None, pl.Utf8).alias("sex"),
        pl.when(ssn.str.len_chars() > 0).then(ssn).alias("ssn"),
    )
    return out.with_columns(dob_text=pl.col("dob").dt.strftime("%Y%m%d"), birth_year=pl.col("dob").dt.year())


def _generate(kind: str, noise: bool) -> pl.DataFrame:
    import pseudopeople as psp

    fn = {
        "census": psp.generate_decennial_census,
        "w2": psp.generate_taxes_w2_and_1099,
        "ssa": psp.generate_social_security,
    }[kind]
    kwargs = {"seed": SEED, "engine": "pandas"}
    if not noise:
        kwargs["config"] = psp.NO_NOISE
    pdf = fn(**kwargs)
    return pl.from_pandas(pdf.astype({c: "object" for c in pdf.columns if str(pdf[c].dtype) == "category"}))


def _levels(noisy: pl.DataFrame, clean: pl.DataFrame, fields: tuple[str, ...], keys: tuple[str, ...]) -> pl.DataFrame:
    """n_errors and labels per noisy row, against the noise-free row with the same ``keys``
    (null for rows whose keys are not unique in both runs)."""
    k = list(keys)
    uniq = (
        clean.group_by(k)
        .len()
        .filter(pl.col("len") == 1)
        .select(k)
        .join(noisy.group_by(k).len().filter(pl.col("len") == 1).select(k), on=k)
        .with_columns(_aligned=pl.lit(True))
    )
    ref = clean.join(uniq, on=k).select(*k, "_aligned", *[pl.col(f).alias(f"_c_{f}") for f in fields])
    j = noisy.select(*k, *fields).join(ref, on=k, how="left", maintain_order="left")
    differs = {f: pl.col(f).ne_missing(pl.col(f"_c_{f}")) for f in fields}
    aligned = pl.col("_aligned").fill_null(False)
    labels = pl.concat_str([pl.when(e).then(pl.lit(f + ",")).otherwise(pl.lit("")) for f, e in differs.items()])
    labels = pl.when(labels == "").then(pl.lit("clean")).otherwise(labels.str.strip_suffix(",")).str.split(",")
    return j.select(
        pl.when(aligned).then(pl.sum_horizontal([e.cast(pl.Int64) for e in differs.values()])).alias("n_errors"),
        pl.when(aligned).then(labels).alias("labels"),
    )


def pseudopeople_datasets(out_dir: Path) -> list[Dataset]:
    """The census and W-2/1099 data sets (generated once, then read from the cache)."""
    d = out_dir / f"pseudopeople_{SEED}_{code_version('benchmarks/loaders')}"
    sets = []
    for kind, spec, cfg in (
        ("census", SPLINK_CENSUS, "pseudopeople_census.yaml"),
        ("w2", SPLINK_W2, "pseudopeople_w2.yaml"),
    ):
        sets.append(
            Dataset(
                name=f"pseudopeople {'census' if kind == 'census' else 'W-2/1099'} -> SSA",
                kind="generic",
                records=d / f"{kind}_records.parquet",
                register=d / "ssa_register.parquet",
                truth=d / f"{kind}_truth.parquet",
                splink_left=d / f"{kind}_records.parquet",
                splink_right=d / "ssa_register.parquet",
                splink=spec,
                config=CONFIG_DIR / cfg,
            )
        )
    if (d / "done").exists():
        return sets
    d.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    ssa = _generate("ssa", noise=True)
    ssa = ssa.sort(pl.col("event_type") != "creation", maintain_order=True).unique(
        "simulant_id", keep="first", maintain_order=True
    )
    register = standardise(ssa, "ssa").with_columns(unique_id=ssa["simulant_id"].cast(pl.Utf8))
    register.select(COLUMNS).write_parquet(d / "ssa_register.parquet")
    in_register = register["unique_id"].implode()
    for kind, fields, keys in (
        ("census", ("first_name", "middle_initial", "last_name", "date_of_birth", "sex"), ("simulant_id",)),
        ("w2", ("first_name", "middle_initial", "last_name", "ssn"), ("simulant_id", "employer_id", "tax_form")),
    ):
        noisy, clean = _generate(kind, noise=True), _generate(kind, noise=False)
        recs = standardise(noisy, kind).with_columns(unique_id=pl.int_range(noisy.height, eager=True).cast(pl.Utf8))
        recs.select(COLUMNS).write_parquet(d / f"{kind}_records.parquet")
        sim = noisy["simulant_id"].cast(pl.Utf8)
        truth = pl.DataFrame({"person_id": sim}).with_columns(
            pl.when(pl.col("person_id").is_in(in_register)).then(pl.col("person_id")).alias("person_id")
        )
        levels = _levels(
            noisy.with_columns(pl.col(f).cast(pl.Utf8) for f in fields),
            clean.with_columns(pl.col(f).cast(pl.Utf8) for f in fields),
            fields,
            keys,
        )
        pl.concat([truth, levels], how="horizontal").write_parquet(d / f"{kind}_truth.parquet")
    (d / "done").write_text("ok\n")
    print(f"  pseudopeople sample data generated in {time.perf_counter() - t:.1f} s -> {d}", flush=True)
    return sets
