"""8-bit text files that are not Vietnamese encodings: never diagnosed as a legacy font.

A CSV that is not UTF-8 was refused as "the file uses the legacy TCVN3 (ABC) encoding" whenever
neither Windows-1258 nor a legacy table read it, which sent the uploader to a font converter that
would mangle it. Real bytes of the three cases, as Windows writes them:

* Western text (Windows-1252: Excel's plain 'CSV' on a Western PC): foreign names with é, ü, ñ,
  Vietnamese names that need no letter beyond Latin-1. Read as Windows-1252, exactly as typed.
* Vietnamese saved the same way: every letter Windows-1252 lacks was written as ``?``. Refused as
  letters lost (``lossy_ansi_csv``), naming the first line, never read as ``Nguy?n``.
* UTF-8 that went through a Windows-1252 view and was saved with ``?`` for the bytes the code page
  lacks: refused the same way. (Saved by Windows itself, the undefined bytes survive and the file
  is plain UTF-8 again.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from rules.ingest import UploadError, process_upload
from rules.ingest.encoding import decode_bytes

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Names as written in their languages, every letter in Windows-1252.
WESTERN_NAMES = [
    "José Müller", "François Lefèvre", "Zoë Brontë", "Søren Kierkegaard", "Ángel Núñez", "João Gonçalves",
    "Björn Åström", "Jürgen Weiß", "Hélène Côté", "Maël Ibáñez", "Œdipe Šimek", "Ana Patrícia Conceição",
    "Renée Dubois", "Ørjan Ødegård", "Íñigo Peña", "Gérard Depardieu", "ÉMILE ZOLA", "Chloé Lemaître",
]
# Vietnamese names spelt with Latin-1 letters only (no ă, đ, ơ, ư, no dot below or hook).
LATIN1_VIETNAMESE = ["Lê Hà", "Tô Thì Tâm", "Hà Tú Chí", "Lê Văn", "Võ Thị Hà", "Tôn Nữ", "Hồ Lê"]
LATIN1_VIETNAMESE = [n for n in LATIN1_VIETNAMESE if all(ord(c) < 0x100 for c in n)]
VIETNAMESE = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thị Dung", "Đặng Minh Khôi",
              "Hoàng Thu Hương", "Vũ Đức Thắng", "Bùi Thị Ngọc Ánh"]
HEADER = "STT,Ho va ten,Ngay sinh,Gioi tinh\r\n"


def _lines(names: list[str]) -> str:
    return HEADER + "".join(f"{i},{n},0{1 + i % 9}/0{1 + i % 9}/2012,Nam\r\n" for i, n in enumerate(names, 1))


@FAST
@example(names=["José Müller"])
@example(names=["Søren Kierkegaard", "ÉMILE ZOLA"])
@example(names=["Lê Hà", "Tô Thì Tâm"])
@given(names=st.lists(st.sampled_from(WESTERN_NAMES + LATIN1_VIETNAMESE), min_size=1, max_size=30))
def test_western_text_is_read_as_typed_never_as_a_legacy_font(names):
    text = _lines(names)
    decoded = decode_bytes(text.encode("cp1252"), file="ds.csv")
    assert not decoded.converted and decoded.encoding in ("cp1252", "cp1258")
    assert decoded.data.decode("utf-8") == text


def test_a_western_list_is_uploaded_with_its_names(tmp_path: Path):
    path = tmp_path / "ds.csv"
    path.write_bytes(_lines(["José Müller", "Hélène Côté", "Søren Kierkegaard"]).encode("cp1252"))
    result = process_upload(path, province="lam_dong", sector="students", unit="u")
    assert result.upload.encoding == "cp1252" and result.counts["rows_read"] == 3
    assert result.upload.cells["legacy_font_cells_repaired"] == 0
    assert sorted(result.raw["full_name"].to_list()) == ["Hélène Côté", "José Müller", "Søren Kierkegaard"]


@SLOW
@example(names=VIETNAMESE[:3], header=True)
@example(names=["Lê Hà", "Đặng Minh Khôi"], header=False)  # only "??ng" lost: a "?" starting a word
@example(names=["Lê Hà", "Tô Thì Tâm"], header=True)  # only the header lost letters
@example(names=["Tô Thì Tâm"], header=False)  # nothing lost; once read as Windows-1258 "Th\u0301"
@given(names=st.lists(st.sampled_from(VIETNAMESE + LATIN1_VIETNAMESE), min_size=1, max_size=20), header=st.booleans())
def test_vietnamese_saved_in_windows_1252_is_refused_as_letters_lost(names, header):
    """Excel's plain 'CSV' on a Western PC writes ``?`` for each letter Windows-1252 lacks: the file
    is refused saying so, naming the first line that lost one, whatever else it holds."""
    head = "STT,Họ và tên,Ngày sinh,Giới tính\r\n" if header else HEADER
    lines = [head] + [f"{i},{n},05/09/2012,Nam\r\n" for i, n in enumerate(names, 1)]
    data = "".join(lines).encode("cp1252", errors="replace")  # what Windows writes: "?" for the rest
    lost = [k for k, line in enumerate(lines, 1) if b"?" in line.encode("cp1252", errors="replace")]
    assume(not data.isascii())  # all letters lost or plain: an ASCII file, read as UTF-8 (not this kind)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ds.csv"
        path.write_bytes(data)
        if not lost:  # Latin-1 letters only: the Western case, read as typed
            raw = process_upload(path, province="lam_dong", sector="students", unit="u").raw
            assert raw["full_name"].to_list() == names
            return
        with pytest.raises(UploadError) as info:
            process_upload(path, province="lam_dong", sector="students", unit="u")
    assert info.value.code == "lossy_ansi_csv" and info.value.row == lost[0]
    assert "TCVN3" not in str(info.value) and "\n" not in str(info.value)


def _windows_1252_view(data: bytes) -> str:
    """Bytes as Windows shows them in Windows-1252: its five undefined bytes become U+0081 etc."""
    return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in data)


@pytest.mark.parametrize("lossy", [True, False])
def test_utf8_saved_through_a_windows_1252_view(tmp_path: Path, lossy: bool):
    """UTF-8 opened as Windows-1252 (``Há»\x8d vÃ  tÃªn``) and saved in it again. Windows keeps the
    five bytes the code page leaves undefined (0x81 0x8D 0x8F 0x90 0x9D), so the file is its UTF-8
    again and is read; a program that writes ``?`` for them loses letters (ọ is E1 BB 8D, ờ E1 BB 9D)."""
    names = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường"]
    text = "STT,Họ và tên,Ngày sinh,Giới tính\r\n" + "".join(
        f"{i},{n},05/09/2012,Nam\r\n" for i, n in enumerate(names, 1))
    shown = _windows_1252_view(text.encode("utf-8"))
    assert "\x8d" in shown and "\x9d" in shown
    back = {bytes([b]).decode("cp1252", errors="ignore") or chr(b): b for b in range(256)}
    path = tmp_path / "ds.csv"
    if lossy:
        path.write_bytes(bytes(back[c] if c in back and not 0x80 <= ord(c) < 0xA0 else ord("?") for c in shown))
        with pytest.raises(UploadError) as info:
            process_upload(path, province="lam_dong", sector="students", unit="u")
        assert info.value.code == "lossy_ansi_csv" and info.value.row == 1 and "TCVN3" not in str(info.value)
        return
    path.write_bytes(bytes(back[c] for c in shown))
    result = process_upload(path, province="lam_dong", sector="students", unit="u")
    assert result.upload.encoding == "utf-8" and sorted(result.raw["full_name"]) == sorted(names)


def test_legacy_font_files_are_still_read(tmp_path: Path):
    """The Western reading comes after the Vietnamese ones: a TCVN3 list is still TCVN3."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
    from make_corpus import legacy_bytes, vni_bytes

    text = "STT,Họ và tên,Ngày sinh,Giới tính\r\n1,Nguyễn Văn An,05/09/2012,Nam\r\n2,Trần Thị Bình,12/01/2011,Nữ\r\n"
    for data, want in ((legacy_bytes(text, "tcvn3"), "tcvn3"), (vni_bytes(text), "vni")):
        decoded = decode_bytes(data, file="ds.csv")
        assert decoded.encoding == want and decoded.data.decode("utf-8").startswith("STT,Họ và tên")
