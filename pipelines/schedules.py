"""Schedules: one nightly schedule per province (each provincial team turns its own on) and the
national daily verification. All start STOPPED: nothing runs until a team decides it should."""

from __future__ import annotations

import dagster as dg

from assets.partitions import partition_key
from pipelines.jobs import national_job, province_job
from rules.provinces import PROVINCE_SLUGS
from rules.sectors import SECTORS

TIMEZONE = "Asia/Ho_Chi_Minh"


def province_schedule(province: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"nightly_{province}",
        cron_schedule="0 1 * * *",
        execution_timezone=TIMEZONE,
        job=province_job,
        default_status=dg.DefaultScheduleStatus.STOPPED,
        tags={"province": province},
        description=f"Every night at 01:00: ingest, clean and match every sector of {province}.",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.strftime("%Y-%m-%d")
        for sector in SECTORS:
            yield dg.RunRequest(run_key=f"{province}|{sector}|{day}",
                                partition_key=partition_key(province, sector))

    return _schedule


national_daily_schedule = dg.build_schedule_from_partitioned_job(
    national_job,
    name="national_verification_daily",
    hour_of_day=3,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="03:00 Asia/Ho_Chi_Minh: spend the day's national verification quota.",
)

SCHEDULES = [*(province_schedule(p) for p in PROVINCE_SLUGS), national_daily_schedule]
