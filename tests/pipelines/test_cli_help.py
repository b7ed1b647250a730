"""Every option of every ``doisoat`` command explains itself and shows its default (walks the real parser)."""

from __future__ import annotations

import argparse
import contextlib
import re

from pipelines.cli import _parser

# Defaults that say nothing worth printing: a flag is off, a value is absent.
SILENT_DEFAULTS = (None, False, argparse.SUPPRESS)


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ("doisoat",)):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def _problems(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list[str]:
    problems = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        where = f"{' '.join(path)} {name}"
        text = action.help or ""
        if len(text.strip()) < 10:
            problems.append(f"{where}: no help text")
            continue
        if action.default not in SILENT_DEFAULTS and "%(default)" not in text and str(action.default) not in text:
            problems.append(f"{where}: help does not show the default {action.default!r}")
        if action.required is False and action.option_strings and action.default is None and not isinstance(
                action, argparse._StoreTrueAction | argparse._AppendAction) and "default" not in text:
            problems.append(f"{where}: optional without a default: say what happens when it is left out")
    return problems


def test_every_option_has_help_and_shows_its_default():
    problems = [p for path, parser in _commands(_parser()) for p in _problems(parser, path)]
    assert not problems, "\n".join(problems)


def test_the_walk_finds_every_command_and_would_catch_a_bare_option():
    names = {" ".join(path) for path, _ in _commands(_parser())}
    assert {"doisoat demo", "doisoat upload", "doisoat verify-server", "doisoat ui", "doisoat review export"} <= names
    bare = argparse.ArgumentParser(prog="x")
    bare.add_argument("--port", type=int, default=3000)
    bare.add_argument("--seed", type=int, default=6, help="random seed of the data")
    assert _problems(bare, ("x",)) == ["x --port: no help text", "x --seed: help does not show the default 6"]


def test_rendered_help_shows_the_defaults_the_issue_named(capsys):
    expected = {("demo",): ["default: ho_chi_minh", "default: 6"], ("upload",): ["students, vaccinations"],
                ("match",): ["students, vaccinations"], ("verify-server",): ["default: 127.0.0.1", "default: 8765"],
                ("ui",): ["default: 3000"], ("forecast",): ["default: 20"]}
    for args, needles in expected.items():
        with contextlib.suppress(SystemExit):  # --help prints, then exits 0
            _parser().parse_args([*args, "--help"])
        text = re.sub(r"\s+", " ", capsys.readouterr().out)
        assert all(n in text for n in needles), (args, text)
