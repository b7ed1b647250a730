"""The HTML report and the forecast page: Dagster-free, reading only the paths they are given.

    write_report(Path("data/warehouse/doisoat.duckdb"), Path("data/reports/doisoat.html"))
    write_forecast_page(forecast(...), Path("data/national/forecast.html"))

Modules: ``warehouse`` (data gathering, read-only), ``markup`` (HTML pieces), ``chart`` (the one SVG
chart module and palette), ``national`` / ``province`` / ``burn_down`` (sections), ``page`` (the report),
``forecast_page`` (``doisoat forecast --html``).
"""

from rules.report.forecast_page import forecast_page, write_forecast_page
from rules.report.page import ProvinceNotInWarehouse, render_report, write_report
from rules.report.warehouse import WarehouseMissing, open_warehouse

__all__ = ["ProvinceNotInWarehouse", "WarehouseMissing", "forecast_page", "open_warehouse", "render_report",
           "write_forecast_page", "write_report"]
