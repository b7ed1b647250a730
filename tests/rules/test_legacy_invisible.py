"""Legacy-font detection and invisible characters: an invisible character never decides.

VISCII puts capitals on C0/C1 control codes and TCVN3/VISCII put ``ư``/``ễ`` on the soft hyphen, so
a stray control or soft hyphen in Unicode text "converts" to a letter; the header ``Ngày s\\x8finh``
read as VISCII ``Ngày sỐinh`` and the date column was lost. Unicode text holding only Latin-1
letters (``Ngày sinh``, ``Lê Hà``: the texts a legacy table could apply to) stays undetected
whatever invisible character is typed into it, and real legacy text is still detected with them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rules.normalise.characters import table
from rules.normalise.legacy import _translation, detect_legacy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
from make_corpus import legacy_bytes, vni_bytes  # the corpus's own, independent encoders

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_T = table()
INVISIBLE = sorted(_T.controls | {c for c in _T.ignorable if c < 0x10000})
# Unicode Vietnamese that needs no letter beyond Latin-1: headers, genders, names, words of notes
LATIN1_TEXTS = ["Ngày sinh", "Lê Hà", "Tô Thì Tâm", "Hà Tú Chí", "Nam", "Ghi chú", "Số nhà", "Tên",
                "Hòa", "Lý Tài", "Võ Hà Mai", "Quê quán", "Dân tộc Kinh", "Trà Vinh", "Cà Mau", "Hàm Tân"]
VIETNAMESE = "Danh sách học sinh lớp 6A: Nguyễn Văn Hùng, Trần Thị Thủy, Lê Hoàng Cường, Phạm Thị Dung"


@SETTINGS
@example(text="Ngày sinh", at=6, cp=0x8F)  # the header found: "Ngày s\x8finh" -> VISCII "sỐinh"
@example(text="Ngày sinh", at=7, cp=0xAD)  # soft hyphen: VISCII "siễnh"
@example(text="Ngày sinh", at=6, cp=0x80)
@example(text="Hà B", at=4, cp=0x8F)  # "B\x8f" alone would read as VISCII "BỐ"
@given(text=st.sampled_from(LATIN1_TEXTS), at=st.integers(0, 40), cp=st.sampled_from(INVISIBLE))
def test_an_invisible_character_in_unicode_text_is_no_legacy_evidence(text, at, cp):
    at %= len(text) + 1
    assert detect_legacy(text[:at] + chr(cp) + text[at:]) is None


@SETTINGS
@given(text=st.lists(st.sampled_from(LATIN1_TEXTS), min_size=1, max_size=6).map(" ".join),
       cps=st.lists(st.tuples(st.integers(0, 200), st.sampled_from(INVISIBLE)), min_size=1, max_size=6))
def test_any_number_of_them_anywhere(text, cps):
    for at, cp in cps:
        at %= len(text) + 1
        text = text[:at] + chr(cp) + text[at:]
    assert detect_legacy(text) is None


@SETTINGS
@example(encoding="viscii", cps=[(142, 0), (63, 0), (70, 0)])  # three NULs once tied VISCII with TCVN3
@given(encoding=st.sampled_from(["tcvn3", "vni", "viscii"]),
       cps=st.lists(st.tuples(st.integers(0, 200), st.sampled_from(INVISIBLE)), max_size=4))
def test_legacy_text_is_still_detected_with_stray_invisible_characters(encoding, cps):
    """Stray invisible characters in legacy text: those the table does not use for a letter (in
    VISCII text 0x80 is Ạ, in TCVN3 text 0xAD is ư: letters there, not strays)."""
    letters = set(_translation(encoding))
    cps = [(at, cp) for at, cp in cps if cp not in letters]
    text = (vni_bytes(VIETNAMESE) if encoding == "vni" else legacy_bytes(VIETNAMESE, encoding)).decode("latin-1")
    for at, cp in cps:
        at %= len(text) + 1
        text = text[:at] + chr(cp) + text[at:]
    assert detect_legacy(text) == encoding
