"""The national picture on the command line: the clearance forecast with a what-if quota, and the
simulated national backlog the demo shares the quota with.

The quota is national. An installation holds the requests of the provinces it processes; the other
provinces' backlogs reach it as counts (``DataLayout.external_backlog()``: ``unit,
backlog, oldest_wait_days``), take part in each day's allocation, and are dispatched by their own
installations. The demo, which processes one province, writes simulated counts for the other 33
(``rules.quota.demo.demo_backlogs``), clearly labelled, so that the floor, the weighting and the
forecast act as they would nationally.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from pipelines.environment import layout
from rules.clock import vietnam_today


def write_simulated_external_backlog(provinces_here: set[str]) -> Path:
    """Simulated counts for every province this installation does not process (demo only)."""
    from rules.private import private_temp
    from rules.quota.demo import demo_backlogs

    path = layout().external_backlog()
    others = demo_backlogs().filter(~pl.col("unit").str.split("/").list.first().is_in(sorted(provinces_here)))
    with private_temp(path) as tmp:  # owner-only, renamed into place whole
        others.write_parquet(tmp)
    return path


def print_forecast(quota: int | None, html: Path | None, top: int, policy: Path | None = None) -> int:
    from rules.quota import QuotaPolicy
    from rules.quota.forecast import forecast, render_table
    from rules.report import write_forecast_page
    from rules.verify import open_queue
    from rules.verify.backlog import national_backlog
    from rules.verify.queue import is_url, queue_location

    rules_policy = QuotaPolicy.from_yaml(policy) if policy else QuotaPolicy.from_yaml()  # refuse a bad file first
    path = layout().queue_store()
    location = queue_location(path)  # $DOISOAT_QUEUE_URL: the national queue on PostgreSQL
    if not (is_url(location) or path.exists()):
        print("no verification queue yet: run `doisoat demo` (or the national daily job) first")
        return 0
    store = open_queue(location)
    days = store.day_budgets()
    last = str(days["day"].max()) if days.height else None
    backlogs = national_backlog(store, last) if last else store.backlog_by_unit()
    if backlogs.height == 0:
        print("no verification backlog left: every request has been answered")
        return 0
    start = date.fromisoformat(last) + timedelta(days=1) if last else vietnam_today()
    fc = forecast(backlogs, rules_policy, start_day=start, quota=quota)
    print(render_table(fc, max_units=top))
    if html:
        print(f"burn-down chart: {write_forecast_page(fc, html)}")
    return 0
