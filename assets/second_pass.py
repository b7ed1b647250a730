"""The national second pass (issue 16 point 4): rows left unmatched in their own province, matched
against every province's register, one Dagster partition per birth-year bucket.

``national_register_buckets`` splits every province's register by birth year and counts names over
the whole nation (``rules.matching.national.build_bucket_indexes``); ``second_pass_input`` reads every
province's ``match_results`` and ``clean_records`` ONCE and writes the unmatched rows to the bucket(s)
they visit (their DOB year's bucket and their ID year's), one lake partition per bucket;
``second_pass`` (one partition per bucket) reads only its bucket's rows; ``second_pass_results`` keeps
one decision per row (the better bucket) and checks, against ``match_results`` itself, that every
unmatched row is accounted for exactly once. Rows of every partition meet here, so a row is keyed by
``LAKE_ROW_KEY`` (its province and sector too): the same file uploaded to two partitions keeps one
decision in each. Metadata holds counts only, never names, IDs or dates.
"""

from collections.abc import Sequence

import dagster as dg
import polars as pl

from assets.checks import check_spec, schema_check_result, schema_check_results, schema_check_spec
from assets.lake import lake_partitions, read_partition, write_partition, written_schema
from assets.resources import DataPaths
from rules.lake_schema import LAKE_ROW_KEY
from rules.matching.national import load_policy

ALL_PROVINCES = "all_provinces"  # the lake's "province" key of the per-bucket table ("national" is the
# national tables' key in rules.lake_store)
NATIONAL_INDEX = "_national_buckets"  # population_index folder of the bucket indexes (not a province slug)
GROUP = {"group_name": "national_match", "owners": ["team:provincial-data"]}
ROWS_ACCOUNTED = "rows_accounted"

bucket_partitions = dg.StaticPartitionsDefinition(load_policy().bucket_keys())


INPUT = "second_pass_input"  # lake table: the unmatched rows, one partition per bucket they visit
# what the merge needs of a row: its key, where it came from, and what decides its buckets
KEY_COLUMNS = (*LAKE_ROW_KEY, "dob_year", "id_clean", "id_kind")


def unmatched_rows(paths: DataPaths, columns: Sequence[str] | None = None) -> pl.DataFrame:
    """The clean rows of every province x sector left unmatched by the first pass (contracts §4 columns,
    or only ``columns`` of them, required columns of ``clean_records``: the merge reads the key and
    year columns, not the names)."""
    from rules.matching.national import second_pass_rows

    policy = load_policy()
    layout = paths.layout
    parts = []
    for province, sector in lake_partitions(layout, "match_results"):
        first = read_partition(layout, "match_results", province, sector,
                               columns=[*LAKE_ROW_KEY, "status"])
        clean = read_partition(layout, "clean_records", province, sector, what="clean_records",
                               columns=list(columns) if columns is not None else None)
        parts.append(second_pass_rows(first, clean, policy))
    if parts:
        return pl.concat(parts, how="diagonal_relaxed")
    return pl.DataFrame(schema={c: pl.Int64 if c == "row_number" else pl.Utf8 for c in LAKE_ROW_KEY})


@dg.asset(deps=["population_index"], kinds={"polars", "parquet"}, **GROUP)
def national_register_buckets(paths: DataPaths) -> dg.MaterializeResult:
    """Every province's register split into birth-year buckets (matching indexes with national name counts)."""
    from rules.matching.national import build_bucket_indexes

    layout = paths.layout
    files = [f for p in layout.population_provinces() for f in layout.population_files(p)]
    sizes = build_bucket_indexes(files, layout.population_index(NATIONAL_INDEX), load_policy())
    return dg.MaterializeResult(metadata={
        "people": sum(sizes.values()), "register_files": len(files), "buckets": len(sizes),
        "largest_bucket": max(sizes.values(), default=0),
    })


@dg.asset(
    # every province x sector's unmatched rows feed the buckets: read here once, not once per bucket
    deps=[dg.AssetDep("match_results", partition_mapping=dg.AllPartitionMapping()),
          dg.AssetDep("clean_records", partition_mapping=dg.AllPartitionMapping())],
    kinds={"polars", "parquet"},
    check_specs=[schema_check_spec(INPUT)],
    **GROUP,
)
def second_pass_input(paths: DataPaths) -> dg.MaterializeResult:
    """The rows left unmatched in their own province, written once to each birth-year bucket they visit."""
    # every bucket's partition is written, empty ones too, so a bucket never reads a stale slice
    from rules.matching.national import row_buckets, rows_without_year

    policy = load_policy()
    layout = paths.layout
    rows = unmatched_rows(paths)
    visits = row_buckets(rows, policy) if rows.height else pl.DataFrame(schema={"_row": pl.UInt32, "bucket": pl.Utf8})
    written = []
    for bucket in policy.bucket_keys():
        sel = visits.filter(pl.col("bucket") == bucket)["_row"]
        part = rows[sel].with_columns(bucket=pl.lit(bucket, pl.Utf8))
        df = write_partition(layout, INPUT, part, ALL_PROVINCES, bucket)
        written.append((df, written_schema(layout, INPUT, ALL_PROVINCES, bucket)))
    return dg.MaterializeResult(
        metadata={"rows": rows.height, "row_bucket_visits": visits.height,
                  "rows_without_year": int(rows_without_year(rows).len()) if rows.height else 0,
                  "rows_in_two_buckets": int(visits.group_by("_row").len().filter(pl.col("len") > 1).height)},
        check_results=[schema_check_results(INPUT, written)],
    )


def bucket_rows(paths: DataPaths, bucket: str) -> pl.DataFrame:
    """The unmatched rows visiting ``bucket`` (``second_pass_input``'s partition, without its bucket
    column): one partition read, predicate pushdown by the lake's partitioning."""
    df = read_partition(paths.layout, INPUT, ALL_PROVINCES, bucket, what=f"{INPUT} {bucket}")
    return df.drop("bucket")


@dg.asset(
    partitions_def=bucket_partitions,
    deps=[national_register_buckets, second_pass_input],
    kinds={"polars", "rapidfuzz", "parquet"},
    check_specs=[schema_check_spec("second_pass", partitions_def=bucket_partitions)],
    **GROUP,
)
def second_pass(context: dg.AssetExecutionContext, paths: DataPaths) -> dg.MaterializeResult:
    """The unmatched rows visiting this birth-year bucket, matched against the national register's bucket."""
    from rules.matching.national import load_bucket_index, match_bucket

    bucket = str(context.partition_key)
    layout = paths.layout
    rows = bucket_rows(paths, bucket)
    index = load_bucket_index(layout.population_index(NATIONAL_INDEX), bucket)
    out, output = match_bucket(rows, index, bucket)
    written = write_partition(layout, "second_pass", out, ALL_PROVINCES, bucket)
    counts = {s: int(n) for s, n in out["status"].value_counts().iter_rows()} if out.height else {}
    return dg.MaterializeResult(
        metadata={"rows": out.height, "people": index.height,
                  **{f"status_{k}": v for k, v in sorted(counts.items())},
                  "candidate_pairs": int(sum(output.pass_counts.values())) if output else 0},
        check_results=[schema_check_result("second_pass", written, written_schema(layout, "second_pass", ALL_PROVINCES,
                                                                                   bucket))],
    )


@dg.asset(
    deps=[second_pass],
    kinds={"polars", "parquet"},
    check_specs=[
        check_spec(ROWS_ACCOUNTED, "second_pass_results", "Every row left unmatched in its own province appears "
                   "exactly once in the merged second pass.", blocking=True),
        schema_check_spec("second_pass_results"),
    ],
    **GROUP,
)
def second_pass_results(paths: DataPaths) -> dg.MaterializeResult:
    """One decision per row left unmatched in its province (the better bucket), by province x sector."""
    from rules.matching.national import merge_decisions, no_year_rows, row_buckets, rows_without_year

    policy = load_policy()
    layout = paths.layout
    # from match_results itself, not second_pass_input: the count check must not trust the staging
    rows = unmatched_rows(paths, columns=KEY_COLUMNS)
    parts = []
    if rows.height:
        wanted = set(row_buckets(rows, policy)["bucket"].unique().to_list())
        for bucket in sorted(wanted):
            part = read_partition(layout, "second_pass", ALL_PROVINCES, bucket, what=f"second_pass {bucket}")
            parts.append(part)
        if policy.no_year == "report":
            parts.append(no_year_rows(rows[rows_without_year(rows)]))
    merged = merge_decisions(parts)
    # only the rows unmatched now: a bucket written before a province re-ran may hold rows no longer unmatched
    key = list(LAKE_ROW_KEY)  # the same file in two partitions is two sets of rows, each decided
    if rows.height:
        merged = merged.join(rows.select(key), on=key, how="semi", nulls_equal=True)
    expected = rows.select(key).unique().height if rows.height else 0
    unique = merged.select(key).unique().height
    written = []
    for province, sector in lake_partitions(layout, "match_results"):
        part = merged.filter((pl.col("province") == province) & (pl.col("sector") == sector))
        df = write_partition(layout, "second_pass_results", part, province, sector)
        written.append((df, written_schema(layout, "second_pass_results", province, sector)))
    # what was written: a row whose province x sector has no match_results partition is not in it
    written_rows = sum(df.height for df, _ in written)
    elsewhere = (merged.filter((pl.col("status") == "matched") & (pl.col("person_province") != pl.col("province")))
                 .group_by("province").len().sort("province"))
    return dg.MaterializeResult(
        metadata={
            "rows": merged.height,
            **{f"status_{s}": int(n) for s, n in (merged["status"].value_counts().sort("status").iter_rows()
                                                  if merged.height else [])},
            # rows matched to a person registered in another province, per submitting province (counts only)
            **{f"registered_elsewhere_{p}": int(n) for p, n in elsewhere.iter_rows()},
        },
        check_results=[
            dg.AssetCheckResult(asset_key="second_pass_results", check_name=ROWS_ACCOUNTED,
                                passed=written_rows == merged.height == expected == unique,
                                metadata={"unmatched_rows": expected, "result_rows": merged.height,
                                          "distinct_rows": unique, "rows_written": written_rows}),
            schema_check_results("second_pass_results", written),
        ],
    )
