"""``doisoat run``, ``verify-day``, ``publish`` and ``verify-server`` say what they did, in real subprocesses.

One small installation (a generated province, the real CLI, the real Dagster instance): each command's
stdout holds its summary, the figures agree with the lake / the queue / the analyst file, and no name,
ID or date of birth of the register appears in any output.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[2]
PROVINCE = "da_nang"


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def installation(tmp_path_factory):
    data = tmp_path_factory.mktemp("summaries") / "data"
    env = {**os.environ, "DOISOAT_DATA": str(data), "DAGSTER_HOME": str(REPO),
           "DOISOAT_DAGSTER_STORAGE": str(data / "dagster_home"),
           "DOISOAT_COMPUTE_LOGS": str(data / "dagster_home" / "logs")}
    env.pop("DOISOAT_POLICY", None)
    generated = _cli(env, "generate", "--province", PROVINCE, "--size", "2000", "--seed", "5", "--out", str(data),
                     "--students", "300", "--vaccinations", "60", "--insurance", "60")
    assert generated.returncode == 0, generated.stderr[-2000:]
    # A broken upload named after a pupil of the register: its line must name the reason, not the pupil.
    person = pl.read_parquet(data / "population" / f"{PROVINCE}.parquet").row(0, named=True)
    broken = data / "inbox" / PROVINCE / "students" / f"thpt_x__{person['full_name']} {person['person_id']}.xlsx"
    broken.write_bytes(b"not a spreadsheet")
    outputs = {}
    for name, args in (("run", ["run", "--province", PROVINCE]), ("verify-day", ["verify-day"]),
                       ("publish", ["publish"])):
        proc = _cli(env, *args)
        assert proc.returncode == 0, f"{name}: {proc.stderr[-2000:]}"
        outputs[name] = proc
    return data, env, outputs


def _personal_values(data: Path) -> list[str]:
    register = pl.read_parquet(data / "population" / f"{PROVINCE}.parquet")
    values = register["full_name"].to_list() + register["person_id"].to_list()
    values += [d.strftime("%d/%m/%Y") for d in register["date_of_birth"].drop_nulls().to_list()]
    # ISO dates of births before this year (a baby born this year shares its date with a verification day)
    values += [d.isoformat() for d in register["date_of_birth"].drop_nulls().to_list() if d.year < 2026]
    return values


def test_run_prints_counts_per_sector_that_reconcile_with_the_lake_and_the_paths(installation):
    data, _, outputs = installation
    out = outputs["run"].stdout
    lines = out.splitlines()
    assert lines[0].split()[:2] == [f"{PROVINCE}:", "sector"], out
    for sector in ("insurance", "students", "vaccinations"):
        row = next(line for line in lines if line.split()[:1] == [sector])
        files, failed, rows, accepted, rejected, matched, ambiguous, unmatched, no_name_id = (
            int(x.replace(",", "")) for x in row.split()[1:])
        lake = data / "lake"
        uploads = pl.read_parquet(lake / "uploads" / PROVINCE / f"{sector}.parquet")
        assert failed == int((uploads["status"] == "failed").sum())
        assert files == pl.read_parquet(lake / "uploads" / PROVINCE / f"{sector}.parquet").height
        assert rows == pl.read_parquet(lake / "raw_records" / PROVINCE / f"{sector}.parquet").height
        assert rows == accepted + rejected  # nothing lost
        decisions = pl.read_parquet(lake / "match_results" / PROVINCE / f"{sector}.parquet")["status"]
        assert (matched, ambiguous, unmatched, no_name_id) == tuple(
            int((decisions == s).sum()) for s in ("matched", "ambiguous", "unmatched", "rejected"))
        assert rows == matched + ambiguous + unmatched + no_name_id  # every printed count closes
        assert failed == (1 if sector == "students" else 0)
    failures = [line for line in lines if line.startswith("failed file ")]
    assert failures == [line for line in lines if "[corrupt_file]" in line], out  # one line per failed file
    assert failures[0].startswith("failed file students/thpt_x__x.xlsx [corrupt_file]: ")  # masked label
    assert "Save As" in failures[0] and str(data / "reports" / "errors" / PROVINCE / "students") in failures[0]
    assert "no-name/ID" in lines[0] and any(line.startswith("rows = accepted + rejected = ") for line in lines)
    assert f"lake: {data / 'lake'}" in out and "error reports for uploaders:" in out
    assert "…" not in outputs["run"].stderr  # no progress lines when stderr is not a terminal


def test_verify_day_prints_the_days_allocation_outcome_and_paths(installation):
    data, _, outputs = installation
    out = outputs["verify-day"].stdout
    summary = re.search(r"verification (\d{4}-\d{2}-\d{2}): allocated ([\d,]+) of quota ([\d,]+), answered ([\d,]+)",
                        out)
    assert summary, out
    states = re.search(r"requests of the day by state: (.+)", out).group(1)
    answered = sum(int(n.replace(",", "")) for n in re.findall(r"(?:verified|mismatch|not_found) ([\d,]+)", states))
    assert answered == int(summary.group(4).replace(",", "")) > 0
    assert str(data / "national" / "verification_queue.sqlite") in out


def test_publish_prints_the_analyst_file_with_its_tables(installation):
    data, _, outputs = installation
    out = outputs["publish"].stdout
    path = data / "warehouse" / "doisoat.duckdb"
    assert f"analyst file: {path}" in out and path.exists()
    assert re.search(r"\(\d+\.\d MB, \d+ tables, \d+ views\)", out)
    assert re.search(r"uploads \d+", out) and "duckdb -readonly" in out


def test_no_summary_names_a_person(installation):
    data, _, outputs = installation
    text = "\n".join(p.stdout + p.stderr for p in outputs.values())
    leaked = [v for v in _personal_values(data) if v and v in text]
    assert not leaked, leaked[:5]


def test_verify_server_prints_the_address_it_serves(installation):
    data, env, _ = installation
    register = data / "population" / f"{PROVINCE}.parquet"
    proc = subprocess.Popen([sys.executable, "-m", "pipelines", "verify-server", "--population", str(register),
                             "--port", "0"], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"at (http://127\.0\.0\.1:\d+/v1/verify)", line)
        assert url and "2,000 people" in line, line + proc.stderr.read() if proc.poll() is not None else line
        # the address is live: an empty GET is answered (with an HTTP error, not a refused connection)
        try:
            urllib.request.urlopen(url.group(1).replace("/v1/verify", "/"), timeout=10)
        except urllib.error.HTTPError as exc:
            assert exc.code in (404, 405)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_progress_lines_go_to_a_terminal_only(monkeypatch, capsys):
    from pipelines import summaries

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    with summaries.step("register da_nang"):
        pass
    assert tty.getvalue().startswith("  register da_nang …\n") and " s\n" in tty.getvalue()
    monkeypatch.undo()
    with summaries.step("register da_nang"):
        pass
    assert capsys.readouterr().err == ""


def _codes() -> list[str]:
    from rules.ingest.errors import ERROR_CODES

    return sorted(ERROR_CODES)


@pytest.mark.parametrize("code", _codes())
def test_the_advice_for_a_failed_file_is_what_its_full_message_says(code: str) -> None:
    """``what_to_do`` reads a code's advice from ``rules.ingest.errors``: the full message a file refused
    with that code gets, less the sentences that quote the file's own details, word for word."""
    from pipelines.summaries import what_to_do
    from rules.ingest.errors import UploadError, advice_en

    mark = "\x00"  # stands for every detail: a sentence holding it quotes the file
    full = UploadError(code, expected_headers=[mark], found_headers=[mark], encoding=mark).message_en
    generic = [s for s in re.split(r"(?<=[.!])\s+(?=[A-Z])", full) if mark not in s]
    assert what_to_do(code) == advice_en(code) == " ".join(generic) != ""
    shown = UploadError(code, expected_headers=["Họ tên"], found_headers=["HS"], encoding="TCVN3").message_en
    assert all(s in shown for s in generic)


def test_an_unknown_code_gets_the_generic_advice() -> None:
    from pipelines.summaries import what_to_do

    assert what_to_do(None) == what_to_do("no_such_code") == "The file could not be read."


def test_a_failed_file_line_points_at_an_error_report_only_when_one_was_written(tmp_path: Path):
    """Files refused unread (misnamed, a link or special file, another type) have no error report: their
    line says what to do with the file, never "Details: its error report in …"."""
    from pipelines.summaries import failed_file_line

    for name, code, advice in (("ds.xlsx", "misnamed_file", "name it <unit>__<list>.xlsx"),
                               ("thpt_a__link.xlsx", "not_a_regular_file", "Copy the file itself"),
                               ("thpt_a__ds.pdf", "unsupported_format", "Save the file as .xlsx")):
        line = failed_file_line("students", name, code, tmp_path)
        assert advice in line and "error report in" not in line and "No error report" in line
    (tmp_path / "thpt_a__ds.errors.xlsx").write_bytes(b"x")
    line = failed_file_line("students", "thpt_a__ds.xlsx", "corrupt_file", tmp_path)
    assert line.endswith(f"Details: its error report in {tmp_path}")
