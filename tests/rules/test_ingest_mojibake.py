"""Text decoded wrongly once before it reached us: UTF-8 read as CP1252/Latin-1 (mojibake), a BOM
on the first data line, letters Windows wrote as ``?`` in an all-ASCII CSV.

Mojibake carries NBSP, soft hyphen and C1 bytes (``Lê Hoàng Cường`` -> ``LÃª HoÃ\\xa0ng CÆ°á»\\x9dng``):
the cell pass once removed them as invisible characters first, the name repair then read what was
left as TCVN3 and the row was accepted as ``Lóê Hóo Ng Cổ Ầ Ng``; a header in mojibake gave
``no_header``. Both ways are property tests: every mojibake of Vietnamese or Western text comes back,
and genuine text (with any stray invisible character or odd space in it) is never "repaired".
"""

from __future__ import annotations

import sys
import tempfile
import unicodedata
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from rules.ingest import process_upload
from rules.ingest.cells import clean_frame, clean_rows
from rules.ingest.errors import UploadError
from rules.normalise.characters import table
from rules.normalise.repair import undo_mojibake
from tests.rules.upload_files import write_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
from make_corpus import legacy_bytes, vni_bytes  # the corpus's own, independent encoders

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_T = table()
# what a person can leave in genuine text without seeing it: invisible characters, odd spaces
STRAYS = sorted(_T.controls | {c for c in _T.ignorable if c < 0x10000} | _T.spaces)
SYLLABLES = [
    "Nguyễn", "Văn", "An", "Trần", "Thị", "Bình", "Lê", "Hoàng", "Cường", "Phạm", "Dung", "Hà", "Mà", "Tú",
    "Chí", "Võ", "Mai", "Lý", "Tài", "Đặng", "Ánh", "Ngọc", "Hương", "Quý", "Thủy", "Giã", "Xã", "Quả", "Gia",
    "Ân", "Ẩn", "Ưng", "Ơn", "Dương", "Hồ", "Khuê", "Tuấn", "Ý", "Ú", "Ò", "Ô", "Ê", "Ã", "Â",
]
WESTERN = [
    "José", "María", "Müller", "François", "Søren", "Zoë", "Ångström", "Þór", "Ægir", "Œuvre", "Šimon",
    "Straße", "Ñuñez", "Ørsted",
]
WORDS = SYLLABLES + WESTERN


def garble(text: str, codec: str = "cp1252") -> str:
    """``text`` saved as UTF-8 and read as ``codec`` (CP1252's five undefined bytes as Latin-1 does,
    which is what Windows and Excel show for them)."""
    return "".join(bytes([b]).decode(codec, errors="ignore") or chr(b) for b in text.encode("utf-8"))


def cased(words: list[str], case: str) -> str:
    text = " ".join(words)
    return {"title": text, "lower": text.lower(), "upper": text.upper()}[case]


HEADER = ["STT", "Họ và tên", "Ngày sinh", "Giới tính", "Số định danh cá nhân"]
PEOPLE = [
    ["1", "Nguyễn Văn An", "05/09/2012", "Nam", "079212000123"],
    ["2", "Trần Thị Bình", "12/01/2011", "Nữ", "001311004567"],
    ["3", "Lê Hoàng Cường", "23/11/2010", "Nam", "048210001234"],
]


_write = write_rows


# --- undo_mojibake, both ways -------------------------------------------------------------------


def test_the_reported_name_comes_back_with_its_nbsp_and_c1_bytes():
    garbled = garble("Lê Hoàng Cường")
    assert "\xa0" in garbled and "\x9d" in garbled  # the bytes the cell pass used to remove
    assert undo_mojibake(garbled) == "Lê Hoàng Cường"


@SETTINGS
@example(words=["Lê", "Hoàng", "Cường"], case="title", codec="cp1252", nfd=False)
@example(words=["Hà", "Tú"], case="lower", codec="latin-1", nfd=True)
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=5),
       case=st.sampled_from(["title", "lower"]), codec=st.sampled_from(["cp1252", "latin-1"]),
       nfd=st.booleans())
def test_mojibake_of_any_vietnamese_or_western_text_comes_back(words, case, codec, nfd):
    """From either code page's view, typed precomposed or decomposed (the decomposed kind comes back
    NFC). Alone when the mojibake holds a lower-case letter (``LÃª``); otherwise (``Ã\x9d`` for
    ``Ý``, ``HÃ\xa0`` for ``Hà``: capitals and symbols, as genuine capitals can be) only among mojibake."""
    text = cased(words, case)
    text = unicodedata.normalize("NFD" if nfd else "NFC", text)
    assume(not text.isascii())
    garbled = garble(text, codec)
    want = unicodedata.normalize("NFC", text)
    assert undo_mojibake(garbled, among_mojibake=True) == want
    if any(c.islower() for c in garbled):
        assert undo_mojibake(garbled) == want
    else:
        assert undo_mojibake(garbled) is None


@SETTINGS
@example(words=["Hoàng"])
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=5))
def test_mojibake_whose_nbsp_became_a_space_comes_back(words):
    """Copy-paste turns the NBSP of ``HoÃ\xa0ng`` into a space: a space where a UTF-8 sequence needs
    its next byte was that byte."""
    text = " ".join(words)
    garbled = garble(text).replace("\xa0", " ")
    assume(any(c.islower() for c in garbled) and not text.isascii())
    assert undo_mojibake(garbled) == unicodedata.normalize("NFC", text)


@SETTINGS
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4), case=st.sampled_from(["title", "upper"]))
def test_every_cell_of_a_mojibake_column_comes_back(words, case):
    """Cells a single value cannot vouch for (``HÃ\\xa0`` is ``Hà`` or a capital ``Ã`` before an NBSP)
    come back when their column holds mojibake that can: the column decides."""
    text = cased(words, case)
    col = pl.Series("c0", [garble("Nguyễn Văn An"), garble(text)])
    frame, report = clean_frame(pl.DataFrame([col]))
    want = "".join(" " if ord(c) in _T.spaces else c for c in text)
    assert frame["c0"].to_list() == ["Nguyễn Văn An", want]
    assert report.mojibake_cells == (2 if not text.isascii() else 1)


@SETTINGS
@example(words=["Lê", "Hà"], case="upper", strays=[(2, 0xA0)])  # "LÊ\xa0HÀ": Ê + NBSP is valid UTF-8
@example(words=["Xã"], case="upper", strays=[(2, 0xA0)])  # "XÃ\xa0" is also the mojibake of "Xà"
@example(words=["Quả"], case="upper", strays=[(3, 0x81)])
@example(words=["Ân"], case="title", strays=[(1, 0xAD)])  # "Â\xad" is UTF-8 for a soft hyphen
@example(words=["Ò"], case="upper", strays=[(1, 0x81)])  # "Ì"/"Ò" + C1: a combining mark on nothing
@example(words=["Ã", "An"], case="title", strays=[])  # "Ã An": not "àAn" (a restored NBSP begins no word)
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
       case=st.sampled_from(["title", "lower", "upper"]),
       strays=st.lists(st.tuples(st.integers(0, 60), st.sampled_from(STRAYS)), max_size=4))
def test_genuine_text_with_strays_is_never_repaired(words, case, strays):
    text = cased(words, case)
    for at, cp in strays:
        at %= len(text) + 1
        text = text[:at] + chr(cp) + text[at:]
    assert undo_mojibake(text) is None


@SETTINGS
@given(words=st.lists(st.sampled_from(SYLLABLES), min_size=1, max_size=4),
       case=st.sampled_from(["title", "lower", "upper"]), encoding=st.sampled_from(["tcvn3", "vni", "viscii"]))
def test_legacy_font_text_is_never_taken_for_mojibake(words, case, encoding):
    text = cased(words, case)
    try:
        data = vni_bytes(text) if encoding == "vni" else legacy_bytes(text, encoding)
    except ValueError:  # TCVN3 has no capitals with a hook or dot below
        assume(False)
    assert undo_mojibake(data.decode("latin-1")) is None


@SETTINGS
@given(words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=4),
       case=st.sampled_from(["title", "lower", "upper"]),
       strays=st.lists(st.tuples(st.integers(0, 60), st.sampled_from(STRAYS)), max_size=3))
def test_the_cell_pass_leaves_genuine_columns_as_the_character_pass_does(words, case, strays):
    """A column of genuine text, strays and all, next to nothing garbled: no cell is counted or
    changed as mojibake (the character pass alone decides what becomes of the strays)."""
    text = cased(words, case)
    for at, cp in strays:
        at %= len(text) + 1
        text = text[:at] + chr(cp) + text[at:]
    frame = pl.DataFrame([pl.Series("c0", [text, "Trần Thị Bình"])])
    _, report = clean_frame(frame)
    _rows, reports = clean_rows([[text]], 1)
    assert report.mojibake_cells == 0 and sum(r.mojibake_cells for r in reports) == 0


# --- whole uploads ------------------------------------------------------------------------------


@pytest.mark.parametrize("xlsx", [False, True])
@pytest.mark.parametrize("garbled_header", [False, True])
def test_an_upload_in_mojibake_reads_as_the_names_it_means(xlsx, garbled_header):
    header = [garble(h) for h in HEADER] if garbled_header else HEADER
    rows = [header] + [[r[0], garble(r[1]), r[2], garble(r[3]), r[4]] for r in PEOPLE]
    with tempfile.TemporaryDirectory() as d:
        result = process_upload(_write(rows, d, xlsx), province="ho_chi_minh", sector="students")
    assert result.counts["accepted"] == 3
    assert result.normalised_valid["name_clean"].to_list() == [r[1] for r in PEOPLE]
    cells = result.upload.cells
    # three names, "Nữ" ("Nam" is ASCII), and the four headers beyond ASCII when they are garbled
    assert cells["mojibake_cells_repaired"] == 3 + 1 + (4 if garbled_header else 0)
    assert cells["invisible_removed"] == 0 and cells["legacy_font_cells_repaired"] == 0


def test_a_bom_starting_the_first_data_line_is_counted():
    """polars drops it (it starts the parser's input once the header lines are skipped); it is an
    invisible character removed like a BOM anywhere else in the file."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "ds.csv"
        lines = [",".join(HEADER)] + [",".join(r) for r in PEOPLE]
        path.write_bytes(("\n".join([*lines[:1], "\ufeff" + lines[1], *lines[2:]]) + "\n").encode("utf-8"))
        result = process_upload(path, province="ho_chi_minh", sector="students")
        assert result.counts["accepted"] == 3 and result.upload.cells["invisible_removed"] == 1
        path.write_bytes(("\n".join([*lines[:2], "\ufeff" + lines[2], *lines[3:]]) + "\n").encode("utf-8"))
        result = process_upload(path, province="ho_chi_minh", sector="students")
        assert result.counts["accepted"] == 3 and result.upload.cells["invisible_removed"] == 1


ASCII_HEADER = "STT,Ho va ten,Ngay sinh,Gioi tinh,Ghi chu"
ASCII_ROWS = ["1,Nguyen Van An,05/09/2012,Nam,", "2,Tran Thi Binh,12/01/2011,Nu,", "3,Le Hoang Cuong,23/11/2010,Nam,"]


@pytest.mark.parametrize(("row", "name"), [(1, "Nguy?n V?n An"), (2, "Tr?n Th? B?nh"), (3, "L? Ho?ng C??ng"),
                                           (2, "??ng Van Binh")])
def test_an_ascii_csv_with_letters_lost_as_question_marks_is_refused(row, name):
    lines = list(ASCII_ROWS)
    parts = lines[row - 1].split(",")
    lines[row - 1] = ",".join([parts[0], name, *parts[2:]])
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "ds.csv"
        path.write_text("\n".join([ASCII_HEADER, *lines]) + "\n", encoding="ascii")
        with pytest.raises(UploadError) as info:
            process_upload(path, province="ho_chi_minh", sector="students")
    err = info.value
    assert err.code == "lossy_ansi_csv" and err.row == row + 1 and err.column == "Ho va ten"
    assert "\n" not in str(err) and "ds.csv" in str(err) and name not in str(err)


@pytest.mark.parametrize("note", ["Da nop?", "Hoi lai? Xem sau", "?", "Chua ro ?", "a.php?id=3", "Nam?"])
def test_a_question_mark_in_a_note_is_no_lost_letter(note):
    lines = [ASCII_ROWS[0][:-1] + "," + note, *ASCII_ROWS[1:]]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "ds.csv"
        path.write_text("\n".join([ASCII_HEADER, *lines]) + "\n", encoding="ascii")
        result = process_upload(path, province="ho_chi_minh", sector="students")
    assert result.counts["accepted"] == 3
