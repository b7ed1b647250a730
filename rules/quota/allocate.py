"""One national day's allocation of the verification quota over all units with a backlog.

A unit is ``province/sector/submitting_unit`` (e.g. ``ho_chi_minh/students/thpt_le_quy_don``); the
quota is national, so one allocation per day covers every unit in the country. It works on counts
only, vectorised with numpy, so 10,000 units take a few milliseconds.

The rules, in order (each is a hypothesis-tested invariant in ``tests/rules/test_quota_allocate.py``):

1. **Spend exactly** ``min(quota, total backlog)``; **cap** every unit at its backlog.
2. **Floor**: every unit with work first gets ``min(backlog, floor_per_unit)``, so a small school is
   never starved by HCMC's 56,000 students. If even the floors exceed the quota (more units than
   quota/floor), floors go first to the units that have gone longest without being served
   (``days_since_served``; then oldest wait, larger backlog, unit name). A served unit drops to the
   back and every unserved one moves up, so with k = quota // floor units served a day, every unit
   with work is served within ceil(units / k) + 1 days (a hypothesis test checks this bound).
3. **The rest** is shared in proportion to ``weight = backlog^alpha * (1 + per_day * min(wait,
   max_days))`` (``alpha = 1`` for the ``proportional`` policy): large backlogs get more, and waiting
   work gains weight (ageing). Shares are capped at what is left of each backlog by water-filling
   (the capped surplus is re-shared among the others), then made integers by **largest remainder**.
4. **Deterministic**: ties are broken by larger backlog, then by unit name, so the same input (in any
   row order) always yields the same allocation, and a larger backlog never gets less than a smaller
   one with the same wait (**monotonicity**).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from rules.errors import UserError
from rules.quota.policy import QuotaPolicy

INPUT_COLUMNS = ("unit", "backlog", "oldest_wait_days")


class AllocationInputError(UserError, ValueError):
    """The backlog frame is not usable (missing column, negative or null backlog, duplicate unit)."""


def allocate(backlogs: pl.DataFrame, policy: QuotaPolicy) -> pl.DataFrame:
    """Allocate one day's national quota.

    ``backlogs``: ``unit`` (Utf8, unique; the column may also be called ``unit_key``, as the queue
    store names the national ``province/sector/unit`` key), ``backlog`` (int >= 0),
    ``oldest_wait_days`` (number >= 0; null counts as 0; the column may be absent), optional
    ``days_since_served`` (null or absent: ``oldest_wait_days``; only orders floors when the floors
    alone exceed the quota). Returns ``unit, backlog, oldest_wait_days, days_since_served, floor,
    allocated`` (Int64; the key keeps the input's column name) sorted by unit; ``floor`` is the part
    of ``allocated`` given by rule 2.
    """
    key = key_column(backlogs)
    frame = _checked(backlogs).sort("unit")
    backlog = frame["backlog"].to_numpy().astype(np.int64)
    wait = frame["oldest_wait_days"].to_numpy().astype(np.float64)
    rank = np.arange(len(frame), dtype=np.int64)  # already sorted by unit: position is the name order
    since = frame["days_since_served"].to_numpy().astype(np.float64)
    floor, allocated = allocate_arrays(backlog, wait, rank, policy, since)
    return frame.with_columns(
        pl.Series("floor", floor, dtype=pl.Int64), pl.Series("allocated", allocated, dtype=pl.Int64)
    ).rename({"unit": key})


def key_column(backlogs: pl.DataFrame) -> str:
    """``unit`` or, when only that is present, ``unit_key`` (the store's name for the same key)."""
    return "unit_key" if "unit" not in backlogs.columns and "unit_key" in backlogs.columns else "unit"


def allocate_arrays(
    backlog: np.ndarray,
    wait: np.ndarray,
    unit_rank: np.ndarray,
    policy: QuotaPolicy,
    since_served: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The allocation on plain arrays (used per simulated day by the forecast).

    ``unit_rank`` orders units by name for tie-breaking (0 = first); ``since_served`` defaults to
    ``wait``. Returns ``(floor, allocated)``.
    """
    backlog = np.asarray(backlog, dtype=np.int64)
    wait = np.nan_to_num(np.asarray(wait, dtype=np.float64), nan=0.0)
    quota = int(policy.quota)
    floor = np.minimum(backlog, policy.floor_per_unit)
    if int(backlog.sum()) <= quota:
        return floor, backlog.copy()
    if int(floor.sum()) >= quota:
        since = wait if since_served is None else np.nan_to_num(np.asarray(since_served, np.float64), nan=0.0)
        floor = _floors_by_priority(floor, backlog, wait, since, unit_rank, quota)
        return floor, floor.copy()
    rest = quota - int(floor.sum())
    room = backlog - floor
    ageing = 1.0 + policy.ageing_per_day * np.minimum(wait, policy.ageing_max_days)
    weight = np.where(room > 0, np.power(backlog.astype(np.float64), policy.effective_alpha) * ageing, 0.0)
    share = _water_fill(room, weight, rest)
    extra = _largest_remainder(share, room, rest, backlog, unit_rank)
    return floor, floor + extra


def _floors_by_priority(
    floor: np.ndarray, backlog: np.ndarray, wait: np.ndarray, since: np.ndarray, unit_rank: np.ndarray, quota: int
) -> np.ndarray:
    """Hand out floors longest-unserved first until the quota is spent (more units than it covers)."""
    order = np.lexsort((unit_rank, -backlog, -wait, -since))  # last key is the primary one
    wanted = floor[order]
    before = np.cumsum(wanted) - wanted
    given = np.clip(quota - before, 0, wanted)
    out = np.zeros_like(floor)
    out[order] = given
    return out


def _water_fill(room: np.ndarray, weight: np.ndarray, total: int) -> np.ndarray:
    """Real shares ``min(room, lam * weight)`` summing to ``total`` (requires ``total < room.sum()``).

    Sorting units by ``room / weight`` means the capped ones are a prefix; the first prefix length k
    whose implied ``lam`` does not cap unit k is the solution (one cumulative sum, no iteration).
    """
    share = np.zeros(len(room), dtype=np.float64)
    live = np.flatnonzero(weight > 0)
    if len(live) == 0 or total <= 0:
        return share
    cap = room[live].astype(np.float64)
    w = weight[live]
    ratio = cap / w
    order = np.argsort(ratio, kind="stable")
    cap_s, w_s, ratio_s = cap[order], w[order], ratio[order]
    capped_before = np.cumsum(cap_s) - cap_s
    weight_from = np.cumsum(w_s[::-1])[::-1]
    lam = (total - capped_before) / weight_from
    k = int(np.argmax(lam <= ratio_s)) if np.any(lam <= ratio_s) else len(lam) - 1
    share[live] = np.minimum(cap, lam[k] * w)
    return share


def _largest_remainder(
    share: np.ndarray, room: np.ndarray, total: int, backlog: np.ndarray, unit_rank: np.ndarray
) -> np.ndarray:
    """Integers from real shares: floors, then +1 by largest fraction (ties: larger backlog, name)."""
    whole = np.minimum(np.floor(share).astype(np.int64), room)
    left = total - int(whole.sum())
    frac = share - whole
    order = np.lexsort((unit_rank, -backlog, -np.round(frac, 9)))
    while left > 0:  # one pass almost always; more only if float error left several units short
        open_units = order[whole[order] < room[order]]
        if len(open_units) == 0:
            break
        give = open_units[:left]
        whole[give] += 1
        left -= len(give)
    return whole


def _checked(backlogs: pl.DataFrame) -> pl.DataFrame:
    """Validated ``unit, backlog, oldest_wait_days`` (the key renamed to ``unit``)."""
    if key_column(backlogs) == "unit_key":
        backlogs = backlogs.rename({"unit_key": "unit"})
    missing = [c for c in ("unit", "backlog") if c not in backlogs.columns]
    if missing:
        raise AllocationInputError(f"backlog frame lacks column(s) {', '.join(missing)}; need {INPUT_COLUMNS}")
    if "oldest_wait_days" not in backlogs.columns:
        backlogs = backlogs.with_columns(pl.lit(0.0).alias("oldest_wait_days"))
    if "days_since_served" not in backlogs.columns:
        backlogs = backlogs.with_columns(pl.lit(None, pl.Float64).alias("days_since_served"))
    frame = backlogs.select(
        pl.col("unit").cast(pl.Utf8),
        pl.col("backlog").cast(pl.Int64),
        pl.col("oldest_wait_days").cast(pl.Float64).fill_null(0.0),
    ).with_columns(
        backlogs["days_since_served"]
        .cast(pl.Float64)
        .fill_null(backlogs["oldest_wait_days"].cast(pl.Float64))
        .fill_null(0.0)
        .alias("days_since_served")
    )
    if frame["unit"].null_count() or frame["backlog"].null_count():
        raise AllocationInputError("backlog frame has null unit or backlog values; drop or fill them")
    if len(frame) and int(frame["backlog"].min()) < 0:
        raise AllocationInputError("backlog frame has negative backlogs; a backlog is a count >= 0")
    if len(frame) and min(float(frame["oldest_wait_days"].min()), float(frame["days_since_served"].min())) < 0:
        raise AllocationInputError("oldest_wait_days and days_since_served must be >= 0")
    if frame["unit"].n_unique() != len(frame):
        raise AllocationInputError("backlog frame lists a unit more than once; aggregate per unit first")
    return frame
