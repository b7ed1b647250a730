"""Write a small upload (a list of text rows) as the xlsx or CSV file an uploader would send, for
the ingest tests that build their hostile files cell by cell."""

from __future__ import annotations

from pathlib import Path

import xlsxwriter


def write_rows(rows: list[list[str]], folder: str | Path, xlsx: bool) -> Path:
    """``rows`` (header first) as ``<folder>/ds.xlsx`` (sheet "DS", every non-empty cell a text cell, so
    nothing is turned into a number) or ``<folder>/ds.csv`` (UTF-8, comma, CRLF as Excel writes it)."""
    if xlsx:
        path = Path(folder) / "ds.xlsx"
        wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
        ws = wb.add_worksheet("DS")
        for i, r in enumerate(rows):
            for j, v in enumerate(r):
                if v:
                    ws.write_string(i, j, v)
        wb.close()
        return path
    path = Path(folder) / "ds.csv"
    path.write_bytes(("\r\n".join(",".join(r) for r in rows) + "\r\n").encode("utf-8"))
    return path
