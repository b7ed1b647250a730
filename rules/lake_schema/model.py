"""What a lake table is (columns with polars dtypes, primary key, description) and the write check.

``conform(df, table)`` is called on every lake write (``assets.lake.write_parquet``): it refuses a
column the table does not have or a missing required column, casts a column whose type differs only
in width or time unit (``Int32`` -> ``Int64``, an all-null column, a list of nulls), refuses any
other type (a float where an integer is due, text where a date is due), and returns the frame in the
table's column order. The error names the table and the column; it is a bug in doisoat, never the
user's fault, so it is not a :class:`rules.errors.UserError`.

``problems(df, table)`` is what the per-table asset check reports: schema drift and primary-key
duplicates or nulls, computed column-wise (one hash of the key columns, no Python per row).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl


class LakeSchemaError(Exception):
    """A frame does not fit its lake table (a wrong or missing column, a wrong type)."""


@dataclass(frozen=True)
class Column:
    """One column: name, polars dtype, what it holds; ``optional`` columns may be absent (a sector's own
    fields, e.g. ``student_code`` only in students' tables); ``personal`` marks names, IDs, birth dates
    and free text that may hold them (never in logs, metadata or the analyst file)."""

    name: str
    dtype: pl.DataType
    description: str
    optional: bool = False
    personal: bool = False


@dataclass(frozen=True)
class Table:
    """A lake table: ``where`` is its location pattern under ``data/`` (the layout owns the real path)."""

    name: str
    description: str
    where: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    written_by: str = ""  # the asset that writes it ("" = not written by an asset, e.g. a store export)
    _by_name: dict[str, Column] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise LakeSchemaError(f"lake table {self.name}: column(s) {', '.join(duplicated)} declared twice")
        unknown = [k for k in self.primary_key if k not in names]
        if unknown:
            raise LakeSchemaError(f"lake table {self.name}: primary key column(s) {', '.join(unknown)} not declared")
        self._by_name.update({c.name: c for c in self.columns})

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        try:
            return self._by_name[name]
        except KeyError:
            raise LakeSchemaError(f"lake table {self.name} has no column {name!r}") from None

    def schema(self, columns: Iterable[str] | None = None) -> dict[str, pl.DataType]:
        """``{column: dtype}`` of every column (or of ``columns``, in that order)."""
        names = self.column_names if columns is None else tuple(columns)
        return {n: self.column(n).dtype for n in names}

    def empty(self) -> pl.DataFrame:
        """Zero rows with the required columns (what a partition with nothing to write holds)."""
        return pl.DataFrame(schema={c.name: c.dtype for c in self.columns if not c.optional})


def _castable(have: pl.DataType, want: pl.DataType) -> bool:
    """Same kind of value, other width / unit / nullness: a cast that cannot change a value's meaning."""
    if have == want or have == pl.Null:
        return True
    if isinstance(want, pl.List):
        return isinstance(have, pl.List) and _castable(have.inner, want.inner)
    if want.is_integer():
        return have.is_integer()
    if want.is_float():
        return have.is_float() or have.is_integer()
    if isinstance(want, pl.Datetime):
        return isinstance(have, pl.Datetime)
    if want == pl.Utf8:
        return isinstance(have, (pl.Categorical, pl.Enum))
    return False


def conform(df: pl.DataFrame, table: Table) -> pl.DataFrame:
    """``df`` checked against ``table`` and cast to its dtypes, columns in the table's order.

    Raises :class:`LakeSchemaError` naming the table and the first wrong column: one the table does
    not declare, a required one that is missing, or a type that is not a widening of the declared one.
    """
    declared = set(table.column_names)
    unknown = [c for c in df.columns if c not in declared]
    if unknown:
        raise LakeSchemaError(
            f"lake table {table.name}: column {unknown[0]!r} is not in its schema "
            f"(declare it in rules/lake_schema/tables.py or drop it before writing)"
        )
    missing = [c.name for c in table.columns if not c.optional and c.name not in df.columns]
    if missing:
        raise LakeSchemaError(f"lake table {table.name}: required column {missing[0]!r} is missing")
    exprs = []
    for col in table.columns:
        if col.name not in df.columns:
            continue
        have = df.schema[col.name]
        if not _castable(have, col.dtype):
            raise LakeSchemaError(
                f"lake table {table.name}: column {col.name!r} is {have}, the schema says {col.dtype}")
        exprs.append(pl.col(col.name) if have == col.dtype else pl.col(col.name).cast(col.dtype, strict=True))
    try:
        return df.select(exprs)
    except pl.exceptions.PolarsError as exc:  # e.g. an Int64 value too large for Int32
        raise LakeSchemaError(f"lake table {table.name}: a value does not fit the schema's type ({exc})") from exc


def schema_problems(schema: Mapping[str, pl.DataType], table: Table) -> list[str]:
    """What differs between a written file's schema and the table's (empty when it conforms)."""
    out = [f"column {c!r} not in the schema" for c in schema if c not in table.column_names]
    for col in table.columns:
        if col.name not in schema:
            if not col.optional:
                out.append(f"required column {col.name!r} missing")
        elif schema[col.name] != col.dtype:
            out.append(f"column {col.name!r} is {schema[col.name]}, the schema says {col.dtype}")
    return out


def key_problems(df: pl.DataFrame, table: Table) -> list[str]:
    """Primary-key nulls and duplicates of ``df`` (empty when the key is unique and complete)."""
    key = [k for k in table.primary_key if k in df.columns]
    if not key or df.height == 0:
        return []
    out = []
    nulls = df.select(pl.sum_horizontal(pl.col(key).is_null().any())).item()
    if nulls:
        out.append(f"primary key ({', '.join(key)}) has nulls")
    duplicates = df.height - df.select(pl.struct(key).n_unique()).item()
    if duplicates:
        out.append(f"primary key ({', '.join(key)}) has {duplicates} duplicate row(s)")
    return out
