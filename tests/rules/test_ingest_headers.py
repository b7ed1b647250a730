"""Header aliases (YAML), header detection below titles, two-row headers, footers, encodings."""

from __future__ import annotations

import codecs
import unicodedata
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from unidecode import unidecode

from rules.ingest import UploadError
from rules.ingest.encoding import decode_bytes
from rules.ingest.headers import FEMALE_MARK, MALE_MARK, SECTOR_FIELDS, fold, header_spec
from rules.ingest.layout import find_header, footer_rows
from rules.ingest.readers import sniff_delimiter
from rules.sectors import SECTORS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sector", SECTORS)
def test_every_yaml_alias_maps_to_its_field(sector: str):
    spec = header_spec(sector)
    for field, names in spec.display.items():
        for name in names:
            assert spec.lookup(name) == field, (sector, name)
    assert set(spec.fields) >= {"full_name", "date_of_birth", "gender", "national_id", "old_id", "phone"}
    assert set(SECTOR_FIELDS[sector]) <= set(spec.fields)


@settings(max_examples=200, deadline=None)
@given(sector=st.sampled_from(SECTORS), data=st.data())
def test_alias_matching_ignores_case_diacritics_spacing(sector: str, data):
    spec = header_spec(sector)
    field = data.draw(st.sampled_from(sorted(spec.display)))
    alias = data.draw(st.sampled_from(spec.display[field]))
    variant = alias
    if data.draw(st.booleans()):
        variant = unidecode(variant)
    variant = data.draw(st.sampled_from([variant.upper(), variant.lower(), variant.title(), variant]))
    if data.draw(st.booleans()):
        variant = unicodedata.normalize("NFD", variant)
    pad = data.draw(st.sampled_from(["", " ", "  ", "\u00a0"]))
    variant = pad + variant.replace(" ", data.draw(st.sampled_from([" ", "  ", " \t"]))) + pad
    if data.draw(st.booleans()):
        variant += data.draw(st.sampled_from([" (dd/mm/yyyy)", ":", " *", " (*)"]))
    assert spec.lookup(variant) == field, (alias, variant)


def test_header_variants_of_the_synthetic_writer_are_all_recognised():
    """rules/synth/header_variants.yaml lists how the generated uploads write headers."""
    variants = yaml.safe_load((ROOT / "rules" / "synth" / "header_variants.yaml").read_text(encoding="utf-8"))
    expected_field = {"stt": None, "gender_female_x": FEMALE_MARK}
    for sector in SECTORS:
        spec = header_spec(sector)
        fields = {**variants["common"], **variants.get(sector, {})}
        for field, names in fields.items():
            for name in names:
                if isinstance(name, list):  # a Nam | Nữ pair of tick columns
                    assert [spec.lookup(n) for n in name] == [MALE_MARK, FEMALE_MARK]
                    continue
                assert spec.lookup(name) == expected_field.get(field, field), (sector, field, name)


def test_fold():
    assert fold("  HỌ VÀ  TÊN: ") == "ho va ten"
    assert fold("Số ĐDCN/CCCD") == "so ddcn cccd"
    assert fold("\u00d0ỗ") == "do"  # the look-alike ETH folds like Đ


def test_header_found_below_titles_and_blank_rows():
    spec = header_spec("students")
    grid = [["UBND TỈNH LÂM ĐỒNG", None, None], [None, None, None], ["DANH SÁCH HỌC SINH", None, None],
            ["Họ và tên", "Ngày sinh", "Số CCCD"], ["Nguyễn Văn An", "05/09/2012", "079212000123"]]
    layout = find_header(spec, grid, 3)
    assert (layout.header_row, layout.n_header_rows, layout.data_start) == (3, 1, 4)
    assert layout.fields == ("full_name", "date_of_birth", "national_id")


def test_two_row_header_with_merged_group_cells():
    spec = header_spec("students")
    grid = [["STT", "Họ và tên", "Phụ huynh", None, "Ghi chú"],
            [None, None, "Họ tên", "SĐT", None],
            ["1", "Nguyễn Văn An", "Nguyễn Văn Bố", "0912345678", None]]
    layout = find_header(spec, grid, 5)
    assert (layout.header_row, layout.n_header_rows) == (0, 2)
    assert layout.fields == (None, "full_name", "guardian_name", "guardian_phone", None)
    assert layout.labels[2] == "Phụ huynh - Họ tên"


def test_column_number_row_under_the_header_is_skipped():
    spec = header_spec("students")
    grid = [["STT", "Họ và tên", "Ngày sinh", "Giới tính"], ["(1)", "(2)", "(3)", "(4)"],
            ["1", "Nguyễn Văn An", "05/09/2012", "Nam"]]
    layout = find_header(spec, grid, 4)
    assert (layout.header_row, layout.data_start) == (0, 2)


def test_duplicated_field_maps_from_first_column_only():
    spec = header_spec("students")
    layout = find_header(spec, [["Họ và tên", "Ngày sinh", "Họ tên"]], 3)
    assert layout.fields == ("full_name", "date_of_birth", None)


def test_no_header_in_data_only_grid():
    assert find_header(header_spec("students"), [["a", "b"], ["1", "2"]], 2) is None


def _sparse(rows):
    return [(i, r) for i, r in enumerate(rows) if sum(1 for c in r if c and c.strip()) <= 2]


def test_footer_rows_are_notes_and_the_signers_under_a_signature():
    spec = header_spec("students")
    tail = [["1", "Nguyễn Văn An", "05/09/2012", "Nam"],
            [None, "Trần Thị Bình", None, None],  # sparse but a person: stays data
            [None, "Tổng cộng: 2 học sinh", None, None],
            [None, None, None, None],
            [None, "Người lập biểu", None, "Hiệu trưởng"],
            [None, "Trần Văn Lập", None, None]]  # a signer, under the signature line
    assert footer_rows(spec, _sparse(tail), len(tail)) == [2, 4, 5]
    assert footer_rows(spec, _sparse(tail[:2]), 2) == []


VIET = st.text(alphabet=st.sampled_from(list("aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệ"
                                              "ìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ ,")), min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(text=VIET)
def test_unicode_encodings_round_trip(text: str):
    nfc = unicodedata.normalize("NFC", text)
    for data in (nfc.encode("utf-8"), codecs.BOM_UTF8 + nfc.encode("utf-8"), nfc.encode("utf-16"),
                 unicodedata.normalize("NFD", nfc).encode("utf-8")):
        decoded = decode_bytes(data)
        assert unicodedata.normalize("NFC", decoded.data.decode("utf-8")) == nfc


def test_windows_1258_and_undecodable_bytes():
    from tests.corpus.make_corpus import cp1258_bytes

    text = "Họ và tên,Ngày sinh\nNguyễn Thị Thuỷ,05/09/2012\nTrần Văn Đức,01/01/2011\n"
    decoded = decode_bytes(cp1258_bytes(text))
    assert decoded.encoding == "cp1258" and decoded.data.decode("utf-8") == unicodedata.normalize("NFC", text)
    with pytest.raises(UploadError) as info:
        decode_bytes(bytes(range(0x80, 0x100)) * 4, file="x.csv")
    assert info.value.code == "legacy_encoding" and "x.csv" in str(info.value)


@settings(max_examples=60, deadline=None)
@given(delim=st.sampled_from([",", ";", "\t", "|"]),
       rows=st.lists(st.lists(st.text(alphabet="abc xyz,;|", min_size=0, max_size=6), min_size=3, max_size=3),
                     min_size=3, max_size=8))
def test_delimiter_sniffing(delim: str, rows):
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, delimiter=delim, quoting=csv.QUOTE_ALL).writerows([["Họ và tên", "Ngày sinh", "CCCD"], *rows])
    assert sniff_delimiter(out.getvalue()) == delim


def test_invalid_utf8_far_below_the_head_is_decoded_as_8bit(tmp_path: Path):
    """The head looks like UTF-8, a Windows-1258 name comes after the first 256 KB: still read right."""
    from rules.ingest import read_upload
    from tests.corpus.make_corpus import cp1258_bytes

    filler = "".join(f"Nguyen Van A{i},05/09/2012\n" for i in range(12_000)).encode("ascii")
    path = tmp_path / "late.csv"
    path.write_bytes(b"Ho va ten,Ngay sinh\n" + filler + cp1258_bytes("Trần Thị Thuỷ,12/01/2011\n"))
    up = read_upload(path, province="lam_dong", sector="students")
    assert len(filler) > 256 * 1024 and up.encoding == "cp1258"
    assert up.raw.height == 12_001 and up.raw["full_name"][-1] == "Trần Thị Thuỷ"


TITLE_LINES = ["UBND TỈNH LÂM ĐỒNG", "SỞ GIÁO DỤC VÀ ĐÀO TẠO", "TRƯỜNG THCS NGUYỄN DU", "DANH SÁCH HỌC SINH",
               "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "Năm học 2025 - 2026"]


@settings(max_examples=80, deadline=None)
@given(titles=st.lists(st.one_of(st.none(), st.sampled_from(TITLE_LINES)), max_size=8),
       headers=st.permutations(["Họ và tên", "Ngày sinh", "Giới tính", "Số CCCD", "STT", "Ghi chú"]),
       n_data=st.integers(1, 5))
def test_header_found_under_any_title_block(titles, headers, n_data):
    spec = header_spec("students")
    width = len(headers)
    grid = [[t] + [None] * (width - 1) if t else [None] * width for t in titles]
    grid.append(list(headers))
    grid += [["Nguyễn Văn An" if h == "Họ và tên" else "1" for h in headers] for _ in range(n_data)]
    layout = find_header(spec, grid, width)
    assert layout is not None and layout.header_row == len(titles) and layout.data_start == len(titles) + 1
    assert dict(zip(headers, layout.fields, strict=True))["Họ và tên"] == "full_name"
