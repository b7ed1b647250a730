"""Data gathering: a read-only view of the analyst DuckDB file, the only source the report reads.

The analyst file holds aggregates and masked decisions, never the lake or the register, so the report
cannot leak names, IDs or birth dates; the row-level table ``match_decisions`` is deliberately not read
either. The view tolerates a file built before a table or column existed (its section is left out).

    with open_warehouse(Path("data/warehouse/doisoat.duckdb")) as db:
        db.provinces_with_data()        # ['ho_chi_minh']
        db.forecast_series("ho_chi_minh")
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from rules.errors import UserError

Row = tuple[object, ...]

# Tables whose rows come from the provinces THIS installation processes (uploads and what follows).
# ``forecast`` and ``daily_allocation`` also hold the other provinces' simulated or external counts,
# so a province found only there has no data of its own to report.
OWN_DATA = (("uploads", "province"), ("match_outcomes", "province"), ("data_quality", "province"),
            ("verification_backlog", "province"))
ANY_DATA = (*OWN_DATA, ("forecast", "province"), ("daily_allocation", "split_part(unit_key, '/', 1)"))


class WarehouseMissing(UserError, FileNotFoundError):
    """The analyst file has not been built yet (run ``doisoat demo`` or ``doisoat publish``)."""


@dataclass(frozen=True)
class BurnDown:
    """The forecast's burn-down of one province: end-of-day dates, the province total and its units.

    ``units`` maps a unit key (``province/sector/unit``) to its remaining requests, aligned with
    ``dates``; largest starting backlog first.
    """

    dates: list[date]
    total: list[int]
    units: dict[str, list[int]]


class Warehouse:
    """Thin read-only view of the analyst file."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}

    def has(self, *tables: str) -> bool:
        return all(t in self.tables for t in tables)

    def has_column(self, table: str, column: str) -> bool:
        return self.has(table) and bool(self.con.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
            [table, column]).fetchall())

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self.con.execute(sql, list(params)).fetchall()

    def _provinces(self, sources: Sequence[tuple[str, str]]) -> list[str]:
        parts = [f"SELECT {col} AS p FROM {t}" for t, col in sources if self.has(t)]
        if not parts:
            return []
        union = " UNION ALL ".join(parts)
        return [r[0] for r in self.rows(
            f"SELECT DISTINCT p FROM ({union}) WHERE p IS NOT NULL AND p <> '' ORDER BY p")]

    def provinces(self) -> list[str]:
        """Every province that appears anywhere in the file (own data or national counts), sorted."""
        return self._provinces(ANY_DATA)

    def provinces_with_data(self) -> list[str]:
        """The provinces this installation processed (uploads, matches, …), sorted."""
        return self._provinces(OWN_DATA)

    def forecast_series(self, province: str, units: int) -> BurnDown | None:
        """The forecast's own burn-down of ``province`` and of its ``units`` largest units, or None
        when the file has no per-province series (a file built before they were kept)."""
        if not self.has_column("forecast_daily", "level"):
            return None
        total = self.rows("SELECT date, remaining FROM forecast_daily WHERE level = 'province' AND series = ? "
                          "ORDER BY date", [province])
        if not total:
            return None
        dates = [r[0] for r in total]
        keys = [r[0] for r in self.rows("""
            SELECT series FROM forecast_daily WHERE level = 'unit' AND split_part(series, '/', 1) = ?
            GROUP BY series ORDER BY arg_min(remaining, date) DESC, series LIMIT ?""", [province, units])]
        series: dict[str, list[int]] = {k: [0] * len(dates) for k in keys}
        index = {d: i for i, d in enumerate(dates)}
        if keys:
            for key, day, remaining in self.rows(
                    "SELECT series, date, remaining FROM forecast_daily WHERE level = 'unit' "
                    "AND list_contains(?, series)", [keys]):
                if day in index:
                    series[key][index[day]] = int(remaining)
        return BurnDown(dates, [int(r[1]) for r in total], series)


@contextlib.contextmanager
def open_warehouse(path: Path) -> Iterator[Warehouse]:
    """Open the analyst file at ``path`` read-only (the file is never changed, no temp file is left).

    Raises :class:`WarehouseMissing` (a ``FileNotFoundError``) naming what to run when it is absent.
    """
    if not Path(path).exists():
        raise WarehouseMissing(
            f"analyst warehouse not found at {path}; run `doisoat demo` or `doisoat publish` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        yield Warehouse(con)
    finally:
        con.close()
