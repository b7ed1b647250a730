"""``doisoat upload FILE``: validate a sector file at once, report, and drop it into the inbox.

What an education department needs from one command: counts (rows read / accepted / rejected by
reason), an Excel error report beside the file to fix and upload again, and a clear one-line error
(exit code 2, from the CLI) when the file cannot be read at all. Accepted files are copied into
``data/inbox/<province>/<sector>/`` where the sensor and the province job pick them up.

The output names the file (and sheet) as the uploader gave it: it is printed on their own terminal
and written into their own error report. Once the file is in the inbox, Dagster keeps only its masked
``rules.ingest.inbox.name_key`` (sensor cursors), the runs report counts and error codes, and ``doisoat
run`` names a failed file by its masked ``public_label``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipelines.environment import layout


def upload_file(path: Path, province: str, sector: str, *, unit: str | None = None, sheet: str | None = None,
                copy_to_inbox: bool = True) -> int:
    from rules.errors import MissingInputError
    from rules.ingest import process_upload, write_error_report
    from rules.ingest.inbox import check_unit
    from rules.ingest.report import SMALL_FILE_ROWS, error_report_path, rejected_report_path
    from rules.ingest.upload import default_unit
    from rules.provinces import resolve_province
    from rules.sectors import check_sector

    slug = resolve_province(province).slug
    check_sector(sector)
    if not path.is_file():
        raise MissingInputError(f"{path}: file not found (give the path of an .xlsx, .xls or .csv file)")
    unit = check_unit(unit) if unit is not None else default_unit(path)
    result = process_upload(path, province=slug, sector=sector, unit=unit, sheet=sheet)
    for line in result.summary_lines():
        print(line)
    report = error_report_path(path)  # an error report sent back is reported on under its own name
    if copy_to_inbox and sheet is None:  # copy first: the report may be written over this very file
        _copy_to_inbox(path, slug, sector, unit)
    if report.resolve() == path.resolve() and result.raw.height > SMALL_FILE_ROWS:
        report = rejected_report_path(report)  # never write a rejected-rows-only report over the whole
        # list the user sent
    if result.quarantined.height or result.duplicate_lines():
        write_error_report(result, report)
        if result.raw.height <= SMALL_FILE_ROWS:
            print(f"error report / báo cáo lỗi: {report}  (sửa các dòng tô màu rồi gửi lại / fix the highlighted "
                  "rows and upload again)")
        else:  # a large file's report holds the rejected rows only: sending it back would drop the others
            print(f"error report / báo cáo lỗi: {report}  (chỉ có các dòng lỗi: sửa trong tệp gốc rồi gửi lại tệp "
                  "gốc / rejected rows only: fix them in the original file and upload the original again)")
    elif report.resolve() != path.resolve():  # never the upload itself (a report sent back, now clean)
        _remove_old_report(report)  # an old report would now be misleading
    if copy_to_inbox and sheet is not None:
        print("not copied to the inbox: the inbox reads every data sheet of a workbook, not only "
              f"{sheet!r}; remove the other sheets (or upload without --sheet) to send it")
    return 0


def _remove_old_report(report: Path) -> None:
    """Remove the report of an earlier version of the file; one that cannot be removed (a folder at its
    name, a read-only folder) is said in one line, after the file was already checked and copied."""
    try:
        report.unlink(missing_ok=True)
    except OSError as exc:
        why = "a folder has its name" if isinstance(exc, IsADirectoryError) else exc.strerror or type(exc).__name__
        print(f"báo cáo lỗi cũ không xoá được / the old error report could not be removed ({why}): {report}  "
              "(xoá nó đi: nó nói về bản trước của tệp / delete it: it is about an earlier version of the file)")


def _copy_to_inbox(path: Path, slug: str, sector: str, unit: str) -> None:
    from rules.ingest.inbox import InboxLinkError, inside
    from rules.ingest.lineage import replaced_files

    where = layout()
    target = where.inbox_file(slug, sector, unit, path.name)  # the inbox naming rule (rules.ingest.inbox)
    folder = target.parent
    if not inside(folder, where.inbox_root()):  # one path part, but a linked folder could lead out
        raise InboxLinkError(f"{folder}: this inbox folder leads outside the inbox (a link?); not copied")
    if target.is_symlink() or target.resolve() != path.resolve():
        from rules.private import private_temp

        replaced = replaced_files(folder, target.name)
        # an upload holds personal data: owner-only, whatever the source's mode; written beside the
        # target and renamed over it, so a link planted at the target's name is replaced, never
        # followed (copying onto it would write the list wherever it points)
        with private_temp(target) as tmp:
            shutil.copyfile(path, tmp)  # arrival time, not the file's edit time, decides "newest"
        print(f"copied to the inbox: {target}")
        if replaced:
            print(f"thay thế tệp trước / replaces the earlier file of this list: {', '.join(replaced)}")
