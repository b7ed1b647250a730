"""``process_upload``: read -> normalise -> validate one file, with counts that always reconcile.

This is what ``doisoat upload`` and the inbox sensor call: it needs no Dagster. Its counts carry
no personal data (numbers and reason codes only), so they can be printed and logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from rules.ingest.upload import Upload, read_upload
from rules.validate import headers_frame, primary_reason, validate_records


@dataclass
class UploadResult:
    """Outcome of one upload: the three frames and counts with rows_read == accepted + rejected."""

    upload: Upload
    raw: pl.DataFrame
    normalised_valid: pl.DataFrame
    quarantined: pl.DataFrame
    counts: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.counts.get("rejected", 0) == 0

    def summary_lines(self) -> list[str]:
        """Human summary for the command line (counts and codes only)."""
        c = self.counts
        lines = [
            f"{self.upload.file_name}: đọc/read {c['rows_read']}, "
            f"hợp lệ/accepted {c['accepted']}, bị loại/rejected {c['rejected']}",
        ]
        lines += [f"  {code}: {n}" for code, n in dict(c["rejected_by_reason"]).items()]
        return lines + self.duplicate_lines() + self.upload.cleaning_lines()

    def duplicate_lines(self, limit: int = 5) -> list[str]:
        """A warning naming the rows (numbers only) that list the same person twice; [] when none."""
        from rules.ingest.report import duplicate_rows

        dups = duplicate_rows(self.raw)
        if not dups.height:
            return []
        groups = dups.group_by("group", maintain_order=True).agg("sheet", "excel_row").head(limit)
        several = dups["sheet"].n_unique() > 1
        from rules.ingest.upload import personal_sheet_name, sheet_label

        def sheet(sh: str) -> str:  # a sheet named after a pupil by its position: "#2!5"
            return f"#{sheet_label(sh, self.upload.sheet_names)}" if personal_sheet_name(sh) else sh

        shown = ["; ".join(" = ".join(f"{sheet(sh)}!{r}" if several else str(r)
                                      for sh, r in zip(s, rows, strict=True))
                           for s, rows in zip(groups["sheet"], groups["excel_row"], strict=True))]
        n_groups = dups["group"].n_unique()
        more = f" (+{n_groups - limit})" if n_groups > limit else ""
        return [f"  cảnh báo/warning: {dups.height} dòng trùng người/rows list the same person twice "
                f"(không bị loại/not rejected): dòng/rows {shown[0]}{more}"]


def count_upload(raw: pl.DataFrame, valid: pl.DataFrame, quarantined: pl.DataFrame) -> dict[str, object]:
    """rows_read / accepted / rejected / rejected_by_reason (primary code, most frequent first).

    Raises AssertionError when the invariant rows_read == accepted + rejected does not hold: a
    lost or duplicated row is a bug that must stop the run, not a number to report.
    """
    by_reason: dict[str, int] = {}
    if quarantined.height:
        vc = quarantined.select(primary_reason().alias("r"))["r"].value_counts(sort=True)
        by_reason = dict(zip(vc["r"].to_list(), vc["count"].to_list(), strict=True))
    counts = {
        "rows_read": raw.height,
        "accepted": valid.height,
        "rejected": quarantined.height,
        "rejected_by_reason": by_reason,
    }
    if counts["rows_read"] != counts["accepted"] + counts["rejected"]:
        raise AssertionError(f"row count does not reconcile: {counts}")
    return counts


def process_upload(
    path: str | Path,
    *,
    province: str,
    sector: str,
    unit: str | None = None,
    sheet: str | int | None = None,
    today: date | None = None,
) -> UploadResult:
    """Read, normalise and validate one sector file (``UploadError`` on a structurally bad file)."""
    from rules.normalise import normalise_records

    upload = read_upload(path, province=province, sector=sector, unit=unit, sheet=sheet)
    normalised = normalise_records(upload.raw, sector, today=today)
    headers = {f: h for h, f in upload.column_map.items()}
    valid, quarantined = validate_records(normalised, sector, headers=headers)
    return UploadResult(
        upload=upload,
        raw=upload.raw,
        normalised_valid=valid,
        quarantined=quarantined,
        counts=count_upload(upload.raw, valid, quarantined),
    )


__all__ = ["UploadResult", "count_upload", "headers_frame", "process_upload"]
