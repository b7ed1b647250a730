"""Names: tone placement, NFC, đ, case/spacing/punctuation, mojibake and legacy repair, keys.

Example tables follow the domain README §3.4 (shared/domain/README.md).
"""

from __future__ import annotations

import unicodedata

import polars as pl
import pytest

from rules.normalise import canonical_tone, fold, normalise_names, strip_diacritics
from rules.normalise.syllable import is_syllable, parse


def _one(name: str | None) -> dict:
    return normalise_names(pl.Series([name], dtype=pl.Utf8)).row(0, named=True)


# README 3.4/5: old vs new style -> the same canonical (old-style) spelling.
@pytest.mark.parametrize(
    ("old", "new"),
    [("hòa", "hoà"), ("hóa", "hoá"), ("khỏe", "khoẻ"), ("thủy", "thuỷ"), ("túy", "tuý"), ("lũy", "luỹ"), ("ủy", "uỷ")],
)
def test_old_and_new_tone_style_meet(old: str, new: str) -> None:
    assert canonical_tone(new) == old
    assert canonical_tone(old) == old
    assert unicodedata.normalize("NFC", old) != unicodedata.normalize("NFC", new)  # really different input


# With a final consonant, or qu/gi as the initial, or other vowel groups there is no choice.
@pytest.mark.parametrize(
    "word",
    [
        *("hoàn", "toán", "khoét", "huỳnh", "thuận", "chuyển", "quý", "quả", "già", "giữ", "mía", "của"),
        *("mưa", "tiến", "muốn", "người", "hoài", "khuỷu", "Nguyễn", "gìn", "rượu", "khuấy", "thuở"),
    ],
)
def test_fixed_placements_are_unchanged(word: str) -> None:
    assert canonical_tone(word) == word


def test_misplaced_mark_with_final_consonant_is_moved() -> None:
    assert canonical_tone("hòan") == "hoàn"
    assert canonical_tone("Nguyêñ") == "Nguyễn"  # ñ = n + U+0303, the ngã mark typed on the n


def test_syllable_parser() -> None:
    assert parse("nguyen") is None  # "uye" is not a nucleus without the circumflex
    assert parse("nguyên") == ("ng", "uyê", "n")
    assert parse("quy") == ("qu", "y", "")
    assert parse("gin") == ("g", "i", "n")
    assert is_syllable("Hòa") and is_syllable("HOÀ") and not is_syllable("señor")


def test_nfc_and_nfd_give_the_same_name() -> None:
    nfc = "Nguyễn Thị Thủy"
    nfd = unicodedata.normalize("NFD", nfc)
    assert len("Nguyễn") == 6 and len(unicodedata.normalize("NFD", "Nguyễn")) == 8  # README 3.4/4
    a, b = _one(nfc), _one(nfd)
    assert a["name_clean"] == b["name_clean"] == nfc
    assert "nfd_fixed" in b["name_flags"] and "nfd_fixed" not in a["name_flags"]


def test_d_with_stroke_kept_in_display_and_folded_in_key() -> None:
    row = _one("ĐẶNG  thị   đào")
    assert row["name_clean"] == "Đặng Thị Đào"
    assert row["name_toned"] == "đặng thị đào"
    assert row["name_key"] == "dang thi dao"
    assert (row["family_key"], row["middle_key"], row["given_key"]) == ("dang", "thi", "dao")
    assert "spaces_fixed" in row["name_flags"]
    # Latin eth (U+00D0) looks like Đ and is mapped to it.
    assert _one("\u00d0ỗ Văn An")["name_clean"] == "Đỗ Văn An"
    assert fold("Đ") == fold("\u00d0") == "d"


def test_punctuation_nbsp_and_minority_names() -> None:
    row = _one(" Trần\u00a0Văn, Bình. ")
    assert row["name_clean"] == "Trần Văn Bình"
    assert set(row["name_flags"]) == {"punctuation_removed", "spaces_fixed"}
    # Apostrophe/hyphen inside a word are part of Ê-đê / Jrai names and are kept.
    assert _one("H'Hen Niê")["name_clean"] == "H'Hen Niê"
    assert _one("Y-Moan Êban")["name_key"] == "y-moan eban"


def test_token_split_variants() -> None:
    assert _one("Nguyễn Trãi")["middle_key"] == ""
    long = _one("Trần Lê Quốc Toàn")
    assert (long["family_key"], long["middle_key"], long["given_key"]) == ("tran", "le quoc", "toan")
    single = _one("Lan")
    assert (single["family_key"], single["middle_key"], single["given_key"]) == ("", "", "lan")


@pytest.mark.parametrize("blank", [None, "", "   ", "--", "..."])
def test_blank_names_are_null(blank: str | None) -> None:
    row = _one(blank)
    assert row["name_clean"] is None and row["name_key"] is None


def test_mojibake_is_repaired() -> None:
    garbled = "Nguyễn Văn Hoà".encode().decode("cp1252")
    assert garbled.startswith("Nguyá»")  # README example "Nguyá»…n"
    row = _one(garbled)
    assert row["name_clean"] == "Nguyễn Văn Hòa"
    assert "mojibake_repaired" in row["name_flags"]


@pytest.mark.parametrize(
    ("legacy", "expected"),
    [("NguyÔn V¨n An", "Nguyễn Văn An"), ("Nguyeãn Vaên Hoøa", "Nguyễn Văn Hòa"), ("TrÇn ThÞ B×nh", "Trần Thị Bình")],
)
def test_legacy_encoded_names_are_repaired(legacy: str, expected: str) -> None:
    row = _one(legacy)
    assert row["name_clean"] == expected
    assert row["name_flags"] == ["legacy_encoding_repaired"]


def test_foreign_accented_names_are_not_repaired() -> None:
    for name in ["José Muñoz", "Zoë Müller", "Lê Anh Tú", "Hà Anh Tú"]:
        row = _one(name)
        assert not {"mojibake_repaired", "legacy_encoding_repaired"} & set(row["name_flags"]), name


def test_same_key_for_diacritic_free_spelling() -> None:
    a, b = _one("Nguyễn Thị Thuỷ"), _one("NGUYEN THI THUY")
    assert a["name_key"] == b["name_key"] == "nguyen thi thuy"
    assert a["name_clean"] != b["name_clean"]  # different tones are different names: display kept
    assert strip_diacritics("Đặng Thị Hòa") == "Dang Thi Hoa"


def test_register_mode_skips_repair_but_not_tone() -> None:
    garbled = "Nguyễn".encode().decode("cp1252")
    out = normalise_names(pl.Series([garbled, "Lê Thị Thuỷ"]), repair=False)
    assert "mojibake_repaired" not in out["name_flags"][0].to_list()
    assert out["name_clean"][0] != "Nguyễn"  # not repaired in register mode…
    assert normalise_names(pl.Series([garbled]))["name_clean"][0] == "Nguyễn"  # …but repaired by default
    assert out["name_clean"][1] == "Lê Thị Thủy"


def test_many_rows_keep_order_and_length() -> None:
    names = ["Nguyễn Văn Hoà", None, "Lê Thị Thuỷ", "Nguyễn Văn Hoà", "  an "] * 50
    out = normalise_names(pl.Series(names))
    assert out.height == len(names)
    assert out["name_clean"].to_list()[:5] == ["Nguyễn Văn Hòa", None, "Lê Thị Thủy", "Nguyễn Văn Hòa", "An"]
