"""Hand-made registers and normalised records for the matching tests (contracts §1 and §4)."""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl

from rules.matching.features import fold_name, tone_name

FAMILIES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng"]
MIDDLES = ["Văn", "Thị", "Minh", "Ngọc", "Đức", "Thanh"]
GIVENS = ["An", "Bình", "Chi", "Dũng", "Hà", "Hùng", "Lan", "Mai", "Nam", "Phúc", "Quang", "Tâm"]


def person(pid, name, dob, gender, old_id=None, province="Hồ Chí Minh") -> dict:
    return {
        "person_id": pid,
        "full_name": name,
        "date_of_birth": dob,
        "gender": gender,
        "old_id": old_id,
        "province": province,
    }


def filler(n: int = 400) -> list[dict]:
    """Background population so that frequencies look like a register (many Nguyễn, few rare names).

    IDs end in six scattered digits, as real CCCD numbers do (Decree 137/2015 Art. 13: the last six
    digits are random): consecutive numbers would make every filler ID one digit from the next, and
    the matcher counts how often that happens in the register (``u_from: id_neighbours``)."""
    out = []
    combos = itertools.cycle(itertools.product(FAMILIES, MIDDLES, GIVENS))
    base = dt.date(1960, 1, 1)
    for i in range(n):
        f, m, g = next(combos)
        if i % 3 == 0:
            f = "Nguyễn"
        out.append(
            person(
                f"0791{(i * 104_729 + 12_345) % 10**8:08d}",  # 104,729 is prime: distinct, scattered
                f"{f} {m} {g}",
                base + dt.timedelta(days=37 * i + i % 11),
                "Nam" if i % 2 else "Nữ",
            )
        )
    return out


def register(people: list[dict], with_filler: bool = True) -> pl.DataFrame:
    rows = people + (filler() if with_filler else [])
    return pl.DataFrame(
        rows,
        schema={
            "person_id": pl.Utf8,
            "full_name": pl.Utf8,
            "date_of_birth": pl.Date,
            "gender": pl.Utf8,
            "old_id": pl.Utf8,
            "province": pl.Utf8,
        },
    )


def record(
    name,
    dob=None,
    gender=None,
    national_id=None,
    id_kind=None,
    year=None,
    precision=None,
    old_id=None,
    row=1,
    guardian=None,
) -> dict:
    """One normalised record as rules.normalise would emit it (only the columns matching reads)."""
    if dob is not None:
        precision = precision or "day"
        year, month, day = dob.year, dob.month, dob.day
    else:
        month = day = None
        precision = precision or ("year" if year else None)
    kind = id_kind or (
        "cccd"
        if national_id and len(national_id) == 12
        else "cmnd9"
        if national_id and len(national_id) == 9
        else "invalid"
        if national_id
        else "missing"
    )
    return {
        "file_sha256": "f" * 64,
        "sheet": "",
        "row_number": row,
        "province": "ho_chi_minh",
        "sector": "students",
        "full_name": name,
        "name_key": fold_name(name),
        "name_toned": tone_name(name),
        "dob": dob if dob is not None else (dt.date(year, 1, 1) if year else None),
        "dob_year": year,
        "dob_month": month,
        "dob_day": day,
        "dob_precision": precision,
        "gender_norm": gender,
        "id_clean": national_id,
        "id_kind": kind,
        "old_id_clean": old_id,
        "guardian_name": guardian,
    }


def records(rows: list[dict]) -> pl.DataFrame:
    rows = [dict(r, row_number=i + 1) for i, r in enumerate(rows)]
    return pl.DataFrame(
        rows,
        schema={
            "file_sha256": pl.Utf8,
            "sheet": pl.Utf8,
            "row_number": pl.Int64,
            "province": pl.Utf8,
            "sector": pl.Utf8,
            "full_name": pl.Utf8,
            "name_key": pl.Utf8,
            "name_toned": pl.Utf8,
            "dob": pl.Date,
            "dob_year": pl.Int32,
            "dob_month": pl.Int8,
            "dob_day": pl.Int8,
            "dob_precision": pl.Utf8,
            "gender_norm": pl.Utf8,
            "id_clean": pl.Utf8,
            "id_kind": pl.Utf8,
            "old_id_clean": pl.Utf8,
            "guardian_name": pl.Utf8,
        },
    )
