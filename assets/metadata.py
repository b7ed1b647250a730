"""Dagster metadata the UI renders as tables and markdown charts, not JSON blobs.

Counts only, never values: every builder takes codes (reason, flag, status, pass, state) and
numbers, or a numeric score column, so no name, ID or date of birth can reach the event log.

- :func:`count_table` -> ``MetadataValue.table``: one row per code with its rows and share
  (sortable in the UI; the shape of ``{code: rows}``).
- :func:`histogram_md` -> ``MetadataValue.md``: the same counts as a text bar chart, largest first.
- :func:`reason_histogram` -> the quarantine's reasons (``reason_code`` may join several codes with
  ``;``: each code counts once per row).
- :func:`score_distribution` -> match scores (0..1) in ten bins per decision status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg
import polars as pl

BAR_WIDTH = 30  # characters of the longest bar
SCORE_BINS = 10  # 0.0-0.1, ..., 0.9-1.0 (1.0 falls in the last bin)
STATUS_ORDER = ("matched", "ambiguous", "unmatched", "rejected")


def _pairs(counts: Mapping[str, int] | Iterable[Mapping[str, object]]) -> list[tuple[str, int]]:
    """``{code: n}`` or polars ``value_counts().to_dicts()`` rows (``{<col>: code, "count": n}``),
    as (code, n) sorted by n descending then code."""
    if isinstance(counts, Mapping):
        items = [(str(k), int(v)) for k, v in counts.items()]
    else:
        items = []
        for row in counts:
            n = int(row.get("count", 0))  # type: ignore[arg-type]
            code = next((v for k, v in row.items() if k != "count"), None)
            items.append((str(code), n))
    return sorted(items, key=lambda kv: (-kv[1], kv[0]))


def count_table(counts: Mapping[str, int] | Iterable[Mapping[str, object]], label: str = "code",
                total: int | None = None) -> dg.TableMetadataValue:
    """A table ``label | rows | share`` (share of ``total``, default: of the sum of the counts)."""
    pairs = _pairs(counts)
    whole = total if total is not None else sum(n for _, n in pairs)
    schema = dg.TableSchema(columns=[
        dg.TableColumn(label, "string"),
        dg.TableColumn("rows", "int"),
        dg.TableColumn("share", "string", description="of all rows"),
    ])
    records = [dg.TableRecord({label: code, "rows": n, "share": f"{n / whole:.1%}" if whole else "-"})
               for code, n in pairs]
    return dg.MetadataValue.table(records=records, schema=schema)


def histogram_md(counts: Mapping[str, int] | Iterable[Mapping[str, object]], title: str,
                 empty: str = "none") -> dg.MarkdownMetadataValue:
    """A markdown text bar chart, largest first: ``code  ████  n``."""
    pairs = _pairs(counts)
    if not pairs:
        return dg.MetadataValue.md(f"**{title}**: {empty}")
    top = max(n for _, n in pairs) or 1
    width = max(len(code) for code, _ in pairs)
    lines = [f"{code:<{width}}  {'█' * max(1 if n else 0, round(BAR_WIDTH * n / top)):<{BAR_WIDTH}}  {n:,}"
             for code, n in pairs]
    return dg.MetadataValue.md(f"**{title}**\n\n```\n" + "\n".join(lines) + "\n```")


def reason_counts(quarantined: pl.DataFrame) -> dict[str, int]:
    """Rows per reason code (a row with ``a;b`` counts once for a and once for b)."""
    if not quarantined.height or "reason_code" not in quarantined.columns:
        return {}
    codes = quarantined.select(pl.col("reason_code").str.split(";").list.unique().explode().drop_nulls())
    return {str(c): int(n) for c, n in codes["reason_code"].value_counts().iter_rows()}


def reason_histogram(quarantined: pl.DataFrame) -> dg.MarkdownMetadataValue:
    return histogram_md(reason_counts(quarantined), "Rejected rows by reason (a row may have several)",
                        empty="no row rejected")


def score_bins(results: pl.DataFrame) -> pl.DataFrame:
    """Rows per (score bin, status): columns ``bin`` ("0.9-1.0"), one count column per status."""
    if not results.height or "score" not in results.columns:
        return pl.DataFrame(schema={"bin": pl.Utf8})
    idx = (pl.col("score").fill_null(0.0).clip(0.0, 1.0) * SCORE_BINS).floor().cast(pl.Int64).clip(0, SCORE_BINS - 1)
    counted = (results.select(idx.alias("b"), pl.col("status"))
               .group_by("b", "status").len()
               .pivot(on="status", index="b", values="len").fill_null(0))
    every = pl.DataFrame({"b": list(range(SCORE_BINS))})
    out = every.join(counted, on="b", how="left").fill_null(0).sort("b", descending=True)
    labels = [f"{b / SCORE_BINS:.1f}-{(b + 1) / SCORE_BINS:.1f}" for b in out["b"].to_list()]
    return out.drop("b").insert_column(0, pl.Series("bin", labels))


def score_distribution(results: pl.DataFrame) -> dg.MarkdownMetadataValue:
    """Match scores in ten bins, highest first, with a bar and the rows per status."""
    bins = score_bins(results)
    if bins.width <= 1:
        return dg.MetadataValue.md("**Score distribution**: no rows")
    present = [c for c in bins.columns if c != "bin"]
    statuses = [s for s in STATUS_ORDER if s in present] + sorted(set(present) - set(STATUS_ORDER))
    totals = bins.select(pl.sum_horizontal(statuses)).to_series().to_list()
    top = max(totals) or 1
    head = "| score | | rows | " + " | ".join(statuses) + " |"
    rule = "|---|---|--:|" + "--:|" * len(statuses)
    rows = [f"| {row['bin']} | {'█' * round(BAR_WIDTH * t / top)} | {t:,} | "
            + " | ".join(f"{row[s]:,}" for s in statuses) + " |"
            for row, t in zip(bins.iter_rows(named=True), totals, strict=True)]
    return dg.MetadataValue.md("**Score distribution** (best candidate's probability of a match)\n\n"
                               + "\n".join([head, rule, *rows]))
