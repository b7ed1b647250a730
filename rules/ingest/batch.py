"""The inbox folder of one province x sector read as one batch: which files are there, which are
current, their rows, and the error reports sent back. No Dagster import: the ``raw_records`` and
``clean_records`` assets call it and write the lake.

Each file is read by ``rules.ingest.read_upload``; a structurally bad file does not stop the others
(it is listed with its error code and message, and its error report explains what to fix). Which
uploads are current follows ``rules.ingest.supersede`` (same unit and sector: the newest file
supersedes the older ones; the same content twice counts once).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from rules.lake_schema import lake_table

# The uploads table before the supersede rule adds ``superseded_by`` (rules.lake_schema owns the dtypes).
UPLOAD_COLUMNS = {c: t for c, t in lake_table("uploads").schema().items() if c != "superseded_by"}
READER_COUNTS = ("footer_rows_skipped", "invisible_removed", "spaces_replaced", "lookalikes_folded",
                 "legacy_font_cells", "formulas_evaluated", "hidden_sheets_skipped")


@dataclass
class Inbox:
    uploads: pl.DataFrame  # one row per file, UPLOAD_COLUMNS
    raws: dict[str, pl.DataFrame]  # file_sha256 -> raw rows (contracts §3)
    sector: str
    # one line per problem outside the files themselves (an old report that could not be removed),
    # naming files by their public label only: the asset logs them as warnings
    notices: list[str] = field(default_factory=list)

    def raw_for(self, current: pl.DataFrame) -> pl.DataFrame:
        frames = [self.raws[h] for h in current["file_sha256"].to_list() if h in self.raws]
        if not frames:
            from rules.ingest.upload import empty_raw_frame

            return empty_raw_frame(self.sector)
        return pl.concat(frames, how="diagonal_relaxed")


def read_inbox(folder: Path, *, province: str, sector: str, reports_dir: Path) -> Inbox:
    from rules.ingest import UploadError, read_upload
    from rules.ingest.inbox import list_inbox
    from rules.ingest.report import error_report_path

    rows: list[dict] = []
    raws: dict[str, pl.DataFrame] = {}
    files, refused = list_inbox(folder, units=True)  # a misnamed file is refused, not given a made-up unit
    notices = clear_leftovers(folder, reports_dir)
    for entry in refused:  # links, special files, other types: listed as failed, never read or followed
        code = entry.reason if entry.reason in ("misnamed_file", "unsupported_format") else "not_a_regular_file"
        err = UploadError(code, file=entry.name)
        rows.append(_meta(province, sector, entry.name, folder / entry.name) | {  # lstat: links not followed
            "status": "failed", "error_code": err.code, "error_message": str(err)})
    for path in files:
        meta = _meta(province, sector, path.name, path)
        try:
            upload = read_upload(path, province=province, sector=sector, unit=meta["unit"], follow_links=False)
        except UploadError as exc:
            from rules.ingest.report import write_structural_report

            meta.update(status="failed", error_code=exc.code, error_message=str(exc),
                        file_sha256=getattr(exc, "file_sha256", None))
            with contextlib.suppress(OSError):  # the failure is in the uploads table; a report we cannot
                write_structural_report(exc, error_report_path(path, reports_dir))  # write blocks nothing
        except (OSError, RecursionError, ValueError) as exc:  # one bad file never blocks the others
            err = UploadError("unreadable_file", file=path.name, found_headers=[type(exc).__name__])
            meta.update(status="failed", error_code=err.code, error_message=str(err))
        else:
            meta.update(file_sha256=upload.file_sha256, sheet=upload.sheet, rows_read=upload.raw.height,
                        blank_rows_skipped=upload.blank_rows_skipped,
                        footer_rows_skipped=upload.footer_rows_skipped,
                        error_message=upload.footer_note(),  # row numbers only: where the rows not read are
                        invisible_removed=upload.cells.get("invisible_removed", 0),
                        spaces_replaced=upload.cells.get("spaces_replaced", 0),
                        lookalikes_folded=upload.cells.get("lookalikes_folded", 0),
                        legacy_font_cells=upload.cells.get("legacy_font_cells_repaired", 0),
                        formulas_evaluated=upload.formulas_evaluated,
                        hidden_sheets_skipped=len(upload.hidden_sheets))
            raws[upload.file_sha256] = upload.raw
        rows.append(meta)
    return Inbox(uploads=pl.DataFrame(rows, schema=UPLOAD_COLUMNS), raws=raws, sector=sector, notices=notices)


def clear_leftovers(inbox: Path, reports_dir: Path) -> list[str]:
    """Before a batch: remove the old error reports (they are rebuilt on every run, and one of a file
    that is now fine would only mislead) and the temporaries a killed process left in the folders
    the batch and ``doisoat upload`` write into (``rules.private.remove_stale_temps``).

    Never raises: what cannot be removed (a folder at a report's name, a read-only folder) is left
    where it is and comes back as one line saying which file (by its public label) and what to do.
    """
    from rules.ingest.inbox import public_label
    from rules.ingest.report import REPORT_SUFFIX
    from rules.private import remove_stale_temps

    notices: list[str] = []
    try:
        stale = sorted(p for p in reports_dir.iterdir() if p.name.endswith(REPORT_SUFFIX))
    except OSError:  # no reports folder yet (or one we cannot list: writing reports will say so)
        stale = []
    for path in stale:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as exc:
            notices.append(f"old error report of {public_label(path.name)} kept (it may mislead): "
                           f"{_not_removed(exc, reports_dir)}")
    for folder in (reports_dir, inbox):
        for path, exc in remove_stale_temps(folder).failed:  # the temporary's name is ours, not uploader text
            notices.append(f"left-over temporary file {path.name} kept: {_not_removed(exc, folder)}")
    return notices


def _not_removed(exc: OSError, folder: Path) -> str:
    """Why a file in ``folder`` could not be removed and what to do, without the file's name
    (``str(exc)`` carries it, and an uploader's file name may hold a pupil's name)."""
    if isinstance(exc, IsADirectoryError):
        return f"a folder has its name; move that folder out of {folder}"
    if isinstance(exc, PermissionError):
        return f"permission denied; make {folder} writable by the user running the pipeline"
    return f"{exc.strerror or type(exc).__name__}; remove it by hand from {folder}"


def _meta(province: str, sector: str, name: str, path: Path | None) -> dict:
    """The uploads-table row of one inbox entry before it is read (arrival time from ``lstat``)."""
    from rules.ingest.inbox import unit_of

    try:
        mtime = path.lstat().st_mtime if path is not None else 0.0
    except OSError:
        mtime = 0.0
    return {
        "province": province, "sector": sector, "unit": unit_of(name), "file_name": name,
        "uploaded_at": datetime.fromtimestamp(mtime, tz=UTC),
        "file_sha256": None, "sheet": None, "rows_read": 0, "blank_rows_skipped": 0,
        "status": "read", "error_code": None, "error_message": None,
        **dict.fromkeys(READER_COUNTS, 0),
    }


def mark_uploads(uploads: pl.DataFrame) -> pl.DataFrame:
    """``uploads`` with ``status`` (current / superseded / duplicate / failed) and ``superseded_by``."""
    from rules.ingest.lineage import supersede

    return supersede(uploads.drop("status")).select(*uploads.columns, "superseded_by")


def write_error_reports(raw: pl.DataFrame, quarantined: pl.DataFrame, inbox: Path, reports_dir: Path) -> list[Path]:
    """An error report for every upload that has rejected rows or lists the same person twice (the
    uploader fixes it in Excel and sends it back), as ``doisoat upload`` writes one: a file of valid
    rows only, some of them repeats, gets its warnings too. Returns the reports written: one that
    cannot be written (a full disk) is skipped, its rows stay in the rejected records.

    Linear in the rows: the frames are split by file once (``partition_by``), never filtered per file.
    """
    from rules.ingest.report import duplicate_rows, error_report_path, write_error_report

    if not raw.height:
        return []
    rows_by_file = raw.partition_by("file_name", as_dict=True, maintain_order=True)
    bad_by_file = (quarantined.partition_by("file_name", as_dict=True, maintain_order=True)
                   if quarantined.height else {})
    written: list[Path] = []
    for (file_name,), rows in rows_by_file.items():
        bad = bad_by_file.get((file_name,), quarantined.clear())
        dups = duplicate_rows(rows)
        if not bad.height and not dups.height:
            continue
        target = error_report_path(inbox / str(file_name), reports_dir)
        with contextlib.suppress(OSError):  # a report that cannot be written never blocks the others
            written.append(write_error_report(rows, bad, target, source_dir=inbox, duplicates=dups))
    return written
