"""One user-error class: what the command line prints for an error is decided by its class.

Every :class:`rules.errors.UserError` ends as one line on stderr and exit status 2; an OS error
about a path the user gave does too; anything else (a ``ValueError`` from a defect included) is an
internal error: exit 1, a notice that says to run with ``--debug``, and with ``--debug`` the
traceback itself.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import rules
from pipelines import commands
from pipelines.cli import EXIT_INTERNAL_ERROR, EXIT_USER_ERROR, main
from rules.errors import UserError


def _all_user_errors() -> set[type]:
    for mod in pkgutil.walk_packages(rules.__path__, "rules."):
        if not mod.name.startswith("rules.synth.build_name_tables"):  # a script, rewrites reference files
            importlib.import_module(mod.name)
    found, todo = set(), [UserError]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


def _instance(cls: type) -> BaseException:
    from rules.ingest import UploadError

    if issubclass(cls, UploadError):
        return cls("unreadable_file", file="danh_sach.xlsx", found_headers=["OSError"])
    return cls("the thing you gave cannot be used: do this instead")


def _raising(exc: BaseException):
    def command(args) -> int:
        raise exc
    return command


def test_each_domain_error_the_user_fixes_is_a_user_error() -> None:
    names = {cls.__name__ for cls in _all_user_errors()}
    expected = {"RegisterError", "ReviewWorkbookError", "ReviewPolicyError", "PolicyError", "ConfigError",
                "AllocationInputError", "UploadError", "UnitError", "StoreError", "ProvinceError",
                "SectorError", "InboxLinkError", "MissingInputError", "OptionError"}
    assert expected <= names, expected - names
    from rules.ingest.formulas import FormulaError  # an internal signal, caught inside the formula reader

    assert not issubclass(FormulaError, UserError)


@pytest.mark.parametrize("cls", sorted(_all_user_errors(), key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_every_user_error_is_one_line_and_exit_2(cls, data_dir, monkeypatch, capsys) -> None:
    monkeypatch.setattr(commands, "provinces", _raising(_instance(cls)))
    assert main(["provinces"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("doisoat provinces: ") and err.count("\n") == 1 and "Traceback" not in err


def test_old_parent_classes_still_catch_them() -> None:
    from rules.matching.index import RegisterError
    from rules.provinces import resolve_province
    from rules.quota.policy import PolicyError
    from rules.verify.store import StoreError

    assert issubclass(RegisterError, ValueError) and issubclass(PolicyError, ValueError)
    assert issubclass(StoreError, RuntimeError)
    with pytest.raises(ValueError, match="unknown province"):
        resolve_province("atlantis")


def test_a_programming_value_error_is_not_the_users(data_dir, monkeypatch, capsys) -> None:
    monkeypatch.setattr(commands, "provinces", _raising(ValueError("frame has 3 columns, expected 4")))
    assert main(["provinces"]) == EXIT_INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "unexpected ValueError: frame has 3 columns" in err and "--debug" in err
    with pytest.raises(ValueError, match="expected 4"):  # --debug: the traceback itself
        main(["--debug", "provinces"])


def test_an_os_error_about_a_path_the_user_gave_is_theirs(data_dir, tmp_path, capsys) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder", encoding="utf-8")
    code = main(["generate", "--province", "da_nang", "--size", "300", "--students", "50",
                 "--out", str(blocker / "out")])  # the OS refuses a folder inside a regular file
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and err.count("\n") == 1 and "Traceback" not in err


def test_an_os_error_about_another_path_is_not(data_dir, monkeypatch, capsys) -> None:
    elsewhere = PermissionError(13, "Permission denied", "/var/lib/doisoat-internal/state")
    monkeypatch.setattr(commands, "provinces", _raising(elsewhere))
    assert main(["provinces"]) == EXIT_INTERNAL_ERROR
    mine = FileNotFoundError(2, "No such file or directory", str(data_dir / "lake" / "x.parquet"))
    monkeypatch.setattr(commands, "provinces", _raising(mine))
    assert main(["provinces"]) == EXIT_USER_ERROR  # under the data folder the user chose


def test_user_paths_are_the_data_folder_and_the_path_arguments(data_dir, tmp_path) -> None:
    import argparse

    args = argparse.Namespace(file=tmp_path / "x.xlsx", province="ha_noi", out=None)
    assert commands.user_paths(args) == [data_dir.resolve(), tmp_path / "x.xlsx"]
    assert commands.is_user_error(FileNotFoundError(2, "No such file", str(tmp_path / "x.xlsx")), args)
    assert not commands.is_user_error(FileNotFoundError(2, "No such file", str(Path("/opt/other"))), args)
    assert not commands.is_user_error(ValueError("x"), args)


@pytest.mark.parametrize("where", ["is_a_file", "inside_a_file"])
def test_a_data_folder_that_cannot_be_a_folder_is_one_line_not_a_traceback(data_dir, tmp_path, capsys, where):
    """The instance folders are made before the command runs: their failure is the user's, one line."""
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder", encoding="utf-8")
    data = blocker if where == "is_a_file" else blocker / "data"
    assert main(["--data", str(data), "forecast"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("doisoat forecast: ") and err.count("\n") == 1 and "Traceback" not in err
    assert str(blocker) in err


def test_a_dagster_home_that_is_not_a_folder_is_named_with_what_to_do(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "missing"))
    assert main(["forecast"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("doisoat forecast: DAGSTER_HOME=") and err.count("\n") == 1
    assert str(tmp_path / "missing") in err and "unset DAGSTER_HOME" in err and "unexpected" not in err


def test_a_lake_setting_that_names_no_lake_stops_every_command_before_it_runs(data_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DOISOAT_LAKE", str(tmp_path / "lak"))
    assert main(["publish"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("doisoat publish: ") and err.count("\n") == 1 and "DOISOAT_LAKE" in err
    assert not (tmp_path / "lak").exists()
