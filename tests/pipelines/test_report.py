"""``doisoat report``: the HTML built from a small hand-made warehouse (two provinces, every table)."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import ClassVar

import polars as pl
import pytest

from assets.warehouse import SOURCE_SCHEMAS, WarehouseSources, build_warehouse
from pipelines.reporting import write_report
from rules.report.markup import fmt
from rules.validate import reasons

HCM_A, HCM_B, HN_C, HN_D = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
DAY = "2026-11-23"
PERSON_ID = "079123456789"  # must never reach the report, not even masked (row-level data is not read)


def _frame(name: str, rows: list[dict]) -> pl.DataFrame:
    schema = SOURCE_SCHEMAS[name]
    return pl.DataFrame([{c: r.get(c) for c in schema} for r in rows], schema=schema)


def _sources() -> dict[str, pl.DataFrame]:
    hcm_s = {"province": "ho_chi_minh", "sector": "students", "unit": "thpt_le_quy_don"}
    hcm_v = {"province": "ho_chi_minh", "sector": "vaccinations", "unit": "tyt_quan_1"}
    hn_s = {"province": "ha_noi", "sector": "students", "unit": "thcs_<b>&co"}
    when = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    uploads = [
        {**hcm_s, "file_name": "thpt_le_quy_don__k10.xlsx", "file_sha256": HCM_A, "status": "current",
         "uploaded_at": when, "rows_read": 7, "blank_rows_skipped": 1},
        {**hcm_v, "file_name": "tyt_quan_1__dot1.csv", "file_sha256": HCM_B, "status": "current",
         "uploaded_at": when, "rows_read": 3, "blank_rows_skipped": 0},
        {**hn_s, "file_name": "ds<script>.xlsx", "file_sha256": HN_C, "status": "current",
         "uploaded_at": when, "rows_read": 2, "blank_rows_skipped": 0},
        {**hn_s, "file_name": "hong.xlsx", "file_sha256": HN_D, "status": "failed", "uploaded_at": when,
         "rows_read": 0, "blank_rows_skipped": 0, "error_code": "encrypted_file"},
    ]
    clean = (
        [{**hcm_s, "file_sha256": HCM_A, "id_kind": "cccd", "id_flags": [], "dob_flags": [],
          "dob_precision": "day", "name_flags": []}] * 3
        + [{**hcm_s, "file_sha256": HCM_A, "id_kind": "missing", "id_flags": [],
            "dob_flags": ["excel_serial"], "dob_precision": "year", "name_flags": ["mojibake_repaired"]}]
        + [{**hcm_s, "file_sha256": HCM_A, "id_kind": "cccd", "id_flags": ["province_code_unknown"],
            "dob_flags": [], "dob_precision": "day", "name_flags": []}]
        + [{**hcm_v, "file_sha256": HCM_B, "id_kind": "cmnd9", "id_flags": ["leading_zero_restored"],
            "dob_flags": [], "dob_precision": "day", "name_flags": []}] * 3
        + [{**hn_s, "file_sha256": HN_C, "id_kind": "cccd", "id_flags": [], "dob_flags": [],
            "dob_precision": "day", "name_flags": []}]
    )
    text = reasons("students")
    rejected = [  # as the validator writes them: joined codes and joined messages
        {**hcm_s, "file_name": "thpt_le_quy_don__k10.xlsx", "file_sha256": HCM_A,
         "reason_code": "missing_name;impossible_date",
         "message_vi": f"{text['missing_name'].vi} ; {text['impossible_date'].vi}",
         "message_en": f"{text['missing_name'].en} ; {text['impossible_date'].en}"},
        {**hcm_s, "file_name": "thpt_le_quy_don__k10.xlsx", "file_sha256": HCM_A,
         "reason_code": "impossible_date", "message_vi": text["impossible_date"].vi,
         "message_en": text["impossible_date"].en},
        {**hn_s, "file_name": "ds<script>.xlsx", "file_sha256": HN_C, "reason_code": "id_wrong_length",
         "message_vi": text["id_wrong_length"].vi, "message_en": text["id_wrong_length"].en},
        {**hn_s, "file_name": "ds<script>.xlsx", "file_sha256": HN_C,
         "reason_code": "custom_rule;id_not_digits",
         "message_vi": f"Quy tắc riêng ; {text['id_not_digits'].vi}",
         "message_en": f"Custom rule ; {text['id_not_digits'].en}"},
        {**hn_s, "file_name": "ds<script>.xlsx", "file_sha256": HN_C, "reason_code": "custom_rule",
         "message_vi": "Quy tắc riêng", "message_en": "Custom rule"},
    ]
    statuses = ["matched", "matched", "ambiguous", "unmatched", "matched", "rejected", "rejected"]
    matches = [
        {**hcm_s, "file_sha256": HCM_A, "row_number": i + 1, "status": s, "score": 0.9,
         "person_id": PERSON_ID if s == "matched" else None, "reason": "name=exact",
         "flags": ["id_corrected"] if i == 0 else [], "dob_year": 2010, "gender_norm": "Nam"}
        for i, s in enumerate(statuses)
    ] + [
        {**hcm_v, "file_sha256": HCM_B, "row_number": i + 1, "status": "matched", "score": 1.0,
         "person_id": PERSON_ID, "flags": ["id_belongs_to_other_person"] if i == 2 else []} for i in range(3)
    ] + [{**hn_s, "file_sha256": HN_C, "row_number": 1, "status": "unmatched", "score": 0.2, "flags": []}]
    review = [{**hcm_s, "row_number": 3}, {**hcm_s, "row_number": 3}]
    requests = (
        [{**hcm_s, "state": "pending"}] * 4 + [{**hcm_s, "state": "sent"}]
        + [{**hcm_v, "state": "verified", "status": "verified"}] * 2
        + [{**hcm_v, "state": "mismatch", "status": "mismatch", "differing_fields": "full_name"}]
    )
    allocation = [
        {"day": DAY, "unit_key": "ho_chi_minh/students/thpt_le_quy_don", "backlog": 56_000, "floor": 100,
         "allocated": 40_000},
        {"day": DAY, "unit_key": "ho_chi_minh/vaccinations/tyt_quan_1", "backlog": 12_000, "floor": 100,
         "allocated": 10_000},
        {"day": DAY, "unit_key": "ha_noi/students/thcs_<b>&co", "backlog": 900, "floor": 100,
         "allocated": 900},
    ]
    budgets = [{"day": DAY, "quota": 200_000, "allocated": 50_900, "stop_cause": "service_unavailable",
                "unused": 900}]  # unused: allocated but not answered
    forecast = [_forecast_row(*r) for r in (
        ("ho_chi_minh/students/thpt_le_quy_don", 16_000, date(2026, 11, 25), 2),
        ("ho_chi_minh/vaccinations/tyt_quan_1", 2_000, None, None),
        ("ha_noi/students/thcs_<b>&co", 0, date(2026, 11, 23), 0),
    )]
    days = [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)]
    daily = [{"date": d, "level": level, "series": series, "remaining": n}
             for level, series, values in FORECAST_SERIES for d, n in zip(days, values, strict=True)]
    rows = {"uploads": uploads, "clean": clean, "rejected": rejected, "matches": matches, "review": review,
            "requests": requests, "allocation": allocation, "budgets": budgets, "forecast": forecast,
            "forecast_daily": daily}
    return {name: _frame(name, r) for name, r in rows.items()}


# the forecast's own end-of-day series (rules.quota.forecast): the report draws these, never a made-up line
FORECAST_SERIES = (
    ("national", "national", (18_000, 9_500, 2_000)),
    ("province", "ho_chi_minh", (18_000, 9_500, 2_000)),
    ("province", "ha_noi", (0, 0, 0)),
    ("unit", "ho_chi_minh/students/thpt_le_quy_don", (16_000, 7_500, 0)),
    ("unit", "ho_chi_minh/vaccinations/tyt_quan_1", (2_000, 2_000, 2_000)),
)


def _forecast_row(unit: str, backlog: int, clearance: date | None, days: int | None) -> dict:
    return {"unit": unit, "backlog": backlog, "clearance_day": clearance, "days_to_clear": days}


class _StrictParser(HTMLParser):
    """Fails on any unbalanced element, so 'it parses' means the structure is sound, not just tolerated."""

    VOID: ClassVar[set[str]] = {"meta", "br", "hr", "img", "input", "link"}  # SVG shapes must self-close

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID and (not self.stack or self.stack[-1] != tag):
            return
        open_tag = self.stack[-1] if self.stack else None
        assert open_tag == tag, f"</{tag}> closes <{open_tag}>"
        self.stack.pop()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wh") / "doisoat.duckdb"
    build_warehouse(WarehouseSources(_sources()), path)
    return path


@pytest.fixture(scope="module")
def page(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = write_report(tmp_path_factory.mktemp("out") / "report.html", warehouse=warehouse)
    return out.read_text(encoding="utf-8")


def _section(page: str, slug: str) -> str:
    start = page.index(f'id="p-{slug}"')
    return page[start:page.index("</section>", start)]


def test_report_is_one_self_contained_document(page: str) -> None:
    parser = _StrictParser()
    parser.feed(page)
    parser.close()
    assert parser.stack == [], f"unclosed elements: {parser.stack}"
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page and "https://" not in page
    assert "//" not in re.sub(r"<style>.*?</style>", "", page)  # not even protocol-relative URLs
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    urls = [v for k, v in parser.attrs if k in {"href", "src", "xlink:href"}]
    assert urls and all(u and u.startswith("#") for u in urls)  # only in-page anchors
    assert parser.tags.count("svg") >= 6  # national quota + per-province uploads/matches/burn-down


def test_report_lists_every_province_in_order_with_its_name(page: str) -> None:
    assert page.index('id="p-ha_noi"') < page.index('id="p-ho_chi_minh"')
    assert "Hồ Chí Minh" in page and "Hà Nội" in page
    assert 'href="#p-ho_chi_minh"' in page and 'href="#p-ha_noi"' in page


def test_uploads_counts_per_province(page: str) -> None:
    hcm, hn = _section(page, "ho_chi_minh"), _section(page, "ha_noi")
    # students in HCMC: 1 file, 7 rows read, 5 accepted, 2 rejected, 0 failed files
    assert re.search(r"<td>students</td><td class=\"num\">1</td><td class=\"num\">7</td>"
                     r"<td class=\"num\">5</td><td class=\"num\">2</td><td class=\"num\">0</td>", hcm)
    assert "thpt_le_quy_don__k10.xlsx" in hcm and "thpt_le_quy_don__k10.xlsx" not in hn
    assert "encrypted_file" in hn  # the failed upload and its error code
    assert "ds_script.xlsx" in hn and "<script" not in page  # names from files are published as slugs
    assert "thcs_b_co" in hn and "<b>" not in page  # and so are units that are not safe slugs


def _row(*cells: object) -> str:
    return "".join(f'<td class="num">{fmt(c)}</td>' if isinstance(c, int)
                   else f"<td>{html.escape(str(c))}</td>" for c in cells)


def test_rejections_by_reason_with_each_reasons_own_message(page: str) -> None:
    text = reasons("students")
    hcm, hn = _section(page, "ho_chi_minh"), _section(page, "ha_noi")
    # impossible_date: 2 rows (one from the joined 'missing_name;impossible_date'), 1 unit; missing_name: 1
    date, name = text["impossible_date"], text["missing_name"]
    assert _row("impossible_date", date.vi, date.en, 2, 1) in hcm
    assert _row("missing_name", name.vi, name.en, 1, 1) in hcm
    assert " ; " not in hcm  # never a joined message under a single code
    assert _row("id_wrong_length", text["id_wrong_length"].vi, text["id_wrong_length"].en, 1, 1) in hn
    # a code unknown to reasons.yaml is still counted (its joined message is not shown under it)
    assert re.search(r'<td>custom_rule</td><td>(Quy tắc riêng)?</td><td>(Custom rule)?</td>'
                     r'<td class="num">2</td>', hn)
    assert " ; " not in hn


def test_data_quality_per_unit(page: str) -> None:
    hcm = _section(page, "ho_chi_minh")
    # thpt_le_quy_don: 5 accepted, 1 missing ID, 0 CMND, 0 leading zero, 1 structure warning, 1 not full,
    # 1 date flagged, 1 name repaired
    cells = "".join(f'<td class="num">{n}</td>' for n in (5, 1, 0, 0, 1, 1, 1, 1))
    assert f"<td>students</td><td>thpt_le_quy_don</td>{cells}" in hcm
    cells = "".join(f'<td class="num">{n}</td>' for n in (3, 0, 3, 3, 0, 0, 0, 0))
    assert f"<td>vaccinations</td><td>tyt_quan_1</td>{cells}" in hcm


def test_match_outcomes_flags_and_review_queue(page: str) -> None:
    hcm = _section(page, "ho_chi_minh")
    cells = "".join(f'<td class="num">{n}</td>' for n in (3, 1, 1, 2, 7))
    assert f"<td>students</td>{cells}" in hcm
    assert '<td>students</td><td>id_corrected</td><td class="num">1</td>' in hcm
    assert '<td>vaccinations</td><td>id_belongs_to_other_person</td><td class="num">1</td>' in hcm
    assert '<td>students</td><td>thpt_le_quy_don</td><td class="num">1</td><td class="num">2</td>' in hcm
    assert re.search(r'class="kpi">1 dòng chờ rà soát', hcm)
    assert re.search(r'class="kpi">0 dòng chờ rà soát', _section(page, "ha_noi"))


def test_verification_backlog_allocation_and_quota(page: str) -> None:
    hcm = _section(page, "ho_chi_minh")
    cells = "".join(f'<td class="num">{n}</td>' for n in (4, 1, 0, 0, 0, 5))
    assert f"<td>students</td><td>thpt_le_quy_don</td>{cells}" in hcm
    # the province's day: 2 units, backlog 68 000, floor 200, allocated 50 000 = 25.0% of 200 000
    cells = "".join(f'<td class="num">{fmt(n)}</td>' for n in (2, 68_000, 200, 50_000, 200_000))
    assert f"<td>{DAY}</td>{cells}<td>25.0%</td>" in hcm
    assert "0.45%" in _section(page, "ha_noi")  # 900 / 200 000: two decimals below 1%
    national = page[page.index('id="national"'):page.index('<section class="province">')]
    assert _row(DAY, 200_000, 50_900, 900, "service_unavailable", "25.4%") in national
    # the chart's three segments add up to the quota: answered, allocated without answer, not needed
    assert f"answered: {fmt(50_000)}<" in national and f"no answer: {fmt(900)}<" in national
    assert f"not needed: {fmt(149_100)}<" in national


def test_forecast_chart_and_units(page: str) -> None:
    hcm = _section(page, "ho_chi_minh")
    assert "Verification backlog burn-down" in hcm and "<polyline" in hcm
    assert "2026-11-25" in hcm and "not within horizon" in hcm
    assert "2026-11-23" in hcm  # the burn-down starts at the forecast's first day (the backlog now)
    # the lines are the forecast's own series, not an even rate (which would put 8 000 on the 24th)
    assert f"students/thpt_le_quy_don — 2026-11-24: {fmt(7_500)}<" in hcm
    assert f"vaccinations/tyt_quan_1 — 2026-11-25: {fmt(2_000)}<" in hcm
    assert 'data-chart="burn-down-ho_chi_minh"' in hcm and 'data-chart="burn-down-ho_chi_minh-units"' in hcm
    assert "burn-down-ha_noi" not in page  # nothing left to clear there: no chart, a table


def test_no_personal_data_even_masked(page: str) -> None:
    assert PERSON_ID not in page
    assert PERSON_ID[:3] + "*" not in page


def test_numbers_use_a_narrow_space_between_thousands() -> None:
    assert fmt(56_000) == "56\u202f000" and fmt(1_234_567) == "1\u202f234\u202f567" and fmt(None) == "–"


def test_report_reads_the_warehouse_without_changing_it(warehouse: Path, tmp_path: Path) -> None:
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    write_report(tmp_path / "again.html", warehouse=warehouse)
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before
    assert [p.name for p in tmp_path.iterdir()] == ["again.html"]  # no temp file left behind


def test_report_limited_to_one_province(warehouse: Path, tmp_path: Path) -> None:
    page = write_report(tmp_path / "hn.html", warehouse=warehouse, provinces=["ha_noi"]).read_text("utf-8")
    assert 'id="p-ha_noi"' in page and 'id="p-ho_chi_minh"' not in page and "thpt_le_quy_don" not in page
    assert 'id="national"' in page  # the national quota stays: it is shared by every province
    with pytest.raises(ValueError, match=r"da_nang.*present: ha_noi, ho_chi_minh"):
        write_report(tmp_path / "x.html", warehouse=warehouse, provinces=["da_nang"])
    assert not (tmp_path / "x.html").exists()
