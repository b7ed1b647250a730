"""Legacy 8-bit encodings: detection and conversion of words, names and whole documents."""

from __future__ import annotations

import codecs

import pytest

from rules.normalise import decode_bytes, detect_legacy, repair_text, to_unicode

SAMPLE = (
    "Cộng hòa xã hội chủ nghĩa Việt Nam\nĐộc lập - Tự do - Hạnh phúc\n"
    "Danh sách học sinh: Nguyễn Văn Hùng, Trần Thị Thủy"
)


# Examples from the domain README §3.4 item 7, as the bytes look in Latin-1/CP1252.
@pytest.mark.parametrize(
    ("legacy", "encoding", "unicode"),
    [
        ("QuyÕt ®Þnh", "tcvn3", "Quyết định"),
        ("B¸o c¸o", "tcvn3", "Báo cáo"),
        ("Coäng hoøa", "vni", "Cộng hòa"),
        ("Ñoäc laäp", "vni", "Độc lập"),
    ],
)
def test_readme_examples(legacy: str, encoding: str, unicode: str) -> None:
    assert detect_legacy(legacy) == encoding
    assert to_unicode(legacy, encoding) == unicode


def _tcvn3_encode(text: str) -> str:
    """Independent encoder built from the published TCVN3 (ABC) lower-case byte layout."""
    lower = (
        "à¸µ á¸ ả¶ ã· ạ¹ ă¨ ằ» ắ¾ ẳ¼ ẵ½ ặÆ â© ầÇ ấÊ ẩÈ ẫÉ ậË đ® èÌ éÐ ẻÎ ẽÏ ẹÑ êª ềÒ ếÕ ểÓ ễÔ ệÖ ì× íÝ ỉØ ĩÜ ịÞ "
        "òß óã ỏá õâ ọä ô« ồå ốè ổæ ỗç ộé ơ¬ ờê ớí ởë ỡì ợî ùï úó ủñ ũò ụô ư\u00ad ừõ ứø ửö ữ÷ ựù ỳú ýý ỷû ỹü ỵþ "
        "Ă¡ Â¢ Đ§ Ê£ Ô¤ Ơ¥ Ư¦"
    )
    table = {pair[0]: pair[1] for pair in lower.split()}
    table["à"] = "µ"
    table["á"] = "¸"
    return "".join(table.get(ch, ch) for ch in text)


def test_tcvn3_whole_document_roundtrip() -> None:
    text = SAMPLE.lower()  # ABC has no upper-case toned letters
    legacy = _tcvn3_encode(text)
    assert legacy != text
    assert detect_legacy(legacy) == "tcvn3"
    assert to_unicode(legacy, "tcvn3") == text


def test_viscii_bytes_roundtrip_via_decode_bytes() -> None:
    # A few RFC 1456 (VISCII) byte positions, written out here independently of legacy_tables.yaml.
    viscii = {"ă": 0xE5, "đ": 0xF0, "ơ": 0xBD, "ư": 0xDF, "ạ": 0xD5, "ệ": 0xAE, "ị": 0xB8, "ộ": 0xB5, "ọ": 0xF7}
    text = "đơn vị: học sinh lạ, bệnh ăn, cộng đồng ưu ái"
    text = "".join(ch for ch in text if ch in viscii or ord(ch) < 128)
    data = bytes(viscii.get(ch, ord(ch)) for ch in text)
    decoded, enc = decode_bytes(data)
    assert enc == "viscii"
    assert decoded == text


def test_utf8_bytes_are_left_alone() -> None:
    decoded, enc = decode_bytes(SAMPLE.encode("utf-8"))
    assert (decoded, enc) == (SAMPLE, "utf-8")
    decoded, enc = decode_bytes(codecs.BOM_UTF8 + SAMPLE.encode("utf-8"))
    assert (decoded, enc) == (SAMPLE, "utf-8")


def test_latin_text_is_not_mistaken_for_legacy() -> None:
    for text in ["señor café", "Müller Straße", "naïve façade", "São Paulo", "plain ascii text", ""]:
        assert detect_legacy(text) is None, text
    data = "Société Générale à Paris".encode("cp1252")
    assert decode_bytes(data) == ("Société Générale à Paris", "cp1252")


def test_unicode_vietnamese_is_never_converted() -> None:
    assert detect_legacy(SAMPLE) is None
    assert detect_legacy("Lê Anh Tú") is None


def test_unknown_encoding_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown legacy encoding"):
        to_unicode("abc", "vps")


def test_repair_text_flags() -> None:
    assert repair_text("NguyÔn V¨n An") == ("Nguyễn Văn An", "legacy_encoding_repaired")
    assert repair_text("Nguyá»…n VÄƒn An") == ("Nguyễn Văn An", "mojibake_repaired")
    # Mis-decoded twice (UTF-8 -> CP1252 -> UTF-8 -> CP1252) is undone too.
    twice = "Nguyễn".encode().decode("cp1252").encode().decode("cp1252")
    assert repair_text(twice) == ("Nguyễn", "mojibake_repaired")
    assert repair_text("Nguyễn Văn An") == ("Nguyễn Văn An", None)
