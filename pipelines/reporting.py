"""``doisoat report``: the thin command wrapper over :mod:`rules.report` (which does all the work).

The only thing decided here is WHERE: :func:`report_paths` is the one place that builds the report's
paths from the data folder (the analyst file it reads, the page it writes by default).

    from pipelines.reporting import write_report
    path = write_report()                       # data/reports/doisoat.html from data/warehouse/doisoat.duckdb
    write_report(Path("/tmp/hcm.html"), provinces=["ho_chi_minh"])   # one province, to e-mail
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from pipelines.environment import layout


class ReportPaths(NamedTuple):
    warehouse: Path  # the analyst DuckDB file `doisoat publish` writes
    report: Path  # the default output page


def report_paths() -> ReportPaths:
    """The report's paths under the data folder (``DOISOAT_DATA``, default ``data/``)."""
    where = layout()
    return ReportPaths(warehouse=where.warehouse(), report=where.report_html())


def write_report(out: Path | None = None, *, warehouse: Path | None = None,
                 provinces: Sequence[str] | None = None, all_provinces: bool = False) -> Path:
    """Render the report and write it to ``out`` (default :func:`report_paths`); return the path.

    By default the provinces this installation processed; ``provinces`` (slugs) limits it, e.g. to the
    one a team e-mails; ``all_provinces`` adds every province of the national counts. Raises
    ``rules.report.WarehouseMissing`` / ``ProvinceNotInWarehouse`` (user errors) naming what to do.
    """
    from rules.report import write_report as render_and_write

    paths = report_paths()
    return render_and_write(warehouse or paths.warehouse, Path(out) if out is not None else paths.report,
                            provinces=provinces, all_provinces=all_provinces)
