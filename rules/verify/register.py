"""Answer verification requests from a population register (contract 1), vectorised per batch.

Shared by the in-process simulator and the local HTTP server so that both give the same answers.
A field "differs" when it differs after the cosmetic normalisation any real service would apply
(Unicode NFC, case, repeated spaces for names; ISO dates; ``Nam``/``Nữ`` for gender). A field the
request leaves null is not asked about, so it never differs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from rules.errors import MissingInputError
from rules.verify.model import CONFIRM_FIELDS, Answer, Request


def _name_key(col: pl.Expr) -> pl.Expr:
    return col.str.normalize("NFC").str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


class RegisterIndex:
    """The register reduced to what verification compares, keyed by ``person_id``."""

    def __init__(self, register: pl.DataFrame | str | Path) -> None:
        if not isinstance(register, pl.DataFrame):
            path = Path(register)
            files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
            if not files or not all(f.is_file() for f in files):
                raise MissingInputError(f"register not found at {path}; pass a Parquet file or folder")
            register = pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")
        missing = [c for c in ("person_id", *CONFIRM_FIELDS) if c not in register.columns]
        if missing:
            from rules.matching.index import RegisterError

            raise RegisterError(f"register lacks column(s) {', '.join(missing)} (contract 1)")
        self.frame = register.select(
            pl.col("person_id").cast(pl.Utf8),
            _name_key(pl.col("full_name").cast(pl.Utf8)).alias("reg_name"),
            pl.col("date_of_birth").cast(pl.Utf8).alias("reg_dob"),
            pl.col("gender").cast(pl.Utf8).str.strip_chars().alias("reg_gender"),
        ).filter(pl.col("person_id").is_not_null()).unique("person_id", keep="first", maintain_order=True).sort(
            "person_id"
        )
        # Sorted once, so a batch is looked up by binary search (batch x log n), not by a join that
        # reads the whole register per batch (400 batches a day x millions of people).
        self._ids = self.frame["person_id"]

    def __len__(self) -> int:
        return len(self.frame)

    def _lookup(self, ids: pl.Series) -> pl.DataFrame:
        """Register fields for each id (nulls where absent), in the order of ``ids``."""
        n = len(self._ids)
        if n == 0:
            return pl.DataFrame({c: [None] * len(ids) for c in ("reg_name", "reg_dob", "reg_gender")},
                                schema=dict.fromkeys(("reg_name", "reg_dob", "reg_gender"), pl.Utf8))
        pos = self._ids.search_sorted(ids.fill_null(""), side="left").clip(upper_bound=n - 1)
        rows = self.frame[pos.cast(pl.Int64)].drop("person_id")
        hit = (self._ids.gather(pos) == ids).fill_null(False)
        return rows.select(pl.when(hit).then(pl.col(c)).otherwise(None).alias(c) for c in rows.columns)

    def answer(self, batch: list[Request]) -> list[Answer]:
        """One answer per request, in batch order."""
        if not batch:
            return []
        req = pl.DataFrame(
            [(r.request_id, r.person_id, r.full_name, r.date_of_birth, r.gender) for r in batch],
            schema={
                "request_id": pl.Utf8,
                "person_id": pl.Utf8,
                "full_name": pl.Utf8,
                "date_of_birth": pl.Utf8,
                "gender": pl.Utf8,
            },
            orient="row",
        )
        joined = req.hstack(self._lookup(req["person_id"]))
        diffs = [
            pl.when(
                pl.col("full_name").is_not_null() & (_name_key(pl.col("full_name")) != pl.col("reg_name").fill_null(""))
            ).then(pl.lit("full_name")),
            pl.when(
                pl.col("date_of_birth").is_not_null()
                & (pl.col("date_of_birth").str.slice(0, 10) != pl.col("reg_dob").fill_null(""))
            ).then(pl.lit("date_of_birth")),
            pl.when(
                pl.col("gender").is_not_null()
                & (pl.col("gender").str.strip_chars() != pl.col("reg_gender").fill_null(""))
            ).then(pl.lit("gender")),
        ]
        out = joined.select(
            "request_id",
            pl.col("reg_name").is_null().alias("missing"),
            pl.concat_str(diffs, separator=",", ignore_nulls=True).fill_null("").alias("differing"),
        ).with_columns(
            pl.when(pl.col("missing"))
            .then(pl.lit("not_found"))
            .when(pl.col("differing") != "")
            .then(pl.lit("mismatch"))
            .otherwise(pl.lit("verified"))
            .alias("status"),
            pl.when(pl.col("missing")).then(pl.lit("")).otherwise(pl.col("differing")).alias("differing"),
        )
        now = datetime.now(UTC).isoformat(timespec="seconds")
        return [
            Answer(rid, status, diff, now)
            for rid, status, diff in out.select("request_id", "status", "differing").iter_rows()
        ]
