"""Run column work once per distinct value and spread the result back to every row.

Sector and register columns repeat a lot (names, birth dates), so string work on the distinct
values only is the main speed lever. The row -> distinct-value mapping comes from casting to a
Categorical with its own fresh category set (codes 0..k-1 in first-seen order), and results are
spread back with ``gather`` - ~10x cheaper than joining on the text.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

_DIRECT_RATIO = 0.8  # mostly distinct: mapping back would cost more than it saves


def unique_apply(values: pl.Series, fn: Callable[[pl.Series], pl.DataFrame]) -> pl.DataFrame:
    """``fn`` (Utf8 Series -> frame of the same height) evaluated per distinct value of ``values``."""
    values = values.cast(pl.Utf8)
    categories = pl.Categories.random()
    as_cat = values.cast(pl.Categorical(categories))
    # Read the category list while ``as_cat`` is alive: a fresh category set is emptied as soon
    # as no column refers to it any more.
    distinct = categories.to_series()
    codes = as_cat.to_physical()
    if distinct.len() <= (codes.max() or -1):
        raise RuntimeError("categorical mapping is inconsistent; cannot spread results back")
    if distinct.len() > _DIRECT_RATIO * values.len():
        return fn(values)
    if values.null_count():
        # Nulls get their own slot at the end so fn decides their output too.
        codes = codes.fill_null(distinct.len())
        distinct = distinct.extend(pl.Series([None], dtype=pl.Utf8))
    return fn(distinct).select(pl.all().gather(codes))
