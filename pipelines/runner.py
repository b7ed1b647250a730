"""Run jobs in this process against the persistent instance: no daemon, and every run shows in the UI.

This is what ``doisoat run``, ``doisoat verify-day``, ``doisoat publish`` and ``doisoat demo`` use
(research/dagster.md c.11: ``execute_in_process`` with ``DagsterInstance.get()``).
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from assets.partitions import partition_key

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def _run_config() -> dict:
    """Console logs at CRITICAL unless DOISOAT_LOG_LEVEL says otherwise: a failed step prints one line
    from ``_execute`` instead of a stack trace, which stays in the event log and the UI."""
    level = os.environ.get("DOISOAT_LOG_LEVEL", "CRITICAL").upper()
    return {"loggers": {"console": {"config": {"log_level": level}}}}


def _execute(job_name: str, partition: str | None, label: str) -> bool:
    from pipelines.definitions import defs

    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        partition_key=partition,
        instance=dg.DagsterInstance.get(),
        raise_on_error=False,
        run_config=_run_config(),
    )
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        detail = "; ".join(
            f"{e.step_key}: {e.step_failure_data.error.message.strip() if e.step_failure_data.error else '?'}"
            for e in failures
        )
        print(f"  ✗ {label} failed (run {result.run_id[:8]}): {detail}", file=sys.stderr)
    return result.success


def run_register(province: str) -> bool:
    return _execute("register_job", province, f"register {province}")


def run_province(province: str, sectors: list[str], *, with_register: bool = True) -> bool:
    from assets.resources import DataPaths
    from pipelines.environment import data_root

    if not DataPaths(root=str(data_root())).population_files(province):
        raise FileNotFoundError(
            f"no population register for {province}: put it at {data_root() / 'population' / province}.parquet "
            "(or run `doisoat demo` / `doisoat generate --out data`)")
    if with_register and not run_register(province):
        return False  # every sector needs the index: no point failing three more times
    ok = True
    for sector in sectors:
        ok = _execute("province_job", partition_key(province, sector), f"{province}/{sector}") and ok
    return ok


def today_vn() -> str:
    return datetime.now(TIMEZONE).strftime("%Y-%m-%d")


def run_national_day(day: str | None = None) -> bool:
    """Run one day's national verification; only days from the partitions' start up to today exist."""
    from datetime import date

    from assets.partitions import daily_partitions

    day = day or today_vn()
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        raise ValueError(f"--date {day!r} is not a date; use YYYY-MM-DD") from None
    first, today = daily_partitions.start.date(), date.fromisoformat(today_vn())
    if wanted > today:
        raise ValueError(f"--date {day} is in the future: a day's quota exists from that day on "
                         f"(today is {today} in Asia/Ho_Chi_Minh)")
    if wanted < first:
        raise ValueError(f"--date {day} is before the first verification day {first}")
    return _execute("national_verification_job", day, f"national verification {day}")


def run_publish() -> bool:
    return _execute("publish_job", None, "publish")
