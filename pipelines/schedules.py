"""Schedules: one nightly schedule per province (each provincial team turns its own on) and the
national daily verification. All start STOPPED: nothing runs until a team decides it should.

Provinces and days are the installation's own dynamic partitions (``assets.partitions``): a province
schedule skips while its province has no partition (nothing of it was ever processed here), and the
daily schedule adds its day before requesting it (schedules cannot return partition requests)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from assets.partitions import PROVINCE_PARTITIONS, add_days, partition_key
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
        if not context.instance.has_dynamic_partition(PROVINCE_PARTITIONS, province):
            yield dg.SkipReason(f"{province} is not processed by this installation (run `doisoat run` once)")
            return
        for sector in SECTORS:
            yield dg.RunRequest(run_key=f"{province}|{sector}|{day}",
                                partition_key=partition_key(province, sector))

    return _schedule


@dg.schedule(
    name="national_verification_daily",
    cron_schedule="0 3 * * *",
    execution_timezone=TIMEZONE,
    job=national_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="03:00 Asia/Ho_Chi_Minh: spend the day's national verification quota.",
)
def national_daily_schedule(context: dg.ScheduleEvaluationContext):
    """The Vietnamese day the tick falls in (03:00 on the 23rd in Hanoi is still the 22nd in UTC)."""
    when: datetime = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE))
    add_days(context.instance, when.date())
    day = when.strftime("%Y-%m-%d")
    return dg.RunRequest(run_key=f"verification|{day}", partition_key=day)

SCHEDULES = [*(province_schedule(p) for p in PROVINCE_SLUGS), national_daily_schedule]
