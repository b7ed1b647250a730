"""The main job end to end, as a user runs it: ``python -m pipelines demo`` in an empty data folder.

One tiny demo run (module-scoped: it is the slowest thing in the suite) with DEBUG logging, then
checks that every row is accounted for, that the runs persist in the Dagster instance, and that no
personal data from the register reaches the logs, the Dagster event log or the analyst file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[2]
PROVINCE = "ho_chi_minh"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("demo") / "data"
    env = {
        **os.environ,
        "DOISOAT_DATA": str(data),
        "DAGSTER_HOME": str(REPO),
        "DOISOAT_DAGSTER_STORAGE": str(data / "dagster_home"),
        "DOISOAT_COMPUTE_LOGS": str(data / "dagster_home" / "logs"),
        "DOISOAT_LOG_LEVEL": "DEBUG",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines", "demo", "--province", PROVINCE, "--size", "3000", "--seed", "11"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=900,
    )
    return data, proc, env


def _register(data: Path) -> pl.DataFrame:
    return pl.read_parquet(data / "population" / f"{PROVINCE}.parquet")


def test_demo_succeeds_and_prints_counts_per_stage(demo):
    data, proc, _ = demo
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "✓ register+ingest+match" in out and "✓ verification" in out and "✓ publish" in out
    assert re.search(r"students\s+\d+\s+[\d,]+", out), out
    assert "national quota 200,000" in out and "floor" in out and "forecast:" in out
    assert (data / "warehouse" / "doisoat.duckdb").exists()
    assert "Traceback" not in proc.stderr
    # The answers reconcile on screen: rows answered = checks (the day's answered) + rows sharing a check.
    day = re.search(r"verification \S+: allocated [\d,]+ of quota [\d,]+, answered ([\d,]+)", out)
    answers = re.search(r"verification answers: ([\d,]+) rows answered by ([\d,]+) checks \(one check per "
                        r"person; ([\d,]+) rows shared .*\): (.+)", out)
    assert day and answers, out
    rows, checks, shared = (int(answers.group(i).replace(",", "")) for i in (1, 2, 3))
    by_status = [int(n.replace(",", "")) for n in re.findall(r"[a-z_]+ ([\d,]+)", answers.group(4))]
    assert rows == sum(by_status) == checks + shared and checks == int(day.group(1).replace(",", "")) > 0


def test_every_row_read_ends_in_exactly_one_place(demo):
    data, proc, _ = demo
    assert proc.returncode == 0
    for sector in ("students", "vaccinations", "insurance"):
        raw = pl.read_parquet(data / "lake" / "raw_records" / PROVINCE / f"{sector}.parquet")
        clean = pl.read_parquet(data / "lake" / "clean_records" / PROVINCE / f"{sector}.parquet")
        rejected = pl.read_parquet(data / "lake" / "rejected_records" / PROVINCE / f"{sector}.parquet")
        results = pl.read_parquet(data / "lake" / "match_results" / PROVINCE / f"{sector}.parquet")
        key = ["file_sha256", "sheet", "row_number"]
        assert raw.height > 0
        assert raw.height == clean.height + rejected.height == results.height
        assert results.select(key).is_duplicated().sum() == 0
        assert raw.select(key).sort(key).equals(results.select(key).sort(key))
        assert set(results["status"].unique()) <= {"matched", "ambiguous", "unmatched", "rejected"}
        # rejected rows with a name or an ID were matched (flag validation_failed); the rest stay rejected
        failed = results.filter(pl.col("flags").list.contains("validation_failed"))
        assert results.filter(pl.col("status") == "rejected").height + failed.height == rejected.height
        assert results.filter(pl.col("validation_reason").is_not_null()).height == rejected.height
        # the parameters the run estimated, per comparison level, for the report's chart
        est = pl.read_parquet(data / "lake" / "match_estimates" / PROVINCE / f"{sector}.parquet")
        assert {"comparison", "level", "m", "u", "match_weight"} <= set(est.columns) and est.height > 10


def test_every_generated_row_arrives_in_raw_records(demo):
    """Each upload file of the generator (several batches per unit: separate lists, none superseded)
    has all its data rows in raw_records, at the rows the truth file names."""
    data, proc, _ = demo
    assert proc.returncode == 0
    uploads = pl.concat([pl.read_parquet(p) for p in (data / "lake" / "uploads").rglob("*.parquet")])
    assert uploads["status"].unique().to_list() == ["current"]
    truth_files = list((data / "truth").rglob("*.truth.parquet"))
    assert len(truth_files) == uploads.height
    raw = pl.concat([pl.read_parquet(p) for p in (data / "lake" / "raw_records").rglob("*.parquet")],
                    how="diagonal_relaxed")
    truth = pl.concat([pl.read_parquet(p).select("file", "sheet", "row_number", "excel_row") for p in truth_files])
    got = raw.select(pl.col("file_name").alias("file"), "sheet", "row_number", "excel_row")
    assert truth.sort(truth.columns).equals(got.sort(got.columns))


def test_runs_persist_in_the_dagster_instance(demo, monkeypatch):
    _, proc, env = demo
    assert proc.returncode == 0
    for key in ("DAGSTER_HOME", "DOISOAT_DAGSTER_STORAGE", "DOISOAT_COMPUTE_LOGS", "DOISOAT_DATA"):
        monkeypatch.setenv(key, env[key])
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) >= 6  # register + 3 sectors + national + publish
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        event = instance.get_latest_materialization_event(dg.AssetKey("analyst_warehouse"))
        assert event is not None


def _sensitive_values(register: pl.DataFrame) -> tuple[set[str], set[str], list[str]]:
    ids = set(register["person_id"].to_list()) | set(register["old_id"].drop_nulls().to_list())
    names = {n for n in register["full_name"].to_list() if len(n.split()) >= 2}
    old = register.filter(pl.col("date_of_birth") < date(2025, 1, 1))["date_of_birth"]
    dobs = [d.isoformat() for d in old] + [d.strftime("%d/%m/%Y") for d in old]
    return ids, names, dobs


def _leaks(text: str, register: pl.DataFrame) -> list[str]:
    ids, names, dobs = _sensitive_values(register)
    found = [t for t in re.findall(r"(?<!\d)(\d{9}|\d{12})(?!\d)", text) if t in ids]
    found += [n for n in names if n in text]
    found += [d for d in dobs if d in text]
    return found


def test_analyst_file_holds_no_raw_ids_names_or_birth_dates(demo):
    data, proc, _ = demo
    assert proc.returncode == 0
    register = _register(data)
    con = duckdb.connect(str(data / "warehouse" / "doisoat.duckdb"), read_only=True)
    try:
        relations = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        assert {"uploads", "rejections", "match_outcomes", "match_decisions", "data_quality",
                "verification_backlog", "daily_allocation", "forecast"} <= set(relations)
        texts = []
        for rel in relations:
            df = con.sql(f"SELECT * FROM {rel}").pl()
            for col, dtype in df.schema.items():
                # Text, lists and dates are scanned (a date column must never be a birth date).
                if dtype in (pl.Utf8, pl.Categorical, pl.Date) or isinstance(dtype, pl.List):
                    texts.append("\n".join(str(v) for v in df[col].to_list()))
        masked = con.sql("SELECT person_id_masked FROM match_decisions WHERE person_id_masked IS NOT NULL").pl()
    finally:
        con.close()
    assert masked.height > 0 and masked["person_id_masked"].str.contains(r"^\d{3}\*{7}\d{2}$").all()
    assert _leaks("\n".join(texts), register) == []


def test_logs_and_event_log_carry_no_personal_data(demo):
    data, proc, _ = demo
    assert proc.returncode == 0
    register = _register(data)
    assert "DEBUG" in proc.stderr or "DEBUG" in proc.stdout  # the demo really logged at DEBUG
    blobs = [proc.stdout, proc.stderr]
    for path in (data / "dagster_home").rglob("*"):
        if path.is_file():
            blobs.append(path.read_bytes().decode("utf-8", errors="ignore"))
    assert len(blobs) > 3
    assert _leaks("\n".join(blobs), register) == []


def test_audit_log_records_decisions_and_requests_with_run_ids(demo):
    data, proc, _ = demo
    assert proc.returncode == 0
    audit = data / "operator" / "audit"
    decisions = pl.read_parquet(list((audit / "match_decisions").rglob("*.parquet")))
    requests = pl.read_parquet(list((audit / "verification_requests").rglob("*.parquet")))
    results = pl.concat([pl.read_parquet(p) for p in (data / "lake" / "match_results").rglob("*.parquet")])
    assert decisions.height == results.height
    assert decisions["run_id"].null_count() == 0 and decisions["recorded_at"].null_count() == 0
    con = duckdb.connect(str(data / "warehouse" / "doisoat.duckdb"), read_only=True)
    try:
        allocated = con.execute("SELECT sum(allocated) FROM quota_usage").fetchone()[0]
    finally:
        con.close()
    # Every request sent today is in the audit log: this installation's share of the national quota.
    assert 0 < requests.height == allocated <= results.filter(pl.col("status") == "matched").height
    assert set(requests["status"].drop_nulls().unique()) <= {"verified", "mismatch", "not_found"}


def test_the_leak_scanner_finds_planted_values(demo):
    """The privacy scans above can fail: a planted name, ID and birth date are all found."""
    data, _, _ = demo
    register = _register(data).filter(pl.col("date_of_birth") < date(2025, 1, 1)).head(1)
    person = register.row(0, named=True)
    text = f"log line {person['full_name']} id={person['person_id']} dob={person['date_of_birth']:%d/%m/%Y}"
    assert len(_leaks(text, register)) == 3
