"""Which uploads are current: the supersede rule, as one pure function over a table of uploads.

The rule (documented for uploaders and operators):

1. **Same content, no change.** Uploads are identified by the SHA-256 of the file bytes. A file
   whose hash was seen before (any name, any unit) is a ``duplicate``: only the earliest copy
   counts, so uploading the same file twice changes nothing.
2. **Newest wins per unit, sector and list.** A unit may send several lists (batches "đợt 1",
   "đợt 2", one per class). A list is named by the file name after the unit prefix, folded to
   ASCII lower case, without the ``.errors`` of our error report and without trailing correction
   markers (``v2``, ``sua``, ``sua_lai``, ``da_sua``, ``ban_sua``, ``lan_2``, ``moi``,
   ``corrected``, ``fixed``, ``final``, ``copy``): so ``thpt_x__ds_dot_1_sua.xlsx`` and the error
   report ``thpt_x__ds_dot_1.errors.xlsx`` sent back both correct ``thpt_x__ds_dot_1.xlsx``, while
   ``thpt_x__ds_dot_2.xlsx`` is another list. Among the remaining readable uploads of one
   (province, sector, unit, list), the one with the latest ``uploaded_at`` is ``current`` and every
   earlier one is ``superseded`` (its rows leave the clean data on the next run). Ties on time go
   to the larger file name, then the larger hash, so the choice is deterministic. A corrected file
   replaces the whole earlier file of its list: it must contain all rows, not only the fixed ones.
3. **A broken file replaces nothing.** Uploads that failed to read (``error_code`` not null) are
   ``failed`` and never supersede a readable upload.
"""

from __future__ import annotations

import re

import polars as pl

UPLOAD_KEY = ("province", "sector", "unit", "list_name")
_CORRECTION = re.compile(
    r"(?:^|_)(?:v\d+|ver\d+|sua|sua_lai|sua_loi|da_sua|ban_sua|lan_\d+|moi|corrected|fixed|final|copy|errors)$"
)


def strip_corrections(name: str) -> str:
    """``ds_lop_10a1_sua_lai`` -> ``ds_lop_10a1``: trailing correction markers of rule 2 removed."""
    while True:
        shorter = _CORRECTION.sub("", name).strip("_")
        if shorter == name:
            return name
        name = shorter


def list_name(file_name: str) -> str:
    """The list a file belongs to (rule 2): ``thpt_x__DS dot 1 (sửa).xlsx`` -> ``ds_dot_1``."""
    from rules.ingest.inbox import listed_stem
    from rules.provinces import slugify

    return strip_corrections(slugify(listed_stem(file_name)))


STATUSES = ("current", "superseded", "duplicate", "failed")


def supersede(uploads: pl.DataFrame) -> pl.DataFrame:
    """Add ``status`` and ``superseded_by`` (sha256 of the current upload, or null) to ``uploads``.

    Needs ``file_sha256``, ``file_name``, ``uploaded_at`` and ``province``, ``sector``, ``unit``;
    ``error_code`` (null when the file read fine) is optional. Row order is kept.
    """
    names = uploads["file_name"].unique().to_list()  # Python per distinct file name, not per row
    lists = {n: list_name(n) for n in names}
    df = uploads.with_row_index("_i").with_columns(
        pl.col("file_name").replace_strict(lists, return_dtype=pl.Utf8).alias("list_name")
    )
    failed = pl.col("error_code").is_not_null() if "error_code" in df.columns else pl.lit(False)
    df = df.with_columns(failed.alias("_failed"))
    first_seen = (
        df.sort("uploaded_at", "file_name", "_i")
        .group_by("file_sha256", maintain_order=True)
        .agg(pl.col("_i").first().alias("_first"))
    )
    df = df.join(first_seen, on="file_sha256", how="left").with_columns(
        (pl.col("_i") != pl.col("_first")).alias("_dup")
    )
    live = df.filter(~pl.col("_failed") & ~pl.col("_dup"))
    newest = (
        live.sort("uploaded_at", "file_name", "file_sha256")
        .group_by(list(UPLOAD_KEY), maintain_order=True)
        .agg(pl.col("file_sha256").last().alias("_current"))
    )
    df = df.join(newest, on=list(UPLOAD_KEY), how="left", nulls_equal=True)
    status = (
        pl.when(pl.col("_failed")).then(pl.lit("failed"))
        .when(pl.col("_dup")).then(pl.lit("duplicate"))
        .when(pl.col("file_sha256") == pl.col("_current")).then(pl.lit("current"))
        .otherwise(pl.lit("superseded"))
    )
    out = df.with_columns(
        status.alias("status"),
        pl.when(status == "superseded").then(pl.col("_current")).otherwise(None).alias("superseded_by"),
    )
    return out.sort("_i").drop("_i", "_failed", "_first", "_dup", "_current", "list_name")


def rows_as_listed(raw: pl.DataFrame, uploads: pl.DataFrame) -> pl.DataFrame:
    """``raw`` rows with ``file_name`` and ``unit`` of the upload :func:`supersede` counted for their
    ``file_sha256``.

    Two files with the same bytes give the same rows; which of them counts is decided once, by rule 1
    here, and every table follows it (rows, rejections, matches, error reports), whichever copy
    was read last. ``uploads`` is the marked table; rows of a hash with no current upload are kept
    as they are.
    """
    if not raw.height or "file_sha256" not in raw.columns:
        return raw
    owner = (uploads.filter(pl.col("status") == "current")
             .select("file_sha256", pl.col("file_name").alias("_file"), pl.col("unit").alias("_unit"))
             .unique("file_sha256", keep="first"))
    order = raw.columns
    return (raw.join(owner, on="file_sha256", how="left", maintain_order="left")
            .with_columns(pl.coalesce("_file", "file_name").alias("file_name"),
                          pl.coalesce("_unit", "unit").alias("unit"))
            .select(order))


def current_shas(uploads: pl.DataFrame) -> list[str]:
    """Hashes of the uploads whose rows belong in the clean data."""
    return supersede(uploads).filter(pl.col("status") == "current")["file_sha256"].to_list()


def replaced_files(folder, file_name: str) -> list[str]:
    """Files already in inbox ``folder`` that an upload named ``file_name`` replaces (rule 2: same unit
    and list; the same name uploaded again replaces the earlier copy). Names only, sorted."""
    from pathlib import Path

    from rules.ingest.inbox import list_inbox, unit_of

    files, _ = list_inbox(Path(folder))
    key = (unit_of(file_name), list_name(file_name))
    return sorted(p.name for p in files if (unit_of(p.name), list_name(p.name)) == key)
