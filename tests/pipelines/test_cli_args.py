"""A mistake in an option is one line naming the option and exit 2, before any work: numbers out of
range, paths that are folders or devices, an output that would overwrite an input, an address that
cannot be listened on, a bad policy. Never "unexpected ... report it to the data team"."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import runner
from pipelines.cli import EXIT_USER_ERROR, main

BAD_NUMBERS = [
    (["generate", "--province", "da_nang", "--out", "OUT", "--size", "0"], "--size"),
    (["generate", "--province", "da_nang", "--out", "OUT", "--size", "-5"], "--size"),
    (["generate", "--province", "da_nang", "--out", "OUT", "--size", "1"], "--size"),
    (["generate", "--province", "da_nang", "--out", "OUT", "--size", "lots"], "--size"),
    (["generate", "--province", "da_nang", "--out", "OUT", "--seed", "-1"], "--seed"),
    (["generate", "--province", "da_nang", "--out", "OUT", "--students", "-3"], "--students"),
    (["generate", "--province", "da_nang", "--out", "OUT", "--vaccinations", "-1"], "--vaccinations"),
    (["generate", "--province", "da_nang", "--out", "OUT", "--insurance", "-1"], "--insurance"),
    (["demo", "--size", "0"], "--size"),
    (["demo", "--size", "-5"], "--size"),
    (["demo", "--seed", "-1"], "--seed"),
    (["verify-server", "--population", "P", "--port", "99999"], "--port"),
    (["verify-server", "--population", "P", "--port", "-1"], "--port"),
    (["verify-server", "--population", "P", "--host", ""], "--host"),
    (["ui", "--port", "99999"], "--port"),
    (["ui", "--port", "0"], "--port"),
    (["forecast", "--top", "0"], "--top"),
    (["forecast", "--quota", "-5"], "--quota"),
    (["rehearse", "--quota", "0"], "--quota"),
    (["rehearse", "--size", "0"], "--size"),
    (["rehearse", "--seed", "-1"], "--seed"),
    (["--data", "", "provinces"], "--data"),
    (["report", "--out", ""], "--out"),
]


@pytest.mark.parametrize(("argv", "option"), BAD_NUMBERS, ids=[" ".join(a) for a, _ in BAD_NUMBERS])
def test_each_bad_option_is_one_usage_line_and_exit_2(data_dir, tmp_path, capsys, argv, option) -> None:
    argv = [str(tmp_path / a) if a in ("OUT", "P") else a for a in argv]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == EXIT_USER_ERROR
    assert err.count("\n") == 1 and err.startswith("doisoat") and f"argument {option}" in err, err
    assert "unexpected" not in err and "Traceback" not in err
    assert not (tmp_path / "OUT").exists()  # refused before any work


def _one_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected" not in err and "Traceback" not in err, err
    assert all(n in err for n in needles), err
    return err


def _register(path: Path) -> Path:
    from rules.synth.register import generate_register

    generate_register("da_nang", 50, 1).write_parquet(path)
    return path


def test_a_register_that_is_not_parquet_is_refused_by_verify_server_as_by_match(data_dir, tmp_path, capsys):
    sheet = tmp_path / "register.xlsx"
    sheet.write_bytes(b"PK\x03\x04 not parquet")
    assert main(["verify-server", "--population", str(sheet)]) == EXIT_USER_ERROR
    _one_line(capsys, "not readable Parquet", str(sheet))


@pytest.mark.parametrize("host", ["999.1.1.1", "10.255.255.1", "no-such-host.invalid"])
def test_an_address_that_cannot_be_listened_on_names_host(data_dir, tmp_path, capsys, host):
    register = _register(tmp_path / "reg.parquet")
    assert main(["verify-server", "--population", str(register), "--host", host, "--port", "0"]) == EXIT_USER_ERROR
    _one_line(capsys, "--host", host)


def test_a_port_in_use_names_port(data_dir, tmp_path, capsys):
    import socket

    register = _register(tmp_path / "reg.parquet")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["verify-server", "--population", str(register), "--port", str(port)]) == EXIT_USER_ERROR
    _one_line(capsys, f"--port {port}", "in use")


def _paths(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "folder"
    folder.mkdir()
    listing = tmp_path / "list.csv"
    listing.write_text("Họ và tên,Ngày sinh\n", encoding="utf-8")
    population = tmp_path / "population"
    population.mkdir()
    _register(population / "da_nang.parquet")
    return {"FOLDER": folder, "LIST": listing, "POP": population, "REG": population / "da_nang.parquet"}


PATH_MISTAKES = [
    (["upload", "FOLDER", "--province", "da_nang", "--sector", "students", "--no-inbox"], ["is a folder, not a file"]),
    (["upload", "/dev/null", "--province", "da_nang", "--sector", "students", "--no-inbox"], ["not a regular file"]),
    (["forecast", "--policy", "FOLDER"], ["--policy", "is a folder, not a file"]),
    (["forecast", "--html", "FOLDER"], ["--html", "is a folder, not a file"]),
    (["match", "--population", "POP", "--input", "FOLDER", "--sector", "students", "--out", "OUTCSV"],
     ["--input", "is a folder, not a file"]),
    (["match", "--population", "POP", "--input", "/dev/null", "--sector", "students", "--out", "OUTCSV"],
     ["--input", "not a regular file"]),
    (["match", "--population", "POP", "--input", "LIST", "--sector", "students", "--out", "FOLDER"],
     ["--out", "is a folder"]),
    (["match", "--population", "POP", "--input", "LIST", "--sector", "students", "--out", "LIST"],
     ["--out", "is the --input file"]),
    (["match", "--population", "POP", "--input", "LIST", "--sector", "students", "--out", "POP/out.csv"],
     ["--out", "inside the --population folder"]),
    (["match", "--population", "REG", "--input", "LIST", "--sector", "students", "--out", "REG"],
     ["--out", "the --population register"]),
    (["report", "--out", "FOLDER"], ["--out", "is a folder, not a file"]),
    (["review", "import", "FOLDER"], ["is a folder, not a file"]),
    (["generate", "--province", "da_nang", "--out", "LIST"], ["--out", "is a file, not a folder"]),
]


PATH_IDS = [" ".join(a[:3]) + " " + a[-1] for a, _ in PATH_MISTAKES]


@pytest.mark.parametrize(("argv", "needles"), PATH_MISTAKES, ids=PATH_IDS)
def test_a_path_of_the_wrong_kind_says_what_it_is(data_dir, tmp_path, capsys, argv, needles):
    paths = {**_paths(tmp_path), "OUTCSV": tmp_path / "out.csv"}
    before = {p: p.read_bytes() for p in (paths["LIST"], paths["REG"])}
    argv = [str(paths["POP"] / "out.csv") if a == "POP/out.csv" else str(paths.get(a, a)) for a in argv]
    assert main(argv) == EXIT_USER_ERROR
    _one_line(capsys, *needles)
    assert {p: p.read_bytes() for p in before} == before  # no input overwritten
    assert not (paths["POP"] / "out.csv").exists()


def test_an_empty_doisoat_data_is_unset(monkeypatch, tmp_path):
    from rules.layout import DEFAULT_ROOT, default_root

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOISOAT_DATA", "")
    assert default_root() == DEFAULT_ROOT.resolve()


def test_generate_writes_the_default_rows_of_the_sectors_left_out(data_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["generate", "--province", "da_nang", "--size", "300", "--out", str(out), "--students", "0"]) == 0
    assert sorted(p.name for p in (out / "inbox" / "da_nang").iterdir()) == ["insurance", "vaccinations"]


def test_generate_asking_more_rows_than_the_register_holds_is_one_line(data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", "--province", "da_nang", "--size", "300", "--out", str(out),
                 "--students", "5000"]) == EXIT_USER_ERROR
    _one_line(capsys, "--size 300", "--students")


def test_generate_all_sectors_zero_is_refused(data_dir, tmp_path, capsys):
    assert main(["generate", "--province", "da_nang", "--size", "300", "--out", str(tmp_path / "o"), "--students",
                 "0", "--vaccinations", "0", "--insurance", "0"]) == EXIT_USER_ERROR
    _one_line(capsys, "nothing to write")


@pytest.mark.parametrize("size", [300, 301])
def test_the_smallest_generate_size_holds_the_default_rows(tmp_path, size):
    from rules.synth import write_province

    for seed in (0, 4, 6):  # seeds that fail at 200 people
        write_province(tmp_path / f"{size}-{seed}", "da_nang", size, seed)


@pytest.mark.parametrize("date", ["2020-13-01", "2099-01-01", "2020-01-01"])
def test_demo_refuses_a_bad_date_before_any_work(data_dir, capsys, date):
    assert main(["demo", "--size", "1000", "--date", date]) == EXIT_USER_ERROR
    _one_line(capsys, "--date")
    assert not (data_dir / "population").exists()


@pytest.mark.parametrize("policy", ["quota: -5\n", "daily_quota: \"lots\"\nfoo: [\n", None])
def test_a_bad_doisoat_policy_is_refused_before_verify_day_runs(data_dir, tmp_path, monkeypatch, capsys, policy):
    path = tmp_path / "policy.yaml"
    if policy is None:
        path.mkdir()
    else:
        path.write_text(policy, encoding="utf-8")
    monkeypatch.setenv("DOISOAT_POLICY", str(path))
    monkeypatch.setattr(runner, "_execute", lambda *a, **k: pytest.fail("the run was launched"))
    assert main(["verify-day"]) == EXIT_USER_ERROR
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("doisoat verify-day: DOISOAT_POLICY")
    assert "allocated" not in captured.out + captured.err


def test_a_failed_verification_run_prints_no_allocation(data_dir, monkeypatch, capsys):
    monkeypatch.setattr(runner, "_execute", lambda *a, **k: False)
    monkeypatch.setattr(runner, "print_day_summary", lambda day: pytest.fail("summary printed after a failed run"))
    assert runner.national_day(None) == (False, False)


def test_review_export_of_a_unit_in_a_province_with_no_lists_says_so(data_dir, capsys):
    from pipelines.cli import EXIT_USER_ERROR, main

    assert main(["review", "export", "--province", "ho_chi_minh", "--unit", "thcs_f"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no list of ho_chi_minh" in err and "doisoat run" in err


def test_an_empty_date_or_dagster_home_or_a_device_register_is_one_line(data_dir, tmp_path, monkeypatch, capsys):
    from pipelines.cli import EXIT_USER_ERROR, main

    with pytest.raises(SystemExit) as usage:  # an unset shell variable: not "today"
        main(["verify-day", "--date", ""])
    assert usage.value.code == EXIT_USER_ERROR
    assert "empty date" in capsys.readouterr().err
    (tmp_path / "in.csv").write_text("Họ và tên,Ngày sinh\n", encoding="utf-8")
    code = main(["match", "--population", "/dev/zero", "--input", str(tmp_path / "in.csv"), "--sector", "students",
                 "--out", str(tmp_path / "out.csv")])  # reading a device would never end
    assert code == EXIT_USER_ERROR and "not a regular file" in capsys.readouterr().err
    monkeypatch.setenv("DAGSTER_HOME", "")
    assert main(["provinces"]) == 0  # set but empty reads as unset
