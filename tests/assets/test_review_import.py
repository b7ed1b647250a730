"""``doisoat review export`` / ``import`` on a hand-built lake: per-unit workbooks, stale rows refused
with one message each, a file that is not a workbook refused in one line, audit and permissions; a
workbook named after a pupil is named by its masked label in Dagster (metadata, event log, console)
and by its real name on the command line of the operator who gave it."""

from __future__ import annotations

import stat

import openpyxl
import polars as pl
import pytest

from tests.rules.review_helpers import situation
from tests.security.file_names import dagster_text, name_forms

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


# ------------------------------------------------------------------------------------ file names chosen by clerks
# Invented pupils, as a clerk may name the workbooks sent back (rules.review.reader.shown_name).
PUPIL = "Đoàn Thị Mỹ Duyên"
OTHER_PUPIL = "Lương Văn Khải"
BROKEN_PUPIL = "Vũ Minh Khôi"


def _pupil_named_inbox(capsys, data, tmp_path):
    """inbox/<province>/review/ as clerks fill it: a workbook named after a pupil with an unreadable
    choice, a second one named after another pupil that decides a row the first decided already, and a
    pupil-named file that is no workbook at all. Returns the first workbook."""
    import os

    inbox = data / "inbox" / PROVINCE / "review"
    inbox.mkdir(parents=True)
    assert _run(capsys, "--data", str(data), "review", "export", "--province", PROVINCE)[0] == 0
    exported = data / "reports" / "review" / PROVINCE / f"{SECTOR}.xlsx"
    filled = _fill(exported, tmp_path / f"{PUPIL}.xlsx",
                   {"B0001": "Ứng viên 1 / Candidate 1", "B0002": "none", "B0003": "có lẽ người thứ nhất"})
    second = _fill(exported, tmp_path / "second.xlsx", {"B0001": "Ứng viên 2 / Candidate 2"})
    for i, (name, book) in enumerate(((f"{PUPIL}.xlsx", filled), (f"{OTHER_PUPIL} (sửa).xlsx", second))):
        target = inbox / name
        target.write_bytes(book.read_bytes())
        os.utime(target, ns=(10**18 + i, 10**18 + i))  # imported in this order
    (inbox / f"{BROKEN_PUPIL}.xlsx").write_bytes(b"not a workbook")
    return filled


def test_pupil_named_workbooks_reach_dagster_metadata_and_logs_masked(lake, capfd, tmp_path):
    import dagster as dg

    from assets.resources import DataPaths
    from assets.review import review_decisions

    data, _ = lake
    _pupil_named_inbox(capfd, data, tmp_path)  # (the export's own output is read there)
    home = tmp_path / "dagster"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        instance.add_dynamic_partitions("province", [PROVINCE])
        result = dg.materialize([review_decisions], partition_key=PROVINCE, instance=instance,
                                resources={"paths": DataPaths(root=str(data))})
        assert result.success
        messages = result.asset_materializations_for_node("review_decisions")[0].metadata["messages"].value
        printed = capfd.readouterr()  # the run's console log lines
        text = dagster_text(instance, result.run_id, home, printed.out + printed.err)
    # the lines are there, naming each file by its masked label ...
    assert "x.xlsx row" in messages and "not one of the choices" in messages
    assert "x.xlsx: block B0001" in messages and "already decided in an earlier workbook" in messages
    assert "x.xlsx: not a readable .xlsx review workbook" in messages and "not a readable" in text
    # ... and no form of the pupils' names is, anywhere Dagster keeps or prints them
    assert [f for f in name_forms(PUPIL, OTHER_PUPIL, BROKEN_PUPIL) if f in text] == []


def test_the_command_line_names_the_workbook_to_the_operator_who_gave_it(lake, capsys, tmp_path):
    data, _ = lake
    filled = _pupil_named_inbox(capsys, data, tmp_path)
    code, out, _ = _run(capsys, "--data", str(data), "review", "import", str(filled))
    assert code == 0 and "applied 2" in out
    assert f"{PUPIL}.xlsx: {PROVINCE}/{SECTOR}" in out  # the report line names the file as typed
    assert f"{PUPIL}.xlsx row" in out and "not one of the choices" in out
    broken = data / "inbox" / PROVINCE / "review" / f"{BROKEN_PUPIL}.xlsx"
    code, _, err = _run(capsys, "--data", str(data), "review", "import", str(broken))
    assert code == 2 and f"{BROKEN_PUPIL}.xlsx: not a readable" in err


def test_a_link_in_the_review_inbox_is_refused_not_followed(lake, capsys, tmp_path):
    """A symlink dropped into inbox/<province>/review/ (to a workbook elsewhere, or to any file the
    pipeline can read) is listed as refused, never opened: the same lister as every other inbox."""
    import dagster as dg

    from assets.resources import DataPaths
    from assets.review import review_decisions

    data, _ = lake
    inbox = data / "inbox" / PROVINCE / "review"
    inbox.mkdir(parents=True)
    assert _run(capsys, "--data", str(data), "review", "export", "--province", PROVINCE)[0] == 0
    outside = _fill(data / "reports" / "review" / PROVINCE / f"{SECTOR}.xlsx", tmp_path / "elsewhere.xlsx",
                    {"B0001": "Ứng viên 1 / Candidate 1"})
    (inbox / "linked.xlsx").symlink_to(outside)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("province", [PROVINCE])
        result = dg.materialize([review_decisions], partition_key=PROVINCE, instance=instance,
                                resources={"paths": DataPaths(root=str(data))})
        meta = result.asset_materializations_for_node("review_decisions")[0].metadata
    assert meta["workbooks"].value == 0 and "decisions_applied" not in meta
    assert "linked.xlsx: not read (symlink)" in meta["messages"].value
    status = pl.read_parquet(data / "lake" / "match_results" / PROVINCE / f"{SECTOR}.parquet")["status"]
    assert "matched_by_review" not in status.to_list()


def test_an_unknown_unit_is_refused_with_the_closest_and_a_folder_at_the_workbook_name_named(lake, capsys, tmp_path):
    data, _ = lake
    code, out, err = _run(capsys, "--data", str(data), "review", "export", "--province", PROVINCE, "--unit", "u9x")
    assert code == 2 and err.count("\n") == 1 and "--unit u9x" in err and "rows to review" not in out
    assert "u0" in err  # the unit the test lake holds, as the suggestion
    folder = data / "reports" / "review" / PROVINCE / f"{SECTOR}.xlsx"
    folder.mkdir(parents=True)
    code, _, err = _run(capsys, "--data", str(data), "review", "export", "--province", PROVINCE, "--sector", SECTOR)
    assert code == 2 and err.count("\n") == 1 and "is a folder" in err and "Traceback" not in err
