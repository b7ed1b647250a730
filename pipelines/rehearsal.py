"""``doisoat rehearse``: a national rehearsal on one machine, on the production engines.

What runs, in order (one line each as it goes, then a table of what ran where and the reconciled counts):

1. PostgreSQL (``$DOISOAT_PG_HOST``:``$DOISOAT_PG_PORT``, default 127.0.0.1:5432): two databases of its own,
   dropped and recreated each time so nothing else is touched: ``<database>`` for the Dagster instance
   (``deploy/dagster.yaml`` as is: dagster-postgres storage, ``QueuedRunCoordinator``, one run per
   province at a time, one publish step at a time, run monitoring) and ``<database>_queue`` for the
   national verification queue (``DOISOAT_QUEUE_URL``, ``rules.verify.pg_store``).
2. Three provinces' registers and uploads from the generator (``rules.synth``, as ``doisoat demo``) in
   the rehearsal's own data folder (``--workdir``; its generated folders are emptied first).
3. The lake on a local S3-compatible server (moto, ``pipelines.local_s3``; ``DOISOAT_LAKE=s3://...``),
   the verification API over the three registers (``rules.verify.server``, the local HTTP server of
   ``doisoat verify-server``; the policy's ``service: http``), and ``dagster-daemon run`` on the instance.
4. Runs in their own processes, launched by the daemon from the instance's queue, so the provinces'
   runs really run side by side (the per-province tag limit keeps one run per province at a time).
   The registers, the national verification day and the analyst publish are created as ``doisoat run``
   creates runs (``pipelines.runner.create_run``: the ``doisoat`` code location's origin) and
   *submitted*; the province x sector runs are requested by the inbox sensor, as in production, once
   the generated uploads land in the inbox (they are held back until the registers are indexed). A
   phase with a failed run stops the rehearsal and says which step failed and why (one line per run,
   never a traceback).

The reconciliation (``rules.reconcile``) is read back from the lake on S3, the queue on PostgreSQL and
the analyst file. Personal data stays in the rehearsal's folder, the S3 server's memory (gone when it
stops) and the queue database; nothing personal is printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pipelines.environment import REPO_ROOT
from rules.errors import UserError
from rules.sectors import SECTORS

DEPLOY_INSTANCE = REPO_ROOT / "deploy" / "dagster.yaml"
DEFAULT_PROVINCES = ("ho_chi_minh", "ha_noi", "da_nang")
DEFAULT_SIZE = 12_000
DEFAULT_DATABASE = "doisoat_rehearsal"
LAKE_PREFIX = "doisoat/lake"
RUN_TIMEOUT_S = 1800.0  # one phase; a province x sector run of the default size takes well under a minute
PID_MESSAGE = "Started process for run (pid: "  # the engine event Dagster writes when a run's process starts


class RehearsalError(UserError, RuntimeError):
    """A prerequisite of the rehearsal is missing (PostgreSQL down, a bad option); one line says what to do."""


@dataclass(frozen=True)
class Postgres:
    """Where the rehearsal's databases live; from ``DOISOAT_PG_*`` (as deploy/dagster.yaml reads them)."""

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""

    @classmethod
    def from_env(cls) -> Postgres:
        env = os.environ
        return cls(env.get("DOISOAT_PG_HOST") or "127.0.0.1", int(env.get("DOISOAT_PG_PORT") or 5432),
                   env.get("DOISOAT_PG_USER") or "postgres", env.get("DOISOAT_PG_PASSWORD", ""))

    def url(self, db: str) -> str:
        auth = f"{self.user}:{self.password}" if self.password else self.user
        return f"postgresql://{auth}@{self.host}:{self.port}/{db}"

    def shown(self, db: str) -> str:
        """The URL as it may be printed (no password)."""
        masked = ":****" if self.password else ""
        return f"postgresql://{self.user}{masked}@{self.host}:{self.port}/{db}"

    def check(self) -> None:
        try:
            with socket.create_connection((self.host, self.port), timeout=2):
                return
        except OSError:
            raise RehearsalError(
                f"PostgreSQL is not reachable at {self.host}:{self.port}: start it (the rehearsal keeps the Dagster "
                "instance and the national queue there) or point DOISOAT_PG_HOST / DOISOAT_PG_PORT at one") from None

    def recreate(self, *databases: str) -> None:
        """Drop (closing their sessions) and create ``databases``; names are ours, checked below."""
        import psycopg2

        for db in databases:
            if not db.replace("_", "").isalnum() or not db[0].isalpha():
                raise RehearsalError(f"--database {db!r}: use letters, digits and _ only, starting with a letter")
        try:
            con = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password or None,
                                   dbname="postgres", connect_timeout=5)
        except psycopg2.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RehearsalError(f"PostgreSQL at {self.host}:{self.port} refused the rehearsal ({first}): it needs a "
                                 "role that may create databases (DOISOAT_PG_USER / DOISOAT_PG_PASSWORD)") from None
        con.autocommit = True
        try:
            with con.cursor() as cur:
                for db in databases:
                    cur.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
                    cur.execute(f"CREATE DATABASE {db}")
        finally:
            con.close()


@dataclass(frozen=True)
class RehearsalOptions:
    workdir: Path
    provinces: tuple[str, ...] = DEFAULT_PROVINCES
    size: int = DEFAULT_SIZE
    seed: int = 6
    day: str | None = None
    quota: int | None = None
    database: str = DEFAULT_DATABASE
    lake: str = "s3"  # "s3": Delta on the local S3 server; "local": Parquet in the work folder (to compare)
    sectors: tuple[str, ...] = SECTORS


@dataclass
class RunRow:
    """One Dagster run as the rehearsal reports it (no personal data)."""

    phase: str
    job: str
    partition: str
    run_id: str
    status: str
    host: str
    pid: str
    start: float | None
    end: float | None
    cause: str = ""

    @property
    def duration(self) -> float | None:
        return self.end - self.start if self.start and self.end else None


@dataclass
class Rehearsal:
    """The running pieces; :meth:`close` stops those this process started (by their own ids)."""

    options: RehearsalOptions
    pg: Postgres
    home: Path
    env: dict[str, str] = field(default_factory=dict)
    s3: object | None = None
    verify: object | None = None
    daemon: subprocess.Popen | None = None
    lake: str = ""
    runs: list[RunRow] = field(default_factory=list)
    stash: Path | None = None  # the generated inbox, held back until the registers are built

    def close(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            import signal

            os.killpg(self.daemon.pid, signal.SIGTERM)
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.daemon.pid, signal.SIGKILL)
                self.daemon.wait()
        if self.verify is not None:
            self.verify.stop()
        if self.s3 is not None:
            self.s3.stop()


def run_rehearsal(options: RehearsalOptions) -> int:
    """The whole rehearsal; 0 when every run succeeded and every count reconciles, else 1."""
    from pipelines.environment import configure, layout
    from pipelines.runner import today_vn
    from rules.provinces import resolve_province

    provinces = tuple(dict.fromkeys(resolve_province(p).slug for p in options.provinces))
    if len(provinces) < 2:
        raise RehearsalError("--province: give at least two different provinces (they run side by side)")
    options = RehearsalOptions(**{**options.__dict__, "provinces": provinces})
    day = options.day or today_vn()
    _check_workdir(options.workdir)
    pg = Postgres.from_env()
    pg.check()
    queue_db = f"{options.database}_queue"
    started = time.monotonic()
    print(f"rehearsal: {len(provinces)} provinces ({', '.join(provinces)}) x {len(options.sectors)} sectors "
          f"({', '.join(options.sectors)}), "
          f"{options.size:,} people each, verification day {day}, work folder {options.workdir}")

    pg.recreate(options.database, queue_db)
    print(f"[1/7] PostgreSQL {pg.host}:{pg.port}: databases {options.database} (Dagster instance) and {queue_db} "
          "(national queue) recreated")

    configure(options.workdir)  # DOISOAT_DATA and the instance folders point at the work folder
    where = layout()
    held = sorted(where.root.glob(".inbox-held-*")) if where.root.is_dir() else []  # an interrupted rehearsal's
    for folder in [*where.generated_folders(), where.dagster_storage(), *held]:
        shutil.rmtree(folder, ignore_errors=True)
    from pipelines.demo import demo_rows_per_sector
    from rules.synth import write_province

    t0 = time.monotonic()
    for i, province in enumerate(provinces):
        write_province(where.root, province, options.size, options.seed + i,
                       rows_per_sector={s: n for s, n in demo_rows_per_sector(province, options.size).items()
                                        if s in options.sectors})
    print(f"[2/7] generated {len(provinces)} registers and their uploads in {time.monotonic() - t0:.1f}s "
          f"-> {where.root}")

    home = where.dagster_storage()
    home.mkdir(parents=True, exist_ok=True)
    rehearsal = Rehearsal(options, pg, home)
    # The uploads "arrive" only once the registers are indexed: the inbox sensor (running in the daemon,
    # as in production) then starts the province x sector runs. Same file system: a rename, atomic.
    rehearsal.stash = Path(tempfile.mkdtemp(prefix=".inbox-held-", dir=where.root))
    os.replace(where.inbox_root(), rehearsal.stash)
    try:
        _start_services(rehearsal, queue_db, day)
        ok = _run_phases(rehearsal, day)
        print()
        print("\n".join(where_lines(rehearsal, queue_db)))
        print()
        print("\n".join(run_lines(rehearsal.runs)))
        if not ok:
            print("\n".join(stop_lines(rehearsal.runs)))
            return 1
        print()
        lines, reconciled = reconcile_lines(day)
        print("\n".join(lines))
        print(f"\nrehearsal {'finished' if reconciled else 'FAILED to reconcile'} in "
              f"{time.monotonic() - started:.0f}s")
        return 0 if reconciled else 1
    finally:
        rehearsal.close()


def _check_workdir(workdir: Path) -> None:
    """Refuse a work folder that holds anything but an earlier rehearsal: its generated folders are emptied."""
    from rules.layout import DataLayout

    if not workdir.exists() or not any(workdir.iterdir()):
        return
    if any(DataLayout.at(workdir).dagster_storage().glob("workspace-*.yaml")):  # written by _start_services
        return
    raise RehearsalError(f"--workdir {workdir} holds other data (the rehearsal empties its work folder first): "
                         "give a new or empty folder, or one an earlier rehearsal used")


def _start_services(r: Rehearsal, queue_db: str, day: str) -> None:
    """Lake on local S3, verification API, the instance's environment and ``dagster-daemon``."""
    import polars as pl

    from pipelines.environment import layout
    from pipelines.local_s3 import LocalS3
    from rules.pseudonym import KEY_ENV, deployment_key
    from rules.verify.server import VerifyServer

    where = layout()
    if r.options.lake == "s3":
        r.s3 = LocalS3.start()
        bucket = r.s3.create_bucket(f"rehearsal-{uuid.uuid4().hex[:8]}")
        r.lake = f"s3://{bucket}/{LAKE_PREFIX}"
    else:
        os.environ.pop("DOISOAT_LAKE", None)
        r.lake = where.lake_location
    registers = [pl.read_parquet(f) for p in r.options.provinces for f in where.population_files(p)]
    r.verify = VerifyServer(pl.concat(registers, how="diagonal_relaxed")).start()
    _instance_file(r.home)
    fd, workspace = tempfile.mkstemp(prefix="workspace-", suffix=".yaml", dir=r.home)
    with os.fdopen(fd, "w") as out:  # the code location `doisoat` (the origin our runs carry)
        from pipelines.code_location import location_name, module_name

        out.write(f"load_from:\n  - python_module:\n      module_name: {module_name()}\n"
                  f"      working_directory: {REPO_ROOT}\n      location_name: {location_name()}\n")
    r.env = {
        "DAGSTER_HOME": str(r.home),
        "DOISOAT_PG_HOST": r.pg.host, "DOISOAT_PG_PORT": str(r.pg.port), "DOISOAT_PG_USER": r.pg.user,
        "DOISOAT_PG_PASSWORD": r.pg.password, "DOISOAT_PG_DB": r.options.database,
        "DOISOAT_DATA": str(where.root), "DOISOAT_DAGSTER_STORAGE": str(r.home),
        "DOISOAT_COMPUTE_LOGS": str(where.compute_logs()),
        "DOISOAT_QUEUE_URL": r.pg.url(queue_db),
        "DOISOAT_POLICY": _policy_file(r.home, r.verify.url, r.options.quota or 200_000),
        **({"DOISOAT_LAKE": r.lake, **r.s3.env()} if r.s3 else {}),
        # one pseudonym key for every process, as a deployment over several machines must set it
        # (deploy/README.md): the environment's, else the work folder's generated key
        KEY_ENV: os.environ.get(KEY_ENV) or deployment_key().decode(),
    }
    os.environ.update(r.env)  # this process creates and watches the runs on the same instance
    from pipelines.runner import shared_instance

    shared_instance()  # creates the instance's tables once, before the daemon races us to it; kept for the phases
    daemon = Path(sys.executable).with_name("dagster-daemon")
    r.daemon = subprocess.Popen([str(daemon if daemon.exists() else "dagster-daemon"), "run", "-w", workspace],
                                cwd=REPO_ROOT, env={**os.environ}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    lake = f"lake on local S3 {r.s3.endpoint} (moto, pid {r.s3.pid})" if r.s3 else f"lake in {r.lake} (--lake local)"
    print(f"[3/7] {lake}, verification API {r.verify.url}, dagster-daemon pid {r.daemon.pid}")


def _instance_file(home: Path) -> None:
    """``deploy/dagster.yaml`` as is into the rehearsal's DAGSTER_HOME (the name Dagster looks for). It
    launches queued runs from worker threads (``dequeue_use_threads``): the default launcher waits until
    a run's process has loaded the code before launching the next, which would start the provinces one
    after another."""
    shutil.copyfile(DEPLOY_INSTANCE, home / DEPLOY_INSTANCE.name)


def _policy_file(folder: Path, endpoint: str, quota: int, path: str | None = None) -> str:
    """A copy of the quota policy that sends to the local verification API with ``quota`` a day: a new
    file in ``folder``, or ``path`` rewritten in place."""
    import yaml

    from rules.quota import DEFAULT_POLICY_PATH

    policy = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    policy["national_daily_quota"] = int(quota)
    policy["verification"]["service"] = "http"
    policy["verification"]["http"]["endpoint"] = endpoint
    policy["verification"]["http"].pop("token_env", None)  # the local API is open (no bearer token)
    if path is None:
        fd, path = tempfile.mkstemp(prefix="policy-", suffix=".yaml", dir=folder)
        os.close(fd)
    with open(path, "w", encoding="utf-8") as out:
        yaml.safe_dump(policy, out, sort_keys=False, allow_unicode=True)
    return path


def _run_phases(r: Rehearsal, day: str) -> bool:
    """Submit each phase's runs to the queue and wait for them; False at the first phase with a failure."""
    from assets.partitions import partition_key
    from pipelines.environment import layout

    provinces = r.options.provinces
    phases = [
        ("register", "register_job", list(provinces), "4/7", "registers (one run per province, side by side)"),
        ("province", "province_job", [str(partition_key(p, s)) for s in r.options.sectors for p in provinces],
         "5/7", "uploads landed in the inbox; the inbox sensor's province x sector runs (one per province at a "
         "time, provinces side by side)"),
        ("national", "national_verification_job", [day], "6/7", f"national verification day {day}"),
        ("publish", "publish_job", [None], "7/7", "analyst publish"),
    ]
    for phase, job, partitions, number, label in phases:
        if phase == "national" and r.options.quota is None:
            _set_quota_to_part_of_backlog(r)
        t0 = time.monotonic()
        if phase == "province":  # as in production: files land, the inbox sensor requests the runs
            os.replace(r.stash, layout().inbox_root())
            rows = _wait_for_sensor_runs(r, phase, job, set(partitions))
        else:
            rows = _submit_and_wait(r, phase, job, partitions)
        r.runs += rows
        failed = [x for x in rows if x.status != "SUCCESS"]
        print(f"[{number}] {label}: {len(rows) - len(failed)} of {len(rows)} runs succeeded in "
              f"{time.monotonic() - t0:.0f}s")
        if failed:
            return False
    return True


def _set_quota_to_part_of_backlog(r: Rehearsal) -> None:
    """Without ``--quota``, a daily quota of two thirds of what was matched: the day spends its whole quota
    and some requests stay waiting, so both sides of the queue's identity are exercised. The policy file
    keeps its path (the daemon's code server and the runs it launches have it in their environment); the
    national run reads its content when it starts."""
    from pipelines.environment import layout
    from rules.lake_store import open_lake

    results = open_lake(layout()).read_all("match_results", columns=["status"])
    matched = 0 if results is None else int((results["status"] == "matched").sum())
    _policy_file(r.home, r.verify.url, max(1, matched * 2 // 3), path=r.env["DOISOAT_POLICY"])


def _submit_and_wait(r: Rehearsal, phase: str, job: str, partitions: list) -> list[RunRow]:
    import dagster as dg

    from pipelines.runner import create_run, shared_instance

    instance = shared_instance()  # one instance for every phase, not a new one (and alembic check) each
    ids = []
    for partition in partitions:
        _, run = create_run(instance, job, partition, {"doisoat/rehearsal": phase})
        instance.submit_run(run.run_id, workspace=None)
        ids.append(run.run_id)
    done = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        records = instance.get_run_records(dg.RunsFilter(run_ids=ids))
        if len(records) == len(ids) and all(x.dagster_run.status in done for x in records):
            break
        if r.daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited (code {r.daemon.returncode}) while {phase} runs were queued")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{phase} runs did not finish within {RUN_TIMEOUT_S:.0f}s (see them in the instance)")
        time.sleep(1)
    return [_run_row(instance, phase, x) for x in sorted(records, key=lambda x: x.create_timestamp)]


def _wait_for_sensor_runs(r: Rehearsal, phase: str, job: str, partitions: set[str]) -> list[RunRow]:
    """Wait until the inbox sensor's runs of ``job`` cover ``partitions`` and have all finished."""
    import dagster as dg

    from pipelines.runner import shared_instance

    instance = shared_instance()
    done = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        records = instance.get_run_records(dg.RunsFilter(job_name=job))
        seen = {x.dagster_run.tags.get("dagster/partition") for x in records}
        if partitions <= seen and all(x.dagster_run.status in done for x in records):
            break
        if r.daemon.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited (code {r.daemon.returncode}) while waiting for {phase} runs")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the inbox sensor's runs did not finish within {RUN_TIMEOUT_S:.0f}s "
                               f"({len(seen & partitions)} of {len(partitions)} partitions started)")
        time.sleep(1)
    return [_run_row(instance, phase, x) for x in sorted(records, key=lambda x: x.create_timestamp)]


def _run_row(instance, phase: str, record) -> RunRow:
    import dagster as dg

    from pipelines.runner import root_cause

    run = record.dagster_run
    engine = instance.all_logs(run.run_id, of_type={dg.DagsterEventType.ENGINE_EVENT})
    pid = next((e.message[len(PID_MESSAGE):].rstrip(").") for e in engine if e.message.startswith(PID_MESSAGE)), "?")
    cause = ""
    if run.status != dg.DagsterRunStatus.SUCCESS:
        failures = instance.all_logs(run.run_id, of_type={dg.DagsterEventType.STEP_FAILURE})
        causes = [f"{e.step_key}: {root_cause(e.dagster_event.step_failure_data.error)}" for e in failures
                  if e.dagster_event and e.dagster_event.step_failure_data]
        if not causes:
            ends = instance.all_logs(run.run_id, of_type={dg.DagsterEventType.RUN_FAILURE})
            causes = [e.message for e in ends][-1:] or ["the run did not finish (see it in the instance)"]
        cause = "; ".join(causes)
    partition = run.tags.get("dagster/partition", "")
    return RunRow(phase, run.job_name, partition, run.run_id, run.status.value, socket.gethostname(), pid,
                  record.start_time, record.end_time, cause)


# --- what it printed -------------------------------------------------------------------------------------

def where_lines(r: Rehearsal, queue_db: str) -> list[str]:
    """Where each piece ran, credentials masked."""
    from pipelines.environment import layout

    key = r.s3.key if r.s3 else ""
    masked_key = f"{key[:3]}***" if key else "-"
    return [
        "where:",
        f"  Dagster instance storage  {r.pg.shown(r.options.database)} (dagster-postgres; {DEPLOY_INSTANCE.name} of "
        f"deploy/, QueuedRunCoordinator; DAGSTER_HOME {r.home})",
        f"  national queue            {r.pg.shown(queue_db)} (DOISOAT_QUEUE_URL)",
        (f"  lake                      {r.lake} at {r.s3.endpoint} (Delta; AWS_ACCESS_KEY_ID "
         f"{masked_key}, AWS_SECRET_ACCESS_KEY ****)" if r.s3 else
         f"  lake                      {r.lake} (local Parquet, --lake local)"),
        f"  verification API          {r.verify.url if r.verify else '-'} (in process {os.getpid()})",
        f"  analyst file              {layout().warehouse()}",
        f"  run processes             launched by dagster-daemon (pid {r.daemon.pid if r.daemon else '-'}) on "
        f"{socket.gethostname()}",
    ]


def _clock(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S") if ts else "-"


def run_lines(runs: list[RunRow]) -> list[str]:
    """One line per run (partition, run id, pid, start/end UTC, duration) and how many ran at once."""
    w = max([len("partition"), *(len(x.partition or "-") for x in runs)]) + 2  # the widest partition key
    lines = [f"{'runs':<9}{'job':<27}{'partition':<{w}}{'run id':<10}{'pid':>8}  {'start':>8}  {'end':>8} "
             f"{'seconds':>8}  status"]
    for x in runs:
        d = f"{x.duration:.1f}" if x.duration is not None else "-"
        lines.append(f"{x.phase:<9}{x.job:<27}{x.partition or '-':<{w}}{x.run_id[:8]:<10}{x.pid:>8}  "
                     f"{_clock(x.start):>8}  {_clock(x.end):>8} {d:>8}  {x.status.lower()}")
    spans = [(x.start, x.end) for x in runs if x.start and x.end]
    if spans:
        lines.append(f"at most {max_overlap(spans)} runs at once; province x sector runs of different provinces "
                     f"overlapped: {'yes' if provinces_overlapped(runs) else 'no'}")
    return lines


def stop_lines(runs: list[RunRow]) -> list[str]:
    """Why the rehearsal stopped: one line per failed run, and a plain word when it is the S3 lake."""
    lines = ["", "stopped: a phase had failed runs, so the later phases did not run"]
    for x in runs:
        if x.status == "SUCCESS":
            continue
        lines.append(f"  ✗ {x.job} {x.partition or ''} (run {x.run_id[:8]}): {x.cause}")
        if "RemoteLakeError" in x.cause or "lake_uri" in x.cause:
            lines.append("    -> this step does not run on the lake on object storage (S3) yet: it still needs "
                         "the local lake (README, 'Scale-out')")
    return lines


def max_overlap(spans: list[tuple[float, float]]) -> int:
    """The largest number of ``(start, end)`` intervals open at one instant (an end before a start at a tie)."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda t: (t[0], t[1]))
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def provinces_overlapped(runs: list[RunRow]) -> bool:
    """True when two province x sector runs of different provinces were running at the same instant."""
    spans = [(x.partition.split("|")[0], x.start, x.end) for x in runs
             if x.job == "province_job" and x.start and x.end]
    return any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for i, a in enumerate(spans) for b in spans[i + 1:])


def reconcile_lines(day: str) -> tuple[list[str], bool]:
    """The reconciled counts (``rules.reconcile``) from the lake, the queue and the analyst file."""
    import duckdb
    import polars as pl

    from pipelines.environment import layout
    from rules import reconcile
    from rules.lake_schema import LAKE_ROW_KEY, ROW_KEY
    from rules.lake_store import open_lake
    from rules.verify import open_queue
    from rules.verify.queue import queue_location

    where = layout()
    lake = open_lake(where)

    def rows(table: str, *columns: str) -> pl.DataFrame:
        df = lake.read_all(table, columns=["province", "sector", *columns])
        types = {"row_number": pl.Int64, "rows_read": pl.Int64}
        return df if df is not None else pl.DataFrame(
            schema={c: types.get(c, pl.Utf8) for c in ("province", "sector", *columns)})

    uploads = rows("uploads", "rows_read", "status").filter(pl.col("status") == "current")
    matched_rows = rows("match_results", "status", *ROW_KEY)
    # A row validation refused but still matched on the fields it has (flag validation_failed) has its
    # decision: it counts there, not again as rejected. A refused row with neither name nor ID is in
    # match_results too, as status "rejected", which partition_table leaves to the rejected count: it
    # must stay in that count here (taking it out as "decided" lost it from both).
    # every partition in one frame: the same file in two partitions is two sets of rows
    keys = list(LAKE_ROW_KEY)
    decided = matched_rows.filter(pl.col("status") != "rejected").select(keys)
    rejected = (rows("rejected_records", *ROW_KEY).join(decided, on=keys, how="anti", nulls_equal=True)
                .group_by("province", "sector").agg(pl.len().alias("rows")))
    decisions = matched_rows.group_by("province", "sector", "status").agg(pl.len().alias("rows"))
    table = reconcile.partition_table(uploads, rejected, decisions)
    checks = reconcile.partition_checks(table)

    store = open_queue(queue_location(where.queue_store()))
    try:
        states = store.state_counts()
        budgets = store.day_budgets()
        days = [store.day_status(d) for d in budgets["day"].to_list()] if budgets.height else []
        total = store.total_requests()
    finally:
        store.close()
    day_frame = pl.DataFrame([{k: s[k] for k in ("day", "quota", "allocated", "answered")} for s in days],
                             schema={"day": pl.Utf8, "quota": pl.Int64, "allocated": pl.Int64, "answered": pl.Int64})
    checks += reconcile.queue_checks(states, day_frame)

    def lake_count(table_name: str) -> int:
        df = lake.read_all(table_name, columns=["province"])
        return 0 if df is None else df.height

    con = duckdb.connect(str(where.warehouse()), read_only=True)
    try:
        def one(sql: str) -> int:
            return int(con.execute(sql).fetchone()[0] or 0)

        pairs = {
            "uploads": (one("SELECT count(*) FROM uploads"), lake_count("uploads")),
            "match_decisions": (one("SELECT count(*) FROM match_decisions"), lake_count("match_results")),
            "data_quality (accepted)": (one("SELECT sum(accepted_rows) FROM data_quality"),
                                        lake_count("clean_records")),
            "review_queue_size": (one("SELECT sum(candidates) FROM review_queue_size"), lake_count("review_queue")),
        }
        requests_in_file = one("SELECT sum(requests) FROM verification_backlog")
    finally:
        con.close()
    checks += reconcile.table_checks(pairs)
    checks.append(reconcile.Check("warehouse requests", requests_in_file == total,
                                  f"{requests_in_file:,} rows = queue {total:,} requests"))
    ok = all(c.ok for c in checks)
    lines = [f"reconciled counts ({'all hold' if ok else 'SOME DO NOT HOLD'}):", *(f"  {c.line()}" for c in checks)]
    return lines, ok
