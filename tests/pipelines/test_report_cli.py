"""``doisoat report`` through the CLI, its default paths, a missing or empty warehouse, and the burn-down."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.warehouse import SOURCE_SCHEMAS, WarehouseSources, build_warehouse
from pipelines import reporting
from pipelines.cli import EXIT_USER_ERROR, main
from pipelines.reporting import (
    burn_down,
    default_report_path,
    nice_ceiling,
    svg_bar_chart,
    svg_line_chart,
    write_report,
)


def _empty_sources() -> WarehouseSources:
    return WarehouseSources({name: pl.DataFrame(schema=schema) for name, schema in SOURCE_SCHEMAS.items()})


def test_missing_warehouse_says_what_to_run(data_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"doisoat demo.*doisoat publish"):
        write_report()
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
    assert default_report_path() == target and target.is_file()
    assert str(target) in capsys.readouterr().out
    page = target.read_text(encoding="utf-8")
    assert "No province in the warehouse yet" in page and page.rstrip().endswith("</html>")


def test_cli_out_option(data_dir: Path, tmp_path: Path) -> None:
    build_warehouse(_empty_sources(), data_dir / "warehouse" / "doisoat.duckdb")
    out = tmp_path / "nested" / "hcm.html"
    assert main(["report", "--out", str(out)]) == 0
    assert out.is_file() and not (data_dir / "reports" / "doisoat.html").exists()


def test_burn_down_even_rate_flat_and_already_clear() -> None:
    days, remaining = burn_down(np.array([100.0, 50.0, 30.0]), np.array([10.0, np.nan, 0.0]), horizon=10)
    assert days.tolist() == list(range(11))
    assert remaining[0].tolist() == [100.0, 50.0, 0.0]
    assert remaining[5].tolist() == [50.0, 50.0, 0.0]
    assert remaining[10].tolist() == [0.0, 50.0, 0.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**6), st.one_of(st.none(), st.integers(0, 800))), min_size=1,
                max_size=30))
def test_burn_down_never_rises_and_ends_at_the_forecast(units: list[tuple[int, int | None]]) -> None:
    backlog = np.array([float(b) for b, _ in units])
    to_clear = np.array([np.nan if d is None else float(d) for _, d in units])
    horizon = int(np.nanmax(to_clear)) if np.isfinite(to_clear).any() else 30
    days, remaining = burn_down(backlog, to_clear, horizon)
    assert len(days) <= 120 and days[0] == 0 and days[-1] == max(horizon, 1)
    assert (np.diff(remaining, axis=0) <= 1e-9).all()  # no unit's backlog grows
    assert (remaining >= 0).all() and (remaining <= backlog[None, :] + 1e-9).all()
    cleared = np.isfinite(to_clear)
    assert np.allclose(remaining[-1, cleared], 0.0)  # every unit with a forecast day is clear by the end
    assert np.allclose(remaining[:, ~cleared], backlog[None, ~cleared])  # the others stay flat
    started = cleared & (to_clear > 0)
    assert np.allclose(remaining[0, started], backlog[started])


def test_charts_escape_labels_and_show_values() -> None:
    bar = svg_bar_chart("T<1>", ["a&b", "c"], [("s<x>", [3, 0], "#000"), ("t", [1, 2], "#111")])
    assert bar.startswith("<svg") and bar.endswith("</svg>")
    assert "a&amp;b" in bar and "s&lt;x&gt;" in bar and "T&lt;1&gt;" in bar and "<x>" not in bar
    assert bar.count("<rect") == 3 + 2  # three non-zero segments + two legend keys
    line = svg_line_chart("L", ["d0", "d1", "d2"], [("total", [5, 3, 0], "#000")])
    assert line.count("<polyline") == 1 and "d0" in line
    single = svg_line_chart("L", ["d0"], [("total", [5], "#000")])
    assert "<circle" in single and "<polyline" not in single


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1e9, allow_nan=False))
def test_y_axis_top_is_round_and_close(value: float) -> None:
    top = nice_ceiling(value)
    step = top / 4
    assert top >= value and top >= 4
    assert step == int(step)  # four whole-number steps
    assert top <= 2.5 * max(value, 4) + 1e-6


def test_long_tables_are_cut_with_a_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reporting, "MAX_TABLE_ROWS", 2)
    out = reporting.table([("Đơn vị", "Unit"), ("Số dòng", "Rows")], [("a", 1), ("b", 2), ("c", 3), ("d", 4)])
    assert out.count("<tr>") == 1 + 2 + 1  # header, two rows, the "more rows" line
    assert "… 2 dòng nữa" in out and "<td>c</td>" not in out
    assert reporting.table([("A", "A")], []).startswith('<p class="empty">')


def test_a_warehouse_from_an_older_build_still_renders(tmp_path: Path) -> None:
    """Tables added later (forecast, quota_usage, …) may be missing: their sections are left out."""
    import duckdb

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE uploads AS SELECT 'ha_noi' AS province, 'students' AS sector, 'u1' AS unit, "
                "'u1__a.xlsx' AS file_name, 'current' AS status, 4 AS rows_read, 3 AS accepted, "
                "1 AS rejected, NULL::VARCHAR AS error_code")
    con.close()
    page = write_report(tmp_path / "r.html", warehouse=path).read_text(encoding="utf-8")
    assert 'id="p-ha_noi"' in page and "u1__a.xlsx" in page
    assert "Backlog forecast" not in page and "Match outcomes" not in page


def test_bar_chart_legend_wraps_inside_the_chart() -> None:
    names = [f"series {i} with a long bilingual label / nhãn rất dài {i}" for i in range(4)]
    svg = svg_bar_chart("T", ["a"], [(n, [1], "#000") for n in names], width=1300)
    height = int(re.search(r'height="(\d+)"', svg).group(1))
    keys = [(float(x), float(y)) for x, y in re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="12"', svg)]
    item = 24 + 7 * len(names[0])
    assert len(keys) == 4 and len({y for _, y in keys}) == 2  # two keys per line at this width
    assert all(x + item <= 1300 and y + 12 <= height for x, y in keys)
    assert all(n in svg for n in names)  # short enough not to be cut
