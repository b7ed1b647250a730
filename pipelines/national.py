"""The national picture for the command line: forecast (what-if quota) and the demo's national view.

The queue store of this installation holds the units whose data it processed. In the demo that is
one province, so ``national_backlogs(with_simulated=True)`` adds the other provinces' backlogs from
``rules.quota.demo.demo_backlogs`` (counts only, clearly labelled) to show how the national quota is
shared, where the floor applies, and when each unit clears.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from pipelines.environment import data_root


def queue_backlogs(day: str | None = None) -> pl.DataFrame:
    """``unit, backlog, oldest_wait_days`` of the real queue: now, or as ``day``'s allocation saw it."""
    from rules.verify import QueueStore

    path = data_root() / "national" / "verification_queue.sqlite"
    if not path.exists():
        return pl.DataFrame(schema={"unit": pl.Utf8, "backlog": pl.Int64, "oldest_wait_days": pl.Float64})
    store = QueueStore(path)
    frame = store.day_allocation(day) if day else store.backlog_by_unit()
    key = "unit_key" if "unit_key" in frame.columns else "unit"
    return frame.select(pl.col(key).alias("unit"), pl.col("backlog").cast(pl.Int64),
                        pl.col("oldest_wait_days").cast(pl.Float64))


def national_backlogs(with_simulated: bool, day: str | None = None) -> pl.DataFrame:
    """The real queue's backlogs, plus simulated other provinces when asked (never the same province twice)."""
    real = queue_backlogs(day)
    if not with_simulated:
        return real
    from rules.quota.demo import demo_backlogs

    # Provinces this installation really processes are never simulated on top.
    provinces = {p.stem for p in (data_root() / "population").glob("*.parquet")}
    provinces |= set(real["unit"].str.split("/").list.first().to_list())
    simulated = demo_backlogs().filter(~pl.col("unit").str.split("/").list.first().is_in(list(provinces)))
    return pl.concat([real, simulated.with_columns(pl.col("backlog").cast(pl.Int64),
                                                   pl.col("oldest_wait_days").cast(pl.Float64))])


def print_forecast(quota: int | None, html: Path | None, top: int, with_simulated: bool = False) -> int:
    from rules.quota import QuotaPolicy
    from rules.quota.chart import burn_down_html
    from rules.quota.forecast import forecast, render_table

    backlogs = national_backlogs(with_simulated)
    if backlogs.height == 0:
        print("no verification backlog: run `doisoat demo` (or the national daily job) first, "
              "or add --with-simulated-provinces for the national picture")
        return 0
    fc = forecast(backlogs, QuotaPolicy.from_yaml(), start_day=date.today() + timedelta(days=1), quota=quota)
    if with_simulated:
        print("(national view: this installation's queue plus simulated backlogs of the other provinces)")
    print(render_table(fc, max_units=top))
    if html:
        print(f"burn-down chart: {burn_down_html(fc, html)}")
    return 0


def national_view_lines(day: str, top: int = 6) -> list[str]:
    """The demo summary's national allocation: real queue + simulated provinces, counts only."""
    from rules.quota import QuotaPolicy, allocate
    from rules.quota.forecast import forecast

    backlogs = national_backlogs(with_simulated=True, day=day)
    if backlogs.height == 0:
        return []
    policy = QuotaPolicy.from_yaml()
    allocation = allocate(backlogs, policy)
    key = "unit_key" if "unit_key" in allocation.columns else "unit"
    total = int(allocation["backlog"].sum())
    lines = [
        "",
        f"national view for {day} (this province's real queue + simulated backlogs of the other provinces):",
        f"  {allocation.height:,} units wait with {total:,} requests; quota {policy.quota:,}/day; "
        f"allocated {int(allocation['allocated'].sum()):,}; floor {policy.floor_per_unit}/unit",
    ]
    biggest = allocation.sort("allocated", descending=True).head(top)
    lines += [f"  {r[key]:<46} backlog {r['backlog']:>7,} -> allocated {r['allocated']:>6,} (floor {r['floor']})"
              for r in biggest.iter_rows(named=True)]
    real = {p.stem for p in (data_root() / "population").glob("*.parquet")}
    mine = (
        allocation.with_columns(pl.col(key).str.split("/").list.slice(0, 2).list.join("/").alias("group"))
        .filter(pl.col("group").str.split("/").list.first().is_in(list(real)))
        .group_by("group").agg(pl.len().alias("units"), pl.col("backlog").sum(), pl.col("allocated").sum())
        .sort("backlog", descending=True)
    )
    lines += [f"  {r['group']:<46} backlog {r['backlog']:>7,} in {r['units']} units -> allocated {r['allocated']:>6,}"
              " today (this installation)" for r in mine.iter_rows(named=True)]
    small = allocation.filter(pl.col("backlog") <= policy.floor_per_unit).height
    lines.append(f"  {small:,} small units (backlog <= floor) are cleared in full today")
    fc = forecast(backlogs, policy, start_day=date.fromisoformat(day))
    hcmc = fc.units.filter(pl.col(fc.key).str.starts_with("ho_chi_minh/students"))
    national = fc.national_date.isoformat() if fc.national_date else f"not within {fc.horizon_days} days"
    lines.append(f"  forecast: the whole country clears by {national}"
                 + (f"; HCMC students by {hcmc['clearance_day'].max()}" if hcmc.height else ""))
    return lines
