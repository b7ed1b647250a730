"""The error report of the largest workbook that gets a full report (``SMALL_FILE_ROWS`` rows): CPU
time with the uploader's cells read again for their types and formats, and as text only (the cost of
issue 14.3), and the process's peak RSS.

    flock /tmp/doisoat-heavy.lock .venv/bin/python benchmarks/bench_error_report.py [--rows 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import xlsxwriter

from rules.ingest import process_upload
from rules.ingest.report import SMALL_FILE_ROWS, write_error_report_frames


def school_workbook(path: Path, n: int) -> Path:
    """STT numbers, names, Excel dates (dd/mm/yyyy), text IDs; every 100th row has no name."""
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("10A1")
    date = wb.add_format({"num_format": "dd/mm/yyyy"})
    ws.write_row(0, 0, ["STT", "Họ và tên", "Ngày sinh", "Số định danh cá nhân", "Giới tính", "Lớp"])
    for i in range(1, n + 1):
        ws.write_number(i, 0, i)
        ws.write_string(i, 1, "" if i % 100 == 0 else f"Nguyễn Văn {chr(65 + i % 26)}{i}")
        ws.write_datetime(i, 2, dt.datetime(2010, 1, 1) + dt.timedelta(days=i % 3000), date)
        ws.write_string(i, 3, f"0792100{i:05d}")
        ws.write_string(i, 4, "Nam")
        ws.write_string(i, 5, "10A1")
    wb.close()
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=SMALL_FILE_ROWS)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = school_workbook(Path(tmp) / "thpt_x__ds.xlsx", args.rows)
        result = process_upload(src, province="ha_noi", sector="students")
        for label, typed in (("uploader's types and formats", True), ("text only", False)):
            sheets = [(s.sheet, s.original_headers, s.column_map, s.source_columns if typed else None,
                       s.source_row_column) for s in result.upload.sheets]
            t = time.process_time()
            write_error_report_frames(result.raw, result.quarantined, sheets, Path(tmp) / f"{typed}.errors.xlsx",
                                      source=src if typed else None)
            print(f"{label:30s} {args.rows:>9,} rows  report CPU {time.process_time() - t:6.2f} s")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")


if __name__ == "__main__":
    main()
