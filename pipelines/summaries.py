"""What ``doisoat run``, ``publish``, ``verify-day`` and ``verify-server`` print when they succeed.

One summary per command, on stdout: counts, the day's allocation and outcome, output paths, the
address served. Read back from the lake, the queue and the analyst file after the runs, so the summary
says what is on disk, not what a step meant to do. Counts, codes and paths only: never a name, an
ID or a date of birth (file names of uploads are not printed either: a school may name a list
after a pupil).

Progress of long steps (:func:`step`) goes to stderr, and only when stderr is a terminal: a cron
job or a pipe gets the summary alone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from pipelines.environment import data_root
from rules.sectors import SECTORS

STATUSES = ("matched", "ambiguous", "unmatched")


def _progress_wanted() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def step(label: str) -> Iterator[None]:
    """``  label …`` then ``  label: 3.2 s`` on stderr (a terminal only) around a long step."""
    show = _progress_wanted()
    started = time.perf_counter()
    if show:
        print(f"  {label} …", file=sys.stderr, flush=True)
    yield
    if show:
        print(f"  {label}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def _paths():
    import os

    from assets.resources import DataPaths

    return DataPaths(root=str(data_root()), lake_root=os.environ.get("DOISOAT_LAKE", ""))


def _read(paths, table: str, province: str, sector: str, columns: list[str]) -> pl.DataFrame | None:
    """A partition's ``columns`` from the lake (local or object storage), or None if never written."""
    from rules.lake_store import read_table_partition

    return read_table_partition(paths.layout, table, province, sector, columns=columns)


def _rows(paths, table: str, province: str, sector: str) -> int:
    df = _read(paths, table, province, sector, ["file_sha256"])
    return df.height if df is not None else 0


def _n(value: object) -> str:
    return f"{int(value):,}" if value is not None else "0"


# Match decisions as printed: the matcher's ``rejected`` is a row with neither a name nor an ID (the
# other validation rejects are still matched on the fields they have), so every row read is in one.
DECISIONS = (("matched", "matched"), ("ambiguous", "ambiguous"), ("unmatched", "unmatched"),
             ("rejected", "no-name/ID"))


def province_lines(province: str, sectors: list[str]) -> list[str]:
    """Per sector: files (current/failed), rows read, accepted, rejected, match decisions; then one
    line per failed file (masked label, reason code, what to do) and the paths.

    Every count closes: rows = accepted + rejected = matched + ambiguous + unmatched + no-name/ID."""
    paths = _paths()
    lines = [f"{province}: {'sector':<13} {'files':>5} {'failed':>6} {'rows':>8} {'accepted':>9} {'rejected':>9} "
             + " ".join(f"{label:>10}" for _, label in DECISIONS)]
    reports = review = 0
    failures: list[str] = []
    for sector in sectors:
        uploads = _read(paths, "uploads", province, sector, ["status", "file_name", "error_code"])
        files = uploads.height if uploads is not None else 0
        failed = uploads.filter(pl.col("status") == "failed") if uploads is not None else None
        matches = _read(paths, "match_results", province, sector, ["status"])
        status = dict(matches.group_by("status").len().iter_rows()) if matches is not None else {}
        lines.append(f"{'':<{len(province) + 1}} {sector:<13} {files:>5} "
                     f"{failed.height if failed is not None else 0:>6} "
                     f"{_rows(paths, 'raw_records', province, sector):>8,} "
                     f"{_rows(paths, 'clean_records', province, sector):>9,} "
                     f"{_rows(paths, 'rejected_records', province, sector):>9,} "
                     + " ".join(f"{status.get(s, 0):>10,}" for s, _ in DECISIONS))
        folder = paths.error_reports(province, sector)
        if failed is not None:
            failures += [failed_file_line(sector, name, code, folder)
                         for name, code in failed.select("file_name", "error_code").iter_rows()]
        reports += len(list(folder.glob("*.errors.xlsx"))) if folder.is_dir() else 0
        review += _rows(paths, "review_queue", province, sector)
    review_dir = paths.review_workbooks(province)
    lines += [
        "rows = accepted + rejected = matched + ambiguous + unmatched + no-name/ID (rejected rows that keep "
        "a name or an ID are still matched, flagged validation_failed)",
        *failures,
        f"lake: {paths.layout.lake_location} (per asset/{province}/<sector>.parquet)",
        f"error reports for uploaders: {reports} in {paths.error_reports(province, SECTORS[0]).parent}",
        f"clerical review: {review:,} candidate rows; workbooks in {review_dir}",
        "next: `doisoat verify-day` (spend today's quota), `doisoat publish` (analyst file)",
    ]
    return lines


NOT_READ = frozenset({"misnamed_file", "not_a_regular_file", "unsupported_format"})  # refused unread


def failed_file_line(sector: str, file_name: str, code: str | None, reports: Path) -> str:
    """``failed file students/thpt_x__ds_lop_x.xlsx [corrupt_file]: <what to do> …``: the file's
    masked label (uploaders name lists after pupils), its reason code and the generic advice of that
    code. The specific message (sheet, row, headers found) is in the file's error report, which the
    line points at only when one was written: a file refused unread (misnamed, a link, another type)
    has none: its line ends with the code's advice (rename it, copy the file itself, save as .xlsx)."""
    from rules.ingest.inbox import public_label
    from rules.ingest.report import error_report_path

    line = f"failed file {sector}/{public_label(file_name)} [{code or 'unknown'}]: {what_to_do(code)}"
    if error_report_path(file_name, reports).is_file():
        return f"{line} Details: its error report in {reports}"
    return f"{line} (No error report: the file was not read.)" if code in NOT_READ else line


def what_to_do(code: str | None) -> str:
    """The English advice of an upload error code (:func:`rules.ingest.errors.advice_en`: its message
    without the sentences quoting one file's headers, sizes or encoding, which are in the error report)."""
    from rules.ingest.errors import ERROR_CODES, advice_en

    return (advice_en(code) if code in ERROR_CODES else "") or "The file could not be read."


def verification_lines(day: str) -> list[str]:
    """The day's answers by outcome and where the queue and its audit live (after the summary line)."""
    from rules.verify import StoreError, open_queue
    from rules.verify.queue import is_url, queue_location, shown_location

    paths = _paths()
    queue = paths.queue_store()
    location = queue_location(queue)
    if not (is_url(location) or queue.exists()):
        return []
    try:
        states = open_queue(location).requests(personal_data=False, day=day)["state"].value_counts(sort=True)
    except StoreError:
        return []
    outcome = ", ".join(f"{state} {n:,}" for state, n in states.iter_rows()) or "no request allocated"
    return [f"  requests of the day by state: {outcome}",
            f"  queue: {shown_location(location)}; transmission audit: {paths.transmissions()}",
            f"  forecast: `doisoat forecast`; analyst file: `doisoat publish` -> {paths.warehouse()}"]


def publish_lines() -> list[str]:
    """The analyst file: path, size, tables and views with their row counts (aggregates only)."""
    import duckdb

    path = _paths().warehouse()
    if not path.exists():
        return [f"no analyst file at {path}"]
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
        views = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()
        counts = [(t, con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for (t,) in tables]
    finally:
        con.close()
    size = path.stat().st_size / 1e6
    rows = ", ".join(f"{t} {n:,}" for t, n in counts)
    return [f"analyst file: {path} ({size:.1f} MB, {len(tables)} tables, {len(views)} views)",
            f"  rows: {rows}",
            f"  views: {', '.join(v for (v,) in views) or 'none'}",
            f"  open it read-only: duckdb -readonly {path}"]


def serving_line(url: str, people: int, register: Path, token: bool) -> str:
    return (f"verification API: serving {people:,} people of {register} at {url} "
            f"({'bearer token required' if token else 'no token: local testing only'}); Ctrl-C stops")
