"""Clerical review end to end, as the provincial team runs it.

``doisoat demo`` (verification day D) writes review workbooks; on D+1 the daily verification runs
and a scripted reviewer fills the workbooks with openpyxl the way a person does in Excel (picks from
the drop-down, types, writes a name): one is imported with ``doisoat review import``, one is dropped
into ``inbox/<province>/review/`` and imported by the Dagster job the sensor starts. The next day's
``doisoat verify-day --date D+2`` verifies the rows matched by review. (Requests are served first in,
first out per unit, so a review is verified the day after it is imported once the unit's older
requests have had their turn: in the demo the province's day-D backlog is served by D+1.)
The scripted reviewer knows the truth (the generator's truth files), as a
reviewer knows the children of their schools: tests may read truth files, the pipeline never does.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import openpyxl
import polars as pl
import pytest

REPO = Path(__file__).resolve().parents[2]
PROVINCE = "ho_chi_minh"
DAY = "2026-11-20"  # the demo's verification day
REVIEW_DAY = (date.fromisoformat(DAY) + timedelta(days=1)).isoformat()  # the team reviews; the day's job runs
NEXT_DAY = (date.fromisoformat(DAY) + timedelta(days=2)).isoformat()  # the day after the review
KEY = ["file_sha256", "sheet", "row_number"]
SIZE, SEED = 20_000, 11  # a demo size whose uploads hold namesakes born the same day (ambiguous rows)


def _env(data: Path) -> dict[str, str]:
    return {**os.environ, "DOISOAT_DATA": str(data), "DAGSTER_HOME": str(REPO),
            "DOISOAT_DAGSTER_STORAGE": str(data / "dagster_home"),
            "DOISOAT_COMPUTE_LOGS": str(data / "dagster_home" / "logs")}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=900)


def _statuses(data: Path) -> dict[str, int]:
    frames = [pl.read_parquet(p) for p in (data / "lake" / "match_results" / PROVINCE).glob("*.parquet")]
    return dict(pl.concat(frames)["status"].value_counts().iter_rows())


def _requests(data: Path) -> pl.DataFrame:
    from rules.verify import QueueStore

    return QueueStore(data / "national" / "verification_queue.sqlite").requests()


def _truth(data: Path) -> pl.DataFrame:
    frames = [pl.read_parquet(p).select("file", "sheet", "row_number", "person_id")
              for p in (data / "truth" / PROVINCE).rglob("*.truth.parquet")]
    return pl.concat(frames).rename({"file": "file_name", "person_id": "true_id"})


def _fill(book: Path, out: Path, truth: pl.DataFrame, data: Path) -> dict[str, str]:
    """Fill as a reviewer: name in C3, for each block the true candidate typed or picked, else none."""
    wb = openpyxl.load_workbook(book)
    blocks = pl.DataFrame([r for r in wb["_blocks"].iter_rows(min_row=2, values_only=True)],
                          schema=["block", "file_sha256", "sheet", "row_number", "candidate_ids", "n", "fpm", "fpr",
                                  "unit", "excel_row"], orient="row")
    names = pl.concat([pl.read_parquet(p).select(*KEY, "file_name")
                       for p in (data / "lake" / "raw_records" / PROVINCE).glob("*.parquet")])
    keyed = blocks.with_columns(pl.col("row_number").cast(pl.Int64), pl.col("sheet").fill_null("")).join(
        names.with_columns(pl.col("sheet").fill_null("")), on=KEY, how="left").join(
        truth, on=["file_name", "sheet", "row_number"], how="left")
    ws = wb.worksheets[0]
    ws["C3"] = "Nguyễn Cán Bộ"
    picked: dict[str, str] = {}
    for r in range(6, ws.max_row + 1):
        code = ws.cell(r, 1).value
        if not code or not str(ws.cell(r, 2).value).startswith("Dữ liệu"):
            continue
        row = keyed.filter(pl.col("block") == code).to_dicts()[0]
        ids = row["candidate_ids"].split(",")
        if row["true_id"] in ids:
            k = ids.index(row["true_id"]) + 1
            ws.cell(r, 13, f"Ứng viên {k} / Candidate {k}" if k % 2 else f"uv {k}")  # picked, or typed
            picked[code] = f"match:{k}"
        else:
            ws.cell(r, 13, "Không ai trong số này / None of them")
            picked[code] = "none"
    wb.save(out)
    return picked


def reviewed_sectors(data: Path) -> set[str]:
    return {p.stem for p in (data / "lake" / "review_decisions" / PROVINCE).glob("*.parquet")}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("review") / "data"
    env = _env(data)
    demo = _cli(env, "demo", "--province", PROVINCE, "--size", str(SIZE), "--seed", str(SEED), "--date", DAY)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    return data, env, demo


@pytest.mark.slow
def test_review_round_trip_through_the_demo_and_verification_next_day(scenario, tmp_path, monkeypatch):
    data, env, demo = scenario
    books = sorted((data / "reports" / "review" / PROVINCE).glob("*.xlsx"))
    assert books, demo.stdout[-1500:]
    assert "review workbook:" in demo.stdout
    for book in books:
        assert stat.S_IMODE(book.stat().st_mode) == 0o600
    before = _statuses(data)
    ambiguous_before = before.get("ambiguous", 0)
    assert ambiguous_before >= 1
    day1 = _cli(env, "verify-day", "--date", REVIEW_DAY)
    assert day1.returncode == 0, day1.stderr[-2000:]
    requests_before = _requests(data)
    truth = _truth(data)

    # workbook 1 by the command line
    filled = tmp_path / "filled_1.xlsx"
    picked = _fill(books[0], filled, truth, data)
    done = _cli(env, "review", "import", str(filled))
    assert done.returncode == 0, done.stderr
    assert f"applied {len(picked)}" in done.stdout
    # workbook 2 (if any) through the inbox and the Dagster job the sensor would start
    picked_2 = {}
    if len(books) > 1:
        inbox = data / "inbox" / PROVINCE / "review"
        inbox.mkdir(parents=True)
        picked_2 = _fill(books[1], inbox / "filled_2.xlsx", truth, data)
        job = subprocess.run([sys.executable, "-c", "from pipelines.environment import configure; configure(); "
                              "from pipelines.runner import _execute; "
                              f"raise SystemExit(0 if _execute('review_import_job', '{PROVINCE}', 'review') else 1)"],
                             capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
        assert job.returncode == 0, job.stderr[-2000:]
    after = _statuses(data)
    n_match = sum(v.startswith("match") for v in [*picked.values(), *picked_2.values()])
    n_none = len(picked) + len(picked_2) - n_match
    assert after.get("matched_by_review", 0) == n_match and after.get("rejected_by_review", 0) == n_none
    # every ambiguous row is in exactly one state; no row appeared or vanished
    assert (after.get("ambiguous", 0) + after.get("matched_by_review", 0) + after.get("rejected_by_review", 0)
            == ambiguous_before)
    assert sum(after.values()) == sum(before.values())

    # importing the same workbook again changes nothing
    lake = sorted(p for p in (data / "lake").rglob("*.parquet") if "review" in str(p) or "match_results" in str(p))
    snapshot = {p: p.read_bytes() for p in lake}
    audits = sorted((data / "operator" / "audit" / "review_decisions").rglob("*.parquet"))
    again = _cli(env, "review", "import", str(filled))
    assert again.returncode == 0 and f"already_imported {len(picked)}" in again.stdout
    assert {p: p.read_bytes() for p in lake} == snapshot
    assert sorted((data / "operator" / "audit" / "review_decisions").rglob("*.parquet")) == audits

    # decisions are in the operators' audit log: who, when, what
    audit = pl.concat([pl.read_parquet(p) for p in audits], how="diagonal_relaxed")
    assert audit.height == len(picked) + len(picked_2)
    assert set(audit["reviewer"]) == {"Nguyễn Cán Bộ"}
    assert audit["decided_at"].null_count() == 0 and set(audit["status"]) <= {"matched_by_review",
                                                                              "rejected_by_review"}

    # the next day's verification sends the rows matched by review
    day2 = _cli(env, "verify-day", "--date", NEXT_DAY)
    assert day2.returncode == 0, day2.stderr[-2000:]
    requests_after = _requests(data)
    reviewed = pl.concat([pl.read_parquet(p) for p in (data / "lake" / "match_results" / PROVINCE).glob("*.parquet")]
                         ).filter(pl.col("status") == "matched_by_review").select(*KEY, "person_id")
    sent = requests_after.join(reviewed, on=[*KEY, "person_id"], how="inner")
    assert sent.height == n_match
    assert sent["alloc_day"].to_list() == [NEXT_DAY] * n_match
    assert sent["status"].is_in(["verified", "mismatch"]).fill_null(False).sum() == n_match
    assert requests_after.height == requests_before.height + n_match
    print(f"\nREVIEW E2E counts: before {before}; after {after}; requests {requests_before.height} -> "
          f"{requests_after.height}; reviewed rows answered on {NEXT_DAY}: "
          f"{dict(sent['status'].value_counts().iter_rows())}")

    # the analyst file counts review work per unit, with no personal data
    assert _cli(env, "publish").returncode == 0
    con = duckdb.connect(str(data / "warehouse" / "doisoat.duckdb"), read_only=True)
    try:
        backlog = con.execute("SELECT sum(matched_by_review), sum(rejected_by_review), sum(decisions) "
                              "FROM review_backlog").fetchone()
        assert backlog == (n_match, n_none, n_match + n_none)
        text = " ".join(str(v) for t in ("review_backlog", "review_activity", "review_label_levels",
                                         "review_precision", "review_threshold_whatif")
                        for row in con.execute(f"SELECT * FROM {t}").fetchall() for v in row)
    finally:
        con.close()
    register = pl.read_parquet(data / "population" / f"{PROVINCE}.parquet")
    outputs = text + done.stdout + again.stdout + day2.stdout + day2.stderr
    assert not [t for t in re.findall(r"(?<!\d)(\d{12})(?!\d)", outputs) if t in set(register["person_id"])]
    assert not [n for n in register["full_name"].to_list() if len(n.split()) >= 3 and n in outputs]
    assert "Nguyễn Cán Bộ" not in text  # reviewers' names stay in the operators' log

    report = _cli(env, "report", "--out", str(tmp_path / "r.html"))
    assert report.returncode == 0 and "What clerical review teaches the matcher" in (tmp_path / "r.html").read_text()


    # personal-data files are owner-only; Dagster's metadata of the review assets holds counts only
    for ledger in (data / "lake" / "review_decisions" / PROVINCE).glob("*.parquet"):
        assert stat.S_IMODE(ledger.stat().st_mode) == 0o600
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.get() as instance:
        for asset in ("review_decisions", "review_workbooks", "match_results"):
            for event in instance.fetch_materializations(dg.AssetKey(asset), limit=50).records:
                meta = str(event.asset_materialization.metadata)
                assert not [t for t in re.findall(r"(?<!\d)(\d{12})(?!\d)", meta) if t in set(register["person_id"])]
                assert not [n for n in register["full_name"].to_list() if len(n.split()) >= 3 and n in meta]

    # a re-run of matching (same uploads, same register) keeps every review decision
    settled = _statuses(data)
    sectors = [a for sec in sorted(reviewed_sectors(data)) for a in ("--sector", sec)]
    rerun = _cli(env, "run", "--province", PROVINCE, *sectors)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _statuses(data) == settled
