"""Resource classes the assets annotate. Instances are built in ``pipelines.definitions``."""

from __future__ import annotations

from pathlib import Path

import dagster as dg


class DataPaths(dg.ConfigurableResource):
    """Where every file of doisoat lives (DESIGN.md: ``data/`` holds files only).

    Absolute paths from one root, so sensors and code servers with another working directory
    (research/dagster.md pitfall 7) and tests with ``tmp_path`` all agree.
    """

    root: str
    # The quota policy and verification settings (default: rules/quota/quota.yaml beside the code).
    policy_file: str = ""

    @property
    def base(self) -> Path:
        return Path(self.root)

    def policy_path(self) -> Path:
        from rules.quota import DEFAULT_POLICY_PATH

        return Path(self.policy_file) if self.policy_file else DEFAULT_POLICY_PATH

    def inbox(self, province: str, sector: str) -> Path:
        return self.base / "inbox" / province / sector

    def population_dir(self) -> Path:
        return self.base / "population"

    def population_files(self, province: str) -> list[Path]:
        """The register files of a province: ``population/<province>.parquet`` or a folder of parts."""
        single = self.population_dir() / f"{province}.parquet"
        folder = self.population_dir() / province
        if single.exists():
            return [single]
        return sorted(folder.glob("*.parquet")) if folder.is_dir() else []

    def lake(self, asset: str, province: str, sector: str | None = None) -> Path:
        """``lake/<asset>/<province>/<sector>.parquet`` (or ``<province>.parquet`` for per-province assets)."""
        leaf = f"{sector}.parquet" if sector else f"{province}.parquet"
        folder = self.base / "lake" / asset / (province if sector else "")
        return folder / leaf

    def lake_glob(self, asset: str) -> str:
        return str(self.base / "lake" / asset / "**" / "*.parquet")

    def national(self, name: str) -> Path:
        return self.base / "national" / name

    def warehouse(self) -> Path:
        return self.base / "warehouse" / "doisoat.duckdb"

    def reports(self) -> Path:
        return self.base / "reports"

    def error_reports(self, province: str, sector: str) -> Path:
        """Error reports of inbox uploads (kept out of the inbox so they never count as uploads)."""
        return self.base / "reports" / "errors" / province / sector

    def operator_db(self) -> Path:
        """Operator-only audit DuckDB (never the analyst file)."""
        return self.base / "operator" / "audit.duckdb"
