"""Build ``List[Utf8]`` flag columns fast.

``pl.concat_list(when/then...).list.drop_nulls()`` costs ~1 s per million rows; packing the
conditions into a bit mask and gathering from a 2^k lookup of ready-made lists costs ~20 ms.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

_MAX_FLAGS = 12  # lookup of 4096 lists at most


def flag_list(flags: Sequence[tuple[str, pl.Expr]]) -> pl.Expr:
    """List of the flag names whose boolean expression is true (null counts as false), in order."""
    if not flags:
        raise ValueError("flag_list needs at least one (name, condition) pair")
    if len(flags) > _MAX_FLAGS:
        raise ValueError(f"flag_list takes at most {_MAX_FLAGS} flags, got {len(flags)}")
    names = [name for name, _ in flags]
    lookup = pl.Series(
        [[nm for i, nm in enumerate(names) if (mask >> i) & 1] for mask in range(1 << len(names))],
        dtype=pl.List(pl.Utf8),
    )
    mask = pl.sum_horizontal([cond.fill_null(False).cast(pl.UInt32) * (1 << i) for i, (_, cond) in enumerate(flags)])
    return pl.lit(lookup).gather(mask)
