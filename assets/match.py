"""Match clean records of a province x sector to the province's population index.

One result row per data row of the current uploads: the clean rows, and the rows rejected by
validation that still have a name or an ID (flag ``validation_failed``, not verified until fixed), get
a decision from ``rules.matching``; rows with neither join as ``rejected`` so that every row read ends
in exactly one place (asset check ``rows_accounted``). The Fellegi-Sunter parameters are estimated
from this partition's rows and shown in the metadata (table and match-weights chart).
"""

import base64

import dagster as dg
import polars as pl

from assets.audit import MATCH_AUDIT_COLUMNS, record
from assets.checks import check_spec, schema_check_result, schema_check_spec
from assets.lake import read_partition, write_partition, written_schema
from assets.metadata import count_table, score_distribution
from assets.partitions import province_sector_of, province_sector_partitions
from assets.register import population_index
from assets.resources import DataPaths
from rules.lake_schema import ROW_KEY
from rules.review.service import apply_review, partition_lock, review_labels

PAIR_BUDGET = "candidate_pair_budget"
AMBIGUOUS_SHARE = "ambiguous_share"
ROWS_ACCOUNTED = "rows_accounted"

# Policy for the checks lives in rules/matching (YAML); these are only the check names.
ATTRIBUTES = ["dob_year", "gender_norm"]  # what analysts may see of a row (birth year, gender)


def with_record_attributes(results: pl.DataFrame, clean: pl.DataFrame, rejected: pl.DataFrame) -> pl.DataFrame:
    """Birth year and gender of each row beside its decision, for masked analyst views. One partition's
    frames: ``ROW_KEY`` (no province or sector) names a row."""
    attrs = pl.concat([f.select(*ROW_KEY, *[c for c in ATTRIBUTES if c in f.columns]) for f in (clean, rejected)],
                      how="diagonal_relaxed")
    return results.join(attrs, on=list(ROW_KEY), how="left", maintain_order="left", nulls_equal=True)


PARTITIONS = province_sector_partitions
MATCH = {"group_name": "match", "owners": ["team:provincial-data"]}
# population_index is per province: Dagster maps each province x sector to its province.
MATCH_DEPS = ["clean_records", "rejected_records", population_index]


@dg.multi_asset(
    name="match_results",
    partitions_def=PARTITIONS,
    specs=[
        dg.AssetSpec("match_results", kinds={"polars", "rapidfuzz", "parquet"}, deps=MATCH_DEPS, **MATCH,
                     description="One decision per row (matched / ambiguous / unmatched / rejected) with score, "
                                 "reason and flags."),
        dg.AssetSpec("review_queue", kinds={"polars", "parquet"}, deps=MATCH_DEPS, **MATCH,
                     description="Ambiguous rows with their candidate people and scores, for clerical review."),
        dg.AssetSpec("match_estimates", kinds={"polars", "parquet"}, deps=MATCH_DEPS, **MATCH, skippable=True,
                     description="The Fellegi-Sunter parameters (m, u, match weight per level) this partition's "
                                 "run estimated."),
    ],
    check_specs=[
        check_spec(ROWS_ACCOUNTED, "match_results", "Every row read ends in exactly one place: one match "
                   "result per raw row (clean or rejected).", partitions_def=PARTITIONS, blocking=True),
        check_spec(PAIR_BUDGET, "match_results", "Candidate pairs stay within the blocking budget of "
                   "rules/matching (warns when a blocking pass explodes).", partitions_def=PARTITIONS),
        check_spec(AMBIGUOUS_SHARE, "match_results", "The share of ambiguous rows (sent to clerical review) "
                   "stays under the configured maximum.", partitions_def=PARTITIONS),
        *(schema_check_spec(t, partitions_def=PARTITIONS)
          for t in ("match_results", "review_queue", "match_estimates")),
    ],
)
def match_results(context: dg.AssetExecutionContext, paths: DataPaths):
    """One decision per row (matched / ambiguous / unmatched / rejected) with score, reason and flags."""
    from rules.matching import MatchConfig, load_or_build_index, match_weights_svg, match_with_rejected

    province, sector = province_sector_of(context)
    layout = paths.layout
    clean = read_partition(layout, "clean_records", province, sector, what="clean_records")
    rejected = read_partition(layout, "rejected_records", province, sector, what="rejected_records")
    raw_rows = read_partition(layout, "raw_records", province, sector, what="raw_records",
                              columns=["row_number"]).height
    config = MatchConfig.default()
    # Keyed by the register's content hash: a register that changed since population_index last ran
    # is re-indexed here rather than matched against a stale index.
    index = load_or_build_index(paths.population_files(province), paths.population_index(province))
    cache = paths.match_estimates_cache()  # our data folder, never beside an input
    labels = review_labels(layout, province, sector, config)  # reviewers' decisions teach the estimates
    output = match_with_rejected(clean, rejected, index, config, cache_dir=cache, labels=labels)
    results = with_record_attributes(output.results, clean, rejected)
    est = output.estimates
    with partition_lock(layout, province, sector):  # clerical-review decisions still valid are re-applied
        results, queue = apply_review(layout, province, sector, results, output.review_queue, context.run.run_id)
        results = write_partition(layout, "match_results", results, province, sector)
        queue = write_partition(layout, "review_queue", queue, province, sector)
    if est is not None:  # per level m, u, match weight: for the report's match-weights chart
        estimates = write_partition(layout, "match_estimates", est.to_frame(config), province, sector)
    record(paths, "match_decisions", f"{province}/{sector}", context.run.run_id, results, MATCH_AUDIT_COLUMNS)

    status_counts = {r["status"]: r["count"] for r in results["status"].value_counts().iter_rows(named=True)}
    flag_counts = (
        results.select(pl.col("flags").explode().drop_nulls().value_counts(sort=True)).unnest("flags")
        .to_dicts() if results.height else []
    )
    total_pairs = int(sum(output.pass_counts.values()))
    budget = config.pair_budget(clean.height)
    ambiguous = status_counts.get("ambiguous", 0)
    max_share = config.max_ambiguous_share
    share = ambiguous / max(clean.height, 1)
    yield dg.MaterializeResult(
        asset_key="match_results",
        metadata={
            "rows": results.height,
            **{f"status_{k}": int(v) for k, v in sorted(status_counts.items())},
            "candidate_pairs": total_pairs,
            "candidate_pairs_by_pass": count_table(output.pass_counts, "pass"),
            "flags": count_table(flag_counts, "flag", total=results.height),
            "score_distribution": score_distribution(results),
            "validation_failed_matched": int(output.stats.get("validation_failed_matched", 0)),
        },
        check_results=[
            dg.AssetCheckResult(
                asset_key="match_results",
                check_name=ROWS_ACCOUNTED,
                passed=results.height == raw_rows,
                metadata={"rows_read": raw_rows, "result_rows": results.height},
            ),
            dg.AssetCheckResult(
                asset_key="match_results",
                check_name=PAIR_BUDGET,
                passed=total_pairs <= budget,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"candidate_pairs": total_pairs, "budget": budget},
            ),
            dg.AssetCheckResult(
                asset_key="match_results",
                check_name=AMBIGUOUS_SHARE,
                passed=share <= max_share,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"ambiguous_share": round(share, 4), "max_share": max_share},
            ),
            schema_check_result("match_results", results,
                                written_schema(layout, "match_results", province, sector)),
        ],
    )
    # a row is (file, sheet, row number): row numbers repeat across the files of a partition
    waiting = queue.select(ROW_KEY).n_unique() if queue.height else 0
    yield dg.MaterializeResult(
        asset_key="review_queue",
        metadata={"rows_to_review": waiting, "candidates": queue.height},
        check_results=[schema_check_result("review_queue", queue,
                                           written_schema(layout, "review_queue", province, sector))],
    )
    if est is not None:
        yield dg.MaterializeResult(
            asset_key="match_estimates",
            metadata={
                "match_share": float(est.match_share),
                "em_iterations": int(est.iterations),
                "match_weights": dg.MetadataValue.md(est.to_markdown(config)),
                "match_weights_chart": dg.MetadataValue.md(
                    "![match weights](data:image/svg+xml;base64,"
                    + base64.b64encode(match_weights_svg(est, config).encode()).decode() + ")"
                ),
            },
            check_results=[schema_check_result("match_estimates", estimates,
                                               written_schema(layout, "match_estimates", province, sector))],
        )
