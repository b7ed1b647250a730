"""``doisoat rehearse`` for real, small: provinces in parallel on PostgreSQL, the lake on a local S3 server.

The command runs as a subprocess (as a user runs it) on a fresh pair of databases; the test then reads
the Dagster run records straight from PostgreSQL (not from the command's own table) to check that runs
of different provinces overlapped in time, and checks the printed reconciliation. While a step still
needs the local lake, the command says so in one line and the test is an expected failure naming it.
Skips when PostgreSQL is absent (fails in CI: tests/services.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.services import POSTGRES, require_service

REPO = Path(__file__).resolve().parents[2]
PROVINCES = ("da_nang", "cao_bang", "ha_noi")  # small registers; students only keeps it under ~2 min


def _admin():
    import psycopg2

    con = psycopg2.connect(host=POSTGRES[1], port=POSTGRES[2], user="postgres", dbname="postgres")
    con.autocommit = True
    return con


@pytest.fixture
def database():
    require_service(POSTGRES)
    name = f"doisoat_rehearsal_t{uuid.uuid4().hex[:8]}"
    yield name
    con = _admin()
    with con.cursor() as cur:
        for db in (name, f"{name}_queue"):
            cur.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    con.close()


def _run_spans(database: str) -> list[tuple[str, str, float, float, str]]:
    """(job, partition, start, end, status) of every run, from the instance's own tables."""
    import psycopg2

    con = psycopg2.connect(host=POSTGRES[1], port=POSTGRES[2], user="postgres", dbname=database)
    try:
        with con.cursor() as cur:
            cur.execute("""SELECT r.pipeline_name, coalesce(t.value, ''), r.start_time, r.end_time, r.status
                           FROM runs r LEFT JOIN run_tags t ON t.run_id = r.run_id AND t.key = 'dagster/partition'""")
            return cur.fetchall()
    finally:
        con.close()


S3_GAP = "does not run on the lake on object storage (S3) yet"


def _rehearse(database: str, workdir: Path, lake: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOISOAT_", "DAGSTER_", "AWS_"))}
    args = [sys.executable, "-m", "pipelines", "rehearse", "--size", "1000", "--sector", "students",
            "--workdir", str(workdir), "--database", database, "--lake", lake]
    for p in PROVINCES:
        args += ["--province", p]
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _overlapping(spans: list[tuple[str, float, float]]) -> list[tuple]:
    return [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:] if a[1] < b[2] and b[1] < a[2]]


@pytest.mark.slow
def test_a_small_rehearsal_runs_provinces_side_by_side_and_reconciles(database, tmp_path):
    proc = _rehearse(database, tmp_path / "work", "s3")
    out = proc.stdout
    assert "Traceback" not in proc.stderr + out
    runs = _run_spans(database)
    if S3_GAP in out:
        # The command says plainly which step cannot run on S3 yet (branch h/lake moves the rest there).
        assert proc.returncode == 1 and "stopped: a phase had failed runs" in out
        gap = next(line.strip() for line in out.splitlines() if "✗" in line)
        pytest.xfail(f"a step still needs the local lake: {gap[:200]}")
    assert proc.returncode == 0, out[-4000:] + proc.stderr[-2000:]

    # What ran where: both databases named, the lake on S3, no password or secret printed.
    assert f"/{database} (dagster-postgres" in out and f"/{database}_queue (DOISOAT_QUEUE_URL)" in out
    assert re.search(r"lake\s+s3://rehearsal-\w+/doisoat/lake at http://127\.0\.0\.1:\d+", out), out
    assert "AWS_SECRET_ACCESS_KEY ****" in out and "doisoat-local" not in out

    # The reconciliation: a line per province x sector, the queue, the quota, the warehouse; all hold.
    assert "reconciled counts (all hold):" in out, out
    checks = [line.strip() for line in out.splitlines() if line.strip().startswith(("✓", "✗"))]
    assert checks and all(c.startswith("✓") for c in checks), checks
    assert {f"{p}/students" for p in PROVINCES} <= {c.split()[1] for c in checks}
    queue = next(c for c in checks if c.split()[1] == "queue")
    enqueued, sent, waiting = (int(n.replace(",", "")) for n in
                               re.search(r"enqueued ([\d,]+) = sent ([\d,]+) .* waiting ([\d,]+)", queue).groups())
    assert enqueued == sent + waiting and sent > 0 and waiting > 0  # the default quota leaves some waiting
    assert any(c.split()[1] == "quota" for c in checks)

    # From the instance in PostgreSQL: every run succeeded; provinces overlapped in time.
    assert len(runs) == len(PROVINCES) * 2 + 2, runs  # a register and a students run each, the day, the publish
    assert {r[4] for r in runs} == {"SUCCESS"}, runs
    spans = [(part.split("|")[0], start, end) for job, part, start, end, _ in runs if job == "province_job"]
    assert any(a[0] != b[0] for a, b in _overlapping(spans)), spans


def test_without_postgresql_the_rehearsal_says_so_in_one_line(tmp_path):
    from pipelines.local_s3 import free_port

    env = {**os.environ, "DOISOAT_PG_PORT": str(free_port())}  # nothing listens there
    proc = subprocess.run([sys.executable, "-m", "pipelines", "rehearse", "--workdir", str(tmp_path)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "PostgreSQL is not reachable at 127.0.0.1:" in proc.stderr and "Traceback" not in proc.stderr
    assert not any(tmp_path.iterdir())  # nothing generated, no database touched


def test_a_work_folder_with_other_data_is_refused_before_anything_runs(tmp_path):
    (tmp_path / "population").mkdir()
    (tmp_path / "population" / "ha_noi.parquet").write_bytes(b"someone's register")
    proc = subprocess.run([sys.executable, "-m", "pipelines", "rehearse", "--workdir", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "holds other data" in proc.stderr, proc.stderr
    assert (tmp_path / "population" / "ha_noi.parquet").read_bytes() == b"someone's register"
