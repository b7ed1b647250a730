"""rules.transliterate.to_ascii is unidecode, for every character and any string of them."""

from hypothesis import given
from hypothesis import strategies as st
from unidecode import unidecode

from rules.transliterate import to_ascii


def test_every_code_point_matches_unidecode():
    # unidecode's tables end below U+20000; a few code points above stand for the rest (all map to "")
    points = [*range(0x20000), 0x20000, 0x2A6D6, 0xE0041, 0xEFFFF, 0xF0000, 0x10FFFF]
    chars = "".join(chr(cp) for cp in points if not 0xD800 <= cp <= 0xDFFF)
    assert to_ascii(chars) == unidecode(chars)


def test_vietnamese_names():
    assert to_ascii("Nguyễn Thị Đào") == "Nguyen Thi Dao"
    assert to_ascii("plain ascii") == "plain ascii"


@given(st.text())
def test_any_text_matches_unidecode(text):
    assert to_ascii(text) == unidecode(text)
