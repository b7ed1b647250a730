"""Shared synthetic data for the verification tests (no tests here; imported by test_verify_*.py)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from rules.verify import build_requests


def register(n: int = 400) -> pl.DataFrame:
    """A small population register (contract 1)."""
    return pl.DataFrame(
        {
            "person_id": [f"079{i:09d}" for i in range(n)],
            "full_name": [f"Nguyễn Văn An {i}" for i in range(n)],
            "date_of_birth": [dt.date(2008, 1, 1) + dt.timedelta(days=i) for i in range(n)],
            "gender": ["Nam" if i % 2 else "Nữ" for i in range(n)],
        }
    )


def matches(n: int = 300, units: tuple[str, ...] = ("thpt_a", "thpt_b", "thpt_c"), file_sha: str = "f" * 64):
    """Match results (contract 6) with the fields to confirm: every 10th row has a wrong birth date,
    every 25th row proposes an id absent from the register, and a few rows are not matched."""
    rows = []
    for i in range(n):
        pid = f"079{i:09d}" if i % 25 else f"001{i:09d}"
        dob = dt.date(2008, 1, 1) + dt.timedelta(days=i + (1 if i % 10 == 3 else 0))
        rows.append(
            {
                "file_sha256": file_sha,
                "sheet": "",
                "row_number": i + 1,
                "province": "ho_chi_minh" if i % 3 else "ha_noi",
                "sector": "students",
                "unit": units[i % len(units)],
                "status": "matched" if i % 50 != 7 else "unmatched",
                "person_id": pid,
                "full_name": f"nguyễn văn  an {i}",
                "date_of_birth": dob.isoformat(),
                "gender": "Nam" if i % 2 else "Nữ",
            }
        )
    return pl.DataFrame(rows)


def requests(n: int = 300, **kw) -> pl.DataFrame:
    return build_requests(matches(n, **kw), enqueued_at=dt.datetime(2026, 11, 20, 8, tzinfo=dt.UTC))
