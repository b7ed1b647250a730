"""Structural upload failures, told to the person who made the file.

Every problem that stops a whole file (empty file, garbage bytes, no header, no name column, an
encoding we cannot read) becomes an :class:`UploadError`. Its ``str()`` is meant to be printed as
is by the command line: it names the file (and sheet, row, column when known), says what is wrong
in Vietnamese and English, and what to do. It never contains cell values (personal data), only
headers, which are the uploader's own labels.

The file and sheet names in it are the uploader's own, unmasked, and may name a pupil: the message
is for the uploader (their terminal in ``doisoat upload``, their Excel error report) and the private
``uploads`` table. Dagster metadata and logs get error codes and counts only (``assets.ingest``);
operators' lines and analysts name a file by ``rules.ingest.inbox.public_label``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from string import Formatter

from rules.errors import UserError

# code -> (Vietnamese message, English message as its sentences); "{...}" placeholders are filled from
# UploadError fields. The English sentences without a placeholder hold for every file refused with the
# code: they are its advice (:func:`advice_en`), shown where one file's details are not (the command
# line's list of failed files); a sentence quoting details (headers, a size, an encoding) is only in the
# full message.
ERROR_CODES: dict[str, tuple[str, tuple[str, ...]]] = {
    "file_not_found": (
        "Không tìm thấy tệp. Kiểm tra lại đường dẫn.",
        ("File not found.", "Check the path."),
    ),
    "unsupported_format": (
        "Định dạng tệp không được hỗ trợ. Hãy lưu tệp dưới dạng .xlsx hoặc .csv.",
        ("Unsupported file type.", "Save the file as .xlsx or .csv."),
    ),
    "empty_file": (
        "Tệp rỗng (không có dữ liệu). Hãy kiểm tra lại tệp trước khi tải lên.",
        ("The file is empty.", "Check the file before uploading it."),
    ),
    "hidden_sheets_only": (
        "Danh sách chỉ có ở trang tính đang bị ẩn ({found}); các trang không ẩn đều trống hoặc không có "
        "dòng tiêu đề. Hãy bỏ ẩn trang đó (chuột phải vào tên một trang > Bỏ ẩn) rồi tải lên lại, hoặc "
        "tải lên với --sheet \"<tên trang>\".",
        (
            "The list is only in hidden sheet(s) ({found}); the visible sheets are empty or have no header row.",
            "Unhide the sheet (right-click a sheet tab > Unhide) and upload again, or upload with "
            "--sheet \"<sheet name>\".",
        ),
    ),
    "corrupt_file": (
        "Không đọc được tệp: tệp bị hỏng hoặc không phải bảng tính Excel thật. "
        "Hãy mở tệp bằng Excel, chọn 'Lưu thành' .xlsx rồi tải lên lại.",
        (
            "The file cannot be read: it is damaged or not a real Excel workbook.",
            "Open it in Excel, 'Save As' .xlsx and upload it again.",
        ),
    ),
    "password_protected": (
        "Tệp được đặt mật khẩu. Hãy gỡ mật khẩu (Tệp > Thông tin > Bảo vệ sổ làm việc) rồi tải lên lại.",
        (
            "The workbook is password-protected.",
            "Remove the password (File > Info > Protect Workbook) and upload it again.",
        ),
    ),
    "sheet_not_found": (
        "Không có trang tính được chỉ định. Các trang tính trong tệp: {found}.",
        ("The requested sheet does not exist.", "Sheets in the file: {found}."),
    ),
    "no_header": (
        "Không tìm thấy dòng tiêu đề cột. Dòng tiêu đề cần có các cột như: {expected}. "
        "Các ô tìm thấy ở đầu tệp: {found}.",
        (
            "No header row found.",
            "The header row needs columns such as: {expected}.",
            "Cells found at the top of the file: {found}.",
        ),
    ),
    "missing_name_column": (
        "Thiếu cột họ và tên. Hãy thêm cột có tiêu đề một trong: {expected}. Các cột tìm thấy: {found}.",
        ("No full-name column.", "Add a column headed one of: {expected}.", "Columns found: {found}."),
    ),
    "no_data_rows": (
        "Tệp chỉ có dòng tiêu đề, không có dòng dữ liệu nào. Hãy nhập dữ liệu bên dưới dòng tiêu đề.",
        ("The file has a header row but no data rows.", "Enter the data below the header row."),
    ),
    "unsupported_encoding": (
        "Không nhận ra bảng mã của tệp văn bản. Hãy lưu tệp CSV với bảng mã UTF-8.",
        ("The text encoding of the file is not recognised.", "Save the CSV file as UTF-8."),
    ),
    "mixed_encoding": (
        "Tệp là chữ Unicode (UTF-8) nhưng từ dòng này có chữ theo bảng mã khác (dán từ tệp cũ dùng "
        "TCVN3/VNI/Windows-1258?). Hãy gõ lại hoặc chuyển mã các dòng đó sang Unicode rồi lưu CSV UTF-8.",
        (
            "The file is Unicode (UTF-8) text, but from this line on it holds text in another encoding (pasted from "
            "an older TCVN3/VNI/Windows-1258 file?).",
            "Retype or convert those lines to Unicode and save as UTF-8 CSV.",
        ),
    ),
    "legacy_encoding": (
        "Tệp dùng bảng mã cũ {encoding}, chưa chuyển được sang Unicode. "
        "Hãy chuyển sang Unicode (ví dụ bằng Unikey: Công cụ chuyển mã) rồi lưu CSV UTF-8.",
        (
            "The file uses the legacy {encoding} encoding, which could not be converted to Unicode.",
            "Convert it to Unicode (e.g. Unikey's converter) and save it as UTF-8 CSV.",
        ),
    ),
    "mixed_delimiters": (
        "Các dòng dùng dấu phân cách khác nhau (dấu '{found}' ở một số dòng, dấu '{expected}' ở dòng "
        "tiêu đề). Hãy lưu lại tệp CSV với một loại dấu phân cách.",
        (
            "Lines use different delimiters ('{found}' on some lines, '{expected}' in the header).",
            "Save the CSV again with a single delimiter.",
        ),
    ),
    "not_a_regular_file": (
        "Không đọc: đây là liên kết (symlink) hoặc tệp đặc biệt, không phải tệp thường trong hộp thư đến. "
        "Hãy chép chính tệp vào thư mục, không đặt liên kết.",
        (
            "Not read: a link (symlink) or special file, not a regular file in the inbox.",
            "Copy the file itself into the folder instead of a link.",
        ),
    ),
    "misnamed_file": (
        "Không đọc: tên tệp phải có dạng <đơn vị>__<tên danh sách>.xlsx (mã đơn vị trước hai dấu gạch dưới, "
        "ví dụ thpt_le_quy_don__ds_lop_10a1.xlsx). Hãy đổi tên tệp rồi đặt lại vào thư mục.",
        (
            "Not read: name it <unit>__<list>.xlsx (your unit's slug before two underscores, e.g. "
            "thpt_le_quy_don__ds_lop_10a1.xlsx), then put it in the folder again.",
        ),
    ),
    "unreadable_file": (
        "Không đọc được tệp từ hộp thư đến ({found}). Hãy đổi tên tệp cho ngắn hơn hoặc chép lại tệp rồi "
        "tải lên lại.",
        (
            "The file could not be read from the inbox ({found}).",
            "Give it a shorter name or copy it again and upload it again.",
        ),
    ),
    "permission_denied": (
        "Không có quyền đọc tệp (quyền truy cập của tệp không cho phép). Hãy chép lại tệp vào thư mục "
        "(hoặc nhờ quản trị viên cấp quyền đọc) rồi tải lên lại.",
        (
            "The file may not be read (its permissions do not allow it).",
            "Copy the file into the folder again (or ask the administrator to allow reading it) and upload it again.",
        ),
    ),
    "file_too_large": (
        "Tệp quá lớn ({found}). Hãy chia danh sách thành nhiều tệp nhỏ hơn.",
        ("The file is too large ({found}).", "Split the list into smaller files."),
    ),
    "expands_too_much": (
        "Tệp Excel giải nén ra quá lớn hoặc bất thường ({found}); có thể tệp bị hỏng hoặc có hại. "
        "Hãy mở tệp bằng Excel, sao chép dữ liệu sang sổ làm việc mới, lưu .xlsx rồi tải lên lại.",
        (
            "The Excel file expands to an abnormal size when unpacked ({found}): it may be damaged or hostile.",
            "Open it in Excel, copy the data into a new workbook, save as .xlsx and upload again.",
        ),
    ),
    "sheet_too_large": (
        "Trang tính trải quá rộng ({found}). Hãy xoá các ô thừa ở xa bảng dữ liệu (Ctrl+End để tìm) "
        "hoặc chia danh sách thành nhiều tệp.",
        (
            "The sheet spans too large an area ({found}).",
            "Delete stray cells far from the table (Ctrl+End finds them) or split the list into several files.",
        ),
    ),
    "too_many_rows": (
        "Tệp có quá nhiều dòng ({found}). Hãy chia danh sách thành nhiều tệp.",
        ("The file has too many rows ({found}).", "Split the list into several files."),
    ),
    "cell_too_long": (
        "Một ô quá dài ({found}). Một ô không được dài hơn 32.767 ký tự (giới hạn của Excel); hãy sửa ô đó.",
        ("A cell is too long ({found}).", "A cell may hold at most 32,767 characters (Excel's limit); fix that cell."),
    ),
    "name_too_long": (
        "Tên trang tính quá dài ({found}). Hãy đặt tên trang tính ngắn (Excel cho phép tối đa 31 ký tự).",
        ("A sheet name is too long ({found}).", "Give the sheet a short name (Excel allows 31 characters)."),
    ),
    "formula_without_value": (
        "Ô này có công thức nhưng tệp không lưu giá trị của công thức (tệp do một phần mềm tạo ra, "
        "không phải do Excel lưu), nên không biết ô có giá trị gì. Công thức: {found}. Hãy mở tệp "
        "bằng Excel rồi bấm Lưu (Excel tính và lưu giá trị các công thức), sau đó tải lên lại.",
        (
            "This cell holds a formula whose value was not saved in the file (the file was written by a program, "
            "not saved by Excel), so its value is unknown.",
            "Formula: {found}.",
            "Open the file in Excel and save it (Excel computes and stores formula values), then upload it again.",
        ),
    ),
    "lossy_mac_csv": (
        "Tệp được lưu dạng 'CSV (Macintosh)': bảng mã này không có chữ tiếng Việt nên các chữ có dấu "
        "đã bị thay bằng '?' hoặc '_' và không khôi phục được. Hãy mở tệp gốc bằng Excel và lưu lại "
        "dạng 'CSV UTF-8' (hoặc .xlsx).",
        (
            "The file was saved as 'CSV (Macintosh)', an encoding without Vietnamese letters: accented letters were "
            "replaced by '?' or '_' and cannot be recovered.",
            "Open the original in Excel and save it as 'CSV UTF-8' (or .xlsx).",
        ),
    ),
    "lossy_ansi_csv": (
        "Tệp được lưu dạng 'CSV' bằng bảng mã Windows của máy (Windows-1252/1258), bảng mã không có đủ "
        "chữ tiếng Việt, nên các chữ có dấu đã bị thay bằng '?' và không khôi phục được. Hãy mở tệp "
        "gốc bằng Excel và lưu lại dạng 'CSV UTF-8' (hoặc .xlsx).",
        (
            "The file was saved as 'CSV' in the computer's Windows encoding (Windows-1252/1258), which lacks most "
            "Vietnamese letters: accented letters were replaced by '?' and cannot be recovered.",
            "Open the original in Excel and save it as 'CSV UTF-8' (or .xlsx).",
        ),
    ),
    "no_line_breaks": (
        "Tệp có {found} dữ liệu nhưng không có dấu xuống dòng nào, nên không tách được thành các dòng "
        "của bảng (không phải tệp rỗng). Hãy mở tệp bằng Excel, kiểm tra rồi lưu lại dạng CSV UTF-8 "
        "hoặc .xlsx.",
        (
            "The file has {found} of data but no line breaks, so it cannot be split into table rows (it is not empty).",
            "Open it in Excel, check it, and save it again as UTF-8 CSV or .xlsx.",
        ),
    ),
    "not_text": (
        "Tệp có đuôi văn bản (.csv/.txt) nhưng nội dung là dữ liệu nhị phân, không phải chữ (có thể là "
        "tệp Excel, ảnh hay tệp nén bị đổi đuôi). Hãy mở tệp gốc bằng Excel và lưu dạng .xlsx hoặc CSV UTF-8.",
        (
            "The file is named as text (.csv/.txt) but holds binary data, not text (perhaps a workbook, image or "
            "archive renamed).",
            "Open the original in Excel and save it as .xlsx or UTF-8 CSV.",
        ),
    ),
    "layout_not_understood": (
        "Tệp có dữ liệu nhưng không nhận ra cấu trúc bảng: {found}. Hãy mở tệp bằng Excel, kiểm tra "
        "các dòng và cột rồi lưu lại dạng CSV UTF-8 hoặc .xlsx.",
        (
            "The file has data but its table layout was not understood: {found}.",
            "Open it in Excel, check its rows and columns, and save it again as UTF-8 CSV or .xlsx.",
        ),
    ),
    "too_many_columns": (
        "Tệp có quá nhiều cột ({found}). Hãy xoá các cột thừa.",
        ("The file has too many columns ({found}).", "Delete the unused columns."),
    ),
}


def advice_en(code: str) -> str:
    """The English advice of ``code``: the sentences of its message that quote no file's details, in
    order ("" when every one does). Read from the message itself, so the advice a summary shows is
    always what the full message says."""
    return " ".join(s for s in ERROR_CODES[code][1] if not _quotes_details(s))


def _quotes_details(sentence: str) -> bool:
    return any(name is not None for _, name, _, _ in Formatter().parse(sentence))


def _fmt_list(items: Sequence[str] | None, limit: int = 12) -> str:
    if not items:
        return "(không có / none)"
    shown = [f"'{h}'" for h in items[:limit]]
    if len(items) > limit:
        shown.append(f"… (+{len(items) - limit})")
    return ", ".join(shown)


@dataclass(eq=False)
class UploadError(UserError):
    """A file that cannot be ingested at all; ``str()`` is the message to show the uploader."""

    code: str
    message_vi: str = ""
    message_en: str = ""
    file: str = ""
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    expected_headers: list[str] = field(default_factory=list)
    found_headers: list[str] = field(default_factory=list)
    encoding: str | None = None
    file_sha256: str | None = None  # set by read_upload when the file could be hashed

    def __post_init__(self) -> None:
        if self.code not in ERROR_CODES:
            raise ValueError(f"unknown UploadError code {self.code!r}")
        vi, en = ERROR_CODES[self.code]
        values = {
            "expected": _fmt_list(self.expected_headers),
            "found": _fmt_list(self.found_headers),
            "encoding": self.encoding or "?",
        }
        if self.code in ("no_line_breaks", "layout_not_understood", "formula_without_value", "hidden_sheets_only"):
            values["found"] = "; ".join(self.found_headers) or "?"  # a size or a cause, shown bare
        if self.code == "mixed_delimiters":  # single characters, shown bare
            values = {"expected": "".join(self.expected_headers), "found": "".join(self.found_headers)}
        if not self.message_vi:
            self.message_vi = vi.format(**values)
        if not self.message_en:
            self.message_en = " ".join(en).format(**values)
        super().__init__(str(self))

    def where(self) -> str:
        """'file.xlsx, sheet 'DS', row 5, column 'Họ tên'' — the parts that are known."""
        parts = [self.file or "(file)"]
        if self.sheet and self.sheet[:1] == "#" and self.sheet[1:].isdigit():  # a name withheld: its position
            parts.append(f"sheet {self.sheet[1:]}")
        elif self.sheet and _personal_sheet(self.sheet):  # the message is stored (uploads.error_message)
            parts.append("sheet (tên ẩn/name withheld)")
        elif self.sheet:
            parts.append(f"sheet '{self.sheet}'")
        if self.row is not None:
            parts.append(f"dòng/row {self.row}")
        if self.column:
            parts.append(f"cột/column '{self.column}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"[{self.code}] {self.where()}: {self.message_vi} | {self.message_en}"

    def to_dict(self) -> dict[str, object]:
        """Plain-data form for metadata and the uploads table (no cell values inside)."""
        return {
            "code": self.code,
            "message_vi": self.message_vi,
            "message_en": self.message_en,
            "file": self.file,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "expected_headers": list(self.expected_headers),
            "found_headers": list(self.found_headers),
            "file_sha256": self.file_sha256,
        }

    def __reduce__(self):  # picklable across Dagster processes despite the dataclass __init__
        return (_rebuild, (self.to_dict() | {"encoding": self.encoding},))


def _personal_sheet(name: str) -> bool:
    from rules.ingest.upload import personal_sheet_name

    return personal_sheet_name(name)


def _rebuild(d: dict) -> UploadError:
    return UploadError(**d)
