"""Upload files written by rules.synth.writer: layout, determinism, and truth consistent with the cells."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from rules.synth.noise import EXCEL_EPOCH
from rules.synth.writer import header_variants, write_province

ROWS = {"students": 1_500, "vaccinations": 800, "insurance": 600}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("synth")
    write_province(d, "da_nang", 12_000, seed=21, rows_per_sector=ROWS)
    return d


def _read_sheet(path: Path, sheet: str) -> list[list[str | None]]:
    """Cells as Excel shows them: index 0 is excel_row 1 (all cells as text)."""
    if path.suffix == ".xlsx":
        df = pl.read_excel(
            path, sheet_name=sheet, engine="calamine", has_header=False, infer_schema_length=0, drop_empty_rows=False
        )
        return [list(r) for r in df.rows()]
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    lines = text.splitlines()  # a text editor's line numbers = excel_row for csv
    sep = ";" if lines[0].count(";") > lines[0].count(",") else ","
    return [[c if c != "" else None for c in row] + [None] for row in csv.reader(lines, delimiter=sep)]


def _files(out: Path) -> list[tuple[str, dict]]:
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return [(s, f) for s, v in m["sectors"].items() for f in v["files"]]


def test_layout_and_manifest(out: Path) -> None:
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert m["province"] == "da_nang" and m["seed"] == 21
    assert (out / "population" / "da_nang.parquet").exists()
    assert pl.read_parquet(out / "population" / "da_nang.parquet").height == 12_000
    for sector, n in ROWS.items():
        sec = m["sectors"][sector]
        assert sec["rows"] == n
        assert sec["units"] >= 3
        assert sum(f["data_rows"] for f in sec["files"]) == n
        for f in sec["files"]:
            name = Path(f["file"]).name
            assert Path(f["file"]).parts[:3] == ("inbox", "da_nang", sector)
            assert name.startswith(f["unit"] + "__")
            assert (out / f["truth"]).name == name + ".truth.parquet"
    assert [(f["sector"], f["file"]) for f in m["files"]] == [(s, f["file"]) for s, f in _files(out)]
    formats = {f["format"] for _, f in _files(out)}
    assert formats == {"xlsx", "csv"}


def test_truth_rows_point_at_the_right_cells(out: Path) -> None:
    reg = pl.read_parquet(out / "population" / "da_nang.parquet")
    by_id = {r["person_id"]: r for r in reg.iter_rows(named=True)}
    checked_clean = lost_zero = 0
    for _sector, f in _files(out):
        path = out / f["file"]
        truth = pl.read_parquet(out / f["truth"])
        assert truth.columns == ["file", "sheet", "row_number", "excel_row", "person_id", "noise", "n_errors"]
        assert truth["n_errors"].null_count() == truth.height  # the default profile does not count errors
        for sheet, t in truth.group_by("sheet", maintain_order=True):
            cells = _read_sheet(path, str(sheet[0]))
            assert t["row_number"].to_list() == list(range(1, t.height + 1))
            headers = cells[t["excel_row"][0] - 2 - (1 if cells[t["excel_row"][0] - 2][0] == "(1)" else 0)]
            name_col = next(i for i, h in enumerate(headers) if h in _all_variants("full_name"))
            id_col = next(i for i, h in enumerate(headers) if h in _all_variants("national_id"))
            data_rows = 0
            for row in t.iter_rows(named=True):
                excel = cells[row["excel_row"] - 1]
                assert excel[0] == str(row["row_number"])  # the STT column counts the data rows
                data_rows += 1
                if row["noise"] == ["clean"]:
                    person = by_id[row["person_id"]]
                    assert excel[name_col] == person["full_name"]
                    assert excel[id_col] == person["person_id"]
                    checked_clean += 1
                if "id_lost_leading_zero" in row["noise"] and path.suffix == ".xlsx":
                    assert not excel[id_col].startswith("0")
                pid = row["person_id"]
                if pid and excel[id_col] == pid.lstrip("0"):  # what a Number-formatted column shows
                    assert "id_lost_leading_zero" in row["noise"]
                    lost_zero += 1
            # blank rows inside the data are not data rows
            first, last = t["excel_row"].min(), t["excel_row"].max()
            non_blank = [r for r in cells[first - 1 : last] if any(c not in (None, "") for c in r)]
            assert len(non_blank) == data_rows
    assert checked_clean > 500
    assert lost_zero > 0


def _all_variants(field: str) -> set[str]:
    v = header_variants()
    out: set[str] = set(v["common"].get(field, []))
    for sector in ("students", "vaccinations", "insurance"):
        out |= set(v[sector].get(field, []))
    return out


def test_headers_come_from_the_variant_list(out: Path) -> None:
    v = header_variants()
    known: set[str] = set()
    for block in ("common", "students", "vaccinations", "insurance"):
        for values in v[block].values():
            for x in values:
                known |= set(x) if isinstance(x, list) else {x}
    seen_gender_layouts = set()
    for _sector, f in _files(out):
        truth = pl.read_parquet(out / f["truth"])
        cells = _read_sheet(out / f["file"], truth["sheet"][0])
        first = truth["excel_row"][0]
        header = cells[first - 2] if cells[first - 2][0] != "(1)" else cells[first - 3]
        header = [h for h in header if h is not None]
        assert set(header) <= known, set(header) - known
        seen_gender_layouts |= {h for h in header if h in {"Nữ", "NỮ", "Nữ (x)", "Nam", "NAM"}}
    assert seen_gender_layouts  # the "x in a Nữ column" layout occurs


def test_cell_types_as_people_make_them(out: Path) -> None:
    numeric_ids = date_cells = bom = semicolon = multi_sheet = titles = signatures = numbering = 0
    for _sector, f in _files(out):
        path = out / f["file"]
        if path.suffix == ".csv":
            bom += path.read_bytes().startswith(b"\xef\xbb\xbf")
            semicolon += f["delimiter"] == ";"
            continue
        wb = openpyxl.load_workbook(path, read_only=True)
        multi_sheet += len(wb.sheetnames) > 1
        for ws in wb.worksheets:
            rows = list(ws.iter_rows(values_only=True))
            titles += str(rows[0][0]).startswith(("UBND", "SỞ", "BẢO HIỂM"))
            numbering += any(r and r[0] == "(1)" for r in rows[:12])
            signatures += any(str(x).startswith("(Ký") for x in rows[-1] if x is not None)
            for r in rows:
                date_cells += sum(isinstance(x, dt.datetime) for x in r)
                numeric_ids += sum(isinstance(x, int | float) and x > 1e9 for x in r)
        wb.close()
    assert titles > 0 and signatures > 0 and numbering > 0 and multi_sheet > 0
    assert date_cells > 0 and numeric_ids > 0
    assert bom > 0 and semicolon > 0


def test_serial_dates_read_back_as_numbers(out: Path) -> None:
    reg = pl.read_parquet(out / "population" / "da_nang.parquet")
    dob = dict(zip(reg["person_id"], reg["date_of_birth"], strict=True))
    found = 0
    for _sector, f in _files(out):
        truth = pl.read_parquet(out / f["truth"]).filter(
            pl.col("noise").list.contains("excel_serial") & pl.col("person_id").is_not_null()
        )
        for row in truth.iter_rows(named=True):
            cells = _read_sheet(out / f["file"], row["sheet"])
            values = [c for c in cells[row["excel_row"] - 1] if c and c.replace(".0", "").isdigit()]
            serial = EXCEL_EPOCH + dt.timedelta(days=dob[row["person_id"]].toordinal() - EXCEL_EPOCH.toordinal())
            assert any(int(float(v)) == (serial - EXCEL_EPOCH).days for v in values), "serial not found in the row"
            found += 1
    assert found > 0


def test_deterministic_files(tmp_path: Path) -> None:
    rows = {"students": 300, "insurance": 200}
    a = write_province(tmp_path / "a", "ca_mau", 3_000, seed=2, rows_per_sector=rows)
    b = write_province(tmp_path / "b", "ca_mau", 3_000, seed=2, rows_per_sector=rows)
    c = write_province(tmp_path / "c", "ca_mau", 3_000, seed=3, rows_per_sector=rows)
    assert a == b
    assert a != c
    for _s, f in [(s, f) for s, v in a["sectors"].items() for f in v["files"]]:
        pa, pb = tmp_path / "a" / f["file"], tmp_path / "b" / f["file"]
        assert pa.read_bytes() == pb.read_bytes()  # xlsx too: fixed workbook metadata
        for sheet in f["sheets"]:
            assert _read_sheet(pa, sheet) == _read_sheet(pb, sheet)
        ta = pl.read_parquet(tmp_path / "a" / f["truth"])
        assert ta.equals(pl.read_parquet(tmp_path / "b" / f["truth"]))
