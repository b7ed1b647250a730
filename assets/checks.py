"""Asset checks: specs with a description and the asset's partitions, and one schema check per lake table.

Every check of doisoat is evaluated inside the asset that writes the data (``check_results`` of the
``MaterializeResult``), never by re-reading the whole asset. A spec built here carries the asset's
``partitions_def``, so Dagster records each result against the partition that was materialised
(``AssetCheckEvaluation.partition`` and its target materialisation): the asset page then shows
pass/fail per province x sector (or per day) instead of "Not Evaluated".

``lake_schema`` is the per-table check derived from ``rules.lake_schema`` (the PUDL idiom of one
schema check per asset): the written file's schema equals the table's, and its primary key is
unique and complete. What is read back comes from ``assets.lake.written_schema`` / ``national_schema``:
the local file's Parquet footer, or the schema the Delta table stores when the lake is on object storage.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg
import polars as pl

from rules.lake_schema import key_problems, lake_table, schema_problems

LAKE_SCHEMA = "lake_schema"


def check_spec(name: str, asset: str, description: str, *, partitions_def: dg.PartitionsDefinition | None = None,
               blocking: bool = False) -> dg.AssetCheckSpec:
    """An ``AssetCheckSpec`` whose results are tied to the partition being materialised.

    ``partitions_def`` on a check spec is marked "preview" in Dagster 1.13; it is the documented way to
    record a partitioned check's result per partition, so its warning is silenced here, once.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking,
                                 partitions_def=partitions_def)


def schema_check_spec(table: str, *, asset: str | None = None,
                      partitions_def: dg.PartitionsDefinition | None = None) -> dg.AssetCheckSpec:
    """The ``lake_schema`` check of lake table ``table`` (on the asset of the same name unless given)."""
    t = lake_table(table)
    key = ", ".join(t.primary_key) or "none"
    return check_spec(
        LAKE_SCHEMA, asset or table,
        f"The written {table} file has exactly the columns and types of rules/lake_schema and a unique, "
        f"non-null primary key ({key}).",
        partitions_def=partitions_def,
    )


def schema_check_result(table: str, written: pl.DataFrame, path: Path | pl.Schema, *, asset: str | None = None
                        ) -> dg.AssetCheckResult:
    """Read back the schema of the file at ``path`` (Parquet footer only) and check the key on the frame
    that was written. Metadata: counts and problems (column names), never values."""
    return schema_check_results(table, [(written, path)], asset=asset)


def schema_check_results(table: str, parts: list[tuple[pl.DataFrame, Path | pl.Schema]], *, asset: str | None = None
                         ) -> dg.AssetCheckResult:
    """``schema_check_result`` over several files of one table written by one step (e.g. every province x
    sector file of ``corrected_records`` written by the daily run); each file's key is checked alone."""
    t = lake_table(table)
    problems: list[str] = []
    for i, (written, path) in enumerate(parts):
        # ``path``: a local file (its footer is read) or, for a lake on object storage, the stored schema.
        stored = path if isinstance(path, pl.Schema) else pl.read_parquet_schema(path)
        label = f"part {i + 1}" if isinstance(path, pl.Schema) else f"{path.parent.name}/{path.name}"
        # (part numbers on object storage: in the order the step wrote them, one per province x sector)
        where = f"{label}: " if len(parts) > 1 else ""
        problems += [where + p for p in schema_problems(stored, t) + key_problems(written, t)]
    return dg.AssetCheckResult(
        asset_key=asset or table,
        check_name=LAKE_SCHEMA,
        passed=not problems,
        metadata={"files": len(parts), "rows": sum(w.height for w, _ in parts), "columns": len(t.columns),
                  "problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems[:50]) or "none")},
    )
