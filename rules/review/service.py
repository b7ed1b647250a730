"""Clerical review over the lake (no Dagster here): the logic behind the assets ``review_workbooks`` /
``review_decisions`` (``assets.review``), the match step (``assets.match``) and ``doisoat review``.

- :func:`apply_review`: re-applies the decision ledger to a fresh match run, so reviewed rows stay
  reviewed across re-runs as long as their candidates and register records are unchanged; the review
  queue keeps only the rows still ambiguous. :func:`review_labels`: the confirmed pairs as engine levels.
- :func:`export_workbooks`: the owner-only workbook ``reports/review/<province>/<sector>.xlsx`` per sector
  (or sector x unit) -> ``list[ExportedWorkbook]``.
- :func:`import_workbook`: validates one filled workbook and applies its decisions (ledger, match
  results, queue, audit log) under the partition lock -> :class:`ImportReport`; importing a workbook
  again changes nothing. Bad workbooks raise ``ReviewWorkbookError`` / ``MissingInputError`` (user errors).
  Its messages and errors name the file by its masked label (``rules.review.reader.shown_name``: the
  clerk chose the name, and the asset puts these lines in Dagster metadata and logs); only
  ``doisoat review import``, printing for the operator who gave the file, passes the real name.
- :func:`review_statistics` / :func:`label_tables`: what the reviewed pairs say about the matcher.

Every function takes a :class:`rules.layout.DataLayout` (the Dagster resource ``DataPaths`` hands its
``.layout``). Lake tables (match results, queue, ledger, clean records) are read and written through
``rules.lake_store`` (writes checked by ``rules.lake_schema.conform``), so review works on the local
lake and on a lake on object storage alike; the register, the workbooks and the review inbox are local.
:func:`partition_lock` serialises the writers of a partition across machines when the queue is on
PostgreSQL (an advisory lock) and on one machine otherwise (a lock file); see its docstring.
The ledger (lake table ``review_decisions``) and the workbooks hold personal data (owner-only files
locally); callers log and report counts only.
"""

import contextlib
import fcntl
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from rules.audit import record
from rules.errors import MissingInputError, OptionError
from rules.lake_store import read_table, read_table_partition, stored_schema, write_table
from rules.layout import REVIEW_FOLDER, DataLayout

REVIEW_AUDIT_COLUMNS = ("province", "sector", "unit", "file_sha256", "sheet", "row_number", "decision", "status",
                        "person_id", "reviewer", "workbook_id", "workbook_sha256", "import_id", "decided_at")


def _read(layout: DataLayout, table: str, province: str, sector: str) -> pl.DataFrame | None:
    """A partition of lake table ``table``, or None if it was never written."""
    return read_table_partition(layout, table, province, sector)


def _write(layout: DataLayout, table: str, df: pl.DataFrame, province: str, sector: str) -> None:
    """Replace a partition of ``table`` with ``df`` checked and cast by ``rules.lake_schema.conform``."""
    write_table(layout, table, df, province, sector)


def ledger_schema(layout: DataLayout, province: str, sector: str) -> Path | pl.Schema | None:
    """What the ledger's schema check reads back (the local file or the stored schema), None if never written."""
    if _read(layout, "review_decisions", province, sector) is None:
        return None
    return stored_schema(layout, "review_decisions", province, sector)


def workbook_dir(layout: DataLayout, province: str) -> Path:
    return layout.review_workbooks(province)


def review_inbox(layout: DataLayout, province: str) -> Path:
    return layout.review_inbox(province)


def read_ledger(layout: DataLayout, province: str, sector: str) -> pl.DataFrame:
    from rules.review import empty_ledger

    found = _read(layout, "review_decisions", province, sector)
    return found if found is not None else empty_ledger()


def _write_ledger(layout: DataLayout, province: str, sector: str, ledger: pl.DataFrame) -> None:
    _write(layout, "review_decisions", ledger, province, sector)


# Advisory lock keys of the partition lock on PostgreSQL: (namespace, hash of province/sector). The
# namespace is an application-chosen number beside the queue's own (rules.verify.pg_store: 7431_0001..2).
_PG_LOCK_NAMESPACE = 7431_0101


@contextlib.contextmanager
def partition_lock(layout: DataLayout, province: str, sector: str) -> Iterator[None]:
    """One writer at a time of a partition's match results, queue and ledger (a match run and an
    import landing together would otherwise lose one side's write: the three tables are read, combined
    and rewritten together, and Delta commits are per table, so its optimistic concurrency cannot
    cover them).

    * Queue on PostgreSQL (``DOISOAT_QUEUE_URL``, the national deployment where runs land on several
      machines): a session-level advisory lock ``pg_advisory_lock(namespace, hashtext(province/sector))``
      on the queue's database, held on a connection of its own for the block. It works across machines
      and dies with the connection, so a ``kill -9`` of the holder never leaves a stale lock.
    * Otherwise (the embedded default; a SQLite queue means one machine): ``flock`` on the owner-only
      file ``DataLayout.partition_lock`` (local disk whatever the lake).
    """
    from rules.verify.queue import is_url, queue_location

    location = queue_location(layout.queue_store())
    if is_url(location):
        with _pg_partition_lock(str(location), province, sector):
            yield
        return
    from rules.private import private_file

    lock = private_file(layout.partition_lock(province, sector))
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def partition_lock_key(province: str, sector: str) -> tuple[int, int]:
    """The advisory lock key pair of a partition: (namespace, signed 32-bit hash of ``province/sector``)."""
    digest = hashlib.sha256(f"{province}/{sector}".encode()).digest()
    return _PG_LOCK_NAMESPACE, int.from_bytes(digest[:4], "big", signed=True)


@contextlib.contextmanager
def _pg_partition_lock(url: str, province: str, sector: str) -> Iterator[None]:
    import psycopg2

    con = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://", 1), connect_timeout=10,
                           application_name="doisoat-partition-lock")
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s, %s)", partition_lock_key(province, sector))
        try:
            yield
        finally:
            with con.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s, %s)", partition_lock_key(province, sector))
    finally:
        con.close()


def register_scan(layout: DataLayout, province: str) -> pl.LazyFrame:
    files = layout.population_files(province)
    if not files:
        raise MissingInputError(f"no population register for {province}: put it at {layout.population_hint(province)}")
    return pl.scan_parquet([str(f) for f in files])


def _current_fingerprints(layout: DataLayout, province: str, queue: pl.DataFrame) -> pl.DataFrame:
    from rules.review import candidate_people, fingerprints

    people = candidate_people(register_scan(layout, province), queue["candidate_id"])
    return fingerprints(queue, people)


def apply_review(layout: DataLayout, province: str, sector: str, results: pl.DataFrame, queue: pl.DataFrame,
                 run_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(results with the ledger's decisions applied, the queue of rows still ambiguous + ``match_run_id``)."""
    from rules.review import apply_decisions, remaining_queue

    queue = queue.with_columns(pl.lit(run_id).alias("match_run_id"))
    ledger = read_ledger(layout, province, sector)
    if ledger.height == 0 or queue.height == 0:
        return results, queue
    results = apply_decisions(results, _current_fingerprints(layout, province, queue), ledger)
    return results, remaining_queue(queue, results)


def review_labels(layout: DataLayout, province: str, sector: str, config) -> tuple[dict, object] | None:
    """The pairs reviewers confirmed in this partition, as engine level codes (None when there are none)."""
    from rules.review import labelled_pair_levels

    ledger = read_ledger(layout, province, sector)
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


def export_workbooks(layout: DataLayout, province: str, sectors: list[str], unit: str | None = None) -> list[
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
    if unit is not None:
        _check_unit(layout, province, sectors, unit)
    out: list[ExportedWorkbook] = []
    version: str | None = None
    for sector in sectors:
        target = workbook_dir(layout, province) / (f"{sector}__{unit}.xlsx" if unit else f"{sector}.xlsx")
        if target.is_dir():
            raise OptionError(f"{target} is a folder, where the review workbook of {province}/{sector} goes: "
                              "move that folder away and export again")
        queue = _read(layout, "review_queue", province, sector)
        if queue is not None and unit is not None:
            queue = queue.filter(pl.col("unit") == unit)
        if queue is None or queue.height == 0:
            target.unlink(missing_ok=True)
            out.append(ExportedWorkbook(sector, unit, None, 0))
            continue
        records = _read(layout, "clean_records", province, sector)
        if records is None:
            raise MissingInputError(f"clean_records of {province}/{sector} not found: run `doisoat run` first")
        people = candidate_people(register_scan(layout, province), queue["candidate_id"])
        lines, blocks = build_blocks(queue, records, people, name)
        version = version or register_fingerprint(layout.population_files(province))[:16]
        runs = queue["match_run_id"].unique().to_list() if "match_run_id" in queue.columns else []
        meta = {"workbook_id": new_workbook_id(), "province": province, "sector": sector, "unit": unit or "",
                "exported_at": datetime.now(UTC).isoformat(timespec="seconds"), "register_version": version,
                "match_run_id": ",".join(str(r) for r in runs if r), "blocks": str(blocks.height)}
        write_private(target, write_workbook(lines, blocks, meta, policy))
        out.append(ExportedWorkbook(sector, unit, target, blocks.height))
    return out


def _check_unit(layout: DataLayout, province: str, sectors: list[str], unit: str) -> None:
    """Refuse a ``--unit`` no list of ``province`` in ``sectors`` comes from (none at all: nothing processed
    yet), naming the closest units:
    "0 rows to review" for a typo would read as "nothing to do". Units are slugs, never personal
    (``rules.ingest.inbox.unit_slug`` masks a pupil's name in them)."""
    import difflib

    known: set[str] = set()
    for sector in sectors:
        for table in ("review_queue", "clean_records"):
            df = _read(layout, table, province, sector)
            if df is not None and "unit" in df.columns:
                known.update(u for u in df["unit"].unique().to_list() if u)
    if unit in known:
        return
    if not known:
        raise OptionError(f"--unit {unit}: no list of {province} ({', '.join(sectors)}) has been processed yet; "
                          f"run `doisoat run --province {province}` first")
    close = difflib.get_close_matches(unit, sorted(known), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else f"units there: {', '.join(sorted(known)[:8])}" + (
        ", …" if len(known) > 8 else "")
    raise OptionError(f"--unit {unit}: no list of {province} ({', '.join(sectors)}) comes from this unit; {hint}")


# ------------------------------------------------------------------------------------------------ import
@dataclass
class ImportReport:
    """What one import did: counts per outcome (``rules.review.decisions.OUTCOMES``), blocks deleted or
    left undecided in the sheet, and one message per refused or unreadable block.

    ``label`` is how :meth:`render` and ``messages`` name the workbook (``rules.review.reader.shown_name``):
    masked unless the importer asked for the real name."""

    label: str
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
        lines = [f"{self.label}: {self.province}/{self.sector}: {parts or 'no decisions'}; "
                 f"{self.undecided} blocks left undecided, {self.deleted} blocks deleted (no decision)"]
        if not self.reviewer_given:
            lines.append(f"{self.label}: no reviewer name in C3 (Người rà soát / Reviewer); decisions recorded "
                         "without a name")
        return "\n".join(lines + self.messages)


def import_workbook(layout: DataLayout, file: Path, *, import_id: str | None = None,
                    expected_province: str | None = None, label: str | None = None) -> ImportReport:
    """Validate a filled workbook and apply its decisions (ledger, match results, queue, audit log).

    Messages and errors name the file by ``rules.review.reader.shown_name``: its masked label by default
    (the review asset shows them in Dagster); ``label`` (the real name or path) only for output read
    by the person who gave the file, such as ``doisoat review import``'s terminal."""
    from rules.ingest.upload import file_sha256
    from rules.review import ReviewWorkbookError, apply_decisions, evaluate, read_workbook, remaining_queue
    from rules.review.decisions import STATUS_OF
    from rules.review.reader import shown_name

    file = Path(file)
    label = shown_name(file, label)
    if not file.is_file():
        raise MissingInputError(f"{label}: no such file")
    parsed = read_workbook(file, label=label)
    province, sector = parsed.meta.get("province", ""), parsed.meta.get("sector", "")
    from rules.provinces import PROVINCE_SLUGS
    from rules.sectors import SECTORS

    if province not in PROVINCE_SLUGS or sector not in SECTORS:  # never a path from a cell
        raise ReviewWorkbookError(f"{label}: the workbook names no known province and sector; export a new one "
                                  "with `doisoat review export`")
    if expected_province and province != expected_province:
        raise ReviewWorkbookError(f"{label}: this workbook is for {province}, not {expected_province}; "
                                  f"put it in inbox/{province}/{REVIEW_FOLDER}/")
    import_id = import_id or f"review-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
    try:
        digest = file_sha256(file)
    except OSError as exc:  # removed or locked since it was read: an OSError's text carries the path
        raise ReviewWorkbookError(f"{label}: cannot be read ({exc.strerror or type(exc).__name__}); "
                                  "put the workbook back and import it again") from None
    with partition_lock(layout, province, sector):
        results = _read(layout, "match_results", province, sector)
        queue = _read(layout, "review_queue", province, sector)
        if results is None or queue is None:
            raise MissingInputError(f"{label}: no match results for {province}/{sector}: run the match first")
        ledger = read_ledger(layout, province, sector)
        current_fp = _current_fingerprints(layout, province, queue)
        ev = evaluate(parsed, queue, current_fp, results, ledger, import_id=import_id,
                      decided_at=datetime.now(UTC), workbook_sha256=digest, file_label=label)
        if ev.new.height:
            ledger = pl.concat([ledger, ev.new], how="vertical_relaxed")
            _write_ledger(layout, province, sector, ledger)
            if ev.new["decision"].is_in(list(STATUS_OF)).any():
                results = apply_decisions(results, current_fp, ledger)
                _write(layout, "match_results", results, province, sector)
                _write(layout, "review_queue", remaining_queue(queue, results), province, sector)
            audit = ev.new.with_columns(
                pl.col("decision").replace_strict(STATUS_OF, default="ambiguous").alias("status"))
            record(layout, "review_decisions", f"{province}/{sector}", import_id, audit, REVIEW_AUDIT_COLUMNS)
    return ImportReport(label=label, province=province, sector=sector, reviewer_given=bool(parsed.reviewer),
                        counts=ev.counts(), deleted=parsed.deleted, undecided=parsed.undecided,
                        messages=parsed.messages + ev.messages)


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


def _read_lake(layout: DataLayout, table: str, columns: list[str] | None = None) -> pl.DataFrame | None:
    return read_table(layout, table, columns)


def review_statistics(layout: DataLayout) -> dict:
    from rules.review import ReviewPolicy, empty_ledger

    ledger = _read_lake(layout, "review_decisions")
    ledger = ledger if ledger is not None else empty_ledger()
    matches = _read_lake(layout, "match_results", ["status", "score", "runner_up_score"])
    if matches is None:
        matches = pl.DataFrame(schema={"status": pl.Utf8, "score": pl.Float64, "runner_up_score": pl.Float64})
    tables = label_tables(ledger, matches, _read_lake(layout, "match_estimates", ["comparison", "level", "m"]))
    final = ledger.filter(pl.col("decision").is_in(["match", "none"]))
    return {**tables, "precision": tables["precision"].to_dicts()[0],
            "labelled_matches": int((final["decision"] == "match").sum()),
            "labelled_rejections": int((final["decision"] == "none").sum()),
            "k": ReviewPolicy.from_yaml().prior_strength}
