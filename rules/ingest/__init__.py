"""Sector file ingestion: read (xlsx/csv) -> header detection and mapping -> raw records ->
normalise -> validate, with error reports and the supersede rule. No Dagster import.

Public API::

    read_upload(path, *, province, sector, unit=None, sheet=None) -> Upload
    process_upload(path, *, province, sector, unit=None, sheet=None, today=None) -> UploadResult
    write_error_report(result, path=None) -> Path      # always written; <stem>.errors.xlsx by default
    write_error_report(raw, quarantined, path) -> Path # one file's rows, as the multi-file asset has them
    write_structural_report(upload_error, path) -> Path
    supersede(uploads: pl.DataFrame) -> pl.DataFrame    # status current/superseded/duplicate/failed
    UploadError                                         # str() is the message for the uploader

Decisions worth knowing:

* Every cell is text. Numeric cells come as calamine's shortest text (``79212000123``), date cells
  as their Excel serial (``40301``, ``40301.5208`` with a time): the normaliser converts them.
* A workbook is read sheet by sheet: every sheet with a recognisable header (``sheet=`` reads one);
  ``row_number`` counts non-blank data rows within a sheet, ``excel_row`` is the row Excel shows.
* Title rows, blank rows, a column-numbering row under the header, two-row headers with merged
  group cells, and trailing notes/signatures are recognised; blank rows and footer rows are
  counted (``blank_rows_skipped``, ``footer_rows_skipped``), never silently lost.
* Unknown columns (and columns without a header that hold values) are kept in ``extra`` (JSON).
* Every cell and header passes once through the cell pass (``rules.ingest.cells``) before header
  detection: legacy-font text (TCVN3/VNI/VISCII glyphs, decided once per sheet) converted, then
  invisible characters (Unicode Default_Ignorable_Code_Point) removed, odd spaces made spaces and
  look-alikes folded (table ``rules/normalise/characters.yaml``); the counts are in ``Upload.cells``.
* CSV line ends are normalised when decoding: CR alone, LF, CRLF and any mix end a line.
* Hidden and very hidden sheets are not read (``Upload.hidden_sheets``) unless ``sheet=`` names one.
* Formulas saved without a value (files written by programs) are evaluated when they are simple
  constants (``rules.ingest.formulas``), else the file is refused ``formula_without_value``.
* Hidden rows and columns of a visible sheet are read (a hidden column only when no visible one
  names the same field) and named in one warning line; error values (``#REF!``…) in date cells
  reject the row ``date_error_value``; the .xls date system is its DATEMODE record
  (``rules.ingest.biff``; decisions in ``docs/input.md``).
* Any failure on bad input is an :class:`UploadError` naming its real cause (``no_line_breaks``,
  ``not_text``, ``layout_not_understood`` for text files; never "empty" or "not a workbook" about
  a text file with data); nothing else escapes ``read_upload``.
"""

from rules.ingest.errors import ERROR_CODES, UploadError
from rules.ingest.lineage import current_shas, list_name, supersede
from rules.ingest.process import UploadResult, count_upload, process_upload
from rules.ingest.report import (
    error_report_path,
    is_error_report,
    write_error_report,
    write_error_report_frames,
    write_structural_report,
)
from rules.ingest.upload import (
    LINEAGE_COLUMNS,
    Upload,
    default_unit,
    empty_raw_frame,
    file_sha256,
    header_info,
    read_upload,
)

__all__ = [
    "ERROR_CODES",
    "LINEAGE_COLUMNS",
    "Upload",
    "UploadError",
    "UploadResult",
    "count_upload",
    "current_shas",
    "default_unit",
    "empty_raw_frame",
    "error_report_path",
    "file_sha256",
    "header_info",
    "is_error_report",
    "list_name",
    "process_upload",
    "read_upload",
    "supersede",
    "write_error_report",
    "write_error_report_frames",
    "write_structural_report",
]
