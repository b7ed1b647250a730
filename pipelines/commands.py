"""Bodies of the ``doisoat`` sub-commands (argument parsing lives in ``pipelines.cli``).

Heavy modules (Dagster, polars, the rules) are imported inside each command so that the help text
and the quick commands stay fast.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from pipelines.environment import data_root, layout
from rules.errors import OptionError, UserError

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


def refuse_non_file(path: Path | None, expected: str, option: str = "") -> None:
    """One line when a path the user gave as an input exists but is not a regular file (a folder,
    ``/dev/null``, a pipe): say what it is and what is expected, instead of "file not found" or a
    reader's confusing error. A missing path is left to the command, which says what to put there."""
    if path is None:
        return
    named = f"{option}{path}" if option.endswith("=") else f"{option} {path}" if option else str(path)
    if path.is_dir():
        raise OptionError(f"{named} is a folder, not a file: give the path of {expected} inside it")
    if path.exists() and not path.is_file():
        raise OptionError(f"{named} is not a regular file (a device, pipe or socket): give the path of {expected}")


def refuse_folder_output(path: Path | None, option: str, example: str) -> None:
    """One line when an output the user named is a folder (or a device): give a file name in it
    (``example``, e.g. ``doisoat.html``), rather than an OS error about a temporary file."""
    if path is None:
        return
    if path.is_dir():
        raise OptionError(f"{option} {path} is a folder, not a file: give the file to write, e.g. {path / example}")
    if path.exists() and not path.is_file():
        raise OptionError(f"{option} {path} is not a regular file (a device, pipe or socket): "
                          f"give the file to write, e.g. {example}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _within_folder(path: Path, folder: Path) -> bool:
    return folder.is_dir() and _within(path, folder)


def check_policy() -> None:
    """Load the quota policy and its ``verification`` section as the national run will, before it
    runs: a bad ``DOISOAT_POLICY`` is one line and exit 2, not a failed step (exit 1)."""
    import os

    from rules.quota import QuotaPolicy
    from rules.verify import VerificationConfig

    path = layout().policy_path()
    from_env = bool(os.environ.get("DOISOAT_POLICY"))
    refuse_non_file(path, "a quota policy YAML file (like rules/quota/quota.yaml)",
                    "DOISOAT_POLICY=" if from_env else "")
    try:
        QuotaPolicy.from_yaml(path)
        VerificationConfig.from_yaml(path)
    except UserError as exc:
        if from_env:
            raise OptionError(f"DOISOAT_POLICY: {exc}") from None
        raise


def provinces(args: argparse.Namespace) -> int:
    from rules.provinces import provinces as all_provinces

    for p in all_provinces():
        print(f"{p.code}  {p.slug:<14} {p.name}  (CCCD codes {' '.join(p.cccd_codes)})")
    return 0


def generate(args: argparse.Namespace) -> int:
    from rules.provinces import resolve_province
    from rules.synth import write_province
    from rules.synth.writer import DEFAULT_ROWS_SHARE

    province = resolve_province(args.province).slug
    given = {"students": args.students, "vaccinations": args.vaccinations, "insurance": args.insurance}
    # A sector left out gets the writer's default (rules.synth.writer.write_province: a share of the
    # register, at least 50 rows); 0 rows: the sector is not written (an empty sector has no files).
    rows = {s: n if n is not None else max(50, round(args.size * DEFAULT_ROWS_SHARE[s])) for s, n in given.items()}
    rows = {s: n for s, n in rows.items() if n}
    if not rows:
        raise OptionError("--students, --vaccinations and --insurance are all 0: nothing to write; "
                          "leave one out for its default or give its number of rows")
    if args.out.exists() and not args.out.is_dir():
        raise OptionError(f"--out {args.out} is a file, not a folder: give the folder to lay the data out in "
                          "(it is created if missing)")
    started = time.perf_counter()
    with _register_large_enough("--size", args.size, args.seed, "or fewer rows (--students, --vaccinations, "
                                "--insurance)"):
        manifest = write_province(args.out, province, args.size, args.seed, rows_per_sector=rows,
                                  profile=args.profile)
    print(f"generated {province}: {args.size:,} people, {_count_files(manifest)} upload files "
          f"in {time.perf_counter() - started:.1f}s -> {args.out}")
    return 0


@contextlib.contextmanager
def _register_large_enough(option: str, size: int, seed: int, alternative: str) -> Iterator[None]:
    """Turn the generator's "too few eligible people" into one line naming the options to change."""
    from rules.synth.sector import TooFewPeopleError

    try:
        yield
    except TooFewPeopleError as exc:
        raise OptionError(f"{option} {size:,} with --seed {seed} drew too few people of the right age: {exc}; "
                          f"give a larger {option}, another --seed, {alternative}") from None


def _count_files(manifest: dict) -> int:
    files = manifest.get("files") or []
    return len(files)


def demo(args: argparse.Namespace) -> int:
    """Generate a small province (if absent) and run every stage through Dagster, then summarise."""
    from pipelines.runner import check_day
    from rules.provinces import resolve_province

    where = layout()
    province = resolve_province(args.province).slug
    day = check_day(args.date)  # every option and the policy first: no refusal after minutes of work
    check_policy()
    if args.fresh:
        for folder in where.generated_folders():
            shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    if not where.population_files(province):  # a register in one file or in a folder of parts
        from pipelines.demo import demo_rows_per_sector, demo_size
        from rules.synth import write_province

        size = args.size if args.size is not None else demo_size(province)
        print(f"[1/4] generating a synthetic register of {size:,} people and sector uploads for {province}…")
        with _register_large_enough("--size", size, args.seed, "or keep the default size"):
            write_province(where.root, province, size, args.seed,
                           rows_per_sector=demo_rows_per_sector(province, size))
    else:
        ignored = " (--size and --seed apply only to a new register: add --fresh)" if args.size is not None else ""
        print(f"[1/4] using the existing register and inbox under {where.root}{ignored}")
    from pipelines.demo import run_demo

    summary = run_demo(province, day=day)
    print(summary.render())
    print(f"demo finished in {time.perf_counter() - started:.1f}s. "
          f"Open the UI with `make ui` (or `doisoat ui`) to see the runs.")
    return 0 if summary.ok else 1


def run(args: argparse.Namespace) -> int:
    from pipelines.runner import run_province
    from rules.provinces import resolve_province
    from rules.sectors import SECTORS, check_sector

    province = resolve_province(args.province).slug
    # a sector given twice runs once (dict keeps the order given)
    sectors = list(dict.fromkeys(check_sector(s) for s in args.sector)) if args.sector else list(SECTORS)
    ok = run_province(province, sectors)
    from pipelines.summaries import province_lines

    print("\n".join(province_lines(province, sectors)))
    return 0 if ok else 1


def upload(args: argparse.Namespace) -> int:
    from pipelines.upload import upload_file
    from rules.ingest.formats import listed_formats

    refuse_non_file(args.file, f"the list itself ({listed_formats()})")
    return upload_file(args.file, args.province, args.sector, unit=args.unit, sheet=args.sheet,
                       copy_to_inbox=not args.no_inbox)


def match(args: argparse.Namespace) -> int:
    from rules.matching import match_file
    from rules.sectors import check_sector

    refuse_non_file(args.input, "the sector file (.xlsx, .csv or .parquet)", "--input")
    if not args.population.is_dir():  # a folder of register files is fine; a device or pipe would hang
        refuse_non_file(args.population, "the register (.parquet)", "--population")
    refuse_folder_output(args.out, "--out", "matches.csv")
    if _same_file(args.out, args.input):
        raise OptionError(f"--out {args.out} is the --input file: the results would overwrite the list being "
                          "matched; give another output file")
    if _same_file(args.out, args.population) or _within_folder(args.out, args.population):
        where = "inside the --population folder" if args.population.is_dir() else "the --population register"
        raise OptionError(f"--out {args.out} is {where}: the results would overwrite the register or be read as "
                          "part of it; give an output file elsewhere")
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

    check_policy()  # a bad DOISOAT_POLICY: one line, exit 2, before the run (not a failed step, exit 1)
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

    refuse_non_file(args.policy, "a quota policy YAML file (like rules/quota/quota.yaml)", "--policy")
    refuse_folder_output(args.html, "--html", "forecast.html")
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

    refuse_folder_output(args.out, "--out", "doisoat.html")
    provinces = [resolve_province(p).slug for p in args.province] if args.province else None
    path = write_report(args.out, provinces=provinces, all_provinces=args.all_provinces)
    print(f"report written: {path}")
    return 0


def review(args: argparse.Namespace) -> int:
    from pipelines import review as review_commands

    if args.review_command == "import":
        refuse_non_file(args.file, "the filled review workbook (.xlsx)")
    action = {"export": review_commands.export, "import": review_commands.import_, "stats": review_commands.stats}
    return action[args.review_command](args)


def verify_server(args: argparse.Namespace) -> int:
    from pipelines.summaries import serving_line
    from rules.matching.index import register_paths_of, register_schema
    from rules.verify.register import RegisterIndex
    from rules.verify.server import VerifyServer, serve_until_interrupted

    if not args.population.is_dir():  # a device or pipe would hang the register read
        refuse_non_file(args.population, "the register (.parquet)", "--population")
    for path in register_paths_of(args.population):  # doisoat match's checks: one line naming the file
        register_schema(path)
    index = RegisterIndex(args.population)
    try:
        server = VerifyServer(index, host=args.host, port=args.port)
    except (OSError, UnicodeError) as exc:  # the address cannot be resolved or bound: the options' fault
        raise OptionError(_listen_error(args.host, args.port, exc)) from None
    print(serving_line(server.url, len(server.index), args.population, token=bool(server.token)), flush=True)
    serve_until_interrupted(server)
    return 0


def _listen_error(host: str, port: int, exc: BaseException) -> str:
    import errno
    import socket

    if isinstance(exc, socket.gaierror | UnicodeError):
        return (f"--host {host!r} is not an address or name this machine can resolve: give an address of this "
                "machine (127.0.0.1 for this machine only, 0.0.0.0 for every interface)")
    code = getattr(exc, "errno", None)
    if code == errno.EADDRINUSE:
        return (f"--port {port} on {host} is already in use: stop what listens there or give another port "
                "(0 picks a free one)")
    if code == errno.EACCES:
        return (f"--port {port} on {host} is not allowed to this user (ports below 1024 need privileges): "
                "use 1024-65535")
    if code == errno.EADDRNOTAVAIL:
        return (f"--host {host} is not an address of this machine: give one of its addresses "
                "(127.0.0.1 for this machine only, 0.0.0.0 for every interface)")
    return f"cannot listen on --host {host} --port {port} ({exc.strerror if isinstance(exc, OSError) else exc})"


def rehearse(args: argparse.Namespace) -> int:
    """Exit 0 when every run succeeded and every count reconciles, 1 otherwise (the output says which)."""
    import tempfile

    from pipelines.rehearsal import DEFAULT_PROVINCES, DEFAULT_SIZE, RehearsalOptions, run_rehearsal
    from pipelines.runner import check_day
    from rules.sectors import SECTORS, check_sector

    if args.date:
        check_day(args.date)  # before the databases are dropped and the provinces generated
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
