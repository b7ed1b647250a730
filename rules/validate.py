"""Row validation of normalised records with pandera (polars backend): valid rows and quarantine.

Policy is data (``rules/reasons.yaml``): which codes reject a row, the field shown to the
uploader, and the messages in Vietnamese and English. The normaliser already decided *what* is
wrong with a cell (``dob_error``, ``id_error``, ``gender_error``, …, contracts §4); this module only
decides whether that rejects the row, and checks the name itself (``missing_name``).

A row failing several checks is quarantined **once**, with **all** its reasons joined by ``;`` in
the order of ``reasons.yaml`` (e.g. ``missing_name;unparseable_date``); ``reason_column`` and the
messages are joined the same way (messages with `` ; ``). Counting by reason therefore uses the
first (primary) code: see :func:`primary_reason`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaErrors
from pydantic import Field, model_validator

from rules.config import StrictModel, load_config
from rules.sectors import check_sector

REASONS_PATH = Path(__file__).resolve().parent / "reasons.yaml"
QUARANTINE_COLUMNS: tuple[str, ...] = ("reason_code", "reason_column", "message_vi", "message_en")
_NAME_CHECK = "missing_name"


@dataclass(frozen=True)
class Reason:
    code: str
    field: str
    source: str
    reject: bool
    vi: str
    en: str
    order: int


class ReasonSpec(StrictModel):
    """One reason code of ``reasons.yaml``."""

    field: str
    source: str
    reject: bool = True
    vi: str
    en: str


class AgeRange(StrictModel):
    """A sector's plausible age, in completed years on the day a file is processed."""

    min: int = Field(ge=0, le=150)
    max: int = Field(ge=0, le=150)

    @model_validator(mode="after")
    def _ordered(self) -> AgeRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not be above max ({self.max})")
        return self


_Sector = Literal["students", "vaccinations", "insurance"]


class ReasonsFile(StrictModel):
    """``reasons.yaml``: the codes in listing order, per-sector ``reject`` overrides, and each
    sector's plausible age."""

    reasons: dict[str, ReasonSpec]
    sector_overrides: dict[_Sector, dict[str, bool]] = Field(default_factory=dict)
    plausible_age: dict[_Sector, AgeRange]

    @model_validator(mode="after")
    def _known_codes(self) -> ReasonsFile:
        for sector, codes in self.sector_overrides.items():
            unknown = sorted(set(codes) - set(self.reasons))
            if unknown:
                raise ValueError(f"sector_overrides.{sector}: unknown reason code(s) {', '.join(unknown)}")
        missing = sorted(set(_Sector.__args__) - set(self.plausible_age))
        if missing:
            raise ValueError(f"plausible_age: no range for {', '.join(missing)}")
        return self


@cache
def _reasons_file() -> ReasonsFile:
    return load_config(REASONS_PATH, ReasonsFile)


def plausible_age(sector: str) -> tuple[int, int]:
    """(min, max) plausible age of ``sector``'s people, in completed years on the processing day."""
    check_sector(sector)
    r = _reasons_file().plausible_age[sector]
    return r.min, r.max


def _fill(message: str, sector: str) -> str:
    low, high = plausible_age(sector)
    return message.replace("{min_age}", str(low)).replace("{max_age}", str(high))


def sector_dependent_codes() -> frozenset[str]:
    """Codes whose message differs between sectors (it states a sector's bound)."""
    texts = {s: reasons(s) for s in _Sector.__args__}
    return frozenset(c for c in texts["students"]
                     if len({(t[c].vi, t[c].en) for t in texts.values() if c in t}) > 1)


@cache
def reasons(sector: str) -> dict[str, Reason]:
    """Reason table for ``sector`` (sector overrides applied, its bounds in the messages), in listing
    order."""
    check_sector(sector)
    doc = _reasons_file()
    overrides = doc.sector_overrides.get(sector, {})
    out: dict[str, Reason] = {}
    for order, (code, spec) in enumerate(doc.reasons.items()):
        out[code] = Reason(
            code=code, field=spec.field, source=spec.source, reject=overrides.get(code, spec.reject),
            vi=_fill(spec.vi, sector), en=_fill(spec.en, sector), order=order,
        )
    return out


def _not_blank(data: pa.PolarsData) -> pl.LazyFrame:
    col = pl.col(data.key)
    return data.lazyframe.select(col.is_not_null() & (col.str.strip_chars() != ""))


def _not_rejected(codes: tuple[str, ...]):
    def check(data: pa.PolarsData) -> pl.LazyFrame:
        col = pl.col(data.key)
        return data.lazyframe.select(col.is_null() | ~col.is_in(list(codes)))

    return check


@cache
def sector_schema(sector: str) -> pa.DataFrameSchema:
    """The pandera schema of rejecting checks for ``sector``, built from ``reasons.yaml``."""
    table = reasons(sector)
    by_source: dict[str, list[str]] = {}
    for r in table.values():
        if r.reject:
            by_source.setdefault(r.source, []).append(r.code)
    columns: dict[str, pa.Column] = {}
    for source, codes in by_source.items():
        if codes == [_NAME_CHECK]:
            # pandera skips nulls in nullable columns, so a null name fails `not_nullable` instead
            check = pa.Check(_not_blank, name=_NAME_CHECK)
            columns[source] = pa.Column(pl.String, nullable=False, checks=[check])
        else:
            check = pa.Check(_not_rejected(tuple(codes)), name=source)
            columns[source] = pa.Column(pl.String, nullable=True, checks=[check])
    return pa.DataFrameSchema(columns, name=f"{sector}_records", strict=False, coerce=False)


@cache
def _name_sources(sector: str) -> frozenset[str]:
    return frozenset(r.source for r in reasons(sector).values() if r.code == _NAME_CHECK and r.reject)


def _failures(sector: str, df: pl.DataFrame) -> pl.DataFrame:
    """(row index, reason code) for each failed check; empty when every row passes."""
    empty = pl.DataFrame(schema={"_row": pl.Int64, "reason_code": pl.String})
    schema = sector_schema(sector)
    narrow = df.select([c for c in schema.columns if c in df.columns])  # pandera sees only what it checks
    if narrow.width < len(schema.columns):
        missing = sorted(set(schema.columns) - set(df.columns))
        raise ValueError(f"normalised frame does not match contracts §4: missing columns {missing}")
    try:
        schema.validate(narrow, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        structural = cases.filter(pl.col("index").is_null())
        if structural.height:  # a missing column or a wrong dtype: a contract break, not bad data
            detail = structural.select("column", "check").unique().rows()
            raise ValueError(f"normalised frame does not match contracts §4: {detail}") from exc
        return cases.select(
            pl.col("index").cast(pl.Int64).alias("_row"),
            pl.when(pl.col("column").is_in(list(_name_sources(sector)))).then(pl.lit(_NAME_CHECK))
            .otherwise(pl.col("failure_case").cast(pl.String)).alias("reason_code"),
        )
    return empty


def validate_records(
    df_normalised: pl.DataFrame, sector: str, *, headers: dict[str, str] | pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split normalised records into (valid, quarantined); every row lands in exactly one.

    ``headers`` maps canonical field -> the uploader's header so that ``reason_column`` shows the
    header they typed: a dict for one file, or a frame (``file_sha256``, ``field``, ``header``) for
    many files; without it ``reason_column`` holds the canonical field name.
    """
    table = reasons(sector)
    fails = _failures(sector, df_normalised)
    if fails.height == 0:
        return df_normalised, df_normalised.head(0).with_columns(
            [pl.lit(None, pl.String).alias(c) for c in QUARANTINE_COLUMNS]
        )
    present = set(fails["reason_code"].unique().to_list())
    codes = [c for c in table if c in present] + sorted(present - set(table))
    # One boolean per reason code present (a handful), computed on a narrow frame; the wide
    # normalised frame is only filtered once each way, and reason strings are built for the failed
    # rows only (no per-row groups, no strings for the valid majority).
    n = df_normalised.height
    flags = pl.DataFrame([
        pl.int_range(0, n, eager=True, dtype=pl.Int64)
        .is_in(fails.filter(pl.col("reason_code") == c)["_row"].implode()).alias(f"_f{i}")
        for i, c in enumerate(codes)
    ])
    failed = flags.select(pl.any_horizontal(pl.all())).to_series()
    header = _header_lookup(headers, table)

    def joined(values: list[pl.Expr], sep: str) -> pl.Expr:
        parts = [pl.when(pl.col(f"_f{i}")).then(v) for i, v in enumerate(values)]
        return pl.concat_str(parts, separator=sep, ignore_nulls=True)

    def text(c: str, attr: str) -> str:
        return getattr(table[c], attr) if c in table else c

    bad = df_normalised.filter(failed)
    context = pl.concat([flags.filter(failed), bad.select("file_sha256")], how="horizontal") if (
        "file_sha256" in bad.columns) else flags.filter(failed)
    reasons_of_bad = context.select(
        joined([pl.lit(c) for c in codes], ";").alias("reason_code"),
        joined([header(c) for c in codes], ";").alias("reason_column"),
        joined([pl.lit(text(c, "vi")) for c in codes], " ; ").alias("message_vi"),
        joined([pl.lit(text(c, "en")) for c in codes], " ; ").alias("message_en"),
    )
    quarantined = pl.concat([bad, reasons_of_bad], how="horizontal")
    valid = df_normalised.filter(~failed)
    return valid, quarantined


def _header_lookup(headers: dict[str, str] | pl.DataFrame | None, table: dict[str, Reason]):
    """code -> expression for the uploader's header of the failing field (per row for many files)."""

    def field_of(code: str) -> str:
        return table[code].field if code in table else ""

    if isinstance(headers, dict):
        return lambda code: pl.lit(headers.get(field_of(code), field_of(code)))
    if isinstance(headers, pl.DataFrame):
        def per_file(code: str) -> pl.Expr:
            f = field_of(code)
            sub = headers.filter(pl.col("field") == f)
            mapping = dict(zip(sub["file_sha256"].to_list(), sub["header"].to_list(), strict=True))
            return pl.col("file_sha256").replace_strict(mapping, default=f, return_dtype=pl.String)
        return per_file
    return lambda code: pl.lit(field_of(code))


def primary_reason() -> pl.Expr:
    """The first (primary) code of a joined ``reason_code``, for counts by reason."""
    return pl.col("reason_code").str.split(";").list.first()


def headers_frame(file_sha256: str, column_map: dict[str, str]) -> pl.DataFrame:
    """(file_sha256, field, header) rows from an Upload's column_map, for multi-file validation."""
    rows = [(file_sha256, field, header) for header, field in column_map.items()]
    return pl.DataFrame(rows, schema=["file_sha256", "field", "header"], orient="row")
