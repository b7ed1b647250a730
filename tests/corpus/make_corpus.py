"""Build the bad-files corpus under tests/corpus/files/ (deterministic; the files are committed).

Run ``.venv/bin/python tests/corpus/make_corpus.py`` after changing a case; ``expected.yaml``
beside this script holds each file's asserted outcome. The password-protected workbook needs
``msoffcrypto-tool`` and the ``.xls`` workbook ``xlwt`` (dev-only tools, not runtime dependencies):
without them the committed copies are kept. All people are invented.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
import unicodedata
import zipfile
from pathlib import Path

import xlsxwriter
import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE / "files"
ROOT = HERE.parents[1]

HEADER = ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân", "Lớp"]
PEOPLE = [
    ["1", "Nguyễn Văn An", "05/09/2012", "Nam", "079212000123", "6A1"],
    ["2", "Trần Thị Bình", "12/01/2011", "Nữ", "001311004567", "7A2"],
    ["3", "Lê Hoàng Cường", "23/11/2010", "Nam", "048210001234", "8A3"],
    ["4", "Phạm Thị Dung", "30/04/2012", "Nữ", "079312009876", "6A1"],
]
TITLE = ["UBND TỈNH LÂM ĐỒNG", "TRƯỜNG THCS NGUYỄN DU", "DANH SÁCH HỌC SINH NĂM HỌC 2025-2026"]


def _csv(rows: list[list[str]], delim: str = ",") -> str:
    out = io.StringIO()
    import csv

    writer = csv.writer(out, delimiter=delim, lineterminator="\r\n")
    writer.writerows(rows)
    return out.getvalue()


def _write(name: str, data: bytes | str, encoding: str = "utf-8") -> None:
    path = OUT / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))


def _xlsx(name: str, build) -> None:
    wb = xlsxwriter.Workbook(str(OUT / name), {"strings_to_numbers": False})
    wb.set_properties({"created": dt.datetime(2025, 9, 5)})  # same bytes on every build
    build(wb)
    wb.close()


def _sheet(ws, rows, start: int = 0) -> None:
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if v is not None:
                ws.write(start + i, j, v)


def cp1258_bytes(text: str) -> bytes:
    """Windows-1258: base letters precomposed (ă â ê ô ơ ư đ), tone marks as combining bytes."""
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = []
    for ch in unicodedata.normalize("NFC", text):
        d = unicodedata.normalize("NFD", ch)
        base = unicodedata.normalize("NFC", "".join(c for c in d if c not in tones))
        out.append(base + "".join(c for c in d if c in tones))
    return "".join(out).encode("cp1258")


def legacy_bytes(text: str, encoding: str) -> bytes:
    """Encode with the normaliser's own tables (inverted), checked by a round trip."""
    from rules.normalise.legacy import _tables, to_unicode

    table = _tables()[encoding]
    inverse = {uni: b for b, uni in table.items() if len(uni) == 1}
    out = bytearray()
    for ch in unicodedata.normalize("NFC", text):
        if ord(ch) < 128:
            out.append(ord(ch))
        elif ch in inverse:
            out.append(inverse[ch])
        elif ord(ch) < 256 and ord(ch) not in table:  # VISCII lists only bytes that differ from Latin-1
            out.append(ord(ch))
        else:
            raise ValueError(f"{encoding} cannot encode {ch!r}")
    assert to_unicode(out.decode("latin-1"), encoding) == unicodedata.normalize("NFC", text), encoding
    return bytes(out)


def vni_bytes(text: str) -> bytes:
    """VNI-Windows: a base letter then mark bytes, from the normaliser's table, checked by round trip."""
    from rules.normalise.legacy import _tables, to_unicode

    table = _tables()["vni"]
    letters = {uni: ch for ch, uni in table["letters"].items()}
    marks: dict[tuple[str, bool], str] = {}
    for ch, uni in table["marks"].items():
        marks.setdefault((uni, ch.isupper()), ch)
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = []
    for ch in unicodedata.normalize("NFC", text):
        if ord(ch) < 128:
            out.append(ch)
            continue
        if ch in letters:
            out.append(letters[ch])
            continue
        d = unicodedata.normalize("NFD", ch)
        base, extra = d[0], d[1:]
        tone = "".join(c for c in extra if c in tones)
        shape = "".join(c for c in extra if c not in tones)
        upper = base.isupper()
        if shape == "\u031b":  # horn: ơ ư are letters of their own
            out.append(letters[unicodedata.normalize("NFC", base + shape)] + (marks[(tone, upper)] if tone else ""))
        elif shape:
            out.append(base + marks[(shape + tone, upper)])
        elif unicodedata.normalize("NFC", base + tone) in letters:
            out.append(letters[unicodedata.normalize("NFC", base + tone)])
        else:
            out.append(base + marks[(tone, upper)])
    encoded = "".join(out)
    assert to_unicode(encoded, "vni") == unicodedata.normalize("NFC", text), "vni"
    return encoded.encode("cp1252")


def build() -> None:
    OUT.mkdir(exist_ok=True)
    table = [HEADER, *PEOPLE]

    # --- structurally bad files -------------------------------------------------------------
    _write("empty.csv", b"")
    _write("empty.xlsx", b"")
    _write("whitespace_only.csv", "\r\n  \r\n,,,\r\n")
    _write("header_only.csv", _csv([HEADER]))
    _xlsx("header_only.xlsx", lambda wb: _sheet(wb.add_worksheet("DS"), [[t] for t in TITLE] + [HEADER]))
    _xlsx("empty_sheet.xlsx", lambda wb: wb.add_worksheet("Sheet1"))
    _write("garbage.xlsx", bytes((i * 7919 + 13) % 256 for i in range(4096)))
    good = io.BytesIO()
    wb = xlsxwriter.Workbook(good, {"in_memory": True})
    _sheet(wb.add_worksheet("DS"), table)
    wb.close()
    _write("truncated.xlsx", good.getvalue()[:1500])
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    _write("zip_not_xlsx.xlsx", zbuf.getvalue())
    _write("html_saved_as.xls", "<html><body><table><tr><td>Họ và tên</td></tr></table></body></html>")
    _write("report.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    try:
        from msoffcrypto.format.ooxml import OOXMLFile

        enc = io.BytesIO()
        OOXMLFile(io.BytesIO(good.getvalue())).encrypt("matkhau123", enc)
        _write("password.xlsx", enc.getvalue())
    except ImportError:
        print("msoffcrypto-tool not installed: keeping the committed password.xlsx", file=sys.stderr)
    try:  # a real Excel 97-2003 workbook, as old school software still exports (xlwt: dev-only tool)
        import xlwt

        book = xlwt.Workbook(encoding="utf-8")
        ws = book.add_sheet("DS")
        for r, line in enumerate([[TITLE[2]], [], HEADER, *PEOPLE[:3]]):
            for c, value in enumerate(line):
                # the ID column as a number, as Excel stores it when nobody formats it as text
                ws.write(r, c, int(value) if c == 4 and r > 2 else value)
        buf = io.BytesIO()
        book.save(buf)
        _write("legacy_97_2003.xls", buf.getvalue())
    except ImportError:
        print("xlwt not installed: keeping the committed legacy_97_2003.xls", file=sys.stderr)
    _write("no_header.csv", _csv([["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"]]))
    _write("no_name_column.csv", _csv([["Ngày sinh", "Giới tính", "Số CCCD"],
                                       ["05/09/2012", "Nam", "079212000123"]]))
    mixed = _csv(table[:3]) + "3;Lê Hoàng Cường;23/11/2010;Nam;048210001234;8A3\r\n"
    _write("mixed_delimiters.csv", mixed)

    # --- readable files with awkward layouts ----------------------------------------------------
    def wrong_sheet_first(wb):
        notes = wb.add_worksheet("Hướng dẫn")
        _sheet(notes, [["Nhập danh sách ở trang DS"], ["Ngày sinh ghi dd/mm/yyyy"]])
        _sheet(wb.add_worksheet("DS"), table)

    _xlsx("wrong_sheet_first.xlsx", wrong_sheet_first)

    def multi_sheet(wb):
        _sheet(wb.add_worksheet("Hướng dẫn"), [["Mỗi lớp một trang"]])
        _sheet(wb.add_worksheet("6A1"), [["DANH SÁCH LỚP 6A1"], [], HEADER[:5], *[p[:5] for p in PEOPLE[:2]]])
        _sheet(wb.add_worksheet("6A2"), [["HỌ TÊN", "SỐ CCCD", "NGÀY SINH"],
                                          *[[p[1], p[4], p[2]] for p in PEOPLE[2:]]])
        _sheet(wb.add_worksheet("6A3"), [HEADER[:5]])  # header, no pupils yet

    _xlsx("multi_sheet.xlsx", multi_sheet)

    def title_rows(wb):
        ws = wb.add_worksheet("DS")
        big = wb.add_format({"bold": True, "align": "center"})
        for i, t in enumerate(TITLE):
            ws.merge_range(i, 0, i, 5, t, big)
        _sheet(ws, table, start=5)  # rows 4-5 blank, header on Excel row 6

    _xlsx("title_rows.xlsx", title_rows)

    def merged_header(wb):
        ws = wb.add_worksheet("DS")
        fmt = wb.add_format({"bold": True, "align": "center", "valign": "vcenter", "border": 1})
        ws.merge_range(0, 0, 0, 6, "DANH SÁCH HỌC SINH", fmt)
        ws.merge_range(2, 0, 3, 0, "STT", fmt)
        ws.merge_range(2, 1, 3, 1, "Họ và tên", fmt)
        ws.merge_range(2, 2, 3, 2, "Ngày sinh", fmt)
        ws.merge_range(2, 3, 3, 3, "Số định danh cá nhân", fmt)
        ws.merge_range(2, 4, 2, 5, "Phụ huynh", fmt)
        ws.write(3, 4, "Họ tên", fmt)
        ws.write(3, 5, "SĐT", fmt)
        ws.merge_range(2, 6, 3, 6, "Ghi chú", fmt)
        rows = [[p[0], p[1], p[2], p[4], "Nguyễn Văn Bố", "0912345678", None] for p in PEOPLE]
        _sheet(ws, rows, start=4)

    _xlsx("merged_header.xlsx", merged_header)

    _write("duplicate_headers.csv", _csv([
        ["Họ và tên", "Ngày sinh", "Ghi chú", "Họ tên", "Ghi chú", "Số CCCD"],
        *[[p[1], p[2], "x", p[1].upper(), "y", p[4]] for p in PEOPLE],
    ]))
    ragged = _csv([HEADER[1:5]]) + "".join(
        [
            "Nguyễn Văn An,05/09/2012,Nam,079212000123\r\n",
            "Trần Thị Bình,12/01/2011\r\n",
            "Lê Hoàng Cường,23/11/2010,Nam,048210001234,thừa,thừa nữa\r\n",
        ]
    )
    _write("ragged_rows.csv", ragged)
    _write("quoted_newlines.csv", _csv([
        ["Họ và tên", "Ngày sinh", "Ghi chú", "Số CCCD"],
        ["Nguyễn Văn An", "05/09/2012", "dòng 1\ndòng 2\ndòng 3", "079212000123"],
        ["Trần Thị Bình", "12/01/2011", "", "001311004567"],
        ["Lê Hoàng, Cường", "23/11/2010", 'nói "chào"', "048210001234"],
    ]))
    _write("bom_utf8.csv", b"\xef\xbb\xbf" + _csv(table).encode("utf-8"))
    _write("utf16_tab.txt", "\ufeff" + _csv(table, "\t"), "utf-16-le")
    _write("semicolon.csv", _csv([[t] for t in TITLE[1:]] + [[]] + table, ";"))
    _write("windows1258.csv", cp1258_bytes(_csv(table)))
    _write("tcvn3.csv", legacy_bytes(_csv([HEADER[1:4], *[p[1:4] for p in PEOPLE]]).replace("Nữ", "nữ"), "tcvn3"))
    _write("viscii.csv", legacy_bytes(_csv(table), "viscii"))
    _write("vni.csv", vni_bytes(_csv(table)))
    _write("blank_rows.csv", _csv([HEADER, PEOPLE[0], [], PEOPLE[1], ["", "", "", "", "", ""], PEOPLE[2], [], []]))

    def formulas(wb):
        ws = wb.add_worksheet("DS")
        _sheet(ws, [HEADER[:5]])
        for i, p in enumerate(PEOPLE, start=1):
            ws.write_formula(i, 0, "=ROW()-1", None, i)
            ws.write_formula(i, 1, f'=PROPER("{p[1]}")', None, p[1])
            ws.write(i, 2, p[2])
            ws.write(i, 3, p[3])
            ws.write_formula(i, 4, f'="{p[4][:6]}"&"{p[4][6:]}"', None, p[4])

    _xlsx("formulas.xlsx", formulas)

    def dates(wb):
        ws = wb.add_worksheet("DS")
        datefmt = wb.add_format({"num_format": "dd/mm/yyyy"})
        _sheet(ws, [HEADER[1:5]])
        names = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thị Dung", "Võ Minh Em", "Đỗ Thu Hà"]
        for i, name in enumerate(names, start=1):
            ws.write(i, 0, name)
            ws.write(i, 2, "Nam" if i % 2 else "Nữ")
        ws.write_string(1, 1, "05/09/2012")                       # text
        ws.write_number(2, 1, 40920, datefmt)                     # serial with a date format
        ws.write_datetime(3, 1, dt.datetime(2010, 11, 23), datefmt)  # a real date cell
        ws.write_string(4, 1, "2012")                             # year only
        ws.write_string(5, 1, "31/02/2012")                       # impossible
        ws.write_string(6, 1, "không rõ")                         # unparseable

    _xlsx("dates_mixed.xlsx", dates)

    def ids(wb):
        ws = wb.add_worksheet("DS")
        _sheet(ws, [["Họ và tên", "Ngày sinh", "Giới tính", "Số CCCD"]])
        rows = [
            ("Nguyễn Văn An", 79212000123),       # number: leading zero lost, restored
            ("Trần Thị Bình", "001311004567"),    # text, fine
            ("Lê Hoàng Cường", "7.92031E+10"),    # scientific notation as text: digits lost
            ("Phạm Thị Dung", 7.92031e10),        # the number a scientific display keeps: digits lost
            ("Võ Minh Em", "0792 1200 0124"),     # separators
            ("Đỗ Thu Hà", "12345"),               # wrong length
        ]
        for i, (name, id_) in enumerate(rows, start=1):
            ws.write(i, 0, name)
            ws.write_string(i, 1, "01/01/2012")
            ws.write_string(i, 2, "Nam" if i % 2 else "Nữ")
            if isinstance(id_, str):
                ws.write_string(i, 3, id_)
            else:
                ws.write_number(i, 3, id_)

    _xlsx("ids_numbers.xlsx", ids)

    def footer(wb):
        ws = wb.add_worksheet("DS")
        _sheet(ws, table)
        _sheet(ws, [
            [None, "Tổng cộng: 4 học sinh"],
            [],
            [None, None, None, "Lâm Đồng, ngày 05 tháng 09 năm 2025"],
            [None, "Người lập biểu", None, "Hiệu trưởng"],
            [None, "(Ký, ghi rõ họ tên)", None, "(Ký tên, đóng dấu)"],
            [],
            [None, "Trần Văn Lập", None, "Ngô Thị Hiệu"],
        ], start=len(table))

    _xlsx("footer_signature.xlsx", footer)

    def split_name(wb):
        ws = wb.add_worksheet("DS")
        _sheet(ws, [["STT", "Họ và tên đệm", "Tên", "Ngày sinh", "Giới tính"],
                    ["1", "Nguyễn Văn", "An", "05/09/2012", "Nam"],
                    ["2", "Trần Thị", "Bình", "12/01/2011", "Nữ"]])

    _xlsx("split_name.xlsx", split_name)
    _write("bad_rows.csv", _csv([
        HEADER,
        PEOPLE[0],
        ["2", "", "12/01/2011", "Nữ", "001311004567", "7A2"],             # missing name
        ["3", "Lê Hoàng Cường", "ngày xưa", "Nam", "048210001234", "8A3"],  # unparseable date
        ["4", "Phạm Thị Dung", "31/02/2012", "Nữ", "079312009876", "6A1"],  # impossible date
        ["5", "Võ Minh Em", "01/01/2012", "Nam", "12345", "6A1"],           # id wrong length
        ["6", "Đỗ Thu Hà", "01/01/2012", "xyz", "079312009877", "6A1"],     # unknown gender
        ["7", "", "", "Nam", "079212009878", "6A1"],                        # two reasons
        ["8", "Bùi Văn Giang", "", "Nam", "079212009879", "6A1"],           # missing date
    ]))
    _write("gender_female_x.csv", _csv([
        ["Họ và tên", "Ngày sinh", "Nữ (x)", "Số CCCD"],
        *[[p[1], p[2], "x" if p[3] == "Nữ" else "", p[4]] for p in PEOPLE],
    ]))

    def gender_pair(wb):
        ws = wb.add_worksheet("DS")
        ws.merge_range(0, 2, 0, 3, "Giới tính")  # group label over the Nam | Nữ pair
        _sheet(ws, [["Họ và tên", "Ngày sinh", None, None, "Số CCCD"], [None, None, "Nam", "Nữ", None]])
        rows = [[p[1], p[2], "x" if p[3] == "Nam" else None, "x" if p[3] == "Nữ" else None, p[4]] for p in PEOPLE]
        rows[3][2] = "x"  # both ticked: unknown gender
        _sheet(ws, rows, start=2)

    _xlsx("gender_pair_x.xlsx", gender_pair)
    _write("english_headers.csv", _csv([["Full name", "DOB", "Sex", "National ID", "Phone"],
                                        ["Nguyen Van An", "2012-09-05", "M", "079212000123", "0912345678"]]))
    _write("vaccinations.csv", _csv([
        ["Họ và tên người được tiêm", "Ngày sinh", "Giới tính", "Số CCCD", "Số điện thoại", "Tên vắc xin",
         "Mũi tiêm", "Ngày tiêm"],
        ["Nguyễn Văn An", "05/09/2012", "Nam", "079212000123", "0912345678", "Sởi", "1", "01/03/2025"],
    ]))
    _write("insurance.csv", _csv([
        ["HO_TEN", "NGAY_SINH", "GIOI_TINH", "SO_CCCD", "MA_THE_BHYT", "Loại thẻ"],
        ["Nguyễn Văn An", "20120905", "1", "079212000123", "HS4797912345678", "HS"],
        ["Trần Thị Bình", "2011", "2", "001311004567", "HS4797912345679", "HS"],
    ]))

    build_issue12(table)
    build_round2()


def _openpyxl(name: str, rows: list[list[object]]) -> None:
    """A workbook written by a library that saves formulas without their values (as openpyxl does)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "DS"
    for row in rows:
        ws.append(row)
    wb.properties.created = wb.properties.modified = dt.datetime(2025, 9, 5)
    wb.save(OUT / name)


def build_issue12(table: list[list[str]]) -> None:
    """New instances of the kinds of issue 12 (the handed cases themselves are in tests/corpus/cases)."""
    # A: other default-ignorable characters and odd spaces, in headers, names, IDs, dates, genders
    zw = ["\u200c", "\u200d", "\u200e", "\u2066", "\ufe0f", "\U000e0041", "\u180e", "\u034f", "\u2063"]
    header = ["STT", "Họ và\u200c tên", "Ngày\u2007sinh", "Giới\u202ftính", "Số định danh\u2060 cá nhân", "Lớp"]
    rows = [header]
    for i, p in enumerate(PEOPLE):
        name = p[1][:3] + zw[i] + p[1][3:6] + zw[i + 4] + p[1][6:]
        ident = p[4][:3] + "\u2007" + p[4][3:6] + "\u00ad" + p[4][6:] + zw[8 - i]
        rows.append([p[0], name, "\u200b" + p[2], p[3][:1] + "\u2069" + p[3][1:], ident, p[5] + "\u3000"])
    _write("invisible_other.csv", _csv(rows))
    _xlsx("invisible_chars.xlsx", lambda wb: _sheet(wb.add_worksheet("DS"), rows))

    # B: look-alike letters and digits: Ɖ/ɖ/Ð, Cyrillic letters in Latin words, full-width and
    # Arabic-Indic digits in IDs and dates
    full = str.maketrans("0123456789/", "０１２３４５６７８９／")
    arabic = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    looks = [HEADER,
             ["1", "Ɖặng Văn An", "05/09/2012", "Nam", "079212000123".translate(full), "6A1"],
             ["2", "Trần Thị \u0412ình", "12/01/2011".translate(full), "Nữ", "001311004567", "7A2"],
             ["3", "Lê Hоàng Cường", "23/11/2010", "Nam", "048210001234".translate(arabic), "8A3"],
             ["4", "Phạm Thị Dung", "30/04/2012", "Nữ", "079312009876", "6A1"],
             ["5", "ɖỗ Thị Ðào", "01/02/2012", "Nữ", "079312000555", "6A1"]]
    _write("lookalikes.csv", _csv(looks))

    # C: a whole sheet typed in a legacy font: title, headers, names, genders (VNI, TCVN3), and a
    # UTF-8 CSV exported from a .VnTime sheet (the glyphs saved as Unicode text)
    title = [["Danh sách học sinh lớp 6"], []]
    plain = title + table
    _xlsx("vni_sheet.xlsx", lambda wb: _sheet(wb.add_worksheet("DS"), [
        [vni_bytes(c).decode("cp1252") for c in r] for r in plain]))
    note = [["Ghi chú"], ["Chuyển trường"], [None], [None], ["Lưu ban"]]
    _xlsx("tcvn3_sheet.xlsx", lambda wb: _sheet(wb.add_worksheet("DS"), [
        [legacy_bytes(c, "tcvn3").decode("latin-1") for c in r] + (note[i - 2] if i >= 2 else [])
        for i, r in enumerate(plain)]))
    _write("tcvn3_utf8.csv", legacy_bytes(_csv(plain), "tcvn3").decode("latin-1").encode("utf-8"))

    # D: line ends: CRLF with stray CRs, a mix of CR / LF / CRLF, CR-only in a legacy encoding
    lines = [",".join(r) for r in table]
    _write("crlf_stray_cr.csv", "\r\n".join(lines[:2]) + "\r\r\n" + lines[2] + "\r" + "\r\n".join(lines[3:]) + "\r\n")
    _write("mixed_line_ends.csv", lines[0] + "\n" + lines[1] + "\r" + lines[2] + "\r\n" + lines[3] + "\r" + lines[4])
    _write("mac_cr_tcvn3.csv", legacy_bytes("\r".join(",".join(r[1:4]) for r in table) + "\r", "tcvn3"))
    # Excel for Mac "CSV (Macintosh)": CR line ends and Mac Roman, which keeps à ú õ but loses ệ ữ
    mac = [["STT", "Ho va ten", "Ngay sinh", "Gioi tinh"], ["1", "Hoàng Thúy", "24/07/2014", "Nam"],
           ["2", "Võ Hà", "09/04/2011", "Nam"]]
    _write("mac_roman.csv", "\r".join(",".join(r) for r in mac).encode("mac_roman") + b"\r")
    lossy = [["STT", "Họ và tên", "Ngày sinh", "Giới tính"], *[p[:4] for p in PEOPLE]]
    _write("mac_roman_lossy.csv", "\r".join(",".join(r) for r in lossy).encode("mac_roman", errors="replace") + b"\r")
    # issue 11 item 5: binary bytes named .csv; duplicate headers whose suffixed labels collide
    _write("binary_named.csv", bytes((i * 7919 + 13) % 256 for i in range(8192)))
    _write("duplicate_headers_collide.csv", _csv([
        ["Họ và tên", "Ngày sinh", "Ghi chú", "Ghi chú", "Ghi chú (2)"],
        ["Nguyễn Văn An", "05/09/2012", "a", "b", "c"]]))

    # E: a very hidden sheet before the list; formulas saved without values (library-written):
    # constant forms that are evaluated, and a cell reference that cannot be
    def very_hidden(wb):
        old = wb.add_worksheet("Tra cứu")
        _sheet(old, [HEADER, *PEOPLE[2:]])
        old.very_hidden()
        _sheet(wb.add_worksheet("DS"), [HEADER, *PEOPLE[:2]])
        wb.worksheets()[1].activate()

    _xlsx("very_hidden_sheet.xlsx", very_hidden)
    _openpyxl("formulas_unsaved.xlsx", [
        HEADER[:5],
        ["=ROW()-1", '=PROPER("nguyễn văn an")', "=DATE(2012,9,5)", '=UPPER("nam")', '="0792"&"12000123"'],
        ["=ROW()-1", "Trần Thị Bình", "=DATE(2011,1,12)+0", "Nữ", "=1311004567"],
        ["=1+2*3/3-0", "Lê Hoàng Cường", "=DATE(2010,12,-7)", '=TRIM("  Nam ")', "048210001234"],
    ])
    _openpyxl("formulas_refs_unsaved.xlsx", [
        HEADER[:5],
        ["1", "Nguyễn Văn An", "05/09/2012", "Nam", "079212000123"],
        ["2", "Trần Thị Bình", "=C2+365", "Nữ", "001311004567"],
    ])


def build_round2() -> None:
    """Hostile files of the second attack round (tests/rules/test_ingest_hostile.py tests each kind)."""
    import openpyxl

    def at(name: str, rows: list[list[object]], row: int, col: int, epoch1904: bool = False,
           patch=None) -> None:
        wb = openpyxl.Workbook()
        if epoch1904:
            wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
        ws = wb.active
        ws.title = "DS"
        for i, values in enumerate(rows):
            for j, v in enumerate(values):
                if v is not None:
                    ws.cell(row=row + i, column=col + j, value=v)
        wb.properties.created = wb.properties.modified = dt.datetime(2025, 9, 5)
        wb.save(OUT / name)
        if patch:  # rewrite the sheet XML as another program would have written it
            data = io.BytesIO((OUT / name).read_bytes())
            out = io.BytesIO()
            with zipfile.ZipFile(data) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
                for item in zin.infolist():
                    body = zin.read(item.filename)
                    zout.writestr(item, patch(body) if item.filename == "xl/worksheets/sheet1.xml" else body)
            (OUT / name).write_bytes(out.getvalue())

    # the table starts at C4; unsaved formulas in the name, date and ID columns, and a whole row of them
    # (calamine leaves such a row out: its values went into the wrong columns, the row was lost)
    at("formulas_offset_unsaved.xlsx", [
        HEADER[:5],
        ["1", '=PROPER("nguyễn văn an")', "=DATE(2012,9,5)", "Nam", "079212000123"],
        ["2", "Trần Thị Bình", "12/01/2011", "Nữ", '="001311004567"'],
        ["=ROW()-4", '=PROPER("lê hoàng cường")', "=DATE(2010,11,23)", '=UPPER("nam")', '="048210001234"'],
    ], 4, 3)
    # Excel's saved empty text (=IF(..,"",..)): t="str" and an empty <v>, beside an empty date cell
    at("formula_empty_text.xlsx", [
        ["Họ và tên", "Ngày sinh", "Ghi chú", "Giới tính"],
        ["Nguyễn Văn An", "05/09/2012", '=IF(1=1,"","x")', "Nam"],
        ["Trần Thị Bình", None, '=IF(1=1,"","x")', "Nữ"],
    ], 1, 1, patch=lambda x: x.replace(b'<c r="C2"><f>', b'<c r="C2" t="str"><f>').replace(
        b'<c r="C3"><f>', b'<c r="C3" t="str"><f>').replace(b"<v />", b"<v></v>"))
    # Excel for Mac's 1904 date system: dates typed as serial numbers, a date cell, a DATE() formula
    at("date1904.xlsx", [
        HEADER[:5],
        ["1", "Nguyễn Văn An", (dt.date(2012, 9, 5) - dt.date(1904, 1, 1)).days, "Nam", "079212000123"],
        ["2", "Trần Thị Bình", dt.datetime(2011, 1, 12), "Nữ", "001311004567"],
        ["3", "Lê Hoàng Cường", "=DATE(2010,11,23)", "Nam", "048210001234"],
    ], 1, 1, epoch1904=True)
    # control characters pasted into cells (NUL, BEL, VT, US, DEL, C1) of a short UTF-8 list
    _write("controls.csv", _csv([
        HEADER,
        ["1", "Nguyễn\x07 Văn An", "05/09/2012", "Nam", "0792120\x0b00123", "6A1"],
        ["2", "Trần\x1f Thị Bình", "12/01/2011", "Nữ", "001311004567\x7f", "7A2"],
        ["3", "Lê Hoàng\x00 Cường\x85", "23/11/2010", "Nam", "048210001234", "8A3"],
    ]))
    _write("utf32.csv", b"\xff\xfe\x00\x00" + _csv([HEADER, *PEOPLE]).encode("utf-32-le"))
    # IDs as ="..." (how exports keep leading zeros), a day-first datetime, serials with a time
    _write("text_formula_ids.csv", _csv([
        HEADER,
        ["1", "Nguyễn Văn An", "05/09/2012 00:00:00", "Nam", '="079212000123"', "6A1"],
        ["2", "Trần Thị Bình", "40555.5", "Nữ", '="001311004567"', "7A2"],
        ["3", "Lê Hoàng Cường", "40505.4166666667", "Nam", "048210001234", "8A3"],
    ]))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    build()
    expected = yaml.safe_load((HERE / "expected.yaml").read_text(encoding="utf-8"))
    missing = sorted({p.name for p in OUT.iterdir()} - set(expected["cases"]))
    print(f"{len(list(OUT.iterdir()))} files in {OUT}; without expectation: {missing or 'none'}")
