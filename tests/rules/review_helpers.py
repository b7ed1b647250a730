"""A small synthetic review situation: ambiguous rows, their candidates, the register and results."""

from __future__ import annotations

from datetime import date

import polars as pl

REASON = ("given=exact;family=exact;middle=exact;order=same;dob={dob};gender=agree;id=missing;cmnd=missing;"
          "province=agree")


def situation(n_rows: int = 8, n_cand: int = 2, outside: set[str] | None = None):
    """(queue, records, register, results) with ``n_rows`` ambiguous rows of ``n_cand`` candidates each."""
    outside = outside or set()
    q, rec, reg, res = [], [], [], []
    for i in range(n_rows):
        key = ("f" * 63 + str(i % 2), "DS", i + 1)
        rec.append({"file_sha256": key[0], "sheet": key[1], "row_number": key[2], "full_name": f"Nguyễn Văn Tèo {i}",
                    "date_of_birth": "01/02/2015", "gender": "Nam", "national_id": None, "old_id": None})
        res.append({"file_name": "u0__ds.xlsx", "file_sha256": key[0], "sheet": key[1], "row_number": key[2],
                    "province": "ho_chi_minh", "sector": "students", "unit": "u0", "status": "ambiguous",
                    "person_id": None, "score": 0.97, "runner_up_score": 0.96, "reason": REASON.format(dob="exact"),
                    "flags": [], "proposed_id": f"0792150{i:03d}01"})
        for k in range(1, n_cand + 1):
            pid = f"0792150{i:03d}{k:02d}"
            q.append({"file_name": "u0__ds.xlsx", "file_sha256": key[0], "sheet": key[1], "row_number": key[2],
                      "excel_row": key[2] + 3, "province": "ho_chi_minh", "sector": "students", "unit": "u0",
                      "candidate_rank": k, "candidate_id": pid, "candidate_score": 0.97 - 0.01 * k,
                      "candidate_reason": REASON.format(dob="exact" if k == 1 else "year_only")})
            reg.append({"person_id": pid, "full_name": f"Nguyễn Văn Tèo {i}", "date_of_birth": date(2015, 2, 1),
                        "gender": "Nam", "old_id": None,
                        "province": "Hà Nội" if pid in outside else "Hồ Chí Minh",
                        "mother_id": "079180000001" if k == 1 else None, "father_id": None})
    reg.append({"person_id": "079180000001", "full_name": "Trần Thị Mẹ", "date_of_birth": date(1980, 1, 1),
                "gender": "Nữ", "old_id": None, "province": "Hồ Chí Minh", "mother_id": None, "father_id": None})
    queue = pl.DataFrame(q).with_columns(pl.col("candidate_rank").cast(pl.Int32))
    return queue, pl.DataFrame(rec), pl.DataFrame(reg), pl.DataFrame(res)
