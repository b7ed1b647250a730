"""``doisoat report`` through the CLI: its default paths, a missing or empty warehouse, the province choice."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from assets.warehouse import SOURCE_SCHEMAS, WarehouseSources, build_warehouse
from pipelines.cli import EXIT_USER_ERROR, main
from pipelines.reporting import report_paths, write_report
from rules.errors import UserError
from rules.report import WarehouseMissing


def _empty_sources() -> WarehouseSources:
    return WarehouseSources({name: pl.DataFrame(schema=schema) for name, schema in SOURCE_SCHEMAS.items()})


def test_missing_warehouse_says_what_to_run(data_dir: Path) -> None:
    with pytest.raises(WarehouseMissing, match=r"doisoat demo.*doisoat publish") as err:
        write_report()
    assert isinstance(err.value, UserError)
    assert not (data_dir / "reports").exists()


def test_cli_missing_warehouse_is_a_user_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "doisoat report:" in err and "doisoat demo" in err and "Traceback" not in err


def test_cli_writes_the_default_report_from_the_data_folder(data_dir: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    build_warehouse(_empty_sources(), data_dir / "warehouse" / "doisoat.duckdb")
    assert main(["report"]) == 0
    target = data_dir / "reports" / "doisoat.html"
    assert report_paths() == (data_dir / "warehouse" / "doisoat.duckdb", target) and target.is_file()
    assert str(target) in capsys.readouterr().out
    page = target.read_text(encoding="utf-8")
    assert "No province in the warehouse yet" in page and page.rstrip().endswith("</html>")


def test_cli_out_option(data_dir: Path, tmp_path: Path) -> None:
    build_warehouse(_empty_sources(), data_dir / "warehouse" / "doisoat.duckdb")
    out = tmp_path / "nested" / "hcm.html"
    assert main(["report", "--out", str(out)]) == 0
    assert out.is_file() and not (data_dir / "reports" / "doisoat.html").exists()


def _national_counts_only(path: Path) -> None:
    """One processed province (ha_noi) and another (an_giang) present only in the national counts."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE uploads AS SELECT 'ha_noi' AS province, 'students' AS sector, 'u1' AS unit, "
                "'u1__a.xlsx' AS file_name, 'current' AS status, 4 AS rows_read, 3 AS accepted, "
                "1 AS rejected, NULL::VARCHAR AS error_code")
    con.execute("CREATE TABLE daily_allocation AS SELECT * FROM (VALUES ('2026-11-23', 'an_giang/students/x', 9, 9, 9),"
                " ('2026-11-23', 'ha_noi/students/u1', 5, 5, 5)) t(day, unit_key, backlog, floor, allocated)")
    con.close()


def test_default_is_the_processed_provinces_with_a_summary_first(data_dir: Path, tmp_path: Path) -> None:
    path = data_dir / "warehouse" / "doisoat.duckdb"
    path.parent.mkdir(parents=True)
    _national_counts_only(path)
    page = write_report(tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'id="p-ha_noi"' in page and 'id="p-an_giang"' not in page
    assert page.index('id="summary"') < page.index('id="p-ha_noi"')
    assert "1 other provinces have national allocation and forecast counts only" in page
    assert main(["report", "--all-provinces", "--out", str(tmp_path / "all.html")]) == 0
    everything = (tmp_path / "all.html").read_text(encoding="utf-8")
    assert everything.index('id="p-an_giang"') < everything.index('id="p-ha_noi"')
    assert main(["report", "--province", "An Giang", "--out", str(tmp_path / "ag.html")]) == 0
    assert 'id="p-ha_noi"' not in (tmp_path / "ag.html").read_text(encoding="utf-8")


def test_a_warehouse_from_an_older_build_still_renders(tmp_path: Path) -> None:
    """Tables added later (forecast, quota_usage, …) may be missing: their sections are left out."""
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE uploads AS SELECT 'ha_noi' AS province, 'students' AS sector, 'u1' AS unit, "
                "'u1__a.xlsx' AS file_name, 'current' AS status, 4 AS rows_read, 3 AS accepted, "
                "1 AS rejected, NULL::VARCHAR AS error_code")
    con.close()
    page = write_report(tmp_path / "r.html", warehouse=path).read_text(encoding="utf-8")
    assert 'id="p-ha_noi"' in page and "u1__a.xlsx" in page
    assert "Backlog forecast" not in page and "Match outcomes" not in page
