"""The lake's schema registry: each table's columns (polars dtypes), primary key and description.

Public API::

    LAKE_TABLES: dict[str, Table]             # every lake table, by name
    lake_table(name) -> Table                 # KeyError naming the known tables
    conform(df, table) -> pl.DataFrame        # checked and cast on write; LakeSchemaError names table/column
    schema_problems(schema, table) -> list[str]   # a written file's schema against the table's
    key_problems(df, table) -> list[str]      # primary-key nulls and duplicates
    contracts_markdown() -> str               # the "Lake tables" section of docs/contracts.md
    ROW_KEY                                   # a row's key within its province x sector partition
    LAKE_ROW_KEY                              # province, sector + ROW_KEY: where partitions meet

No Dagster here (``rules/``): the assets call ``conform`` through ``assets.lake.write_parquet`` and
build one asset check per table from ``schema_problems`` and ``key_problems``; the analyst warehouse
takes its source dtypes and column comments from the same tables.
"""

from rules.lake_schema.markdown import contracts_markdown
from rules.lake_schema.model import Column, LakeSchemaError, Table, conform, key_problems, schema_problems
from rules.lake_schema.tables import LAKE_ROW_KEY, LAKE_TABLES, PARTITION_KEY, ROW_KEY, lake_table

__all__ = ["LAKE_ROW_KEY", "LAKE_TABLES", "PARTITION_KEY", "ROW_KEY", "Column", "LakeSchemaError", "Table", "conform",
           "contracts_markdown", "key_problems", "lake_table", "schema_problems"]
