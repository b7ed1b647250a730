"""Upload files as schools and health units really make them, plus their truth (contracts §2).

``write_province`` writes the register, per sector several units each with one or more ``.xlsx``
(xlsxwriter) or ``.csv`` files: title rows (merged), Vietnamese header variants
(``header_variants.yaml``), an STT column, sometimes a column-numbering row under the header, blank
rows inside the data, trailing total/signature rows; IDs that lost their leading zero are numeric
cells, Excel-serial dates are numeric cells, and some files hold real date cells. CSVs use ``,`` or
``;`` and some start with a UTF-8 BOM. The truth file of each upload maps every data row (``sheet``,
``row_number`` 1-based over the non-blank data rows *of that sheet*, ``excel_row`` as Excel or a
text editor shows it) to the person and noise labels. Building the data is vectorised; only the
final cell writing is per cell (xlsx is per cell by nature).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import xlsxwriter
from pydantic import Field

from rules.config import StrictModel, load_config
from rules.layout import DataLayout
from rules.private import private_dir, private_file, tighten_tree
from rules.provinces import resolve_province
from rules.sectors import SECTORS, check_sector
from rules.synth.harsh import harsh_summary
from rules.synth.noise import noise_rates
from rules.synth.register import REFERENCE_DATE, generate_register
from rules.synth.sector import sector_records_with_units

VARIANTS_FILE = Path(__file__).with_name("header_variants.yaml")
#: Default rows per sector as a share of the register size (demo scale).
DEFAULT_ROWS_SHARE: dict[str, float] = {"students": 0.10, "vaccinations": 0.06, "insurance": 0.05}
#: Share of xlsx files whose whole ID column is numeric (every 0-led ID loses its zero; labelled).
NUMERIC_ID_COLUMN_SHARE = 0.1
FIXED_CREATED = dt.datetime(2025, 10, 15, 8, 0, 0)  # workbook metadata, so bytes do not depend on the clock


Variants = dict[str, tuple[Any, ...]]


class Titles(StrictModel):
    """Title rows above a sector's header, and who signs below the data."""

    authority: tuple[str, ...]
    heading: tuple[str, ...]
    signers: tuple[str, ...]


class HeaderVariants(StrictModel):
    """``header_variants.yaml``: headers per field as people type them, common and per sector."""

    common: Variants
    students: Variants = Field(default_factory=dict)
    vaccinations: Variants = Field(default_factory=dict)
    insurance: Variants = Field(default_factory=dict)
    titles: dict[Literal["students", "vaccinations", "insurance"], Titles]


@cache
def header_variants() -> dict[str, Any]:
    return load_config(VARIANTS_FILE, HeaderVariants).model_dump()


def _variants(sector: str, fld: str) -> list[Any]:
    v = header_variants()
    return v.get(sector, {}).get(fld) or v["common"][fld]


@dataclass
class Sheet:
    """One sheet (or the whole CSV): headers and column values, plus decoration."""

    name: str
    headers: list[str]
    columns: list[list[Any]]
    truth: pl.DataFrame  # person_id, noise, n_errors for each data row, in order
    titles: list[str] = field(default_factory=list)
    right_titles: list[str] = field(default_factory=list)
    numbering_row: bool = False
    blank_after: set[int] = field(default_factory=set)  # data-row indexes followed by a blank row
    trailer: list[list[Any]] = field(default_factory=list)


def _pick(rng: np.random.Generator, items: list[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def _province_title(prov_name: str, unit_type: str) -> str:
    kind = "THÀNH PHỐ" if unit_type.startswith("thành phố") else "TỈNH"
    return f"{kind} {prov_name.upper()}"


def _gender_columns(sector: str, gender: pl.Series, rng: np.random.Generator) -> list[tuple[str, list[Any]]]:
    if sector == "insurance":
        return [(_pick(rng, _variants(sector, "gender")), gender.to_list())]
    mode = rng.choice(3, p=[0.7, 0.15, 0.15])
    if mode == 0:
        return [(_pick(rng, _variants(sector, "gender")), gender.to_list())]
    female = (gender == "Nữ").to_list()
    if mode == 1:
        return [(_pick(rng, _variants(sector, "gender_female_x")), ["x" if f else None for f in female])]
    male_h, female_h = _pick(rng, _variants(sector, "gender_male_female_x"))
    return [
        (male_h, [None if f else "x" for f in female]),
        (female_h, ["x" if f else None for f in female]),
    ]


def _typed_ids(ids: pl.Series, lost_zero: pl.Series) -> list[Any]:
    """ID text, except numeric cells where the leading zero was lost (what Excel stores)."""
    out = ids.to_list()
    for i in np.flatnonzero(lost_zero.to_numpy()):
        out[i] = int(out[i])
    return out


def _typed_dates(text: pl.Series, serial: pl.Series, real_dates: bool) -> list[Any]:
    """Date text; Excel serials as numbers; in ``real_dates`` files clean dd/mm/yyyy as date cells."""
    out = text.to_list()
    for i in np.flatnonzero(serial.to_numpy()):
        out[i] = int(out[i])
    if real_dates:
        clean = text.str.contains(r"^\d{2}/\d{2}/\d{4}$").fill_null(False) & ~serial
        parsed = text.str.to_date("%d/%m/%Y", strict=False).to_list()
        for i in np.flatnonzero(clean.to_numpy()):
            if parsed[i] is not None:
                out[i] = parsed[i]
    return out


def _build_sheet(
    sector: str,
    df: pl.DataFrame,
    truth: pl.DataFrame,
    rng: np.random.Generator,
    name: str,
    titles: list[str],
    right_titles: list[str],
    real_dates: bool,
    numeric_id_column: bool = False,
) -> Sheet:
    # some workbooks format the whole ID column as Number: every 0-led ID loses its zero, and the
    # truth of those rows says so
    numeric_ids = pl.Series([False] * df.height)
    if numeric_id_column:
        numeric_ids = df["national_id"].str.contains(r"^0\d+$").fill_null(False)
        truth = truth.with_columns(
            noise=pl.when(pl.Series(numeric_ids) & ~pl.col("noise").list.contains("id_lost_leading_zero"))
            .then(
                pl.concat_list(
                    pl.col("noise").list.set_difference(pl.lit(["clean"], pl.List(pl.Utf8))),
                    pl.lit(["id_lost_leading_zero"], pl.List(pl.Utf8)),
                )
            )
            .otherwise(pl.col("noise")),
            # a counted profile counts the lost zero as one more error
            n_errors=pl.when(pl.Series(numeric_ids) & ~pl.col("noise").list.contains("id_lost_leading_zero"))
            .then(pl.col("n_errors") + 1)
            .otherwise(pl.col("n_errors")),
        )
    noise = truth["noise"]
    cols: list[tuple[str, list[Any]]] = [(_pick(rng, _variants(sector, "stt")), list(range(1, df.height + 1)))]
    if sector == "students" and rng.random() < 0.7:
        cols.append((_pick(rng, _variants(sector, "student_code")), df["student_code"].to_list()))
    cols.append((_pick(rng, _variants(sector, "full_name")), df["full_name"].to_list()))
    cols.append(
        (
            _pick(rng, _variants(sector, "date_of_birth")),
            _typed_dates(df["date_of_birth"], noise.list.contains("excel_serial"), real_dates),
        )
    )
    cols.extend(_gender_columns(sector, df["gender"], rng))
    cols.append(
        (
            _pick(rng, _variants(sector, "national_id")),
            _typed_ids(df["national_id"], noise.list.contains("id_lost_leading_zero") | numeric_ids),
        )
    )
    if df["old_id"].drop_nulls().len() and sector == "insurance":
        cols.append((_pick(rng, _variants(sector, "old_id")), df["old_id"].to_list()))
    if sector == "students":
        if rng.random() < 0.4:
            cols.append((_pick(rng, _variants(sector, "school")), df["school"].to_list()))
        cols.append((_pick(rng, _variants(sector, "class")), df["class"].to_list()))
        cols.append((_pick(rng, _variants(sector, "guardian_name")), df["guardian_name"].to_list()))
        cols.append((_pick(rng, _variants(sector, "guardian_phone")), df["guardian_phone"].to_list()))
    elif sector == "vaccinations":
        cols.append((_pick(rng, _variants(sector, "phone")), df["phone"].to_list()))
        cols.append((_pick(rng, _variants(sector, "vaccine")), df["vaccine"].to_list()))
        cols.append((_pick(rng, _variants(sector, "dose")), df["dose"].to_list()))
        when = df["vaccination_date"]
        cols.append(
            (
                _pick(rng, _variants(sector, "vaccination_date")),
                _typed_dates(when, pl.Series([False] * df.height), real_dates),
            )
        )
    else:
        cols.append((_pick(rng, _variants(sector, "insurance_code")), df["insurance_code"].to_list()))
        cols.append((_pick(rng, _variants(sector, "card_type")), df["card_type"].to_list()))
        if rng.random() < 0.5:
            cols.append((_pick(rng, _variants(sector, "phone")), df["phone"].to_list()))
    n = df.height
    blank_after = {int(i) for i in np.flatnonzero(rng.random(n) < 0.01) if i < n - 1}
    return Sheet(
        name=name,
        headers=[h for h, _ in cols],
        columns=[v for _, v in cols],
        truth=truth.select("person_id", "noise", "n_errors"),
        titles=titles,
        right_titles=right_titles,
        numbering_row=bool(rng.random() < 0.12),
        blank_after=blank_after,
    )


def _trailer(sector: str, n: int, rng: np.random.Generator, width: int) -> list[list[Any]]:
    signers = header_variants()["titles"][sector]["signers"]
    noun = {"students": "học sinh", "vaccinations": "đối tượng", "insurance": "người"}[sector]
    day = int(rng.integers(1, 29))
    rows: list[list[Any]] = [[], [f"Tổng cộng: {n} {noun}"], []]
    right = max(width - 2, 2)
    date_row: list[Any] = [None] * right + [f"…, ngày {day} tháng 10 năm 2025"]
    sign_row: list[Any] = [None, signers[0]] + [None] * (right - 2) + [signers[1]]
    note_row: list[Any] = [None, "(Ký, ghi rõ họ tên)"] + [None] * (right - 2) + ["(Ký tên, đóng dấu)"]
    return [*rows, date_row, sign_row, note_row]


def _data_rows(sheet: Sheet, first_excel_row: int) -> tuple[list[list[Any] | None], list[int]]:
    """Rows to write from ``first_excel_row`` on (None = blank row) and each data row's excel_row."""
    out: list[list[Any] | None] = []
    excel_rows: list[int] = []
    r = first_excel_row
    for i, row in enumerate(zip(*sheet.columns, strict=True)):
        out.append(list(row))
        excel_rows.append(r)
        r += 1
        if i in sheet.blank_after:
            out.append(None)
            r += 1
    return out, excel_rows


def _write_xlsx(path: Path, sheets: list[Sheet]) -> list[list[int]]:
    wb = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,  # rows are written in order; lower memory and CPU than shared strings
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "default_date_format": "dd/mm/yyyy",
        },
    )
    wb.set_properties({"created": FIXED_CREATED, "author": "doisoat synth"})
    bold = wb.add_format({"bold": True, "align": "center", "valign": "vcenter", "text_wrap": True, "border": 1})
    title_fmt = wb.add_format({"bold": True, "align": "center"})
    cell = wb.add_format({"border": 1})
    date_cell = wb.add_format({"border": 1, "num_format": "dd/mm/yyyy"})
    all_rows: list[list[int]] = []
    for sheet in sheets:
        ws = wb.add_worksheet(sheet.name)
        width = len(sheet.headers)
        r = 0
        for i, title in enumerate(sheet.titles):
            if title:
                if i == len(sheet.titles) - 2 or width < 4:  # the heading line spans the table
                    ws.merge_range(r, 0, r, width - 1, title, title_fmt)
                else:
                    ws.write_string(r, 0, title, title_fmt)
                    if i < len(sheet.right_titles) and sheet.right_titles[i]:
                        ws.merge_range(r, width - 3, r, width - 1, sheet.right_titles[i], title_fmt)
            r += 1
        ws.write_row(r, 0, sheet.headers, bold)
        r += 1
        if sheet.numbering_row:
            ws.write_row(r, 0, [f"({k})" for k in range(1, width + 1)], bold)
            r += 1
        rows, excel_rows = _data_rows(sheet, r + 1)
        for row in rows:
            if row is not None:
                for c, v in enumerate(row):
                    ws.write(r, c, v, date_cell if isinstance(v, dt.date) else cell)
            r += 1
        for row in sheet.trailer:
            if row:
                ws.write_row(r, 0, row)
            r += 1
        ws.set_column(0, 0, 5)
        ws.set_column(1, width - 1, 18)
        all_rows.append(excel_rows)
    wb.close()
    return all_rows


def _csv_cell(v: Any, sep: str) -> str:
    if v is None:
        return ""
    s = v.strftime("%d/%m/%Y") if isinstance(v, dt.date) else str(v)
    if sep in s or '"' in s or "\n" in s:
        return '"' + s.replace('"', '""') + '"'
    return s


def _write_csv(path: Path, sheet: Sheet, sep: str, bom: bool, newline: str) -> list[int]:
    width = len(sheet.headers)
    lines: list[str] = []
    for title in sheet.titles:
        lines.append(_csv_cell(title, sep) + sep * (width - 1) if title else sep * (width - 1))
    lines.append(sep.join(_csv_cell(h, sep) for h in sheet.headers))
    rows, excel_rows = _data_rows(sheet, len(lines) + 1)
    for row in rows:
        lines.append(sep * (width - 1) if row is None else sep.join(_csv_cell(v, sep) for v in row))
    for row in sheet.trailer:
        lines.append(sep.join(_csv_cell(v, sep) for v in row) if row else "")
    path.write_text(("\ufeff" if bom else "") + newline.join(lines) + newline, encoding="utf-8", newline="")
    return excel_rows


_FILE_STEMS: dict[str, list[str]] = {
    "students": ["danh_sach_hoc_sinh_2025_2026", "ds_hoc_sinh", "DS_HS_nam_hoc_2025-2026", "hoc_sinh_dau_nam"],
    "vaccinations": ["tiem_chung_thang_10_2025", "danh_sach_tiem_chung", "DS_tiem_chung", "bao_cao_tiem"],
    "insurance": ["danh_sach_tham_gia_bhyt", "ds_cap_the_bhyt", "DS_BHXH_BHYT", "danh_sach_dong_bhyt"],
}


def _unit_files(
    sector: str,
    unit: str,
    recs: pl.DataFrame,
    truth: pl.DataFrame,
    rng: np.random.Generator,
    prov_title: str,
    unit_name: str,
) -> list[tuple[str, str, list[Sheet], dict[str, Any]]]:
    """Split one unit's rows into files: (file name, format, sheets, csv options)."""
    n = recs.height
    parts = 1 if n < 60 else int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
    bounds = np.linspace(0, n, parts + 1).astype(int)
    base_stem = _pick(rng, _FILE_STEMS[sector])
    t = header_variants()["titles"][sector]
    files = []
    for k in range(parts):
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        part, ptruth = recs.slice(lo, hi - lo), truth.slice(lo, hi - lo)
        fmt = "csv" if rng.random() < 0.3 else "xlsx"
        stem = base_stem + (f"_dot_{k + 1}" if parts > 1 else "")
        real_dates = fmt == "xlsx" and rng.random() < 0.3
        numeric_id_column = fmt == "xlsx" and rng.random() < NUMERIC_ID_COLUMN_SHARE
        if fmt == "xlsx" and rng.random() > 0.15:
            titles = [a.format(province_title=prov_title) for a in t["authority"]]
            titles += [unit_name.upper(), "", _pick(rng, t["heading"]), ""]
            right = ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"] if rng.random() < 0.5 else []
        elif fmt == "csv" and rng.random() < 0.2:
            titles, right = [_pick(rng, t["heading"]), ""], []
        else:
            titles, right = [], []
        groups: list[tuple[str, pl.DataFrame, pl.DataFrame]]
        by_class = sector == "students" and fmt == "xlsx" and rng.random() < 0.25
        if by_class and part["class"].n_unique() <= 30:
            groups = []
            for cls in part["class"].unique(maintain_order=True).to_list():
                mask = part["class"] == cls
                groups.append((cls.replace("/", "-"), part.filter(mask), ptruth.filter(mask)))
        else:
            groups = [(_pick(rng, ["Sheet1", "DS", "Danh sách", "Trang tính1", "Data"]), part, ptruth)]
        sheets = []
        for sheet_name, g, gt in groups:
            sh = _build_sheet(sector, g, gt, rng, sheet_name, titles, right, real_dates, numeric_id_column)
            if fmt == "xlsx" or rng.random() < 0.2:
                sh.trailer = _trailer(sector, g.height, rng, len(sh.headers))
            if fmt == "csv":
                sh.numbering_row = False
            sheets.append(sh)
        opts = {"sep": _pick(rng, [",", ";"]), "bom": bool(rng.random() < 0.5), "newline": _pick(rng, ["\r\n", "\n"])}
        files.append((f"{unit}__{stem}.{fmt}", fmt, sheets, opts))
    return files


def write_province(
    out_dir: str | Path,
    province: str,
    size: int,
    seed: int,
    rows_per_sector: dict[str, int] | None = None,
    units_per_sector: dict[str, int] | None = None,
    profile: str = "default",
) -> dict[str, Any]:
    """Write register, upload files and truth under ``out_dir`` (contracts §2); return the manifest.

    ``rows_per_sector`` defaults to 10 % / 6 % / 5 % of ``size`` for students / vaccinations /
    insurance; give only some sectors to write only those (e.g. ``{"students": 60_000}``).
    ``profile`` is the noise profile (``default`` or ``harsh``, see ``rules.synth.sector.PROFILES``).
    """
    out = Path(out_dir)
    where = DataLayout(out)  # laid out like data/ (rules.layout)
    prov = resolve_province(province)
    rows = rows_per_sector or {s: max(50, round(size * DEFAULT_ROWS_SHARE[s])) for s in SECTORS}
    units_per_sector = units_per_sector or {}
    register = generate_register(prov.slug, size, seed)
    reg_path = where.population_file(prov.slug)
    private_file(reg_path)  # a population register: owner-only (0600 in a 0700 folder)
    register.write_parquet(reg_path)
    prov_title = _province_title(prov.name, prov.unit_type)
    manifest: dict[str, Any] = {
        "province": prov.slug,
        "province_name": prov.name,
        "size": size,
        "seed": seed,
        "reference_date": REFERENCE_DATE.isoformat(),
        "register": {"path": str(reg_path.relative_to(out)), "rows": register.height},
        "profile": profile,
        "noise_rates": noise_rates() if profile == "default" else None,
        "harsh_profile": harsh_summary() if profile == "harsh" else None,
        "sectors": {},
    }
    for sector, n_rows in rows.items():
        check_sector(sector)
        n_units = units_per_sector.get(sector) or max(3, min(40, n_rows // 250))
        records, truth, names = sector_records_with_units(
            register, sector, n_rows, seed, n_units=n_units, profile=profile
        )
        inbox = where.inbox(prov.slug, sector)
        truth_dir = where.truth(prov.slug, sector)
        private_dir(inbox)  # uploads and truth hold (synthetic) personal data: owner-only folders
        private_dir(truth_dir)
        rng = np.random.default_rng([seed, 3, SECTORS.index(sector)])
        files_meta = []
        for unit in records["unit"].unique(maintain_order=True).to_list():
            mask = records["unit"] == unit
            for fname, fmt, sheets, opts in _unit_files(
                sector, unit, records.filter(mask), truth.filter(mask), rng, prov_title, names[unit]
            ):
                path = inbox / fname
                if fmt == "xlsx":
                    excel_rows = _write_xlsx(path, sheets)
                else:
                    excel_rows = [_write_csv(path, sheets[0], opts["sep"], opts["bom"], opts["newline"])]
                frames = [
                    sh.truth.with_columns(
                        file=pl.lit(fname),
                        sheet=pl.lit(sh.name if fmt == "xlsx" else ""),
                        row_number=pl.int_range(1, sh.truth.height + 1, dtype=pl.Int64),
                        excel_row=pl.Series(er, dtype=pl.Int64),
                    )
                    for sh, er in zip(sheets, excel_rows, strict=True)
                ]
                file_truth = pl.concat(frames).select(
                    "file", "sheet", "row_number", "excel_row", "person_id", "noise", "n_errors"
                )
                truth_path = where.truth_file(prov.slug, sector, fname)
                file_truth.write_parquet(truth_path)
                files_meta.append(
                    {
                        "file": str(path.relative_to(out)),
                        "unit": unit,
                        "format": fmt,
                        "sheets": [sh.name for sh in sheets] if fmt == "xlsx" else [""],
                        "data_rows": file_truth.height,
                        "truth": str(truth_path.relative_to(out)),
                        **({"delimiter": opts["sep"], "bom": opts["bom"]} if fmt == "csv" else {}),
                    }
                )
        written = pl.concat([pl.read_parquet(out / f["truth"], columns=["noise"]) for f in files_meta])
        counts = written["noise"].explode().value_counts().sort("noise")
        manifest["sectors"][sector] = {
            "rows": records.height,
            "units": records["unit"].n_unique(),
            "files": files_meta,
            "noise_counts": dict(zip(counts["noise"].to_list(), counts["count"].to_list(), strict=True)),
        }
    manifest["files"] = [{"sector": sec, **f} for sec, v in manifest["sectors"].items() for f in v["files"]]
    where.manifest().write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    for folder in (where.inbox_root(), where.truth_root()):  # uploads and truth: personal data, owner-only
        tighten_tree(folder / prov.slug)
    return manifest
