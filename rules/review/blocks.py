"""Review blocks: each ambiguous row with its candidate people, and per-row fingerprints.

A *block* is one ambiguous sector row (key ``file_sha256, sheet, row_number``) and its candidates
from the ``review_queue`` (contracts §6). The reviewer sees the unit's row beside each candidate's
register fields; a candidate registered outside the reviewer's province is shown as such, with no
name, ID, birth date or parent.

Two fingerprints per row make staleness checkable without keeping old copies of anything:

- ``fp_match``: sha256 over the row's candidates in rank order (ID, score to 6 places, reason). A match
  run that changes the candidates, their order or their scores changes it.
- ``fp_register``: sha256 over the register fields of those candidates (name, birth date, gender, old
  ID, province, parents). A register version that changes one of them changes it; other rows keep
  theirs, so only the rows that changed are refused at import.
"""

from __future__ import annotations

import duckdb
import polars as pl

from rules.lake_schema import ROW_KEY  # a review block is one partition's: file, sheet and row name a row

REGISTER_FIELDS = ("person_id", "full_name", "date_of_birth", "gender", "old_id", "province", "mother_id",
                   "father_id")
UNIT_FIELDS = ("full_name", "date_of_birth", "gender", "national_id", "old_id")
OUTSIDE = "(ngoài tỉnh / outside the province)"


def candidate_people(register: pl.LazyFrame | pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    """Register rows (every field as text) of ``ids`` and of their parents, read lazily.

    Only the people a workbook can show are materialised, so a 10M-person register is scanned once
    with a filter, never loaded whole.
    """
    lazy = register.lazy() if isinstance(register, pl.DataFrame) else register
    names = lazy.collect_schema().names()
    cols = [pl.col(c).cast(pl.Utf8) if c in names else pl.lit(None, pl.Utf8).alias(c) for c in REGISTER_FIELDS]
    wanted = ids.drop_nulls().cast(pl.Utf8).unique()
    people = lazy.select(cols).filter(pl.col("person_id").is_in(wanted.implode())).collect()
    parents = pl.concat([people["mother_id"], people["father_id"]]).drop_nulls().unique()
    parents = parents.filter(~parents.is_in(people["person_id"].implode()))
    if parents.len():
        more = lazy.select(cols).filter(pl.col("person_id").is_in(parents.implode())).collect()
        people = pl.concat([people, more])
    return people.unique("person_id", keep="first")


def _sha(frame: pl.DataFrame, text: str, out: str) -> pl.Series:
    con = duckdb.connect()
    try:
        con.register("t", frame.select(pl.col(text)).with_row_index("_i"))
        return con.sql(f"SELECT sha256({text}) AS {out} FROM t ORDER BY _i").pl()[out]
    finally:
        con.close()


def fingerprints(queue: pl.DataFrame, people: pl.DataFrame) -> pl.DataFrame:
    """``ROW_KEY + fp_match, fp_register`` per ambiguous row of ``queue`` (one row per key)."""
    if queue.height == 0:
        return pl.DataFrame(schema={"file_sha256": pl.Utf8, "sheet": pl.Utf8, "row_number": pl.Int64,
                                    "fp_match": pl.Utf8, "fp_register": pl.Utf8})
    reg = people.select(
        pl.col("person_id").alias("candidate_id"),
        pl.concat_str([pl.col(c).fill_null("") for c in REGISTER_FIELDS[1:]], separator="\x1f").alias("_reg"),
    )
    parts = (
        _keyed(queue)
        .join(reg, on="candidate_id", how="left")
        # what the reviewer judged: who the candidates are and how each field agrees. Scores and ranks
        # are left out: they move whenever the parameters are re-estimated (reviewed pairs teach them).
        .sort([*ROW_KEY, "candidate_id"])
        .group_by(ROW_KEY, maintain_order=True)
        .agg(
            pl.concat_str([pl.col("candidate_id").fill_null(""),
                           pl.col("candidate_reason").fill_null("")], separator="|").str.join("\x1e").alias("_m"),
            pl.concat_str([pl.col("candidate_id").fill_null(""), pl.col("_reg").fill_null("absent")],
                          separator="|").str.join("\x1e").alias("_r"),
        )
    )
    return parts.select(ROW_KEY).with_columns(
        _sha(parts, "_m", "fp_match"), _sha(parts, "_r", "fp_register"))


def _keyed(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("sheet").cast(pl.Utf8).fill_null(""), pl.col("row_number").cast(pl.Int64))


def build_blocks(queue: pl.DataFrame, records: pl.DataFrame, people: pl.DataFrame, province_name: str,
                 unit: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(lines, blocks) for a workbook.

    ``lines``: one row per block line in display order: ``block``, ``line`` (0 = the unit's row, k =
    candidate k), the displayed fields (text), ``probability`` and ``reason`` (candidates only),
    ``outside`` (candidate registered outside ``province_name``: fields withheld).
    ``blocks``: one row per block: ``block``, ``ROW_KEY``, ``unit``, ``file_name``, ``excel_row``,
    ``candidate_ids`` (rank order, comma-separated), ``n_candidates``, ``fp_match``, ``fp_register``.
    """
    q = _keyed(queue)
    if unit is not None:
        q = q.filter(pl.col("unit") == unit)
    fps = fingerprints(q, people)
    heads = (
        q.group_by(ROW_KEY, maintain_order=True)
        .agg(pl.col("unit").first(), pl.col("file_name").first(), pl.col("excel_row").first(),
             pl.col("candidate_id").sort_by("candidate_rank").str.join(",").alias("candidate_ids"),
             pl.len().alias("n_candidates"))
        .sort(["unit", "file_name", "sheet", "excel_row", "row_number"])
        .with_row_index("_b", offset=1)
        .with_columns(pl.format("B{}", pl.col("_b").cast(pl.Utf8).str.zfill(4)).alias("block"))
        .join(fps, on=ROW_KEY, how="left", maintain_order="left")
    )
    rec = _keyed(records).select(
        *ROW_KEY, *[(pl.col(c).cast(pl.Utf8) if c in records.columns else pl.lit(None, pl.Utf8)).alias(c)
                    for c in UNIT_FIELDS])
    unit_lines = heads.join(rec, on=ROW_KEY, how="left", maintain_order="left").select(
        "_b", "block", pl.lit(0, pl.Int32).alias("line"),
        pl.format("{} — {} — dòng/row {}", "unit", "file_name", "excel_row").alias("source"),
        "full_name", "date_of_birth", "gender", pl.col("national_id").alias("person_id"), "old_id",
        pl.lit(None, pl.Utf8).alias("province"), pl.lit(None, pl.Utf8).alias("mother"),
        pl.lit(None, pl.Utf8).alias("father"), pl.lit(None, pl.Float64).alias("probability"),
        pl.lit(None, pl.Utf8).alias("reason"), pl.lit(False).alias("outside"))
    inside = people.with_columns((pl.col("province") == province_name).fill_null(False).alias("_in"))
    parent = inside.select(
        pl.col("person_id").alias("_pid"),
        pl.when(pl.col("_in")).then(pl.format("{} ({})", "full_name", "person_id")).otherwise(pl.lit(OUTSIDE))
        .alias("_shown"))
    cands = (
        q.select(*ROW_KEY, "candidate_rank", "candidate_id", "candidate_score", "candidate_reason")
        .join(heads.select([*ROW_KEY, "_b", "block"]), on=ROW_KEY, how="inner")
        .join(inside.rename({"person_id": "candidate_id"}), on="candidate_id", how="left")
        .join(parent.rename({"_pid": "mother_id", "_shown": "mother"}), on="mother_id", how="left")
        .join(parent.rename({"_pid": "father_id", "_shown": "father"}), on="father_id", how="left")
    )
    out = ~pl.col("_in").fill_null(False)
    hide = [pl.when(out).then(pl.lit(None, pl.Utf8)).otherwise(pl.col(c)).alias(c)
            for c in ("date_of_birth", "gender", "old_id", "mother", "father")]
    cand_lines = cands.select(
        "_b", "block", pl.col("candidate_rank").cast(pl.Int32).alias("line"),
        pl.format("Ứng viên {} / Candidate {}", "candidate_rank", "candidate_rank").alias("source"),
        pl.when(out).then(pl.lit(OUTSIDE)).otherwise(pl.col("full_name")).alias("full_name"),
        *hide[:2],
        pl.when(out).then(pl.lit(None, pl.Utf8)).otherwise(pl.col("candidate_id")).alias("person_id"),
        hide[2], pl.when(out).then(pl.lit(None, pl.Utf8)).otherwise(pl.col("province")).alias("province"),
        *hide[3:],
        pl.col("candidate_score").alias("probability"), pl.col("candidate_reason").alias("reason"),
        out.alias("outside"))
    lines = pl.concat([unit_lines, cand_lines.select(unit_lines.columns)], how="vertical_relaxed") \
        .sort(["_b", "line"]).drop("_b")
    blocks = heads.select("block", *ROW_KEY, "unit", "file_name", "excel_row", "candidate_ids", "n_candidates",
                          "fp_match", "fp_register")
    return lines, blocks


def parse_reason(reason: pl.Expr, comparison: str) -> pl.Expr:
    """The level of ``comparison`` in a ``name=level;…`` reason string (null when absent)."""
    return reason.str.extract(rf"(?:^|;){comparison}=([^;]*)", 1)
