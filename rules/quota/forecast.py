"""Forecast: how many days until each unit's backlog (and the country's) is cleared.

The forecast replays the real allocation (:func:`rules.quota.allocate.allocate_arrays`) day by day
on counts, so it answers "what if the quota were 300,000?" with the same rules the daily job uses
(floor, weighting, ageing, largest remainder). Assumptions, stated because they shape the answer:
every allocated request is answered the same day (no outages), ``daily_inflow`` new requests per
unit arrive after each day's dispatch, and a unit's oldest waiting request ages by one day each day
its backlog is not cleared (a backlog enqueued at once is served oldest-first, so its oldest item
keeps ageing until the unit is clear); ``days_since_served`` (which orders floors when the floors
alone exceed the quota) is 1 the day after a unit was allocated something. The horizon is capped
(``horizon_days``); a unit not cleared by then is reported as "not within N days", never as a
made-up date.

    fc = forecast(store.backlog_by_unit(), QuotaPolicy.from_yaml(), date(2026, 11, 24), quota=300_000)
    print(render_table(fc))
    write_forecast_page(fc, "data/reports/burn_down.html")   # rules.report: the chart page
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from rules.quota.allocate import _checked, allocate_arrays, key_column
from rules.quota.policy import QuotaPolicy

TOP_SERIES = 6  # units kept as series nationally (largest backlogs): the ``forecast --html`` chart
UNIT_SERIES_PER_PROVINCE = 5  # units kept as series per province (largest backlogs): the report's chart
SERIES_LEVELS = ("national", "province", "unit")


@dataclass(frozen=True)
class Forecast:
    """Result of :func:`forecast`.

    ``units``: ``unit`` (or ``unit_key`` if the input used that name), ``backlog, oldest_wait_days,
    first_day_allocated, days_to_clear`` (Int64, null when not within the horizon), ``clearance_day``
    (Date, null likewise). ``daily``: the burn-down, one row per day and series (``date, level,
    series, remaining``), ``remaining`` being the requests still waiting at the END of ``date``
    (after that day's dispatch); the first date is ``start_day - 1``, i.e. the backlog the forecast
    starts from. ``level`` is ``national`` (series ``national``), ``province`` (series = the
    province slug, the part of the unit key before the first ``/``; only when keys have one) or
    ``unit`` (series = unit key: the ``TOP_SERIES`` largest units nationally and the
    ``UNIT_SERIES_PER_PROVINCE`` largest of each province, by starting backlog). Every series spans
    every date, so a report can draw any of them without filling gaps. ``national_days`` /
    ``national_date``: when the whole country is clear (None if not within the horizon).
    """

    start_day: date
    quota: int
    horizon_days: int
    total_backlog: int
    units: pl.DataFrame
    daily: pl.DataFrame
    national_days: int | None
    national_date: date | None

    @property
    def national_clearance_day(self) -> date | None:
        """Alias of ``national_date`` (the day the whole country's backlog is cleared)."""
        return self.national_date

    @property
    def key(self) -> str:
        """The unit key column of ``units`` (``unit`` or ``unit_key``)."""
        return "unit_key" if "unit_key" in self.units.columns else "unit"


def forecast(
    backlogs: pl.DataFrame,
    policy: QuotaPolicy,
    start_day: date | str,
    quota: int | None = None,
    daily_inflow: pl.DataFrame | None = None,
    horizon_days: int = 730,
) -> Forecast:
    """Simulate the allocation from ``start_day`` until every backlog is cleared or the horizon ends.

    ``quota`` overrides the policy's national quota (what-if). ``daily_inflow``: optional frame
    ``unit, daily_inflow`` of new requests per unit per day (units absent get 0).
    """
    if horizon_days < 1:
        raise ValueError("horizon_days must be >= 1")
    start_day = start_day if isinstance(start_day, date) else date.fromisoformat(str(start_day))
    key = key_column(backlogs)
    if quota is not None:
        policy = policy.with_quota(quota)  # validates (negative quota -> PolicyError)
    frame = _checked(backlogs).sort("unit")
    n = frame.height
    backlog = frame["backlog"].to_numpy().astype(np.int64).copy()
    wait = frame["oldest_wait_days"].to_numpy().astype(np.float64).copy()
    since = frame["days_since_served"].to_numpy().astype(np.float64).copy()
    inflow = _inflow(frame, daily_inflow)
    rank = np.arange(n, dtype=np.int64)
    names = frame["unit"].to_list()
    province_names, province_of = _provinces(frame["unit"])
    top = _series_units(backlog, province_of)
    cleared = np.where(backlog == 0, 0, -1).astype(np.int64)  # day index (1-based days) or -1
    first_alloc = np.full(n, -1, dtype=np.int64)
    national: int | None = 0 if backlog.sum() == 0 else None
    rows_date: list[date] = [start_day - timedelta(days=1)]
    rows_total: list[int] = [int(backlog.sum())]
    rows_top: list[np.ndarray] = [backlog[top].copy()]
    rows_prov: list[np.ndarray] = [_province_sums(backlog, province_of, len(province_names))]
    for day in range(1, horizon_days + 1):
        _, alloc = allocate_arrays(backlog, wait, rank, policy, since)
        first_alloc = np.where((first_alloc < 0) & (alloc > 0), day, first_alloc)
        backlog -= alloc
        cleared = np.where((cleared < 0) & (backlog == 0), day, cleared)
        total = int(backlog.sum())
        rows_date.append(start_day + timedelta(days=day - 1))
        rows_total.append(total)
        rows_top.append(backlog[top].copy())
        rows_prov.append(_province_sums(backlog, province_of, len(province_names)))
        if national is None and total == 0:
            national = day
        if national is not None and not inflow.any():
            break
        backlog += inflow
        wait = np.where(backlog == 0, 0.0, wait + 1.0)
        since = np.where(alloc > 0, 1.0, since + 1.0)
    units = (
        frame.with_columns(
            pl.Series("first_day_allocated", first_alloc).replace(-1, None).cast(pl.Int64),
            pl.Series("days_to_clear", cleared).replace(-1, None).cast(pl.Int64),
        )
        .with_columns(
            (pl.lit(start_day) + pl.duration(days=pl.col("days_to_clear").clip(lower_bound=1) - 1))
            .cast(pl.Date)
            .alias("clearance_day")
        )
        .rename({"unit": key})
    )
    daily = _daily_frame(rows_date, rows_total, (rows_prov, province_names), (rows_top, [names[i] for i in top]))
    return Forecast(
        start_day=start_day,
        quota=policy.quota,
        horizon_days=horizon_days,
        total_backlog=int(frame["backlog"].sum()),
        units=units,
        daily=daily,
        national_days=national,
        national_date=None if national is None else start_day + timedelta(days=max(national, 1) - 1),
    )


def _inflow(frame: pl.DataFrame, daily_inflow: pl.DataFrame | None) -> np.ndarray:
    if daily_inflow is None:
        return np.zeros(frame.height, dtype=np.int64)
    if key_column(daily_inflow) == "unit_key":
        daily_inflow = daily_inflow.rename({"unit_key": "unit"})
    if not {"unit", "daily_inflow"} <= set(daily_inflow.columns):
        raise ValueError("daily_inflow needs columns unit (or unit_key), daily_inflow")
    joined = frame.select("unit").join(
        daily_inflow.select(pl.col("unit").cast(pl.Utf8), pl.col("daily_inflow").cast(pl.Int64)),
        on="unit",
        how="left",
        maintain_order="left",
    )
    values = joined["daily_inflow"].fill_null(0).to_numpy().astype(np.int64)
    if (values < 0).any():
        raise ValueError("daily_inflow must be >= 0")
    return values


def _provinces(units: pl.Series) -> tuple[list[str], np.ndarray]:
    """Province slugs (sorted) and each unit's index into them; no provinces when keys carry no ``/``."""
    if units.len() == 0 or not units.str.contains("/", literal=True).all():
        return [], np.full(units.len(), -1, dtype=np.int64)
    province = units.str.split("/").list.first()
    names = sorted(set(province.to_list()))
    index = {p: i for i, p in enumerate(names)}
    return names, province.replace_strict(index, return_dtype=pl.Int64).to_numpy()


def _series_units(backlog: np.ndarray, province_of: np.ndarray) -> np.ndarray:
    """Indices of the units kept as series: the largest nationally and the largest of each province."""
    order = np.argsort(-backlog, kind="stable")
    keep = np.zeros(backlog.size, dtype=bool)
    keep[order[:TOP_SERIES]] = True
    if (province_of >= 0).any():
        ranked = province_of[order]
        # rank of each unit within its province, in the national order (stable: ties keep key order)
        first = np.zeros(ranked.size, dtype=np.int64)
        sorted_idx = np.argsort(ranked, kind="stable")
        groups = ranked[sorted_idx]
        starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
        first[sorted_idx] = np.arange(ranked.size) - np.repeat(starts, np.diff(np.r_[starts, ranked.size]))
        keep[order[first < UNIT_SERIES_PER_PROVINCE]] = True
    return order[keep[order]]  # largest first


def _province_sums(backlog: np.ndarray, province_of: np.ndarray, provinces: int) -> np.ndarray:
    if provinces == 0:
        return np.zeros(0, dtype=np.int64)
    return np.bincount(province_of, weights=backlog, minlength=provinces).astype(np.int64)


def _daily_frame(dates: list[date], totals: list[int], provinces: tuple[list[np.ndarray], list[str]],
                 units: tuple[list[np.ndarray], list[str]]) -> pl.DataFrame:
    """Long frame ``date, level, series, remaining`` from the per-day vectors (see :class:`Forecast`)."""
    parts = [pl.DataFrame({"date": dates, "level": "national", "series": "national", "remaining": totals})]
    for level, (rows, names) in (("province", provinces), ("unit", units)):
        if not names:
            continue
        matrix = np.vstack(rows)  # day x series
        parts.append(pl.DataFrame({
            "date": np.tile(np.array(dates, dtype="datetime64[D]"), len(names)),
            "level": level,
            "series": np.repeat(np.array(names, dtype=object), len(dates)),
            "remaining": matrix.T.reshape(-1),
        }))
    return pl.concat(
        [p.with_columns(pl.col("date").cast(pl.Date), pl.col("series").cast(pl.Utf8),
                        pl.col("remaining").cast(pl.Int64)) for p in parts]
    )


def render_table(fc: Forecast, max_units: int = 25) -> str:
    """Plain-text table for the CLI: the country first, then units (longest to clear first)."""

    def when(days: int | None, day: date | None) -> str:
        return (
            f"{day.isoformat()}  ({days} d)"
            if days is not None and day is not None
            else f"not within {fc.horizon_days} days"
        )

    lines = [
        f"Forecast from {fc.start_day.isoformat()} with a national quota of {fc.quota:,}/day",
        f"Country: backlog {fc.total_backlog:,} over {fc.units.height:,} units, clear by "
        f"{when(fc.national_days, fc.national_date)}",
        "",
        f"{'unit':<52} {'backlog':>9} {'served from':>11}  cleared by",
    ]
    worst = fc.units.sort(["days_to_clear", "backlog", fc.key], descending=[True, True, False], nulls_last=False)
    for row in worst.head(max_units).iter_rows(named=True):
        first = row["first_day_allocated"]
        lines.append(
            f"{row[fc.key][:52]:<52} {row['backlog']:>9,} {f'day {first}' if first else '-':>11}  "
            f"{when(row['days_to_clear'], row['clearance_day'])}"
        )
    if fc.units.height > max_units:
        lines.append(f"... {fc.units.height - max_units:,} more units (see the published table)")
    lines += ["", f"served from: the forecast day on which the unit gets its first verification (day 1 = "
                  f"{fc.start_day.isoformat()}; '-' not within {fc.horizon_days} days); "
                  "cleared by: the day its backlog reaches 0 (in days from the start)"]
    return "\n".join(lines)
