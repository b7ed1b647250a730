"""The ``doisoat`` command line: everything runs without a Dagster daemon.

Each sub-command imports what it needs when it runs, so ``doisoat --help`` is instant. Errors that a
user can fix (a bad file, an unknown province, a malformed register or policy) print one clear
message and exit 2; anything unexpected prints a short notice (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from pipelines import commands
from pipelines.demo import DEFAULT_DEMO_SIZE, DEMO_SIZES, MIN_DEMO_SIZE, MIN_GENERATE_SIZE
from rules.ingest.formats import listed_formats
from rules.sectors import SECTORS

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1


SECTOR_CHOICES = ", ".join(SECTORS)


def whole_number(minimum: int, maximum: int | None = None, *, hint: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``minimum`` to ``maximum``, else argparse's own usage
    error naming the option (exit 2) before any work, never a failure deep inside a command."""
    def parse(text: str) -> int:
        try:
            value = int(text.replace("_", "").replace(",", "")) if text.strip() else None
        except ValueError:
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        if value < minimum or (maximum is not None and value > maximum):
            allowed = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"{value} is out of range: use a whole number {allowed}"
                                             + (f" ({hint})" if hint else ""))
        return value

    parse.__name__ = "whole number"  # argparse names the type in some of its messages
    return parse


def path(text: str) -> Path:
    """An argparse ``type`` for paths: an empty one (``--data ""``, ``--out ""``) would be the current
    folder, silently; refuse it as a usage error instead."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: give a file or folder name")
    return Path(text)


def host(text: str) -> str:
    """An argparse ``type`` for ``--host``: empty would listen on every interface, not this machine only."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty address would listen on every interface: give 127.0.0.1 "
                                         "(this machine only) or 0.0.0.0 (every interface) explicitly")
    return text.strip()


def day(text: str) -> str:
    """An argparse ``type`` for ``--date``: an empty value (an unset shell variable) would silently be today,
    spending today's quota; refuse it. The date itself is checked by ``pipelines.runner.check_day``."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty date: give YYYY-MM-DD, or leave --date out for today")
    return text.strip()


COUNT = whole_number(0)  # rows of a sector, a quota: 0 is a real answer
POSITIVE = whole_number(1)
SEED = whole_number(0, hint="numpy seeds are non-negative")
PORT_OR_FREE = whole_number(0, 65535, hint="0 picks a free port")
PORT = whole_number(1, 65535)
GENERATE_SIZE = whole_number(MIN_GENERATE_SIZE, hint="a smaller register has too few school-age people for "
                             "the default 50 student rows")
DEMO_SIZE = whole_number(MIN_DEMO_SIZE, hint="a smaller register has too few school-age people for the demo's "
                         "student lists, a quarter of the register")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``doisoat generate: argument --size: ...; see `doisoat generate --help```,
    exit 2, like every other mistake of the user (argparse's own prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USER_ERROR, f"{self.prog}: {message}; see `{self.prog} --help`\n")


def _global_options(*, after_command: bool) -> argparse.ArgumentParser:
    """``--data`` and ``--debug``, accepted before the command and after it (``doisoat upload F --data D``).

    Why two copies: argparse lets a sub-command's defaults overwrite what the main parser parsed, so
    after the command the options default to ``SUPPRESS`` (absent unless given) and ``doisoat --data D
    upload F`` keeps its ``D``; given in both places, the one after the command wins.
    """
    unset = {"default": argparse.SUPPRESS} if after_command else {}
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--data", type=path, **unset,
                         help="data folder (default: $DOISOAT_DATA, else ./data of the repository)")
    options.add_argument("--debug", action="store_true", **unset, help="show tracebacks of unexpected errors")
    return options


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="doisoat",
        description="Đối soát: clean sector data and verify it against the population register.",
        parents=[_global_options(after_command=False)],
    )
    after = [_global_options(after_command=True)]
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text, parents=after)
        p.set_defaults(func=func)
        return p

    p = add("demo", commands.demo, "generate a province and run every stage through Dagster")
    p.add_argument("--province", default="ho_chi_minh",
                   help="province slug or code to generate and process (default: %(default)s; see `doisoat provinces`)")
    p.add_argument("--size", type=DEMO_SIZE, default=None,
                   help=f"people in the synthetic register, at least {MIN_DEMO_SIZE:,} (default: "
                        + ", ".join(f"{n:,} for {p}" for p, n in DEMO_SIZES.items())
                        + f", else {DEFAULT_DEMO_SIZE:,})")
    p.add_argument("--seed", type=SEED, default=6,
                   help="random seed of the synthetic data: the same seed gives the same files (default: %(default)s)")
    p.add_argument("--fresh", action="store_true",
                   help="delete the generated data (register, inbox, lake, queue, warehouse, reports) first")
    p.add_argument("--date", type=day, help="verification day YYYY-MM-DD (default: today in Asia/Ho_Chi_Minh)")

    p = add("generate", commands.generate, "write a synthetic register, sector uploads and truth files")
    p.add_argument("--province", required=True, help="province slug or code (see `doisoat provinces`)")
    p.add_argument("--size", type=GENERATE_SIZE, default=20_000,
                   help=f"people in the register, at least {MIN_GENERATE_SIZE:,} (default: %(default)s)")
    p.add_argument("--seed", type=SEED, default=6,
                   help="random seed: the same seed gives the same files (default: %(default)s)")
    p.add_argument("--out", type=path, required=True, help="output folder (laid out like data/)")
    p.add_argument("--students", type=COUNT,
                   help="student rows (default: 10%% of --size, at least 50; 0 writes no student lists)")
    p.add_argument("--vaccinations", type=COUNT,
                   help="vaccination rows (default: 6%% of --size, at least 50; 0 writes none)")
    p.add_argument("--insurance", type=COUNT,
                   help="insurance rows (default: 5%% of --size, at least 50; 0 writes none)")
    p.add_argument("--profile", choices=("default", "harsh"), default="default",
                   help="noise profile: default, or harsh (0/1/2-3/4-6 compounded errors per row, counted) "
                        "(default: %(default)s)")

    p = add("upload", commands.upload, "validate one sector file now and write its error report")
    p.add_argument("file", type=path, help=f"the list as sent: {listed_formats()}")
    p.add_argument("--province", required=True,
                   help="province the list belongs to: slug or code (see `doisoat provinces`)")
    p.add_argument("--sector", required=True, help=f"sector of the list: {SECTOR_CHOICES}")
    p.add_argument("--unit", help="submitting unit (default: from the file name)")
    p.add_argument("--sheet", help="sheet to read (default: the first with a recognisable header)")
    p.add_argument("--no-inbox", action="store_true",
                   help="only check the file and write its error report; do not copy it into the inbox "
                        "(by default it is copied to inbox/<province>/<sector>/ for the next run; rows with "
                        "errors are quarantined there)")

    p = add("match", commands.match, "match a sector file against a population register")
    p.add_argument("--population", type=path, required=True, help="register Parquet file or folder")
    p.add_argument("--input", type=path, required=True, help="sector file: xlsx, csv or parquet")
    p.add_argument("--sector", required=True, help=f"sector of the file (its header aliases): {SECTOR_CHOICES}")
    p.add_argument("--out", type=path, required=True, help="output: .parquet or .csv")

    p = add("run", commands.run, "materialise the province x sector assets of a province")
    p.add_argument("--province", required=True, help="province slug or code (see `doisoat provinces`)")
    p.add_argument("--sector", action="append",
                   help=f"limit to this sector, repeatable (default: every sector: {SECTOR_CHOICES})")

    p = add("verify-day", commands.verify_day, "run the national daily verification for one day")
    p.add_argument("--date", type=day, help="YYYY-MM-DD (default: today in Asia/Ho_Chi_Minh)")

    p = add("forecast", commands.forecast, "forecast when each unit's verification backlog clears")
    p.add_argument("--quota", type=COUNT, help="what-if national daily quota (default: the policy's)")
    p.add_argument("--html", type=path,
                   help="also write a burn-down chart (HTML) to this file (default: none, the table only)")
    p.add_argument("--top", type=POSITIVE, default=20,
                   help="units to list, slowest to clear first (default: %(default)s)")
    p.add_argument("--policy", type=path, help="quota policy YAML (default: rules/quota/quota.yaml)")

    add("publish", commands.publish, "rebuild the analyst DuckDB file from the lake")

    p = add("report", commands.report, "write a self-contained HTML report per province")
    p.add_argument("--out", type=path, help="output file (default: data/reports/doisoat.html)")
    p.add_argument("--province", action="append", help="only these provinces (repeatable), e.g. to e-mail one")
    p.add_argument("--all-provinces", action="store_true",
                   help="a section for every province of the national counts too (default: the provinces "
                        "this installation processed)")

    p = add("verify-server", commands.verify_server, "serve the verification API over a register")
    p.add_argument("--population", type=path, required=True,
                   help="register the API answers from: Parquet file or folder "
                        "(e.g. data/population/<province>.parquet)")
    p.add_argument("--host", type=host, default="127.0.0.1",
                   help="address to listen on (default: %(default)s, this machine only)")
    p.add_argument("--port", type=PORT_OR_FREE, default=8765,
                   help="TCP port (default: %(default)s, the policy's endpoint; 0 picks a free one)")

    p = add("ui", commands.ui, "open the Dagster UI (dagster dev) on this project")
    p.add_argument("--port", type=PORT, default=3000, help="port of the UI on 127.0.0.1 (default: %(default)s)")

    add("verify-audit", commands.verify_audit,
        "check the transmission audit's hash chain and that it records every batch the queue sent")

    p = add("review", commands.review, "clerical review of ambiguous rows: export / import workbooks, statistics")
    rsub = p.add_subparsers(dest="review_command", required=True, metavar="ACTION")
    r = rsub.add_parser("export", help="write review workbooks (one per sector, or per unit)", parents=after)
    r.add_argument("--province", required=True, help="province slug or code (see `doisoat provinces`)")
    r.add_argument("--sector", help="only this sector (default: every sector with rows to review)")
    r.add_argument("--unit", help="only this unit (one workbook per sector x unit; default: every unit)")
    r = rsub.add_parser("import", help="validate a filled workbook and apply its decisions", parents=after)
    r.add_argument("file", type=path, help="the filled review workbook (.xlsx)")
    rsub.add_parser("stats", help="what reviewed pairs say: m per level, precision near the threshold, what-if",
                    parents=after)

    p = add("rehearse", commands.rehearse,
            "national rehearsal on this machine: provinces in parallel on PostgreSQL and a local S3 lake")
    p.add_argument("--province", action="append",
                   help="a province to run, repeatable, at least two (default: "
                        "ho_chi_minh, ha_noi, da_nang)")
    p.add_argument("--size", type=DEMO_SIZE, default=None,
                   help=f"people in each province's synthetic register, at least {MIN_DEMO_SIZE:,} (default: 12,000)")
    p.add_argument("--seed", type=SEED, default=6, help="random seed of the synthetic data (default: %(default)s)")
    p.add_argument("--date", type=day, help="verification day YYYY-MM-DD (default: today in Asia/Ho_Chi_Minh)")
    p.add_argument("--quota", type=POSITIVE,
                   help="national daily quota of the day (default: two thirds of the matched rows, so some wait)")
    p.add_argument("--workdir", type=path,
                   help="the rehearsal's own data folder, emptied first (default: a new folder under /tmp)")
    p.add_argument("--sector", action="append",
                   help=f"limit to this sector, repeatable (default: every sector: {SECTOR_CHOICES})")
    p.add_argument("--lake", choices=("s3", "local"), default="s3",
                   help="where the lake lives: s3 (Delta on a local S3-compatible server, moto) or local "
                        "(Parquet in the work folder, to compare) (default: %(default)s)")
    p.add_argument("--database", default="doisoat_rehearsal",
                   help="PostgreSQL database of the Dagster instance, dropped and recreated; the queue's is "
                        "<database>_queue (default: %(default)s)")

    add("provinces", commands.provinces, "list province slugs and codes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pipelines.environment import configure
    from rules import interrupts
    from rules.private import restrict_umask

    restrict_umask()  # belt and braces: personal-data writers set 0600/0700 themselves
    interrupts.install()  # SIGTERM like Ctrl-C; long queue statements stop within milliseconds
    try:
        configure(args.data, make_folders=args.command != "rehearse")  # the rehearsal's folder is --workdir
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        if interrupts.stop_requested():
            raise interrupts.Interrupted(f"doisoat {args.command}")
        return code
    except (KeyboardInterrupt, interrupts.Interrupted):
        print(f"doisoat {args.command}: {interrupts.Interrupted('the command')}", file=sys.stderr)
        return interrupts.exit_code()
    except BrokenPipeError:
        return _closed_pipe()
    except Exception as exc:  # every user-facing failure ends here, never as a raw traceback
        if args.debug:
            raise
        if commands.is_user_error(exc, args):
            print(f"doisoat {args.command}: {exc}", file=sys.stderr)
            return EXIT_USER_ERROR
        from pipelines.errors import describe

        print(
            f"doisoat {args.command}: unexpected {describe(exc)}\n"
            "Run again with --debug for details, and report it to the data team.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


def _closed_pipe() -> int:
    """The reader of our output went away (``doisoat upload … | head``): not an error.

    Python would print a second BrokenPipeError while flushing stdout at exit, so stdout is
    pointed at /dev/null first; the exit status is the shell's for SIGPIPE (128 + 13).
    """
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (tests capture it): nothing to flush
        pass
    return 141


if __name__ == "__main__":
    raise SystemExit(main())
