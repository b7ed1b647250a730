"""``read_upload``: one sector file -> raw records (contracts §3) with lineage, or an UploadError."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from rules.ingest.biff import SheetMarks
from rules.ingest.cells import CellReport
from rules.ingest.errors import UploadError
from rules.ingest.headers import FAMILY_MIDDLE, FEMALE_MARK, MALE_MARK, PSEUDO_FIELDS, HeaderSpec, fold, header_spec
from rules.ingest.layout import TWO_ROW_JOIN, HeaderLayout, find_header, footer_rows
from rules.ingest.readers import DELIMITERS, CsvSource, ExcelSource, SheetHead, col_names, open_source
from rules.provinces import PROVINCE_SLUGS
from rules.sectors import check_sector

LINEAGE_COLUMNS: tuple[str, ...] = (
    "file_name", "file_sha256", "sheet", "row_number", "excel_row", "province", "sector", "unit",
)
FOOTER_SCAN = 30  # trailing rows inspected for notes and signatures


@dataclass
class Upload:
    """One file read: raw records plus what the reader decided, for reports and lineage.

    A workbook may hold several data sheets (one per class): all sheets with a recognisable header
    are read unless ``sheet`` names one; ``row_number`` counts data rows within each sheet, so
    (file_sha256, sheet, row_number) identifies a row. The single-sheet fields (``sheet``,
    ``header_row``, ``column_map``, …) describe the first data sheet; ``sheets`` has them all.
    """

    raw: pl.DataFrame
    file_name: str
    file_sha256: str
    sheet: str
    header_row: int  # 1-based row of the (first) header row, as Excel shows it
    column_map: dict[str, str]  # original header -> canonical field
    unknown_columns: list[str]  # original headers kept in `extra`
    original_headers: list[str]  # every column's header, in file order (deduplicated labels)
    blank_rows_skipped: int
    encoding: str  # "" for workbooks
    footer_rows_skipped: int = 0
    header_rows: int = 1
    delimiter: str = ""
    ignored_columns: list[str] = field(default_factory=list)  # our own error-report columns
    sheets: list[SheetLayout] = field(default_factory=list)  # every data sheet read, in file order
    hidden_sheets: list[str] = field(default_factory=list)  # hidden / very hidden sheets, not read
    # every sheet of the workbook not read, in workbook order, with why (a key of SHEET_NOT_READ)
    sheets_not_read: list[tuple[str, str]] = field(default_factory=list)
    formulas_evaluated: int = 0  # formula cells without a saved value, evaluated (rules.ingest.formulas)
    # what the cell pass changed (rules.ingest.cells): invisible_removed, spaces_replaced,
    # lookalikes_folded, legacy_font_cells_repaired, legacy_font
    cells: dict[str, object] = field(default_factory=dict)
    source_path: str = ""  # the file read, so the error report can copy its cell types and formats
    sheet_names: list[str] = field(default_factory=list)  # every sheet of the workbook, in order ([""] for csv)
    # (sheet, row numbers) of the note/signature rows skipped, per sheet that has some
    footer_by_sheet: list[tuple[str, list[int]]] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return self.raw.height

    def cleaning_lines(self) -> list[str]:
        """Human lines about what the reader changed or left out (counts and sheet names only)."""
        c = self.cells
        lines = []
        if c.get("invisible_removed"):
            lines.append(f"  ký tự ẩn đã xoá/invisible characters removed: {c['invisible_removed']}")
        if c.get("spaces_replaced"):
            lines.append(f"  khoảng trắng lạ đã thay/odd spaces replaced: {c['spaces_replaced']}")
        if c.get("lookalikes_folded"):
            lines.append(f"  ký tự giống chữ Việt đã đổi/look-alike characters folded: {c['lookalikes_folded']}")
        if c.get("legacy_font_cells_repaired"):
            lines.append(f"  ô phông cũ ({c.get('legacy_font') or '?'}) đã chuyển Unicode/"
                         f"legacy-font cells converted: {c['legacy_font_cells_repaired']}")
        if self.blank_rows_skipped:  # a row of only invisible characters is one too: it shows nothing
            lines.append(f"  dòng trống bỏ qua/blank rows skipped: {self.blank_rows_skipped}")
        if self.footer_rows_skipped:
            lines.append(f"  {self.footer_note()}")
        if self.formulas_evaluated:
            lines.append(f"  công thức chưa lưu giá trị đã tính/unsaved formulas evaluated: {self.formulas_evaluated}")
        if self.sheets_not_read:  # a list on a sheet the uploader meant us to read must not vanish silently
            names = ", ".join(f"{sheet_label(n, self.sheet_names)} ({SHEET_NOT_READ[why]})"
                              for n, why in self.sheets_not_read)
            lines.append(f"  trang không đọc/sheets not read: {names}")
        return lines + self.hidden_lines()

    def footer_note(self) -> str | None:
        """``dòng ghi chú cuối bảng bỏ qua/footer note rows skipped: 3 (dòng/rows 7, 9-10)``: the note,
        total and signature rows not read as data, by row number (never their text); None when none.
        Rows of several sheets are named by sheet."""
        if not self.footer_rows_skipped:
            return None
        several = len(self.footer_by_sheet) > 1
        where = "; ".join((f"trang/sheet {sheet_label(sheet, self.sheet_names)} " if several else "")
                          + _row_ranges(rows) for sheet, rows in self.footer_by_sheet)
        return (f"dòng ghi chú cuối bảng bỏ qua/footer note rows skipped: {self.footer_rows_skipped} "
                f"(dòng/rows {where}; nếu là học sinh, hãy điền ngày sinh hoặc số định danh / if one is a "
                "person, fill in the date of birth or ID)")

    def hidden_lines(self) -> list[str]:
        """One line per sheet naming the rows and columns Excel hides that were read, and one per
        sheet naming the cells that show an error value: what the uploader cannot see in the list
        but doisoat read (row numbers, column letters and headers only, never a cell's value)."""
        lines = []
        for lay in self.sheets:
            where = f"{self.file_name}" + (f", trang/sheet {sheet_label(lay.sheet, self.sheet_names)}"
                                           if lay.sheet else "")
            parts = []
            if lay.hidden_rows:
                parts.append(f"{len(lay.hidden_rows)} dòng ẩn/hidden rows {_row_ranges(lay.hidden_rows)} "
                             "đã đọc như dữ liệu/read as data")
            if lay.hidden_columns:
                parts.append(f"cột ẩn/hidden columns {', '.join(lay.hidden_columns)}")
            if parts:
                lines.append(f"  cảnh báo/warning: {where}: {'; '.join(parts)}. Hãy bỏ ẩn để kiểm tra, xoá "
                             "dòng/cột không thuộc danh sách rồi gửi lại / unhide them to check; delete the rows "
                             "or columns that are not part of the list and send it again (a hidden column is "
                             "used only when no visible column has the same header)")
            if lay.duplicate_columns:
                lines.append(f"  cảnh báo/warning: {where}: cột trùng tiêu đề/columns with the same header: "
                             f"{'; '.join(lay.duplicate_columns)}. Cột không dùng được giữ nguyên, không đối "
                             "chiếu; hãy xoá hoặc đổi tên cột sai rồi gửi lại / the unused column is kept as it "
                             "is, not matched; delete or rename the wrong one and send the list again")
            if lay.n_error_cells:
                left = lay.n_error_cells - len(lay.error_cells)
                more = f" (+{left})" if left else ""
                lines.append(f"  cảnh báo/warning: {where}: {lay.n_error_cells} ô báo lỗi/cells show an error value: "
                             f"{', '.join(lay.error_cells)}{more}. Hãy sửa công thức hoặc nhập lại giá trị / fix "
                             "the formula or type the value")
        return lines


def sheet_label(name: str, names: Sequence[str] = ()) -> str:
    """How a message names a sheet: ``'Lớp 10A1'`` (quoted), or its position (``2``, 1 = the first
    tab) when the name holds an ID, a date or a person's name (:func:`rules.ingest.inbox.mask_personal`):
    a school may name a sheet after a pupil, and messages are stored (uploads.error_message)."""
    if not personal_sheet_name(name):
        return f"'{name}'"
    return str(list(names).index(name) + 1) if name in names else "?"


def personal_sheet_name(name: str) -> bool:
    """A sheet name that may name a person: an ID or a date in it, or a person-name shape."""
    from rules.ingest.inbox import mask_personal
    from rules.provinces import slugify

    slug = slugify(name)
    return mask_personal(slug) != slug or bool(re.search(r"\d{6,}", name))


SHEET_NOT_READ = {  # why a sheet of a workbook was not read, as the upload summary says it
    "not_chosen": "không chọn/not chosen: --sheet",
    "hidden": "ẩn/hidden: dùng/use --sheet",
    "no_header": "không có dòng tiêu đề/no header row",
    "no_rows": "không có dòng dữ liệu/no data rows",
}


def _sheets_not_read(source, layouts: list[SheetLayout], chosen: bool) -> list[tuple[str, str]]:
    """Every sheet of the workbook that gave no rows, in workbook order, with its SHEET_NOT_READ key.
    ``chosen``: one sheet was named (``--sheet``), so the others were not looked at."""
    read = {lay.sheet: lay for lay in layouts}
    out: list[tuple[str, str]] = []
    for name in source.sheet_names:
        if name in read and read[name].rows:
            continue
        if name in read:
            why = "no_rows"
        elif chosen:
            why = "not_chosen"
        elif name in source.hidden_sheets:
            why = "hidden"
        else:
            why = "no_header"
        out.append((name, why))
    return out if any(source.sheet_names) else []  # a CSV has one sheet, ""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_unit(path: Path) -> str:
    """Unit from the inbox naming rule (contracts §0), always a safe slug: see
    :func:`rules.ingest.inbox.unit_of` (the one owner of the rule)."""
    from rules.ingest.inbox import unit_of

    return unit_of(Path(path).name)


def read_upload(
    path: str | Path, *, province: str, sector: str, unit: str | None = None, sheet: str | int | None = None,
    follow_links: bool = True,
) -> Upload:
    """Read a sector file into raw records. Structural problems raise :class:`UploadError`.

    ``follow_links=False`` for inbox files: a link found where the file was listed is refused
    (``not_a_regular_file``), never followed (:func:`rules.ingest.readers.read_regular`).

    Every other failure on bad input is turned into an UploadError too, so a caller can print
    ``str(err)`` and exit: the uploader never sees a traceback.
    """
    path = Path(path)
    check_sector(sector)
    if province not in PROVINCE_SLUGS:
        raise ValueError(f"unknown province slug {province!r}")
    try:
        upload = _read(path, province, sector, unit or default_unit(path), sheet, follow_links)
    except UploadError as exc:
        _attach_sha(exc, path)
        raise
    except (MemoryError, KeyboardInterrupt):
        raise
    except Exception as exc:  # garbage input we did not foresee: still a message, never a traceback
        from rules.ingest.formats import TEXT_SUFFIXES

        if path.suffix.lower() in TEXT_SUFFIXES:  # a text file is never "not a real Excel workbook"
            err = UploadError("layout_not_understood", file=path.name,
                              found_headers=[f"{type(exc).__name__} khi đọc / while reading"])
        else:
            err = UploadError("corrupt_file", file=path.name)
        _attach_sha(err, path)
        raise err from exc
    _remember_layouts(upload, sector)
    return upload


# What the reader decided per sheet of the files this process read, by content (file hash, sector):
# sheet -> (original headers, header -> field, Excel column of each header, "Source row" column). The
# inbox's error reports are written by a later step (the clean_records asset, from the lake's raw rows)
# and need exactly these for the rows they report on; reading each file again to find them cost more
# than reading it the first time (the demo's 132 reports). A file not read by this process (another
# process, or forgotten) is read again: :func:`sheet_columns` gives the same (tests check it does).
_LAYOUTS: dict[tuple[str, str], dict[str, tuple[list[str], dict[str, str], list[int], int | None]]] = {}
_LAYOUTS_KEPT = 4096  # files remembered at most (a few hundred bytes each): the oldest are forgotten


def _remember_layouts(upload: Upload, sector: str) -> None:
    key = (upload.file_sha256, sector)
    sheets = _LAYOUTS.pop(key, {})
    sheets.update({s.sheet: (list(s.original_headers), dict(s.column_map), list(s.source_columns),
                             s.source_row_column) for s in upload.sheets})
    _LAYOUTS[key] = sheets
    while len(_LAYOUTS) > _LAYOUTS_KEPT:
        del _LAYOUTS[next(iter(_LAYOUTS))]


def known_layout(file_sha256: str, sector: str, sheet: str) -> tuple[list[str], dict[str, str], list[int],
                                                                        int | None] | None:
    """:func:`sheet_columns` of ``sheet`` of the file with this content, if this process read it
    (:func:`read_upload`), else None. Copies: the caller may change them."""
    found = _LAYOUTS.get((file_sha256, sector), {}).get(sheet)
    if found is None:
        return None
    headers, column_map, columns, row_column = found
    return list(headers), dict(column_map), list(columns), row_column


def _attach_sha(exc: UploadError, path: Path) -> None:
    """Failed uploads are identified by content too, so a re-sent broken file counts once (a link or
    a file that cannot be opened has no content of its own: none)."""
    import stat

    try:
        if exc.file_sha256 is None and stat.S_ISREG(path.lstat().st_mode):
            exc.file_sha256 = file_sha256(path)
    except OSError:
        pass


def empty_raw_frame(sector: str | None = None) -> pl.DataFrame:
    """A raw-records frame with no rows (contracts §3 columns; common fields only without sector)."""
    from rules.ingest.headers import COMMON_FIELDS

    fields = header_spec(sector).fields if sector else COMMON_FIELDS
    schema: dict[str, pl.DataType] = {c: pl.String() for c in LINEAGE_COLUMNS}
    schema["row_number"] = pl.Int64()
    schema["excel_row"] = pl.Int64()
    schema.update({f: pl.String() for f in fields})
    schema["extra"] = pl.String()
    return pl.DataFrame(schema=schema)


def header_info(
    path: str | Path, *, sector: str, sheet: str | int | None = None
) -> tuple[list[str], dict[str, str]]:
    """(original headers in file order, header -> canonical field) of one sheet, without its body.

    For callers that hold raw records but not the :class:`Upload` (the multi-file asset writing
    error reports): only the first rows are read again.
    """
    headers, column_map, _, _ = sheet_columns(path, sector=sector, sheet=sheet)
    return headers, column_map


def sheet_columns(
    path: str | Path, *, sector: str, sheet: str | int | None = None, follow_links: bool = True,
) -> tuple[list[str], dict[str, str], list[int], int | None]:
    """:func:`header_info` plus the Excel column (0-based, A = 0) of each header and of our own
    "Source row" when the file is an error report sent back (else None)."""
    path = Path(path)
    spec = header_spec(sector)
    source = open_source(path, follow_links=follow_links)
    head, layout = _choose_sheet(spec, source, sheet if sheet not in ("", None) else None, path.name)
    labels = _unique_labels(list(layout.labels))
    fields = list(layout.fields)
    ignored = {lab for lab, f in zip(labels, fields, strict=False) if f is None and fold(lab) in spec.report_columns}
    column_map, _, _ = _map_columns(spec, col_names(len(labels)), labels, fields, sorted(ignored))
    kept = [i for i, lab in enumerate(labels) if lab not in ignored]
    first = source.first_columns.get(head.name, 0)  # the grid's c0 is this Excel column (0-based)
    row_col = _source_row_column(labels)
    return [labels[i] for i in kept], column_map, [first + i for i in kept], (
        None if row_col is None else first + row_col)


SOURCE_ROW_HEADER = "Dòng gốc / Source row"  # our error report's column (rules.ingest.report)


def _source_row_column(labels: list[str]) -> int | None:
    """Index of the "Source row" column of an error report sent back, if the sheet has one."""
    target = fold(SOURCE_ROW_HEADER)
    return next((i for i, lab in enumerate(labels) if fold(lab) == target), None)


def _choose_sheet(
    spec: HeaderSpec, source: ExcelSource | CsvSource, sheet: str | int | None, file: str,
    heads: list[SheetHead] | None = None,
) -> tuple[SheetHead, HeaderLayout]:
    if heads is None:
        heads = list(source.heads()) if sheet is None else [_named_head(source, sheet, file)]
    for head in heads:
        layout = find_header(spec, head.rows, head.width, head.hidden_columns)
        if layout is not None:
            return head, layout
    if sheet is None:  # nothing visible to read: a list on a sheet nobody sees is not "empty", say where
        hidden = _hidden_with_data(spec, source, any(_has_text(h.rows) for h in heads))
        if hidden:
            raise UploadError("hidden_sheets_only", file=file,
                              found_headers=[f"trang/sheet {', '.join(str(i) for i in hidden)}"])
    if all(not _has_text(h.rows) for h in heads):
        raise UploadError("empty_file", file=file, sheet=_sheet_shown(heads[0].name, source)
                          if sheet is not None else None)
    first = next(h for h in heads if _has_text(h.rows))
    found = [str(c) for r in first.rows[:8] for c in r if c is not None and str(c).strip()]
    if sheet is None and source.hidden_sheets:  # the list may be on a sheet nobody sees: say so
        shown = ", ".join(sheet_label(n, source.sheet_names) for n in source.hidden_sheets)
        found = [*found[:19], f"(trang ẩn/hidden: {shown} → --sheet)"]
    raise UploadError(
        "no_header", file=file, sheet=_sheet_shown(first.name, source),
        expected_headers=spec.expected_headers(), found_headers=_without_personal_data(found[:20]),
    )


def _has_text(rows) -> bool:
    return any(any(c is not None and str(c).strip() for c in r) for r in rows)


def _hidden_with_data(spec: HeaderSpec, source: ExcelSource | CsvSource, visible_text: bool) -> list[int]:
    """Positions (1 = first, as Excel's tabs show them) of the hidden sheets that hold a header (or,
    when the visible sheets are empty, any text): where the list is when no visible sheet has one."""
    out = []
    for name in source.hidden_sheets:
        try:
            head = source.head(name)
        except UploadError:
            continue
        if find_header(spec, head.rows, head.width, head.hidden_columns) is not None or (
                not visible_text and _has_text(head.rows)):
            out.append(source.sheet_names.index(name) + 1)
    return out


def _sheet_shown(name: str, source: ExcelSource | CsvSource) -> str | None:
    """A sheet as an :class:`UploadError` holds it (None for a CSV): its name, or ``#2`` (its position)
    when the name may name a person (``UploadError.where`` shows ``sheet 2``)."""
    if not name:
        return None
    return f"#{sheet_label(name, source.sheet_names)}" if personal_sheet_name(name) else name


_NAME_LIKE = re.compile(r"^(?:[^\W\d_][^\W\d_]*\s+){1,4}[^\W\d_]+$")


def _without_personal_data(cells: list[str]) -> list[str]:
    """Cells quoted back in a ``no_header`` message may be data rows: digits (IDs, birth dates) become
    ``#`` and cells shaped like a person's name become ``…``: 2-5 capitalised words, or 2-5 words in any
    case (UPPER, lower) starting with a Vietnamese family name (``rules.ingest.inbox.mask_personal``)."""
    from rules.ingest.inbox import mask_personal
    from rules.provinces import slugify

    out = []
    for cell in cells:
        text = re.sub(r"\d", "#", cell.strip())
        words = text.split()
        title_case = all(w[:1].isupper() and not w.isupper() for w in words)
        if _NAME_LIKE.match(text) and (title_case or mask_personal(slugify(text)) != slugify(text)):
            text = "…"
        out.append(text)
    return out


def _named_head(source: ExcelSource | CsvSource, sheet: str | int, file: str) -> SheetHead:
    names = source.sheet_names
    # every sheet by name, or by position (#2) when its name may name a person
    shown = [f"#{i + 1}" if personal_sheet_name(n) else n for i, n in enumerate(names)]
    if isinstance(sheet, int) or (isinstance(sheet, str) and sheet.isdigit() and sheet not in names):
        idx = int(sheet)
        if not 0 <= idx < len(names):
            raise UploadError("sheet_not_found", file=file, sheet=str(sheet), found_headers=shown)
        sheet = names[idx]
    if sheet not in names:
        raise UploadError("sheet_not_found", file=file, sheet=str(sheet), found_headers=shown)
    return source.head(sheet)


def _unique_labels(labels: list[str | None]) -> list[str]:
    """Display header per column; blanks get 'Cột N', repeats get ' (2)', ' (3)'…"""
    out: list[str] = []
    bases = [lab if lab else f"Cột {i + 1}" for i, lab in enumerate(labels)]
    taken = set(bases)  # a suffixed label never collides with a header the file already has
    seen: dict[str, int] = {}
    for base in bases:
        n = seen.get(base, 0) + 1
        seen[base] = n
        if n == 1:
            out.append(base)
            continue
        label = f"{base} ({n})"
        while label in taken:
            n += 1
            label = f"{base} ({n})"
        seen[base] = n
        taken.add(label)
        out.append(label)
    return out


@dataclass
class SheetLayout:
    """What the reader decided for one data sheet (a CSV has one, named "")."""

    sheet: str
    header_row: int  # 1-based, as Excel or a text editor shows it
    header_rows: int
    original_headers: list[str]
    column_map: dict[str, str]
    unknown_columns: list[str]
    ignored_columns: list[str]
    blank_rows_skipped: int
    footer_rows_skipped: int
    rows: int
    source_columns: list[int] = field(default_factory=list)  # Excel column of each original header, A = 0
    source_row_column: int | None = None  # an error report sent back: its "Source row" column (A = 0)
    # hidden in Excel but read (rules.ingest.readers marks): data rows (Excel numbers), table columns
    # ("D 'Ngày sinh'"), and error values (#REF!, #N/A…) in data cells: "C5 #REF!", the first few
    hidden_rows: list[int] = field(default_factory=list)
    hidden_columns: list[str] = field(default_factory=list)
    error_cells: list[str] = field(default_factory=list)
    n_error_cells: int = 0
    footer_rows: list[int] = field(default_factory=list)  # note/signature rows skipped (row numbers)
    # fields two or more columns name: "'Ngày sinh': C dùng/used, D không dùng/not used"
    duplicate_columns: list[str] = field(default_factory=list)


def _read(path: Path, province: str, sector: str, unit: str, sheet: str | int | None,
          follow_links: bool = True) -> Upload:
    """All data sheets of the file (or the one asked for) -> one raw frame, sheet by sheet."""
    spec = header_spec(sector)
    source = open_source(path, follow_links=follow_links)
    found = _data_sheets(spec, source, sheet, path.name)
    sha = source.sha256 or file_sha256(path)
    frames: list[pl.DataFrame] = []
    layouts: list[SheetLayout] = []
    for head, layout in found:
        raw, info = _read_sheet(spec, source, head, layout, path.name)
        layouts.append(info)
        if raw.height:
            frames.append(raw)
    if not frames:
        first = layouts[0]
        raise UploadError("no_data_rows", file=path.name, sheet=_sheet_shown(first.sheet, source),
                          row=first.header_row)
    lineage = [
        pl.lit(path.name).alias("file_name"),
        pl.lit(sha).alias("file_sha256"),
        pl.col("sheet"),
        pl.col("row_number"),
        pl.col("excel_row"),
        pl.lit(province).alias("province"),
        pl.lit(sector).alias("sector"),
        pl.lit(unit).alias("unit"),
    ]
    raw = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
    raw = raw.select(lineage + [pl.col(c) for c in raw.columns if c not in ("sheet", "row_number", "excel_row")])
    data_layouts = [lay for lay in layouts if lay.rows]
    first = data_layouts[0]
    cells = CellReport()
    for lay in data_layouts:
        if lay.sheet in source.reports:
            cells.add(source.reports[lay.sheet])
    return Upload(
        raw=raw,
        file_name=path.name,
        file_sha256=sha,
        sheet=first.sheet,
        header_row=first.header_row,
        column_map=first.column_map,
        unknown_columns=first.unknown_columns,
        original_headers=first.original_headers,
        blank_rows_skipped=sum(lay.blank_rows_skipped for lay in layouts),
        encoding=source.encoding,
        footer_rows_skipped=sum(lay.footer_rows_skipped for lay in layouts),
        header_rows=first.header_rows,
        delimiter=getattr(source, "delimiter", ""),
        ignored_columns=first.ignored_columns,
        sheets=data_layouts,
        hidden_sheets=[n for n in source.hidden_sheets if n not in {lay.sheet for lay in layouts}],
        sheets_not_read=_sheets_not_read(source, layouts, sheet is not None),
        formulas_evaluated=source.formulas_evaluated,
        cells=cells.as_dict(),
        source_path=str(path),
        sheet_names=list(source.sheet_names),
        footer_by_sheet=[(lay.sheet, lay.footer_rows) for lay in layouts if lay.footer_rows],
    )


def _data_sheets(
    spec: HeaderSpec, source: ExcelSource | CsvSource, sheet: str | int | None, file: str
) -> list[tuple[SheetHead, HeaderLayout]]:
    """The sheets to read: the one asked for, else every sheet with a recognisable header.

    Sheets without a header (instructions, notes, pivot tables) are skipped; when no sheet has
    one, the first non-empty sheet is named in a ``no_header`` error.
    """
    if sheet is not None:
        return [_choose_sheet(spec, source, sheet, file)]
    heads = list(source.heads())
    found = []
    for head in heads:
        layout = find_header(spec, head.rows, head.width, head.hidden_columns)
        if layout is not None:
            found.append((head, layout))
    return found or [_choose_sheet(spec, source, None, file, heads=heads)]


def _read_sheet(
    spec: HeaderSpec, source: ExcelSource | CsvSource, head: SheetHead, layout: HeaderLayout, file: str
) -> tuple[pl.DataFrame, SheetLayout]:
    labels = _unique_labels(list(layout.labels))
    fields = list(layout.fields)
    body = source.body(head.name, layout.data_start, head.width)
    width = len([c for c in body.columns if c != "excel_row"])
    labels += _unique_labels([None] * width)[len(labels):]
    fields += [None] * (width - len(fields))
    header_row = layout.header_row + 1 if source.kind == "excel" else _csv_line(source, layout.header_row)

    mapped = {f for f in fields if f}
    if "full_name" not in mapped and FAMILY_MIDDLE not in mapped:
        raise UploadError(
            "missing_name_column", file=file, sheet=_sheet_shown(head.name, source), row=header_row,
            expected_headers=spec.expected_headers("full_name")[:8],
            found_headers=[lab for lab, f in zip(labels, layout.labels, strict=False) if f],
        )

    cols = col_names(width)
    if isinstance(source, CsvSource):
        _check_delimiters(body, cols, source.delimiter, file)
    first = source.first_columns.get(head.name, 0)  # the grid's c0 is this Excel column (0-based)
    marks = source.marks(head.name)
    body = _fill_date_errors(body, cols, fields, marks, first)
    body = body.with_columns(_blank_rows(body, cols).alias("_blank"))
    if isinstance(source, ExcelSource) and body.height > 1 and any(body.select(cols).null_count().row(0)):
        # a merged value leaves empty cells below it; a sheet without any has none to fill
        body = _fill_merged(body, cols, source.merged(head.name), source.first_columns.get(head.name, 0),
                            layout.data_start)
    footer_at: list[int] = []  # Excel (or text-editor) row numbers of the note rows skipped
    if body.height:
        tail = body.tail(FOOTER_SCAN)
        filled = pl.sum_horizontal(pl.col(c).str.contains(r"\S").fill_null(False).cast(pl.Int32) for c in cols)
        sparse = tail.with_row_index("_i").filter(filled <= 2)
        skip = footer_rows(spec, [(r[0], r[1:]) for r in sparse.select("_i", *cols).rows()], tail.height)
        if skip:
            offset = body.height - tail.height
            footer_at = [int(r) for r in tail["excel_row"].gather(skip)]
            body = body.with_row_index("_i").filter(~pl.col("_i").is_in([offset + k for k in skip])).drop("_i")
    n_blank = int(body["_blank"].sum())
    body = (body.filter(~pl.col("_blank")) if n_blank else body).drop("_blank")
    # columns with neither a header nor any value (formatting left in the sheet) are not columns
    had_label = list(layout.labels) + [None] * (width - len(layout.labels))
    keep = [
        i for i, c in enumerate(cols)
        if had_label[i] is not None or fields[i] or body[c].null_count() < body.height
    ]
    cols, labels, fields = [cols[i] for i in keep], [labels[i] for i in keep], [fields[i] for i in keep]

    ignored = [
        lab for lab, f in zip(labels, fields, strict=True) if f is None and fold(lab) in spec.report_columns
    ]
    if source.date1904:  # serial days counted from 1904: the same day's serial in the 1900 system
        body = body.with_columns(_serial_1904(c) for c, f in zip(cols, fields, strict=True) if f in DATE_FIELDS)
    column_map, unknown, exprs = _map_columns(spec, cols, labels, fields, ignored)
    raw = body.select(
        pl.lit(head.name).alias("sheet"),
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("row_number"),
        pl.col("excel_row").cast(pl.Int64),
        *exprs,
    )
    info = SheetLayout(
        sheet=head.name, header_row=header_row, header_rows=layout.n_header_rows,
        original_headers=[lab for lab in labels if lab not in ignored], column_map=column_map,
        unknown_columns=unknown, ignored_columns=ignored, blank_rows_skipped=n_blank,
        footer_rows_skipped=len(footer_at), footer_rows=footer_at, rows=raw.height,
        source_columns=[first + int(c[1:]) for c, lab in zip(cols, labels, strict=True) if lab not in ignored],
        source_row_column=next((first + int(c[1:]) for c, lab in zip(cols, labels, strict=True)
                                if lab in ignored and fold(lab) == fold(SOURCE_ROW_HEADER)), None),
    )
    _note_marks(info, marks, raw["excel_row"], cols, labels, first)
    info.duplicate_columns = _duplicate_columns(spec, cols, [had_label[int(c[1:])] for c in cols], fields, first)
    return raw, info


def _fill_date_errors(body: pl.DataFrame, cols: list[str], fields: list[str | None], marks: SheetMarks,
                      first: int) -> pl.DataFrame:
    """Date cells holding an error value (``#REF!``, a formula's cached ``#DIV/0!``) get that text,
    as Excel shows it, so the date rule rejects the row saying so (calamine reads them as empty:
    the row would be rejected as "missing date", or a stale hidden copy silently used)."""
    if not marks.errors:
        return body
    fills = []
    for j, (col, f) in enumerate(zip(cols, fields, strict=False)):
        if f not in DATE_FIELDS:
            continue
        rows = {r + 1: text for (r, c), text in marks.errors.items() if c == first + j}
        if rows:
            by_row = pl.col("excel_row").replace_strict(list(rows), list(rows.values()), default=None,
                                                        return_dtype=pl.String)
            fills.append(pl.coalesce(pl.col(col), by_row).alias(col))
    return body.with_columns(fills) if fills else body


_SHOWN_CELLS = 5


def _duplicate_columns(spec: HeaderSpec, cols: list[str], headers: list[str | None], fields: list[str | None],
                       first: int) -> list[str]:
    """``'Ngày sinh': C dùng/used, D`` per field that two or more columns name: the column read as the
    field (the first visible one, :func:`rules.ingest.layout._dedupe`) and the others, kept unread in
    ``extra``. Column letters and header text only (headers are the uploader's labels, not data)."""
    from rules.ingest.limits import column_letters

    def letter(c: str) -> str:
        return column_letters(first + int(c[1:]) + 1)

    used = {f: c for c, f in zip(cols, fields, strict=True) if f}
    others: dict[str, list[str]] = {}
    for c, head, f in zip(cols, headers, fields, strict=True):
        if f is not None or not head:
            continue
        named = spec.lookup(head) or spec.lookup(head.rsplit(TWO_ROW_JOIN, 1)[-1])
        if named in used:
            others.setdefault(named, []).append(c)
    out = []
    for f, cs in others.items():
        head = headers[cols.index(used[f])]
        out.append(f"'{head}': {letter(used[f])} dùng/used, {', '.join(letter(c) for c in cs)} "
                   "không dùng/not used")
    return out


def _note_marks(info: SheetLayout, marks: SheetMarks, rows: pl.Series, cols: list[str], labels: list[str],
                first: int) -> None:
    """What Excel hid or showed as an error among the rows and columns read (``info`` updated)."""
    from rules.ingest.limits import column_letters

    if marks.hidden_rows:
        info.hidden_rows = sorted(set(rows.to_list()) & {r + 1 for r in marks.hidden_rows})
    if marks.hidden_columns:
        info.hidden_columns = [f"{column_letters(first + int(c[1:]) + 1)} '{lab}'"
                               for c, lab in zip(cols, labels, strict=True) if marks.column_hidden(first + int(c[1:]))]
    if marks.errors:
        data_rows = set(rows.to_list())
        inside = {first + int(c[1:]) for c in cols}
        cells = sorted((r + 1, c) for (r, c) in marks.errors if r + 1 in data_rows and c in inside)
        info.n_error_cells = len(cells)
        info.error_cells = [f"{column_letters(c + 1)}{r} {marks.errors[(r - 1, c)]}" for r, c in cells[:_SHOWN_CELLS]]


def _row_ranges(rows: list[int], limit: int = 8) -> str:
    """``[5, 6, 7, 9]`` -> ``"5-7, 9"`` (at most ``limit`` ranges, then ``…``)."""
    ranges: list[list[int]] = []
    for r in rows:
        if ranges and r == ranges[-1][1] + 1:
            ranges[-1][1] = r
        else:
            ranges.append([r, r])
    shown = [f"{a}-{b}" if b > a else str(a) for a, b in ranges[:limit]]
    return ", ".join(shown) + (", …" if len(ranges) > limit else "")


def _fill_merged(body: pl.DataFrame, cols: list[str], merges: list[tuple[int, int, int, int]], first: int,
                 data_start: int) -> pl.DataFrame:
    """Cells of the data area inside a merged range take the range's value (Excel keeps it in the
    top-left cell only, but shows it on every row it spans: a class "6A1" merged down the list),
    in the rows that hold data of their own (``_blank`` false): a merge reaching into empty rows
    below the list makes no rows. Ranges starting in the header rows are the header's (left as
    they are). Vectorised: one join per column that has merges."""
    spans = [(r1, c1, r2, c2) for r1, c1, r2, c2 in merges
             if r1 >= data_start and r2 > r1 and c2 >= first and c1 < first + len(cols)]
    if not spans or not body.height:
        return body
    ranges = pl.DataFrame(spans, schema=["r1", "c1", "r2", "c2"], orient="row").with_columns(
        pl.int_ranges(pl.max_horizontal(pl.col("c1"), pl.lit(first)) - first,
                      pl.min_horizontal(pl.col("c2"), pl.lit(first + len(cols) - 1)) - first + 1).alias("j"),
        pl.int_ranges(pl.col("r1") + 2, pl.col("r2") + 2).alias("excel_row"),  # rows below the top one
    ).explode("j").explode("excel_row").select(
        pl.col("j"), pl.col("excel_row").cast(pl.Int64), (pl.col("r1") + 1).cast(pl.Int64).alias("top"))
    filled = []
    for (j,), part in ranges.partition_by("j", as_dict=True).items():
        col = cols[j]
        top = body.select(pl.col("excel_row").alias("top"), pl.col(col).alias("_v"))
        values = part.select("excel_row", "top").join(top, on="top", how="left").select("excel_row", "_v")
        new = body.select("excel_row", col, "_blank").join(values, on="excel_row", how="left", maintain_order="left")
        filled.append(pl.when(new["_v"].is_not_null() & new[col].is_null() & ~new["_blank"])
                      .then(new["_v"]).otherwise(new[col]).alias(col))
    return body.with_columns(filled)


DATE_FIELDS = frozenset({"date_of_birth", "vaccination_date"})
_SERIAL = r"^\s*(\d{1,5})(\.\d+)?\s*$"


def _serial_1904(col: str) -> pl.Expr:
    """A date column of a 1904-system workbook with its serial day numbers (a number cell without a
    date format, or an evaluated DATE()) moved to the 1900 system the date parser reads
    (+1,462 days). A date cell (calamine writes it as a date), a year (1800-2199, typed as a number)
    and any other text are left as they are."""
    from rules.ingest.formulas import DATE1904_OFFSET

    parts = pl.col(col).str.extract_groups(_SERIAL)
    whole = parts.struct[0].cast(pl.Int64, strict=False)
    year = (parts.struct[0].str.len_chars() == 4) & whole.is_between(1800, 2199) & parts.struct[1].is_null()
    shifted = (whole + DATE1904_OFFSET).cast(pl.String) + parts.struct[1].fill_null("")
    return pl.when(whole.is_not_null() & ~year).then(shifted).otherwise(pl.col(col)).alias(col)


def _blank_rows(body: pl.DataFrame, cols: list[str]) -> pl.Series:
    """Rows whose cells are all empty or whitespace.

    Stripping every cell of a big file is the costly part, so only rows whose every cell is empty
    or starts with whitespace (the few that could be whitespace-only) are stripped.
    """
    empty = body.select(pl.all_horizontal([pl.col(c).is_null() | (pl.col(c).str.len_bytes() == 0) for c in cols]))
    empty = empty.to_series()
    maybe = pl.all_horizontal([pl.col(c).is_null() | pl.col(c).str.contains(r"^(?:\s|$)") for c in cols])
    candidates = body.with_row_index("_i").filter(maybe & ~empty)
    if candidates.height == 0:
        return empty
    spaces = candidates.filter(pl.all_horizontal(
        [pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in cols]))["_i"]
    return empty | pl.int_range(0, body.height, eager=True).is_in(spaces.implode())


def _gender_from_marks(by_field: dict[str, tuple[str, str]]) -> pl.Expr:
    """Raw gender text from tick columns: a mark in "Nữ" -> "Nữ", in "Nam" -> "Nam".

    With only one of the two columns, a blank cell means the other gender (that is how such lists
    are filled in). Both ticked gives "Nam, Nữ", left for the normaliser to reject as unknown.
    """

    def ticked(pseudo: str) -> pl.Expr:
        col = pl.col(by_field[pseudo][0]).str.strip_chars()
        return col.is_not_null() & (col != "")

    has_f, has_m = FEMALE_MARK in by_field, MALE_MARK in by_field
    if has_f and has_m:
        f, m = ticked(FEMALE_MARK), ticked(MALE_MARK)
        return (pl.when(f & m).then(pl.lit("Nam, Nữ")).when(f).then(pl.lit("Nữ"))
                .when(m).then(pl.lit("Nam")).otherwise(pl.lit(None, pl.String)))
    if has_f:
        return pl.when(ticked(FEMALE_MARK)).then(pl.lit("Nữ")).otherwise(pl.lit("Nam"))
    return pl.when(ticked(MALE_MARK)).then(pl.lit("Nam")).otherwise(pl.lit("Nữ"))


def _check_delimiters(body: pl.DataFrame, cols: list[str], delimiter: str, file: str) -> None:
    """Refuse a CSV whose lines use two delimiters: such a line lands whole in the first column.

    Checked on every row, vectorised: only the first cell filled and it holds another candidate
    delimiter at least twice (a name never does).
    """
    if len(cols) < 3 or body.height == 0:
        return
    only_first = pl.col(cols[0]).is_not_null() & pl.all_horizontal([pl.col(c).is_null() for c in cols[1:]])
    lonely = body.filter(only_first)  # usually empty: the delimiter checks then cost nothing
    for other in (d for d in DELIMITERS if d != delimiter):
        bad = lonely.filter(pl.col(cols[0]).str.count_matches(other, literal=True) >= 2)
        if bad.height:
            raise UploadError(
                "mixed_delimiters", file=file, row=int(bad["excel_row"][0]),
                expected_headers=[delimiter], found_headers=[other],
            )


def _csv_line(source: CsvSource, record: int) -> int:
    return source._lines[record] if record < len(source._lines) else record + 1


def _map_columns(
    spec: HeaderSpec, cols: list[str], labels: list[str], fields: list[str | None], ignored: list[str]
) -> tuple[dict[str, str], list[str], list[pl.Expr]]:
    """Expressions for the canonical fields and the ``extra`` JSON; also the header map."""
    by_field = {f: (c, lab) for c, lab, f in zip(cols, labels, fields, strict=True) if f}
    column_map = {lab: f for f, (_, lab) in by_field.items() if f not in PSEUDO_FIELDS}
    exprs: list[pl.Expr] = []
    given_col = by_field.get("full_name")
    # the given-name column by its own label, also under a group ("Học sinh - Tên": rules.ingest.layout)
    split = FAMILY_MIDDLE in by_field and (
        given_col is None or {fold(given_col[1]), fold(given_col[1].rsplit(TWO_ROW_JOIN, 1)[-1])} & spec.given_labels)
    for f in spec.fields:
        if f == "full_name" and split:
            fam = pl.col(by_field[FAMILY_MIDDLE][0]).str.strip_chars()
            giv = pl.col(given_col[0]).str.strip_chars() if given_col else pl.lit(None, pl.String)
            both = pl.concat_str([fam, giv], separator=" ", ignore_nulls=True)
            exprs.append(pl.when(both == "").then(None).otherwise(both).alias(f))
            column_map[by_field[FAMILY_MIDDLE][1]] = "full_name"
        elif f == "gender" and f not in by_field and (FEMALE_MARK in by_field or MALE_MARK in by_field):
            exprs.append(_gender_from_marks(by_field).alias(f))
            for pseudo in (FEMALE_MARK, MALE_MARK):
                if pseudo in by_field:
                    column_map[by_field[pseudo][1]] = "gender"
        elif f in by_field:
            exprs.append(pl.col(by_field[f][0]).alias(f))
        else:
            exprs.append(pl.lit(None, dtype=pl.String).alias(f))
    unknown = [lab for c, lab, f in zip(cols, labels, fields, strict=True)
               if f is None and lab not in ignored and not lab.startswith("Cột ")]
    # columns without a header are kept too ("Cột N"): nothing the uploader typed is dropped
    extra_cols = [
        (c, lab) for c, lab, f in zip(cols, labels, fields, strict=True) if f is None and lab not in ignored
    ]
    # columns folded into a canonical field stay visible as typed, for the error report
    extra_cols += [by_field[p] for p in PSEUDO_FIELDS if p in by_field]
    if split and given_col:
        extra_cols.append(given_col)
    extra_cols = sorted(set(extra_cols), key=lambda cl: cols.index(cl[0]))
    if extra_cols:
        extra = pl.struct([pl.col(c).alias(lab) for c, lab in extra_cols]).struct.json_encode()
        exprs.append(extra.alias("extra"))
    else:
        exprs.append(pl.lit("{}").alias("extra"))
    return column_map, unknown + [lab for c, lab in extra_cols if lab.startswith("Cột ")], exprs
