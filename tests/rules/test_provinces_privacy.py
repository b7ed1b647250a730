"""Province tables (34 units since 1 July 2025, 63 CCCD codes) and the analyst masking rules."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.privacy import initials, mask_id
from rules.provinces import CCCD_CODE_TO_SLUG, PROVINCE_SLUGS, cccd_codes, provinces, resolve_province


def test_34_units_and_every_old_code_maps_to_one_of_them():
    assert len(provinces()) == 34 and len(set(PROVINCE_SLUGS)) == 34
    assert len(cccd_codes()) == 63 and set(CCCD_CODE_TO_SLUG) == set(cccd_codes())
    assert set(CCCD_CODE_TO_SLUG.values()) == set(PROVINCE_SLUGS)
    # The 2025 code is the old code of the province hosting the new centre (domain README 4.2).
    assert {p.code for p in provinces()} <= {c[1:] for c in cccd_codes()}


@pytest.mark.parametrize(("text", "slug"), [
    ("79", "ho_chi_minh"), ("Hồ Chí Minh", "ho_chi_minh"), ("HO CHI MINH", "ho_chi_minh"),
    ("ha_noi", "ha_noi"), ("Đà Nẵng", "da_nang"), ("074", "ho_chi_minh"),  # old Bình Dương code
    ("Bình Dương", "ho_chi_minh"), ("Yên Bái", "lao_cai"), ("Hòa Bình", "phu_tho"),
])
def test_resolve_province_by_code_name_or_old_province(text, slug):
    assert resolve_province(text).slug == slug


def test_unknown_province_names_the_valid_forms():
    with pytest.raises(ValueError, match="unknown province 'atlantis'"):
        resolve_province("atlantis")


@given(st.text(alphabet="0123456789 .-", min_size=0, max_size=16))
def test_a_masked_id_never_shows_more_than_five_digits(value):
    out = pl.DataFrame({"v": [value]}).select(mask_id(pl.col("v")))["v"][0]
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) < 9:
        assert out is None
    else:
        assert len(out) == len(digits) and sum(ch.isdigit() for ch in out) <= 5
        assert out.startswith(digits[:2]) and out.endswith(digits[-2:])


def test_initials_keep_no_syllable_of_the_name():
    out = pl.DataFrame({"n": ["Nguyễn Thị Hoà", "  lê   văn  an "]}).select(initials(pl.col("n")))["n"]
    assert out.to_list() == ["N.T.H.", "L.V.A."]
