"""``doisoat review export`` / ``import`` on a hand-built lake: per-unit workbooks, stale rows refused
with one message each, a file that is not a workbook refused in one line, audit and permissions."""

from __future__ import annotations

import stat

import openpyxl
import polars as pl
import pytest

from tests.rules.review_helpers import situation

PROVINCE, SECTOR = "ho_chi_minh", "students"


@pytest.fixture
def lake(data_dir):
    from assets.lake import write_parquet
    from assets.resources import DataPaths

    queue, records, register, results = situation()
    # as the match step writes them: every column of the lake tables (rules.lake_schema), absent ones null
    queue, results = _complete(queue, "review_queue"), _complete(results, "match_results")
    paths = DataPaths(root=str(data_dir))
    write_parquet(queue, paths.lake("review_queue", PROVINCE, SECTOR))
    write_parquet(records, paths.lake("clean_records", PROVINCE, SECTOR))
    write_parquet(results, paths.lake("match_results", PROVINCE, SECTOR))
    (data_dir / "population").mkdir()
    register.write_parquet(data_dir / "population" / f"{PROVINCE}.parquet")
    return data_dir, register


def _complete(df: pl.DataFrame, table: str) -> pl.DataFrame:
    from rules.lake_schema import conform, lake_table

    t = lake_table(table)
    missing = [pl.lit(None, c.dtype).alias(c.name) for c in t.columns if c.name not in df.columns and not c.optional]
    return conform(df.with_columns(missing), t)


def _run(capsys, *args):
    from pipelines.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _fill(book, out, decisions):
    wb = openpyxl.load_workbook(book)
    ws = wb.worksheets[0]
    ws["C3"] = "Cán bộ B"
    for r in range(6, ws.max_row + 1):
        if ws.cell(r, 1).value in decisions and str(ws.cell(r, 2).value).startswith("Dữ liệu"):
            ws.cell(r, 13, decisions[ws.cell(r, 1).value])
    wb.save(out)
    return out


def test_export_per_unit_import_stale_rows_and_audit(lake, capsys, tmp_path):
    data, register = lake
    code, out, _ = _run(capsys, "--data", str(data), "review", "export", "--province", "79", "--sector", SECTOR,
                        "--unit", "u0")
    assert code == 0 and "8 rows to review" in out
    book = data / "reports" / "review" / PROVINCE / f"{SECTOR}__u0.xlsx"
    assert stat.S_IMODE(book.stat().st_mode) == 0o600
    filled = _fill(book, tmp_path / "f.xlsx", {"B0001": "1", "B0002": "không", "B0003": "2"})
    # after the export the register changes a candidate of row 3
    register.with_columns(pl.when(pl.col("person_id") == "079215000201").then(pl.lit("Nữ"))
                          .otherwise(pl.col("gender")).alias("gender")
                          ).write_parquet(data / "population" / f"{PROVINCE}.parquet")
    code, out, _ = _run(capsys, "--data", str(data), "review", "import", str(filled))
    assert code == 0
    assert "applied 2" in out and "stale_register 1" in out
    assert "B0003" in out and "register records of its candidates changed" in out
    results = pl.read_parquet(data / "lake" / "match_results" / PROVINCE / f"{SECTOR}.parquet")
    assert dict(results.select("row_number", "status").iter_rows())[3] == "ambiguous"
    queue = pl.read_parquet(data / "lake" / "review_queue" / PROVINCE / f"{SECTOR}.parquet")
    assert queue["row_number"].n_unique() == 6
    audit_dir = data / "operator" / "audit" / "review_decisions"
    audit = pl.concat([pl.read_parquet(p) for p in audit_dir.rglob("*.parquet")])
    assert sorted(audit["status"].to_list()) == ["matched_by_review", "rejected_by_review"]
    assert set(audit["reviewer"]) == {"Cán bộ B"}
    ledger = data / "lake" / "review_decisions" / PROVINCE / f"{SECTOR}.parquet"
    assert stat.S_IMODE(ledger.stat().st_mode) == 0o600
    # nothing personal on the terminal: no IDs, no names
    assert "0792150" not in out and "Nguyễn" not in out
    # a fresh export has only the rows still waiting
    code, out, _ = _run(capsys, "--data", str(data), "review", "export", "--province", PROVINCE)
    assert code == 0 and f"{SECTOR}: 6 rows to review" in out


def test_a_file_that_is_not_a_workbook_is_one_line_and_exit_2(lake, capsys, tmp_path):
    data, _ = lake
    bad = tmp_path / "notes.xlsx"
    bad.write_text("hello")
    code, _out, err = _run(capsys, "--data", str(data), "review", "import", str(bad))
    assert code == 2 and err.count("\n") == 1 and "notes.xlsx" in err and "Traceback" not in err


def test_the_import_job_reads_every_workbook_of_the_province_inbox(lake, capsys, tmp_path):
    import dagster as dg

    from pipelines.definitions import build_definitions

    data, _ = lake
    inbox = data / "inbox" / PROVINCE / "review"
    inbox.mkdir(parents=True)
    for name, decisions in (("a.xlsx", {"B0001": "Ứng viên 1 / Candidate 1"}), ("b.xlsx", {"B0002": "none"})):
        assert _run(capsys, "--data", str(data), "review", "export", "--province", PROVINCE)[0] == 0
        _fill(data / "reports" / "review" / PROVINCE / f"{SECTOR}.xlsx", inbox / name, decisions)
    (inbox / "broken.xlsx").write_bytes(b"not a workbook")  # refused with one line, the others still import
    job = build_definitions().resolve_job_def("review_import_job")
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("province", [PROVINCE])  # the installation's provinces (assets.partitions)
        result = job.execute_in_process(partition_key=PROVINCE, instance=instance, raise_on_error=False)
        assert result.success
        meta = result.asset_materializations_for_node("review_decisions")[0].metadata
        assert meta["workbooks"].value == 3 and meta["decisions_applied"].value == 2
        assert "broken.xlsx" in meta["messages"].value and "0792150" not in meta["messages"].value
        checks = {(e.check_name, e.passed, e.partition) for e in result.get_asset_check_evaluations()}
        assert checks == {("lake_schema", True, PROVINCE)}  # the ledger as written matches rules/lake_schema
        again = job.execute_in_process(partition_key=PROVINCE, instance=instance)  # the same files again
        assert again.asset_materializations_for_node("review_decisions")[0].metadata[
            "decisions_already_imported"].value == 2
    status = dict(pl.read_parquet(data / "lake" / "match_results" / PROVINCE / f"{SECTOR}.parquet")
                  .select("row_number", "status").iter_rows())
    assert status[1] == "matched_by_review" and status[2] == "rejected_by_review"
    audits = list((data / "operator" / "audit" / "review_decisions" / PROVINCE / SECTOR).glob("*.parquet"))
    assert len(audits) == 2 and sum(pl.read_parquet(p).height for p in audits) == 2
