"""Birth dates a list's person cannot have are rejected, with a reason the uploader sees.

A birth date after the processing day (``dob_in_future``) is impossible for anyone; one giving an
age outside the sector's plausible range (``plausible_age`` in ``rules/reasons.yaml``, e.g. a pupil
born in 1899) is ``dob_implausible_for_sector``. Before, both were accepted with an internal flag
only. The rejected row is still matched (flag ``validation_failed``), so nothing is lost.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.ingest import process_upload
from rules.normalise import normalise_records, normalise_register
from rules.sectors import SECTORS
from rules.validate import plausible_age, reasons, validate_records

FAST = settings(max_examples=60, deadline=None)
REJECTIONS = {"dob_in_future", "dob_implausible_for_sector"}
sectors = st.sampled_from(SECTORS)
days = st.dates(date(2000, 1, 1), date(2090, 12, 31))


def _age(born: date, on: date) -> int:
    """Completed years on ``on`` (a 29 February birthday comes on 1 March in other years)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _check(cells: list[str], sector: str, today: date) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    raw = pl.DataFrame({
        "full_name": ["Nguyễn Văn An"] * len(cells), "date_of_birth": cells, "gender": ["Nam"] * len(cells),
        "national_id": [None] * len(cells), "file_sha256": ["f"] * len(cells),
        "row_number": list(range(1, len(cells) + 1)),
    }, schema_overrides={"national_id": pl.String})
    normalised = normalise_records(raw, sector, today=today)
    valid, bad = validate_records(normalised, sector, headers={"date_of_birth": "Ngày sinh"})
    return normalised, valid, bad


@FAST
@given(sector=sectors, today=days, ahead=st.integers(1, 36_000))
def test_any_birth_date_after_the_processing_day_is_rejected_as_in_the_future(sector, today, ahead):
    born = date.fromordinal(today.toordinal() + ahead)
    if born.year > today.year + 100:  # beyond the parser's range: impossible_date, rejected too
        born = date(today.year + 100, 12, 31)
    _, valid, bad = _check([born.strftime("%d/%m/%Y")], sector, today)
    assert valid.height == 0
    assert bad["reason_code"].to_list() == ["dob_in_future"]
    assert bad["reason_column"].to_list() == ["Ngày sinh"]
    assert bad["message_vi"][0] == reasons(sector)["dob_in_future"].vi


@FAST
@given(sector=sectors, today=days, back=st.integers(0, 44_000))
def test_a_birth_date_is_rejected_as_implausible_exactly_when_the_age_is_outside_the_sectors_range(
        sector, today, back):
    born = date.fromordinal(today.toordinal() - back)
    low, high = plausible_age(sector)
    normalised, valid, bad = _check([born.strftime("%d/%m/%Y")], sector, today)
    if low <= _age(born, today) <= high:
        assert valid.height == 1 and normalised["dob"].to_list() == [born]
    else:
        assert bad["reason_code"].to_list() == ["dob_implausible_for_sector"]
        assert f"{low}" in bad["message_en"][0] and f"{high} years" in bad["message_en"][0]
        assert normalised["dob"].to_list() == [born]  # kept for matching: a typed year one digit off is evidence


@FAST
@given(sector=sectors, today=days, year=st.integers(1850, 2190))
def test_a_year_alone_is_rejected_only_when_every_day_of_it_is(sector, today, year):
    low, high = plausible_age(sector)
    normalised, _, _ = _check([str(year)], sector, today)
    code = normalised["dob_error"][0]
    if year > today.year + 100:
        assert code == "impossible_date"
        return
    first, last = date(year, 1, 1), date(year, 12, 31)
    if first > today:
        assert code == "dob_in_future"
    elif _age(last, today) > high or _age(first, today) < low:
        assert code == "dob_implausible_for_sector"
    else:
        assert code is None and normalised["dob_year"].to_list() == [year]


def test_the_testers_list_pupils_born_in_1899_1901_and_2030_are_rejected(tmp_path: Path):
    path = tmp_path / "ds.csv"
    path.write_text("Họ và tên,Ngày sinh,Số định danh cá nhân,Giới tính\n"
                    "Nguyễn Văn Tèo,31/12/1899,,Nam\nNguyễn Văn Tý,01/01/1901,,Nam\n"
                    "Nguyễn Văn Sửu,01/01/2030,,Nam\nNguyễn Văn Dần,1901,,Nam\n"
                    "Nguyễn Văn Mão,05/09/2012,,Nam\n", encoding="utf-8")
    result = process_upload(path, province="da_nang", sector="students", unit="u", today=date(2026, 11, 30))
    assert result.counts["accepted"] == 1
    assert result.counts["rejected_by_reason"] == {"dob_implausible_for_sector": 3, "dob_in_future": 1}
    assert "  dob_implausible_for_sector: 3" in result.summary_lines()


def test_each_sectors_message_states_its_own_range():
    for sector in SECTORS:
        low, high = plausible_age(sector)
        r = reasons(sector)["dob_implausible_for_sector"]
        assert f"từ {low} đến {high} tuổi" in r.vi and f"{low} to {high} years" in r.en
        assert r.reject and "{" not in r.vi + r.en


def test_the_register_is_not_judged_by_a_sectors_range():
    register = pl.DataFrame({"person_id": ["079212000123"], "full_name": ["Nguyễn Văn An"],
                             "date_of_birth": [date(1901, 1, 1)], "gender": ["Nam"]})
    out = normalise_register(register, today=date(2026, 11, 30))
    assert out["dob"].to_list() == [date(1901, 1, 1)] and out["dob_error"].to_list() == [None]


def test_the_default_processing_day_is_vietnams_not_the_hosts(monkeypatch):
    """At 20:00 UTC on 30 November it is 03:00 on 1 December in Vietnam: a newborn of 1 December (a
    hepatitis B birth dose) is not born in the future, whatever the host's clock zone."""
    from datetime import UTC, datetime

    import rules.clock

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 11, 30, 20, 0, tzinfo=UTC).astimezone(tz)

    monkeypatch.setattr(rules.clock, "datetime", Clock)
    monkeypatch.setenv("TZ", "UTC")
    assert rules.clock.vietnam_today() == date(2026, 12, 1)
    raw = pl.DataFrame({"full_name": ["Nguyễn Văn An"], "date_of_birth": ["01/12/2026"], "gender": ["Nam"],
                        "national_id": [None], "file_sha256": ["f"], "row_number": [1]},
                       schema_overrides={"national_id": pl.String})
    normalised = normalise_records(raw, "vaccinations")  # no today given: the default day
    assert normalised["dob_error"].to_list() == [None]
