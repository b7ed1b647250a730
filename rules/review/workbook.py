"""Write the review workbook (xlsxwriter): one block per ambiguous row, a drop-down per block.

Layout of sheet ``Rà soát`` (the active sheet):

- rows 1-4: title; province, sector, unit, export time; ``Người rà soát / Reviewer:`` with the name
  cell in C3 (yellow); a colour legend.
- row 5: headers (Vietnamese / English), with an autofilter so the sheet can be sorted and filtered.
- from row 6, per block: the unit's row (``Dữ liệu đơn vị / Unit's row``: the values as the unit sent
  them, the source file and Excel row, the drop-down ``Quyết định / Decision`` and ``Ghi chú / Notes``)
  then one line per candidate (``Ứng viên k / Candidate k``: register name, birth date, gender, ID, old
  ID, province, mother, father, the match probability and the agreement per field). Each candidate
  field is coloured by its comparison level (green agree, light green close, amber weak, red disagree,
  grey missing).

Sheet ``Hướng dẫn - Instructions``: what to do, in Vietnamese and English. Two very hidden, protected
sheets hold what import needs and the reviewer must not change: ``_doisoat`` (workbook facts: format,
workbook id, province, sector, unit, export time, register version, match run) and ``_blocks`` (per
block: code, file sha256, sheet, row number, candidate IDs in rank order, ``fp_match``,
``fp_register``). Import reads only the block code, the decision, the notes and the reviewer cell
from the visible sheet; everything else comes from the hidden sheets, so sorting, deleting or
editing displayed values cannot redirect a decision.
"""

from __future__ import annotations

import io
import secrets
from datetime import date

import polars as pl
import xlsxwriter

from rules.review.choices import choice_labels
from rules.review.policy import ReviewPolicy

FORMAT = "doisoat-review-1"
REVIEW_SHEET = "Rà soát - Review"
INSTRUCTIONS_SHEET = "Hướng dẫn - Instructions"
META_SHEET = "_doisoat"
BLOCKS_SHEET = "_blocks"
REVIEWER_LABEL = "Người rà soát / Reviewer:"
HEADER_ROW = 4  # 0-based: row 5 in Excel
UNIT_LINE = "Dữ liệu đơn vị / Unit's row"
BLOCK_COLUMNS = ("block", "file_sha256", "sheet", "row_number", "candidate_ids", "n_candidates", "fp_match",
                 "fp_register", "unit", "excel_row")

# (header vi, header en, field in `lines`, comparisons that colour it, width)
COLUMNS: tuple[tuple[str, str, str, tuple[str, ...], int], ...] = (
    ("Mã khối", "Block", "block", (), 8),
    ("Dòng", "Line", "source", (), 34),
    ("Họ và tên", "Full name", "full_name", ("given", "family", "middle", "order"), 26),
    ("Ngày sinh", "Date of birth", "date_of_birth", ("dob",), 13),
    ("Giới tính", "Gender", "gender", ("gender",), 9),
    ("Số định danh", "Personal ID", "person_id", ("id",), 15),
    ("CMND cũ", "Old ID", "old_id", ("cmnd",), 12),
    ("Tỉnh (CSDLQG)", "Province (register)", "province", ("province",), 14),
    ("Mẹ", "Mother", "mother", (), 26),
    ("Cha", "Father", "father", (), 26),
    ("Xác suất khớp", "Match probability", "probability", (), 11),
    ("Mức độ khớp từng trường", "Agreement per field", "agreement", (), 46),
    ("Quyết định", "Decision", "decision", (), 34),
    ("Ghi chú", "Notes", "notes", (), 30),
)
DECISION_COL = next(i for i, c in enumerate(COLUMNS) if c[2] == "decision")
NOTES_COL = DECISION_COL + 1
COLOURS = {"agree": "#C6EFCE", "close": "#E2F0D9", "partial": "#FFF2CC", "weak": "#FFEB9C",
           "disagree": "#FFC7CE", "missing": "#E7E6E6"}
SEVERITY = ("agree", "missing", "close", "partial", "weak", "disagree")  # worst last
FIELD_NAMES = {"given": "tên/given", "family": "họ/family", "middle": "đệm/middle", "order": "thứ tự/order",
               "dob": "ngày sinh/DOB", "gender": "giới/gender", "id": "định danh/ID", "cmnd": "CMND",
               "province": "tỉnh/province"}

INSTRUCTIONS = [
    ("Hướng dẫn rà soát", True),
    ("Mỗi khối là một dòng dữ liệu của đơn vị mà hệ thống không tự quyết được (có nhiều người trong "
     "CSDLQG giống nhau). Dòng đầu của khối là dữ liệu đơn vị gửi; các dòng sau là các ứng viên trong "
     "CSDLQG, xếp theo xác suất khớp.", False),
    ("1. Ghi họ tên người rà soát vào ô vàng C3.", False),
    ("2. Ở cột 'Quyết định' của dòng dữ liệu đơn vị, chọn trong danh sách: 'Ứng viên k' nếu đúng là người "
     "đó, 'Không ai trong số này' nếu không ai đúng, 'Chưa chắc' nếu cần xác minh thêm (dòng sẽ được "
     "đưa vào lần rà soát sau).", False),
    ("3. Màu của từng ô ứng viên cho biết mức độ trùng với dữ liệu đơn vị: xanh = trùng, xanh nhạt = gần "
     "trùng, vàng = khác một phần, cam = yếu, đỏ = khác, xám = thiếu dữ liệu.", False),
    ("4. Có thể sắp xếp, lọc, thêm ghi chú; không sửa cột 'Mã khối'. Xóa một khối = không quyết định.", False),
    ("5. Lưu tệp và đặt vào thư mục data/inbox/<tỉnh>/review/ (hoặc gửi cho cán bộ vận hành để chạy "
     "'doisoat review import'). Nếu dữ liệu thay đổi sau khi xuất tệp, các dòng đã thay đổi sẽ bị từ chối "
     "kèm thông báo; hãy rà soát lại trên tệp mới.", False),
    ("Ứng viên thuộc tỉnh khác: không hiển thị thông tin cá nhân (ghi 'ngoài tỉnh').", False),
    ("", False),
    ("Instructions", True),
    ("Each block is one row sent by a unit that the matcher could not decide on its own (several people "
     "in the population register fit). The first line of a block is the unit's row; the lines below are "
     "the register candidates, most likely first.", False),
    ("1. Write the reviewer's name in the yellow cell C3.", False),
    ("2. In the 'Decision' column of the unit's row pick from the list: 'Candidate k' if it is that "
     "person, 'None of them' if nobody fits, 'Not sure' if it needs more checking (the row comes back in "
     "the next review).", False),
    ("3. Each candidate cell is coloured by how well it agrees with the unit's row: green = agrees, light "
     "green = close, yellow = partly, amber = weak, red = differs, grey = missing.", False),
    ("4. You may sort, filter and add notes; do not change the 'Block' column. Deleting a block = no "
     "decision.", False),
    ("5. Save the file and drop it into data/inbox/<province>/review/ (or hand it to the operators for "
     "'doisoat review import'). Rows whose data changed after the export are refused with a message; "
     "review them again in a fresh workbook.", False),
    ("Candidates registered in another province are shown without personal data ('outside the province').",
     False),
]


def new_workbook_id() -> str:
    return secrets.token_hex(8)


def agreement(reason: str | None, policy: ReviewPolicy) -> tuple[str, dict[str, str]]:
    """(readable text, colour class per comparison) of a ``name=level;…`` reason string."""
    if not reason:
        return "", {}
    levels = dict(part.split("=", 1) for part in reason.split(";") if "=" in part)
    text = " · ".join(f"{FIELD_NAMES.get(k, k)}: {v}" for k, v in levels.items())
    return text, {k: policy.level_class(v) for k, v in levels.items()}


def _display_date(value: str | None) -> str | None:
    if value and len(value) == 10 and value[4] == "-":
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    return value


def write_workbook(lines: pl.DataFrame, blocks: pl.DataFrame, meta: dict[str, str], policy: ReviewPolicy) -> bytes:
    """The workbook as bytes (the caller writes it owner-only). ``lines``/``blocks`` from ``build_blocks``."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                   "strings_to_urls": False})
    wb.set_properties({"title": "doisoat review", "comments": "Contains personal data: handle per Decree 13/2023"})
    bold = wb.add_format({"bold": True})
    title = wb.add_format({"bold": True, "font_size": 14})
    head = wb.add_format({"bold": True, "bg_color": "#1F3B73", "font_color": "white", "text_wrap": True,
                          "valign": "top", "border": 1})
    name_cell = wb.add_format({"bg_color": "#FFFF00", "border": 2, "locked": False})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    unit_fmt = wb.add_format({"bold": True, "top": 2, "bg_color": "#DDEBF7", "valign": "top"})
    decision_fmt = wb.add_format({"bold": True, "top": 2, "bg_color": "#FFFF99", "border": 1, "locked": False})
    cand_fmt = wb.add_format({"valign": "top"})
    prob_fmt = wb.add_format({"num_format": "0.00%", "valign": "top"})
    coloured = {k: wb.add_format({"bg_color": v, "valign": "top", "border": 1, "border_color": "#BFBFBF"})
                for k, v in COLOURS.items()}

    ws = wb.add_worksheet(REVIEW_SHEET)
    ws.write(0, 0, "Rà soát các dòng chưa đối chiếu được / Clerical review of ambiguous rows", title)
    unit = meta.get("unit") or "—"
    ws.write(1, 0, f"Tỉnh/Province: {meta['province']} — Lĩnh vực/Sector: {meta['sector']} — Đơn vị/Unit: {unit} "
                   f"— Xuất lúc/Exported: {meta['exported_at']} — {meta['blocks']} khối/blocks")
    ws.write(2, 0, REVIEWER_LABEL, bold)
    ws.write_blank(2, 2, None, name_cell)
    legend = [("agree", "trùng / agrees"), ("close", "gần trùng / close"), ("partial", "một phần / partly"),
              ("weak", "yếu / weak"), ("disagree", "khác / differs"), ("missing", "thiếu / missing")]
    for i, (cls, text) in enumerate(legend):
        ws.write(3, 2 + i, text, coloured[cls])
    for col, (vi, en, _, _, width) in enumerate(COLUMNS):
        ws.write(HEADER_ROW, col, f"{vi} / {en}", head)
        ws.set_column(col, col, width)
    ws.set_row(HEADER_ROW, 32)
    n_cand = dict(zip(blocks["block"].to_list(), blocks["n_candidates"].to_list(), strict=True))
    row = HEADER_ROW
    for rec in lines.iter_rows(named=True):
        row += 1
        is_unit = rec["line"] == 0
        text, classes = agreement(rec["reason"], policy)
        values = {**rec, "agreement": text, "source": rec["source"] if not is_unit else f"{UNIT_LINE}: {rec['source']}"}
        values["date_of_birth"] = _display_date(rec["date_of_birth"]) if not is_unit else rec["date_of_birth"]
        for col, (_, _, field, comps, _) in enumerate(COLUMNS):
            if field in ("decision", "notes"):
                continue
            value = values.get(field)
            fmt = unit_fmt if is_unit else cand_fmt
            if not is_unit and comps:
                present = [classes[c] for c in comps if c in classes]
                if present:
                    fmt = coloured[max(present, key=SEVERITY.index)]
            if field == "probability" and value is not None:
                ws.write_number(row, col, float(value), prob_fmt)
            elif field == "agreement":
                ws.write_string(row, col, value or "", wrap if not is_unit else unit_fmt)
            elif value is None:
                if not is_unit:  # the unit's row is formatted as a whole (set_row below)
                    ws.write_blank(row, col, None, fmt)
            else:
                ws.write_string(row, col, str(value), fmt)
        if is_unit:
            ws.set_row(row, None, unit_fmt)
            ws.write_blank(row, DECISION_COL, None, decision_fmt)
            ws.data_validation(row, DECISION_COL, row, DECISION_COL, {
                "validate": "list", "source": choice_labels(int(n_cand[rec["block"]])),
                "error_type": "warning", "error_title": "Quyết định / Decision",
                "error_message": "Hãy chọn trong danh sách / Please pick from the list",
                "input_title": "Quyết định / Decision",
                "input_message": "Ứng viên k, Không ai / None, Chưa chắc / Not sure"})
    ws.autofilter(HEADER_ROW, 0, max(row, HEADER_ROW), len(COLUMNS) - 1)
    ws.freeze_panes(HEADER_ROW + 1, 2)
    ws.activate()

    ins = wb.add_worksheet(INSTRUCTIONS_SHEET)
    ins.set_column(0, 0, 120)
    for i, (text, strong) in enumerate(INSTRUCTIONS):
        ins.write_string(i, 0, text, title if strong else wrap)

    meta_ws = wb.add_worksheet(META_SHEET)
    for i, (k, v) in enumerate([("format", FORMAT), *sorted(meta.items())]):
        meta_ws.write_string(i, 0, k)
        meta_ws.write_string(i, 1, str(v))
    blocks_ws = wb.add_worksheet(BLOCKS_SHEET)
    for c, name in enumerate(BLOCK_COLUMNS):
        blocks_ws.write_string(0, c, name)
    for r, rec in enumerate(blocks.select(BLOCK_COLUMNS).iter_rows(), start=1):
        for c, v in enumerate(rec):
            blocks_ws.write_string(r, c, "" if v is None else str(v))
    password = secrets.token_hex(12)  # nobody needs to unprotect these sheets; import only reads them
    for hidden in (meta_ws, blocks_ws):
        hidden.protect(password)
        hidden.very_hidden()
    wb.close()
    return buf.getvalue()
