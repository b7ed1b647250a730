"""Bodies of the ``doisoat`` sub-commands (argument parsing lives in ``pipelines.cli``).

Heavy modules (Dagster, polars, the rules) are imported inside each command so that the help text
and the quick commands stay fast.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from pipelines.environment import data_root, layout
from rules.errors import UserError

# OS errors that are about a path (missing, a folder where a file was expected, no permission), as
# opposed to a full disk or an I/O error: the user's to fix when the path is one they gave.
PATH_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, FileExistsError)


def user_paths(args: argparse.Namespace | None = None) -> list[Path]:
    """The paths a user gave: the data folder (``--data``, ``DOISOAT_DATA`` or the default) and every
    path argument of the command (``FILE``, ``--input``, ``--population``, ``--out``, ``--policy`` ...)."""
    given = [data_root()]
    if args is not None:
        given += [v for v in vars(args).values() if isinstance(v, Path)]
    return given


def is_user_error(exc: BaseException, args: argparse.Namespace | None = None) -> bool:
    """True for an error the user can fix, printed as one line with exit code 2 (``pipelines.cli``).

    That is a :class:`rules.errors.UserError` (every domain error about a file, option or policy the
    user gave subclasses it), or an OS error about a path the user gave (:func:`user_paths`): the
    OS names it in ``filename``; an error doisoat raised itself names it in its message. Anything
    else, a ``ValueError`` included, is a defect in doisoat and keeps its traceback (``--debug``).
    """
    if isinstance(exc, UserError):
        return True
    if not isinstance(exc, PATH_ERRORS):
        return False
    given = user_paths(args)
    named = [n for n in (exc.filename, exc.filename2) if n]
    if named:
        return any(_within(Path(str(n)), g) for n in named for g in given)
    return any(str(g) in str(exc) for g in given)


def _within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def provinces(args: argparse.Namespace) -> int:
    from rules.provinces import provinces as all_provinces

    for p in all_provinces():
        print(f"{p.code}  {p.slug:<14} {p.name}  (CCCD codes {' '.join(p.cccd_codes)})")
    return 0


def generate(args: argparse.Namespace) -> int:
    from rules.provinces import resolve_province
    from rules.synth import write_province

    province = resolve_province(args.province).slug
    rows = {
        s: n
        for s, n in (("students", args.students), ("vaccinations", args.vaccinations),
                     ("insurance", args.insurance))
        if n  # 0 rows: the sector is not written (an empty sector has no files to lay out)
    }
    started = time.perf_counter()
    manifest = write_province(
        args.out, province, args.size, args.seed, rows_per_sector=rows or None, profile=args.profile
    )
    print(f"generated {province}: {args.size:,} people, {_count_files(manifest)} upload files "
          f"in {time.perf_counter() - started:.1f}s -> {args.out}")
    return 0


def _count_files(manifest: dict) -> int:
    files = manifest.get("files") or []
    return len(files)


def demo(args: argparse.Namespace) -> int:
    """Generate a small province (if absent) and run every stage through Dagster, then summarise."""
    from rules.provinces import resolve_province

    where = layout()
    province = resolve_province(args.province).slug
    if args.fresh:
        for folder in where.generated_folders():
            shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    if not where.population_files(province):  # a register in one file or in a folder of parts
        from pipelines.demo import demo_rows_per_sector, demo_size
        from rules.synth import write_province

        size = args.size or demo_size(province)
        print(f"[1/4] generating a synthetic register of {size:,} people and sector uploads for {province}…")
        write_province(where.root, province, size, args.seed, rows_per_sector=demo_rows_per_sector(province, size))
    else:
        print(f"[1/4] using the existing register and inbox under {where.root}")
    from pipelines.demo import run_demo

    summary = run_demo(province, day=args.date)
    print(summary.render())
    print(f"demo finished in {time.perf_counter() - started:.1f}s. "
          f"Open the UI with `make ui` (or `doisoat ui`) to see the runs.")
    return 0 if summary.ok else 1


def run(args: argparse.Namespace) -> int:
    from pipelines.runner import run_province
    from rules.provinces import resolve_province
    from rules.sectors import SECTORS, check_sector

    province = resolve_province(args.province).slug
    sectors = [check_sector(s) for s in args.sector] if args.sector else list(SECTORS)
    ok = run_province(province, sectors)
    from pipelines.summaries import province_lines

    print("\n".join(province_lines(province, sectors)))
    return 0 if ok else 1


def upload(args: argparse.Namespace) -> int:
    from pipelines.upload import upload_file

    return upload_file(args.file, args.province, args.sector, unit=args.unit, sheet=args.sheet,
                       copy_to_inbox=not args.no_inbox)


def match(args: argparse.Namespace) -> int:
    from rules.matching import match_file
    from rules.sectors import check_sector

    out = match_file(args.population, args.input, check_sector(args.sector), args.out, progress=True)
    counts = out.results["status"].value_counts(sort=True)
    summary = ", ".join(f"{row['status']} {row['count']:,}" for row in counts.iter_rows(named=True))
    print(f"{out.results.height:,} rows -> {args.out}: {summary}")
    failed = int(out.stats.get("validation_failed_matched", 0))
    if failed:
        print(f"{failed:,} rows failed validation and were matched on the fields they have "
              "(flag validation_failed, reason in validation_reason): fix them before verification")
    return 0


EXIT_DAY_SHORT = 3  # verify-day: the day spent less than its allocation because something failed


def verify_day(args: argparse.Namespace) -> int:
    """Exit 0: the day spent its allocation (or ran out of work); 3: it spent less because of a
    failure (outage, 429, bad answers; the summary line says which); 1: a step failed."""
    from pipelines.runner import national_day, today_vn
    from pipelines.summaries import verification_lines

    step_ok, day_ok = national_day(args.date)
    if not step_ok:
        return 1
    print("\n".join(verification_lines(args.date or today_vn())))
    return 0 if day_ok else EXIT_DAY_SHORT


def verify_audit(args: argparse.Namespace) -> int:
    """Exit 0 when the chain is intact and complete, 1 when a record was edited, deleted or is missing."""
    import polars as pl

    from rules.verify import QueueStore
    from rules.verify.audit_log import records, verify_chain

    where = layout()
    queue, log = where.queue_store(), where.transmissions()
    first = next(records(log), {}) if log.exists() else {}
    sends = None
    if queue.exists() and first.get("at"):
        # Batches sent since the log began (a queue older than the audit has earlier, unrecorded ones).
        logged = {r.get("batch_id") for r in records(log)}
        ledger = QueueStore(queue).ledger().filter(
            (pl.col("created_at") >= first["at"]) | pl.col("batch_id").is_in(list(logged)))
        sends = dict(zip(ledger["batch_id"].to_list(), ledger["sends"].to_list(), strict=True))
    report = verify_chain(log, sends)
    print(f"{report.line()} ({log})", file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def forecast(args: argparse.Namespace) -> int:
    from pipelines.national import print_forecast

    return print_forecast(quota=args.quota, html=args.html, top=args.top, policy=args.policy)


def publish(args: argparse.Namespace) -> int:
    from pipelines.runner import run_publish
    from pipelines.summaries import publish_lines

    if not run_publish():
        return 1
    print("\n".join(publish_lines()))
    return 0


def report(args: argparse.Namespace) -> int:
    from pipelines.reporting import write_report
    from rules.provinces import resolve_province

    provinces = [resolve_province(p).slug for p in args.province] if args.province else None
    path = write_report(args.out, provinces=provinces, all_provinces=args.all_provinces)
    print(f"report written: {path}")
    return 0


def review(args: argparse.Namespace) -> int:
    from pipelines import review as review_commands

    action = {"export": review_commands.export, "import": review_commands.import_, "stats": review_commands.stats}
    return action[args.review_command](args)


def verify_server(args: argparse.Namespace) -> int:
    from pipelines.summaries import serving_line
    from rules.verify.server import VerifyServer, serve_until_interrupted

    server = VerifyServer(args.population, host=args.host, port=args.port)
    print(serving_line(server.url, len(server.index), args.population, token=bool(server.token)), flush=True)
    serve_until_interrupted(server)
    return 0


def rehearse(args: argparse.Namespace) -> int:
    """Exit 0 when every run succeeded and every count reconciles, 1 otherwise (the output says which)."""
    import tempfile

    from pipelines.rehearsal import DEFAULT_PROVINCES, DEFAULT_SIZE, RehearsalOptions, run_rehearsal
    from rules.sectors import SECTORS, check_sector

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="doisoat-rehearsal-"))
    return run_rehearsal(RehearsalOptions(
        workdir=workdir.resolve(), provinces=tuple(args.province or DEFAULT_PROVINCES),
        size=args.size or DEFAULT_SIZE, seed=args.seed, day=args.date, quota=args.quota, database=args.database,
        lake=args.lake, sectors=tuple(dict.fromkeys(check_sector(s) for s in args.sector or SECTORS))))


def ui(args: argparse.Namespace) -> int:
    """Start ``dagster dev`` on our code location against the persistent instance, as a child that
    stops with this command: SIGTERM / SIGINT to our pid reach its webserver, daemon and code server
    (``pipelines.ui``)."""
    from pipelines.ui import serve_ui

    return serve_ui(args.port)
