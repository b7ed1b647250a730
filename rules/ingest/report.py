"""Error report: the uploader's own sheet back, with the problems marked, ready to fix and re-upload.

One workbook per upload, written **always** (with no rejected rows it says so on the instructions
sheet), so that the uploader always gets an answer. Sheet 1 "Dữ liệu" holds every data row in file
order (files of at most ``SMALL_FILE_ROWS`` rows; a larger file gets its rejected rows only, written
in constant memory, and is fixed in the original), under the uploader's own headers in their own
order, plus the error columns; rejected rows
are highlighted by one conditional format on the error-code column (no per-row styling), the
header row is frozen and filtered. Sheet 2 "Hướng dẫn" says in Vietnamese what to do. Cells are
written as text so that IDs keep their leading zeros when the file comes back. The whole file,
good rows included, is meant to be uploaded again: it then supersedes the earlier upload of the
same unit and sector (see ``rules.ingest.lineage``), so the good rows must stay in it. Our own
error columns are recognised and dropped when the report is uploaded again.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from rules.private import private_file

REPORT_SUFFIX = ".errors.xlsx"
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")  # the report is one of these: it keeps the bare stem
ERROR_HEADERS = ("Mã lỗi / Error code", "Lỗi (tiếng Việt)", "Error (English)", "Dòng gốc / Source row")
INSTRUCTIONS = [
    "HƯỚNG DẪN SỬA LỖI",
    "",
    "1. Mở trang 'Dữ liệu'. Các dòng tô màu đỏ là các dòng bị loại; cột 'Lỗi (tiếng Việt)' cho biết lý do.",
    "2. Sửa trực tiếp các ô bị lỗi (họ tên, ngày sinh, số định danh/CCCD, giới tính …).",
    "3. Giữ nguyên các dòng không tô màu: tệp tải lên lại sẽ thay thế toàn bộ tệp trước.",
    "4. Không cần xoá các cột lỗi: hệ thống tự bỏ qua chúng khi đọc lại.",
    "5. Ngày sinh ghi dạng ngày/tháng/năm, ví dụ 05/09/2012. Số định danh gồm 12 chữ số, giữ số 0 ở đầu.",
    "6. Lưu tệp (.xlsx) và tải lên lại đúng đơn vị và lĩnh vực như lần trước.",
]


def error_report_path(upload_path: str | Path, reports_dir: str | Path | None = None) -> Path:
    """Where the report of an upload goes: ``<stem>.errors.xlsx`` for a workbook and
    ``<stem>.<ext>.errors.xlsx`` for other formats, so that ``x.csv`` and ``x.xlsx`` (two lists) never
    write one report (``rules.ingest.inbox.listed_stem`` reads both back as the list ``x``); the name is
    bounded to the file-system limit. Beside the upload (``doisoat upload``), or in ``reports_dir``
    for inbox files (``rules.layout.DataLayout.error_reports``), so that our own reports never land
    in the inbox, where they would count as uploads."""
    from rules.ingest.inbox import bounded_name

    p = Path(upload_path)
    stem = p.stem if p.suffix.lower() in WORKBOOK_SUFFIXES else p.name
    folder = Path(reports_dir) if reports_dir is not None else p.parent
    return folder / (bounded_name(stem, 255 - len(REPORT_SUFFIX)) + REPORT_SUFFIX)


def is_error_report(path: str | Path) -> bool:
    """True for files this module wrote: the inbox sensor must not treat them as uploads."""
    return Path(path).name.endswith(REPORT_SUFFIX)


def original_columns(raw: pl.DataFrame, original_headers: list[str], column_map: dict[str, str]) -> pl.DataFrame:
    """The uploader's columns rebuilt from raw records: canonical fields and the ``extra`` JSON."""
    extra_keys: list[str] = []
    if raw.height and "extra" in raw.columns:
        extra_keys = list(json.loads(raw["extra"][0] or "{}").keys())
    extra = pl.DataFrame()
    if extra_keys:
        dtype = pl.Struct([pl.Field(k, pl.String) for k in extra_keys])
        extra = raw.select(pl.col("extra").str.json_decode(dtype)).unnest("extra")
    cols: list[pl.Series] = []
    for header in original_headers:
        if header in extra_keys:
            series = extra[header]
        elif header in column_map and column_map[header] in raw.columns:
            series = raw[column_map[header]]
        else:
            series = pl.Series(header, [None] * raw.height, dtype=pl.String)
        cols.append(series.cast(pl.String).alias(header))
    return pl.DataFrame(cols)


SheetHeaders = tuple[str, list[str], dict[str, str]]  # (sheet, original headers, header -> field)


def write_error_report(result, path=None, out: str | Path | None = None, source_dir: str | Path | None = None) -> Path:
    """Write the error report; returns its path. Two call forms:

    * ``write_error_report(result, path=None)`` with an :class:`~rules.ingest.process.UploadResult`
      (``path`` defaults to ``<upload stem>.errors.xlsx`` in the current folder);
    * ``write_error_report(raw, quarantined, path)`` with the raw and quarantined rows of **one**
      file, as the multi-file asset holds them: the uploader's headers are then read again from the
      upload itself, found in ``source_dir`` (default: beside ``path``) under ``raw["file_name"]``
      (only its first rows).
    """
    if isinstance(result, pl.DataFrame):
        raw, quarantined, target = result, path, Path(out) if out is not None else None
        if target is None or quarantined is None:
            raise TypeError("write_error_report(raw, quarantined, path) needs all three arguments")
        folder = Path(source_dir) if source_dir is not None else target.parent
        return write_error_report_frames(raw, quarantined, _headers_for(raw, folder), target)
    up = result.upload
    sheets = [(s.sheet, s.original_headers, s.column_map) for s in up.sheets] or [
        (up.sheet, up.original_headers, up.column_map)]
    return write_error_report_frames(result.raw, result.quarantined, sheets, path or error_report_path(up.file_name))


def _headers_for(raw: pl.DataFrame, folder: Path) -> list[SheetHeaders]:
    """Uploader headers per sheet for raw rows of one file: from the upload in ``folder``, else canonical."""
    from rules.ingest.errors import UploadError
    from rules.ingest.upload import header_info

    out: list[SheetHeaders] = []
    source = folder / str(raw["file_name"][0]) if raw.height else None
    for sheet in raw["sheet"].unique(maintain_order=True).to_list() if raw.height else []:
        if source is not None and _regular(source):  # never through a link put where the upload was
            try:
                headers, column_map = header_info(source, sector=str(raw["sector"][0]), sheet=sheet or None)
                out.append((sheet, headers, column_map))
                continue
            except UploadError:
                pass
        rows = raw.filter(pl.col("sheet") == sheet)
        fields = [c for c in rows.columns if c not in _NOT_UPLOADER and rows[c].null_count() < rows.height]
        extra_keys = list(json.loads(rows["extra"][0] or "{}").keys()) if "extra" in rows.columns else []
        out.append((sheet, fields + extra_keys, {f: f for f in fields}))
    return out


def _regular(path: Path) -> bool:
    import stat

    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


_NOT_UPLOADER = {"file_name", "file_sha256", "sheet", "row_number", "excel_row", "province", "sector", "unit",
                 "extra"}


SMALL_FILE_ROWS = 20_000  # up to this many rows the report holds every row (fix and send it back whole)
MAX_REPORT_ROWS = 100_000  # rejected rows written at most; the rest are counted on the instructions sheet
LARGE_FILE_NOTE = [
    "TỆP LỚN: báo cáo này chỉ có các dòng bị lỗi (tối đa {limit:,} dòng). KHÔNG tải báo cáo này lên lại: "
    "hãy sửa các dòng này trong tệp gốc (cột 'Dòng gốc' cho biết số dòng) rồi tải lên lại toàn bộ tệp gốc.",
    "LARGE FILE: this report holds the rejected rows only (at most {limit:,}). Do NOT upload this report: fix "
    "these rows in your original file (column 'Source row' gives the row) and upload the whole original again.",
]


def write_error_report_frames(
    raw: pl.DataFrame, quarantined: pl.DataFrame, sheets: list[SheetHeaders], path: str | Path
) -> Path:
    """The report from frames of one file: one worksheet per data sheet, then the instructions.

    Written in xlsxwriter's ``constant_memory`` mode, row by row, so memory does not grow with the
    report. A file of at most ``SMALL_FILE_ROWS`` rows gets every row (the report can be fixed and
    uploaded again whole); a larger one gets its rejected rows only, at most ``MAX_REPORT_ROWS``, and
    the instructions say to fix the original file instead. Every cell is a text cell (never a
    formula); names chosen by the uploader (headers, sheet names) pass ``neutralise_formula``.
    """
    import xlsxwriter

    path = Path(path)
    private_file(path)  # rows of personal data: owner-only before the first byte (xlsxwriter keeps the mode)
    keys = ["sheet", "row_number"]
    total_rows = raw.height
    small = total_rows <= SMALL_FILE_ROWS
    errors = raw.select(*keys, "excel_row").join(
        quarantined.select(*keys, "reason_code", "message_vi", "message_en"), on=keys, how="left"
    )
    if not small:  # the bad rows only: a 1M-row upload with 1% bad rows writes 10k rows, not 1M
        bad_keys = quarantined.select(keys).head(MAX_REPORT_ROWS)
        raw = raw.join(bad_keys, on=keys, how="semi", maintain_order="left")
        errors = errors.join(bad_keys, on=keys, how="semi", maintain_order="left")
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                                         "strings_to_urls": False, "constant_memory": True})
    try:
        fmt = {
            "head": wb.add_format({"bold": True, "bg_color": "#D9E1F2", "border": 1, "text_wrap": True}),
            "err_head": wb.add_format({"bold": True, "bg_color": "#F8CBAD", "border": 1, "text_wrap": True}),
            "text": wb.add_format({"num_format": "@"}),
            "bad": wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"}),
        }
        used: set[str] = set()
        for sheet, headers, column_map in sheets:
            mask = pl.col("sheet") == sheet
            _write_sheet(wb, fmt, _sheet_name(sheet or "Dữ liệu", used), raw.filter(mask), errors.filter(mask),
                         headers, column_map)
        guide = wb.add_worksheet("Hướng dẫn")
        guide.set_column(0, 0, 110)
        n_bad = quarantined.height
        status = (f"Có {n_bad} dòng bị lỗi trên tổng số {total_rows} dòng." if n_bad
                  else f"Không có lỗi: cả {total_rows} dòng đều hợp lệ.")
        lines = [*INSTRUCTIONS[:2], status, ""]
        if not small:
            lines += [line.format(limit=MAX_REPORT_ROWS) for line in LARGE_FILE_NOTE] + [""]
            if n_bad > MAX_REPORT_ROWS:
                lines += [f"Báo cáo ghi {MAX_REPORT_ROWS:,} dòng lỗi đầu tiên trên {n_bad:,}; sửa xong tải lên lại "
                          f"để xem các dòng còn lại. / The first {MAX_REPORT_ROWS:,} of {n_bad:,} rejected rows "
                          "are listed; fix them and upload again to see the rest.", ""]
        for i, line in enumerate([*lines, *INSTRUCTIONS[2:]]):
            guide.write_string(i, 0, line)
    finally:
        wb.close()
    return path


def _write_sheet(wb, fmt: dict, name: str, raw: pl.DataFrame, errors: pl.DataFrame, headers: list[str],
                 column_map: dict[str, str]) -> None:
    import xlsxwriter

    from rules.outputs import neutralise_formula

    table = pl.concat(
        [original_columns(raw, headers, column_map), errors.select(
            pl.col("reason_code").alias(ERROR_HEADERS[0]),
            pl.col("message_vi").alias(ERROR_HEADERS[1]),
            pl.col("message_en").alias(ERROR_HEADERS[2]),
            pl.col("excel_row").cast(pl.String).alias(ERROR_HEADERS[3]),
        )],
        how="horizontal",
    )
    ws = wb.add_worksheet(name)
    n_orig = len(headers)
    for j, col in enumerate(table.columns):  # column widths first: constant_memory writes rows in order
        ws.set_column(j, j, 40 if col in ERROR_HEADERS[1:3] else 18, fmt["text"])
    for j, col in enumerate(table.columns):
        ws.write_string(0, j, neutralise_formula(col), fmt["err_head"] if j >= n_orig else fmt["head"])
    text = fmt["text"]
    for i, row in enumerate(table.iter_rows(), start=1):  # one row in memory at a time
        for j, value in enumerate(row):
            if value is not None and value != "":
                ws.write_string(i, j, value, text)
    last_row, last_col = table.height, table.width - 1
    if table.height:
        code_col = xlsxwriter.utility.xl_col_to_name(n_orig)
        ws.conditional_format(1, 0, last_row, last_col,
                              {"type": "formula", "criteria": f'=${code_col}2<>""', "format": fmt["bad"]})
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, last_row, last_col)


def write_structural_report(error, path: str | Path) -> Path:
    """A one-sheet workbook explaining why a whole file was refused (an :class:`UploadError`)."""
    import xlsxwriter

    from rules.outputs import neutralise_formula

    path = Path(path)
    private_file(path)  # rows of personal data: owner-only before the first byte (xlsxwriter keeps the mode)
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False, "strings_to_formulas": False,
                                         "strings_to_urls": False})
    try:
        bold = wb.add_format({"bold": True})
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        ws = wb.add_worksheet("Lỗi tệp")
        rows = [
            ("Tệp / File", error.file),
            ("Mã lỗi / Error code", error.code),
            ("Vị trí / Where", error.where()),
            ("Lỗi (tiếng Việt)", error.message_vi),
            ("Error (English)", error.message_en),
            ("Tiêu đề cần có / Expected headers", "; ".join(error.expected_headers)),
            ("Tiêu đề tìm thấy / Headers found", "; ".join(error.found_headers)),
            ("", ""),
            ("Cách làm / What to do", "Sửa tệp theo hướng dẫn trên rồi tải lên lại. / Fix the file as described "
             "above and upload it again."),
        ]
        for i, (k, v) in enumerate(rows):
            ws.write_string(i, 0, k, bold)
            ws.write_string(i, 1, neutralise_formula(v or ""), wrap)
        ws.set_column(0, 0, 34)
        ws.set_column(1, 1, 100)
    finally:
        wb.close()
    return path


def _sheet_name(title: str, used: set[str]) -> str:
    """A legal, unique worksheet name (31 characters, no []:*?/\\)."""
    bad = set("[]:*?/\\")
    base = ("".join("_" if ch in bad else ch for ch in title).strip("'") or "Dữ liệu")[:31]
    name, k = base, 2
    while name.lower() in used or name.lower() == "hướng dẫn":
        name = f"{base[:27]} ({k})"
        k += 1
    used.add(name.lower())
    return name
