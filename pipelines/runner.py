"""Run jobs in this process against the persistent instance: no daemon, and every run shows in the UI.

This is what ``doisoat run``, ``doisoat verify-day``, ``doisoat publish`` and ``doisoat demo`` use. Each
run is created with the origin of the ``doisoat`` code location that ``dagster dev`` loads
(``pipelines.code_location``) and executed here, as a launched run would be in its worker: the UI lists
it on its job's page and can re-execute it.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg

from assets.partitions import partition_key
from pipelines.errors import one_line
from rules import interrupts
from rules.processes import process_alive

# Exceptions that mean "stopped by a signal", whoever's handler raised them.
_INTERRUPT_CLASSES = {"Interrupted", "KeyboardInterrupt", "DagsterExecutionInterruptedError"}

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def _run_config() -> dict:
    """Console logs at CRITICAL unless DOISOAT_LOG_LEVEL says otherwise: a failed step prints one line
    from ``_execute`` instead of a stack trace, which stays in the event log and the UI."""
    level = os.environ.get("DOISOAT_LOG_LEVEL", "CRITICAL").upper()
    return {"loggers": {"console": {"config": {"log_level": level}}}}


HOST_TAG, PID_TAG = "doisoat/host", "doisoat/pid"

# The instance the runs of this process share, with the environment it was opened for.
_INSTANCE: tuple[tuple[tuple[str, str], ...], dg.DagsterInstance] | None = None


def _instance_environment() -> tuple[tuple[str, str], ...]:
    """What ``dagster.yaml`` is read from and fills in: DAGSTER_HOME and the DOISOAT_* variables."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k == "DAGSTER_HOME" or k.startswith("DOISOAT_")))


def shared_instance() -> dg.DagsterInstance:
    """One ``DagsterInstance`` for every run this process starts (``doisoat demo`` starts six).

    Why: ``DagsterInstance.get()`` builds a new instance each call, opening its SQLite storages and
    checking their schema revisions with alembic (about 0.3-1 s each); the runs of one command need
    one. A changed environment (another data folder, as tests set) opens a new one and disposes the old.
    """
    global _INSTANCE
    key = _instance_environment()
    if _INSTANCE is not None and _INSTANCE[0] == key:
        return _INSTANCE[1]
    if _INSTANCE is not None:
        _INSTANCE[1].dispose()
    _INSTANCE = (key, dg.DagsterInstance.get())
    return _INSTANCE[1]


def fail_orphaned_runs(instance: dg.DagsterInstance) -> int:
    """Mark failed the runs of this host that a killed in-process run left STARTING/STARTED.

    An in-process run has no daemon watching it: ``kill -9`` (or the machine going down) leaves it
    STARTED for ever in the UI. Every run we launch carries its host and pid as tags, so on the next
    start the runs whose process is gone are closed with a clear message.
    """
    import socket

    statuses = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=statuses, tags={HOST_TAG: socket.gethostname()}))
    closed = 0
    for run in runs:
        pid = run.tags.get(PID_TAG, "")
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            instance.report_run_failed(
                run, f"the process that ran it (pid {pid}) ended without finishing the run (killed or crashed); "
                "marked failed on the next start")
            closed += 1
    return closed


def _execute(job_name: str, partition: str | None, label: str) -> bool:
    """Run ``job_name`` (one partition) in this process, as the code location ``dagster dev`` loads.

    The run is created with the remote origin of that location (``pipelines.code_location``), so
    the UI lists it on its job page and can re-execute it; the province or day is added to the
    installation's dynamic partitions first.
    """
    import socket

    from dagster._core.execution.api import execute_run

    from pipelines.summaries import step

    instance = shared_instance()
    if fail_orphaned_runs(instance):
        print("  (runs left STARTED by a killed process were marked failed)", file=sys.stderr)
    recon_job, run = create_run(instance, job_name, partition,
                                {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())})
    with step(label):
        result = execute_run(recon_job, run, instance, raise_on_error=False)
    if not result.success:
        failures = [e for e in result.all_events if e.is_step_failure]
        causes = [root_cause(e.step_failure_data.error) for e in failures if e.step_failure_data]
        if interrupts.stop_requested():
            return False  # stopped by a signal: the command line prints that one line
        detail = "; ".join(f"{e.step_key}: {c}" for e, c in zip(failures, causes, strict=False)) or (
            "the run did not finish (see the run in the UI)")
        print(f"  ✗ {label} failed (run {result.run_id[:8]}): {detail}", file=sys.stderr)
    return result.success


def create_run(instance: dg.DagsterInstance, job_name: str, partition: str | None, tags: dict[str, str]):
    """Create (not start) a run of ``job_name`` for one partition, as the code location ``dagster dev``
    loads: the run carries that location's origin (``pipelines.code_location``), the partition's tags and
    ``tags``; the partition is added to the installation's dynamic partitions first. Returns
    ``(reconstructable job, run)``: execute it here (:func:`_execute`) or submit it to the instance's run
    queue (``pipelines.rehearsal``), where a daemon launches it in its own process."""
    from dagster._core.execution.execute_in_process import merge_run_tags

    from pipelines.code_location import job_origin, reconstructable_repository

    recon_job = reconstructable_repository().get_reconstructable_job(job_name)
    job = recon_job.get_definition()
    partition = str(partition) if partition is not None else None
    if partition is not None:
        _add_partition(instance, job_name, partition)
    run_config = _run_config()
    tags = merge_run_tags(job, partition, tags, None, instance, run_config)
    run = instance.create_run_for_job(job, run_config=run_config, tags=tags, remote_job_origin=job_origin(job_name),
                                      job_code_origin=recon_job.get_python_origin())
    return recon_job, run


def _add_partition(instance: dg.DagsterInstance, job_name: str, partition: str) -> None:
    """Add the run's province or day to the installation's partitions (``assets.partitions``)."""
    from datetime import date

    from assets.partitions import add_days, add_province

    if job_name == "national_verification_job":
        add_days(instance, date.fromisoformat(partition))
    else:  # province jobs: "<province>" or "<province>|<sector>"
        add_province(instance, partition.split("|")[0])


def root_cause(error) -> str:
    """The innermost cause of a Dagster step failure, as one line without personal data.

    Dagster wraps a step's exception as "Error occurred while executing op X"; the operator needs
    the real cause (a corrupt queue, a full disk, a file name too long). OS errors are reduced to
    their errno text (a path may carry an uploader's file name, which may be a pupil's name); long
    digit runs (IDs) are masked; the line is bounded.
    """
    if error is None:
        return "unknown error"
    chain = [error]
    while chain[-1].cause is not None or chain[-1].context is not None:
        nxt = chain[-1].cause or chain[-1].context
        chain.append(nxt)
    if any(e.cls_name in _INTERRUPT_CLASSES for e in chain):
        interrupts.request_stop(interrupts.signal_name() or "a signal")
    user = [e for e in chain if not (e.cls_name or "").startswith("Dagster")] or chain
    inner = user[0]  # the step's own exception (its causes are usually lower-level restatements)
    return one_line(inner.cls_name or "Error", inner.message or "")


def run_register(province: str) -> bool:
    return _execute("register_job", province, f"register {province}")


def run_province(province: str, sectors: list[str], *, with_register: bool = True) -> bool:
    from pipelines.environment import layout
    from rules.errors import MissingInputError

    where = layout()
    if not where.population_files(province):
        raise MissingInputError(
            f"no population register for {province}: put it at {where.population_hint(province)} "
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
    """Run one day's national verification (see :func:`national_day`); True if all went well."""
    step_ok, day_ok = national_day(day)
    return step_ok and day_ok


def national_day(day: str | None = None) -> tuple[bool, bool]:
    """Run one day's national verification and print its summary line; only days from the
    partitions' start up to today exist. Returns (the run succeeded, the day spent its allocation
    or ran out of work rather than failing)."""
    day = check_day(day)
    step_ok = _execute("national_verification_job", day, f"national verification {day}")
    if not step_ok:
        # The step's failure line says what went wrong; the queue may hold an earlier run's figures for
        # this day, and printing them would read as if this run had allocated them.
        return False, False
    if interrupts.stop_requested():
        return step_ok, False  # the command line says it was stopped; a summary would be half a day
    return step_ok, print_day_summary(day)


def check_day(day: str | None) -> str:
    """The verification day of ``--date`` (default today in Asia/Ho_Chi_Minh), checked: a real date
    from the partitions' start up to today. Commands call it before any work (``doisoat demo``
    refuses a bad day before generating and matching, not after)."""
    from datetime import date

    from assets.partitions import FIRST_POSSIBLE_DAY
    from rules.errors import OptionError

    day = day or today_vn()
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        raise OptionError(f"--date {day!r} is not a date; use YYYY-MM-DD") from None
    first, today = FIRST_POSSIBLE_DAY, date.fromisoformat(today_vn())
    if wanted > today:
        raise OptionError(f"--date {day} is in the future: a day's quota exists from that day on "
                         f"(today is {today} in Asia/Ho_Chi_Minh)")
    if wanted < first:
        raise OptionError(f"--date {day} is before the first verification day {first}")
    return day


# Stop causes that are not failures: the day ran out of work, or stopped after ``max_batches`` as asked.
_NOT_FAILURES = {None, "max_batches"}


def print_day_summary(day: str) -> bool:
    """One line on what the day spent, always; False when it spent less than its allocation
    because something failed (an outage, a 429, bad answers, failed requests, an interrupt)."""
    from pipelines.environment import layout
    from rules.verify import StoreError, open_queue
    from rules.verify.queue import is_url, queue_location

    path = layout().queue_store()
    location = queue_location(path)  # $DOISOAT_QUEUE_URL: the national queue on PostgreSQL
    try:
        status = open_queue(location).day_status(day) if is_url(location) or path.exists() else None
    except StoreError as exc:  # the step's failure line already named it; say what it means for the day
        print(f"verification {day}: no summary, the queue cannot be read ({exc})", file=sys.stderr)
        return False
    if status is None:
        print(f"verification {day}: nothing was allocated (the day did not start)", file=sys.stderr)
        return False
    line = (f"verification {day}: allocated {status['allocated']:,} of quota {status['quota']:,}, "
            f"answered {status['answered']:,}, unused {status['unused']:,}")
    failed = status["unused"] > 0 and status["stop_cause"] not in _NOT_FAILURES
    if status["unused"] and status["stop_cause"]:
        line += f" because {status['stop_cause']}"
        if status["stop_detail"]:
            line += f": {status['stop_detail']}"
    if status["in_flight"]:
        line += f"; {status['in_flight']:,} still in flight"
    print(("✗ " if failed else "") + line, file=sys.stderr if failed else sys.stdout)
    return not failed


def run_publish() -> bool:
    return _execute("publish_job", None, "publish")
