"""Vectorised phone normalisation to the 10-digit ``0xxxxxxxxx`` mobile form.

Accepted: separators of any kind; ``+84``/``84``/``0084`` country prefixes; a leading zero lost
by Excel (9 digits); the 11-digit mobile prefixes of before the 2018 renumbering (table in
``phone_prefixes.yaml``). Everything else (landlines, short codes, letters) -> ``phone_invalid``.
A blank cell is not an error (``phone_clean`` and ``phone_error`` both null).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

import polars as pl
from pydantic import Field

from rules.config import StrictModel, load_config

PHONE_COLUMNS: tuple[str, ...] = ("phone_clean", "phone_error")
_PATH = Path(__file__).with_name("phone_prefixes.yaml")


class PhonePolicy(StrictModel):
    """``phone_prefixes.yaml``: valid second digits of a 10-digit mobile, old 11-digit prefixes."""

    valid_second_digit: tuple[Annotated[str, Field(pattern=r"^[0-9]$")], ...]
    old_mobile_prefixes: dict[Annotated[str, Field(pattern=r"^0[0-9]{3}$")],
                              Annotated[str, Field(pattern=r"^0[0-9]{2}$")]]


@cache
def _policy() -> dict:
    p = load_config(_PATH, PhonePolicy)
    return {"valid_second_digit": list(p.valid_second_digit), "old_mobile_prefixes": dict(p.old_mobile_prefixes)}


def normalise_phones(values: pl.Series) -> pl.DataFrame:
    """Return ``phone_clean`` (10 digits or null) and ``phone_error`` (null | ``phone_invalid``)."""
    raw = values.cast(pl.Utf8)
    second = "".join(_policy()["valid_second_digit"])
    # Fast path: cells already in the 10-digit form skip the repair expressions.
    ok = raw.str.contains(rf"^0[{second}][0-9]{{8}}$").fill_null(False)
    out = pl.DataFrame(
        {
            "phone_clean": pl.select(pl.when(ok).then(raw)).to_series(),
            "phone_error": pl.repeat(None, len(raw), dtype=pl.Utf8, eager=True),
        }
    )
    idx = (~ok & raw.is_not_null()).arg_true()
    if idx.len():
        fixed = _repair_phones(raw.gather(idx))
        out = out.with_columns(out.get_column(col).scatter(idx, fixed.get_column(col)) for col in out.columns)
    return out


def _repair_phones(values: pl.Series) -> pl.DataFrame:
    policy = _policy()
    old = {str(k): str(v) for k, v in policy["old_mobile_prefixes"].items()}
    second = "".join(policy["valid_second_digit"])
    c = pl.col
    df = pl.DataFrame({"raw": values.cast(pl.Utf8)})
    t = c("raw").str.strip_chars()
    # Only digits and a leading + matter; a float cell "912345678.0" loses its ".0" first.
    digits = t.str.replace(r"^([0-9]+)\.0+$", "$1").str.replace_all(r"[^0-9+]", "")
    df = df.with_columns(t=t, digits=digits)
    d = c("digits")
    local = (
        pl.when(d.str.starts_with("+84"))
        .then("0" + d.str.slice(3))
        .when(d.str.starts_with("0084"))
        .then("0" + d.str.slice(4))
        .when(d.str.starts_with("84") & d.str.len_chars().is_in([11, 12]))
        .then("0" + d.str.slice(2))
        .when(~d.str.starts_with("0") & (d.str.len_chars() == 9))
        .then("0" + d)
        .otherwise(d)
    )
    df = df.with_columns(local=local)
    loc = c("local")
    prefix4 = loc.str.slice(0, 4)
    converted = (
        pl.when((loc.str.len_chars() == 11) & prefix4.is_in(list(old)))
        .then(prefix4.replace_strict(list(old), list(old.values()), default="") + loc.str.slice(4))
        .otherwise(loc)
    )
    valid = converted.str.contains(rf"^0[{second}][0-9]{{8}}$").fill_null(False)
    blank = c("t").is_null() | (c("t") == "")
    return df.select(
        pl.when(valid & ~blank).then(converted).alias("phone_clean"),
        pl.when(~blank & ~valid).then(pl.lit("phone_invalid")).alias("phone_error"),
    )
