"""Display names: a province slug as its 2025 name, a unit key without the province it sits in."""

from __future__ import annotations


def province_name(slug: str) -> str:
    """``ho_chi_minh`` -> ``Hồ Chí Minh``; an unknown slug is shown as it is."""
    from rules.provinces import by_slug

    try:
        return by_slug(slug).name
    except ValueError:
        return slug


def unit_label(unit_key: str, province: str | None = None) -> str:
    """``ho_chi_minh/students/thpt_1`` -> ``students/thpt_1`` inside its province's own chart."""
    if province is not None and unit_key.startswith(province + "/"):
        return unit_key[len(province) + 1:]
    return unit_key
