"""The whole report page, and writing it: ``render_report`` from an open warehouse, ``write_report`` to a file.

Why this shape: the report is e-mailed by provincial teams and opened on office machines that may be
offline or behind strict proxies, so it is ONE self-contained HTML file (inline CSS and SVG, no
JavaScript, nothing fetched). It starts with a summary, then the national quota, then one section per
province. By default only the provinces this installation processed are shown (the others appear in
the national allocation and forecast only as counts); ``all_provinces`` adds a section for each of them.

    from rules.report import write_report
    write_report(Path("data/warehouse/doisoat.duckdb"), Path("data/reports/doisoat.html"))
    write_report(warehouse, Path("/tmp/hcm.html"), provinces=["ho_chi_minh"])   # one province, to e-mail
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from rules.errors import UserError
from rules.report.markup import document, empty
from rules.report.national import intro, quota_section, review_learning_section, summary_section
from rules.report.province import province_section
from rules.report.warehouse import Warehouse, open_warehouse


class ProvinceNotInWarehouse(UserError, ValueError):
    """A province asked for has no data in the analyst file."""


def choose_provinces(db: Warehouse, only: Sequence[str] | None, all_provinces: bool) -> tuple[list[str], list[str]]:
    """``(reported, others)``: the provinces given a section, and those present only as national counts.

    ``only`` (slugs) wins: each must be present in the file, else :class:`ProvinceNotInWarehouse`.
    """
    present = db.provinces()
    own = db.provinces_with_data()
    if only is not None:
        absent = sorted(set(only) - set(present))
        if absent:
            raise ProvinceNotInWarehouse(f"no data for province(s) {', '.join(absent)} in the warehouse; "
                                         f"present: {', '.join(own or present) or 'none'}")
        return [p for p in present if p in set(only)], []
    if all_provinces:
        return present, []
    return own, [p for p in present if p not in set(own)]


def render_report(db: Warehouse, source_name: str = "doisoat.duckdb", only: Sequence[str] | None = None,
                  all_provinces: bool = False) -> str:
    """The whole HTML document as a string from an open warehouse."""
    provinces, others = choose_provinces(db, only, all_provinces)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [intro(generated, source_name), summary_section(db, provinces, others), quota_section(db),
            *(province_section(db, p) for p in provinces), review_learning_section(db)]
    if not provinces:
        body.append(empty("Kho dữ liệu chưa có tỉnh nào", "No province in the warehouse yet"))
    return document("doisoat — báo cáo / report", body)


def write_report(warehouse: Path, out: Path, provinces: Sequence[str] | None = None,
                 all_provinces: bool = False) -> Path:
    """Render the report from the analyst file ``warehouse`` and write it (atomically, owner-only) to ``out``.

    Returns ``out``. Raises :class:`~rules.report.warehouse.WarehouseMissing` when the file has not been
    built and :class:`ProvinceNotInWarehouse` for a province with no data in it; nothing is written then.
    """
    with open_warehouse(warehouse) as db:
        page = render_report(db, source_name=Path(warehouse).name, only=provinces, all_provinces=all_provinces)
    from rules.private import write_private_bytes

    return write_private_bytes(Path(out), page.encode("utf-8"))  # per-unit figures: operators only
