"""Clerical review in the pipeline: workbooks after each match run, decisions back from the inbox.

- ``apply_review`` (called by ``match_results``): re-applies the decision ledger to a fresh match run,
  so reviewed rows stay reviewed across re-runs as long as their candidates and register records are
  unchanged; the review queue keeps only the rows still ambiguous.
- ``review_workbooks`` (province x sector, group ``match``, so it runs after every match run): the
  owner-only workbook ``reports/review/<province>/<sector>.xlsx``.
- ``review_decisions`` (province, job ``review_import_job``, started by ``review_inbox_sensor``):
  imports every workbook in ``inbox/<province>/review/``; importing a workbook again changes nothing.

The lake ledger ``lake/review_decisions/<province>/<sector>.parquet`` and the workbooks hold personal
data (owner-only files); Dagster metadata and logs get counts only.
"""


import contextlib
import fcntl
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from assets.audit import record
from assets.checks import schema_check_results, schema_check_spec
from assets.lake import read_optional, write_table
from assets.partitions import province_partitions, province_sector_of, province_sector_partitions
from assets.resources import DataPaths
from rules.errors import MissingInputError
from rules.layout import REVIEW_FOLDER

REVIEW_AUDIT_COLUMNS = ("province", "sector", "unit", "file_sha256", "sheet", "row_number", "decision", "status",
                        "person_id", "reviewer", "workbook_id", "workbook_sha256", "import_id", "decided_at")


def ledger_path(paths: DataPaths, province: str, sector: str) -> Path:
    return paths.lake("review_decisions", province, sector)


def workbook_dir(paths: DataPaths, province: str) -> Path:
    return paths.review_workbooks(province)


def review_inbox(paths: DataPaths, province: str) -> Path:
    return paths.review_inbox(province)


def read_ledger(paths: DataPaths, province: str, sector: str) -> pl.DataFrame:
    from rules.review import empty_ledger

    found = read_optional(ledger_path(paths, province, sector))
    return found if found is not None else empty_ledger()


def _write_ledger(paths: DataPaths, province: str, sector: str, ledger: pl.DataFrame) -> None:
    from rules.lake_schema import conform, lake_table
    from rules.review import write_private

    buf = io.BytesIO()
    conform(ledger, lake_table("review_decisions")).write_parquet(buf)
    write_private(ledger_path(paths, province, sector), buf.getvalue())


@contextlib.contextmanager
def partition_lock(paths: DataPaths, province: str, sector: str) -> Iterator[None]:
    """One writer at a time of a partition's match results, queue and ledger (a match run and an
    import landing together would otherwise lose one side's write)."""
    from rules.private import private_file

    lock = private_file(paths.partition_lock(province, sector))
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def register_scan(paths: DataPaths, province: str) -> pl.LazyFrame:
    files = paths.population_files(province)
    if not files:
        raise MissingInputError(f"no population register for {province}: put it at {paths.population_hint(province)}")
    return pl.scan_parquet([str(f) for f in files])


def _current_fingerprints(paths: DataPaths, province: str, queue: pl.DataFrame) -> pl.DataFrame:
    from rules.review import candidate_people, fingerprints

    people = candidate_people(register_scan(paths, province), queue["candidate_id"])
    return fingerprints(queue, people)


def apply_review(paths: DataPaths, province: str, sector: str, results: pl.DataFrame, queue: pl.DataFrame,
                 run_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(results with the ledger's decisions applied, the queue of rows still ambiguous + ``match_run_id``)."""
    from rules.review import apply_decisions, remaining_queue

    queue = queue.with_columns(pl.lit(run_id).alias("match_run_id"))
    ledger = read_ledger(paths, province, sector)
    if ledger.height == 0 or queue.height == 0:
        return results, queue
    results = apply_decisions(results, _current_fingerprints(paths, province, queue), ledger)
    return results, remaining_queue(queue, results)


def review_labels(paths: DataPaths, province: str, sector: str, config) -> tuple[dict, object] | None:
    """The pairs reviewers confirmed in this partition, as engine level codes (None when there are none)."""
    from rules.review import labelled_pair_levels

    ledger = read_ledger(paths, province, sector)
    if ledger.height == 0:
        return None
    levels, is_match = labelled_pair_levels(ledger, config)
    return (levels, is_match) if len(is_match) else None


# ------------------------------------------------------------------------------------------------ export
@dataclass
class ExportedWorkbook:
    sector: str
    unit: str | None
    path: Path | None
    blocks: int


def export_workbooks(paths: DataPaths, province: str, sectors: list[str], unit: str | None = None) -> list[
        ExportedWorkbook]:
    """Write one workbook per sector (or per sector x unit) of ``province``; a sector with nothing to
    review gets no workbook (an old one is removed so nobody reviews outdated rows)."""
    from rules.matching.index import register_fingerprint
    from rules.provinces import by_slug
    from rules.review import (
        ReviewPolicy,
        build_blocks,
        candidate_people,
        new_workbook_id,
        write_private,
        write_workbook,
    )

    policy = ReviewPolicy.from_yaml()
    name = by_slug(province).name
    out: list[ExportedWorkbook] = []
    version: str | None = None
    for sector in sectors:
        target = workbook_dir(paths, province) / (f"{sector}__{unit}.xlsx" if unit else f"{sector}.xlsx")
        queue = read_optional(paths.lake("review_queue", province, sector))
        if queue is not None and unit is not None:
            queue = queue.filter(pl.col("unit") == unit)
        if queue is None or queue.height == 0:
            target.unlink(missing_ok=True)
            out.append(ExportedWorkbook(sector, unit, None, 0))
            continue
        records = read_optional(paths.lake("clean_records", province, sector))
        if records is None:
            raise MissingInputError(f"clean_records of {province}/{sector} not found: run `doisoat run` first")
        people = candidate_people(register_scan(paths, province), queue["candidate_id"])
        lines, blocks = build_blocks(queue, records, people, name)
        version = version or register_fingerprint(paths.population_files(province))[:16]
        runs = queue["match_run_id"].unique().to_list() if "match_run_id" in queue.columns else []
        meta = {"workbook_id": new_workbook_id(), "province": province, "sector": sector, "unit": unit or "",
                "exported_at": datetime.now(UTC).isoformat(timespec="seconds"), "register_version": version,
                "match_run_id": ",".join(str(r) for r in runs if r), "blocks": str(blocks.height)}
        write_private(target, write_workbook(lines, blocks, meta, policy))
        out.append(ExportedWorkbook(sector, unit, target, blocks.height))
    return out


# ------------------------------------------------------------------------------------------------ import
@dataclass
class ImportReport:
    """What one import did: counts per outcome (``rules.review.decisions.OUTCOMES``), blocks deleted or
    left undecided in the sheet, and one message per refused or unreadable block."""

    file_name: str
    province: str
    sector: str
    reviewer_given: bool
    counts: dict[str, int]
    deleted: int
    undecided: int
    messages: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.counts.get("applied", 0) + self.counts.get("unsure_recorded", 0)

    def render(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        lines = [f"{self.file_name}: {self.province}/{self.sector}: {parts or 'no decisions'}; "
                 f"{self.undecided} blocks left undecided, {self.deleted} blocks deleted (no decision)"]
        if not self.reviewer_given:
            lines.append(f"{self.file_name}: no reviewer name in C3 (Người rà soát / Reviewer); decisions recorded "
                         "without a name")
        return "\n".join(lines + self.messages)


def import_workbook(paths: DataPaths, file: Path, *, import_id: str | None = None,
                    expected_province: str | None = None) -> ImportReport:
    """Validate a filled workbook and apply its decisions (ledger, match results, queue, audit log)."""
    from rules.ingest.upload import file_sha256
    from rules.review import ReviewWorkbookError, apply_decisions, evaluate, read_workbook, remaining_queue
    from rules.review.decisions import STATUS_OF

    file = Path(file)
    if not file.is_file():
        raise MissingInputError(f"{file}: no such file")
    parsed = read_workbook(file)
    province, sector = parsed.meta.get("province", ""), parsed.meta.get("sector", "")
    from rules.provinces import PROVINCE_SLUGS
    from rules.sectors import SECTORS

    if province not in PROVINCE_SLUGS or sector not in SECTORS:  # never a path from a cell
        raise ReviewWorkbookError(f"{file.name}: the workbook names no known province and sector; export a new one "
                                  "with `doisoat review export`")
    if expected_province and province != expected_province:
        raise ReviewWorkbookError(f"{file.name}: this workbook is for {province}, not {expected_province}; "
                                  f"put it in inbox/{province}/{REVIEW_FOLDER}/")
    import_id = import_id or f"review-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
    digest = file_sha256(file)
    with partition_lock(paths, province, sector):
        results = read_optional(paths.lake("match_results", province, sector))
        queue = read_optional(paths.lake("review_queue", province, sector))
        if results is None or queue is None:
            raise MissingInputError(f"{file.name}: no match results for {province}/{sector}: run the match first")
        ledger = read_ledger(paths, province, sector)
        current_fp = _current_fingerprints(paths, province, queue)
        ev = evaluate(parsed, queue, current_fp, results, ledger, import_id=import_id,
                      decided_at=datetime.now(UTC), workbook_sha256=digest, file_label=file.name)
        if ev.new.height:
            ledger = pl.concat([ledger, ev.new], how="vertical_relaxed")
            _write_ledger(paths, province, sector, ledger)
            if ev.new["decision"].is_in(list(STATUS_OF)).any():
                results = apply_decisions(results, current_fp, ledger)
                write_table("match_results", results, paths.lake("match_results", province, sector))
                write_table("review_queue", remaining_queue(queue, results),
                            paths.lake("review_queue", province, sector))
            audit = ev.new.with_columns(
                pl.col("decision").replace_strict(STATUS_OF, default="ambiguous").alias("status"))
            record(paths, "review_decisions", f"{province}/{sector}", import_id, audit, REVIEW_AUDIT_COLUMNS)
    return ImportReport(file_name=file.name, province=province, sector=sector, reviewer_given=bool(parsed.reviewer),
                        counts=ev.counts(), deleted=parsed.deleted, undecided=parsed.undecided,
                        messages=parsed.messages + ev.messages)


# ------------------------------------------------------------------------------------------------ assets
@dg.asset(
    partitions_def=province_sector_partitions,
    group_name="match",
    kinds={"excel"},
    owners=["team:provincial-data"],
    deps=["review_queue"],
)
def review_workbooks(context: dg.AssetExecutionContext, paths: DataPaths) -> dg.MaterializeResult:
    """The clerical-review workbook of the partition (owner-only, under reports/review/<province>/)."""
    province, sector = province_sector_of(context)
    [done] = export_workbooks(paths, province, [sector])
    return dg.MaterializeResult(metadata={"blocks": done.blocks, "written": done.path is not None})


@dg.asset(
    partitions_def=province_partitions,
    group_name="review",
    kinds={"excel", "parquet"},
    owners=["team:provincial-data"],
    # match_results is per province x sector: Dagster maps each province to its sectors.
    deps=["match_results"],
    check_specs=[schema_check_spec("review_decisions", partitions_def=province_partitions)],
)
def review_decisions(context: dg.AssetExecutionContext, paths: DataPaths) -> dg.MaterializeResult:
    """Filled review workbooks of inbox/<province>/review/ imported: decisions validated and applied."""
    # Decisions go to the ledger, the match results and the audit log; the same workbook twice
    # changes nothing.
    from rules.review import ReviewWorkbookError

    province = str(context.partition_key)
    folder = review_inbox(paths, province)
    files = sorted((p for p in folder.glob("*.xlsx") if not p.name.startswith((".", "~$"))),
                   key=lambda p: p.stat().st_mtime_ns) if folder.is_dir() else []
    totals: dict[str, int] = {}
    problems: list[str] = []
    for number, path in enumerate(files, start=1):
        try:  # one import id per workbook: each gets its own audit file
            rep = import_workbook(paths, path, import_id=f"{context.run.run_id}-{number}",
                                  expected_province=province)
        except (ReviewWorkbookError, FileNotFoundError) as exc:
            problems.append(str(exc))
            context.log.warning(str(exc))
            continue
        for k, v in rep.counts.items():
            totals[k] = totals.get(k, 0) + v
        problems += rep.messages
    from rules.sectors import SECTORS

    ledgers = [(read_ledger(paths, province, s), ledger_path(paths, province, s)) for s in SECTORS
               if ledger_path(paths, province, s).exists()]
    return dg.MaterializeResult(metadata={
        "workbooks": len(files), **{f"decisions_{k}": v for k, v in sorted(totals.items())},
        # block codes, unit slugs and Excel row numbers only: no names, IDs or birth dates
        "messages": dg.MetadataValue.md("\n".join(f"- {m}" for m in problems[:200]) or "none")},
        check_results=[schema_check_results("review_decisions", ledgers)])



# ------------------------------------------------------------------------------------------------ labels
def label_tables(ledger: pl.DataFrame, matches: pl.DataFrame,
                 estimates: pl.DataFrame | None = None) -> dict[str, pl.DataFrame]:
    """Aggregates of what reviewed pairs say (no personal data): ``levels`` (m per comparison level:
    unsupervised, labelled, blended), ``precision`` (one row) and ``what_if`` (per lower threshold).

    ``estimates``: the ``match_estimates`` lake rows (``comparison, level, m, ...`` per province x
    sector run, estimated by EM); their mean m per level is the unsupervised m. Without any, the
    configuration's start values stand in.
    """
    from rules.matching import MatchConfig
    from rules.review import ReviewPolicy, blend_m, config_m, precision_band, threshold_what_if

    policy = ReviewPolicy.from_yaml()
    config = MatchConfig.default()
    unsupervised = (
        estimates.group_by("comparison", "level").agg(pl.col("m").mean())
        if estimates is not None and estimates.height else config_m(config)
    )
    levels = blend_m(unsupervised, ledger, policy.prior_strength)
    precision = pl.DataFrame([precision_band(ledger, policy.precision_band)], schema={
        "band_low": pl.Float64, "band_high": pl.Float64, "reviewed": pl.Int64, "best_confirmed": pl.Int64,
        "precision": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64, "model_expected": pl.Float64})
    what_if = threshold_what_if(matches, ledger, policy.what_if_thresholds, config.match_threshold, config.margin,
                                policy.score_bins)
    return {"levels": levels, "precision": precision, "what_if": what_if}


def _read_lake(paths: DataPaths, asset: str, columns: list[str] | None = None) -> pl.DataFrame | None:
    files = [path for _, _, path in paths.lake_partitions(asset)]
    frames = [pl.read_parquet(f, columns=columns) for f in files]
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


def review_statistics(paths: DataPaths) -> dict:
    from rules.review import ReviewPolicy, empty_ledger

    ledger = _read_lake(paths, "review_decisions")
    ledger = ledger if ledger is not None else empty_ledger()
    matches = _read_lake(paths, "match_results", ["status", "score", "runner_up_score"])
    if matches is None:
        matches = pl.DataFrame(schema={"status": pl.Utf8, "score": pl.Float64, "runner_up_score": pl.Float64})
    tables = label_tables(ledger, matches, _read_lake(paths, "match_estimates", ["comparison", "level", "m"]))
    final = ledger.filter(pl.col("decision").is_in(["match", "none"]))
    return {**tables, "precision": tables["precision"].to_dicts()[0],
            "labelled_matches": int((final["decision"] == "match").sum()),
            "labelled_rejections": int((final["decision"] == "none").sum()),
            "k": ReviewPolicy.from_yaml().prior_strength}
