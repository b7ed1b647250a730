"""The national second pass (rules.matching.national): buckets lose no candidate of the right birth
year, national name counts, one decision per row, and a small national run end to end."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from rules.config import ConfigError
from rules.matching import MatchConfig
from rules.matching.blocking import generate_pairs, prepare_index
from rules.matching.features import record_features
from rules.matching.index import RegisterError, build_population_index, read_register
from rules.matching.national import (
    NO_BIRTH_YEAR,
    SECOND_PASS_COLUMNS,
    TWO_BUCKETS,
    NationalCounts,
    NationalPolicy,
    bucket_register,
    build_bucket_indexes,
    load_bucket_index,
    load_policy,
    merge_decisions,
    prepare_bucket,
    row_buckets,
    row_years,
    rows_without_year,
    run_second_pass,
    second_pass_rows,
    split_register,
    sum_token_counts,
    token_counts_of,
    with_national_counts,
)
from rules.normalise import normalise_records
from rules.synth import REFERENCE_DATE
from rules.synth.national import generate_national_register, national_provinces, national_sector_records

YEARS = st.one_of(st.none(), st.integers(1850, 2060))


def _cccd(year: int | None, code: str = "079", serial: int = 1) -> str | None:
    if year is None or not 1900 <= year <= 2099:
        return None
    century = (year - 1900) // 100
    return f"{code}{2 * century}{year % 100:02d}{serial:06d}"


# ------------------------------------------------------------------------------------------ policy


def test_the_shipped_policy_loads_and_names_its_buckets() -> None:
    p = load_policy()
    keys = p.bucket_keys()
    assert len(keys) == p.n_buckets and len(set(keys)) == len(keys)
    assert keys[0].startswith(str(p.first_year)) and keys[-1].endswith(str(p.last_year))


def test_an_unknown_policy_key_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "national.yaml"
    f.write_text("bucket_years: 5\nbucket_widht: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bucket_widht"):
        load_policy(f)


def test_the_id_year_comes_from_the_cccd_only() -> None:
    df = pl.DataFrame({
        "dob_year": [2010, None, None, None],
        "id_clean": ["079210001234", "079099001234", "079810001234", "012345678"],
        "id_kind": ["cccd", "cccd", "cccd", "cmnd9"],
    })
    years = row_years(df)
    # digit 4 = 2: 21st century; 0: 20th; 8 is no living person's century; a 9-digit CMND has no year
    assert years["id_year"].to_list() == [2010, 1999, None, None]


# ------------------------------------------------------------------------------- the guarantee


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(1, 40),
    first=st.integers(1880, 1960),
    span=st.integers(0, 150),
    rows=st.lists(st.tuples(YEARS, YEARS), min_size=1, max_size=30),
    people=st.lists(st.integers(1850, 2060), min_size=1, max_size=60),
    no_year=st.sampled_from(["report", "every_bucket"]),
)
def test_every_person_of_the_rows_dob_or_id_year_is_in_a_bucket_the_row_visits(
    width, first, span, rows, people, no_year
) -> None:
    """For ANY policy, rows and register years: a person born in the row's DOB year or ID year is in a
    bucket the row visits (edge years clamped alike on both sides)."""
    policy = NationalPolicy(bucket_years=width, first_year=first, last_year=first + span, no_year=no_year)
    records = pl.DataFrame(
        {"dob_year": [r[0] for r in rows], "id_clean": [_cccd(r[1]) for r in rows],
         "id_kind": ["cccd" if _cccd(r[1]) else None for r in rows]},
        schema={"dob_year": pl.Int32, "id_clean": pl.Utf8, "id_kind": pl.Utf8},
    )
    visits = row_buckets(records, policy)
    seen = {(r, b) for r, b in visits.iter_rows()}
    person_bucket = pl.DataFrame({"y": people}, schema={"y": pl.Int32}).select(policy.bucket_of(pl.col("y")))[:, 0]
    years = row_years(records)
    for i, (dy, iy) in enumerate(years.iter_rows()):
        for y, b in zip(people, person_bucket.to_list(), strict=True):
            if y in (dy, iy):
                assert (i, b) in seen
        visited = {b for r, b in seen if r == i}
        assert len(visited) <= 2 or (dy is None and iy is None)
    none = set(rows_without_year(records).to_list())
    assert none == {i for i, (dy, iy) in enumerate(years.iter_rows()) if dy is None and iy is None}
    every = {r for r, _ in seen if r in none}
    assert every == (none if no_year == "every_bucket" else set())


@functools.cache
def _national() -> tuple[list[pl.DataFrame], pl.DataFrame]:
    """A small national register (3 provinces) and harsh rows of Ho Chi Minh City, 40% from elsewhere."""
    regs = [r for _, r in generate_national_register(national_provinces(3), 2_400, seed=11)]
    others = pl.concat(regs[1:])
    raw, truth = national_sector_records(regs[0], others, "insurance", 600, seed=12, out_share=0.4)
    rows = normalise_records(raw, "insurance", today=REFERENCE_DATE).with_columns(
        file_sha256=pl.lit("f"), sheet=pl.lit("")
    )
    return regs, rows.with_columns(truth.select("person_id", "out_of_province").rename({"person_id": "_true"}))


def _year_passes(config: MatchConfig) -> MatchConfig:
    """The passes keyed by the date of birth or the birth year, each run for every row."""
    passes = [p.model_copy(update={"skip_if_hit_in": ()}) for p in config.passes
              if p.kind in ("exact", "token") and {"dob", "yr"} & set(p.index_keys)]
    return config.model_copy(update={"passes": passes})


def _pairs(rows: pl.DataFrame, index: pl.DataFrame, config: MatchConfig, tokens=None) -> set[tuple[int, str]]:
    if rows.height == 0 or index.height == 0:
        return set()
    prepared = prepare_index(index, config) if tokens is None else prepare_bucket(index, config, tokens)
    cands = generate_pairs(record_features(rows), prepared, config).pairs
    pid = index["pid"].to_numpy()
    return {(int(r), str(pid[p])) for r, p in zip(cands["rid"].to_numpy(), cands["pidx"].to_numpy(), strict=True)}


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
@given(width=st.sampled_from([1, 2, 3, 5, 7, 10, 25]), first=st.integers(1900, 1990))
@example(width=1, first=1900)
def test_bucketed_blocking_keeps_every_candidate_of_the_right_year(width: int, first: int) -> None:
    """Against an unbucketed national run: every candidate pair that a pass keyed by the date or the
    year proposes, whose person is born in the row's DOB year or ID year, is proposed in a bucket."""
    regs, rows = _national()
    policy = NationalPolicy(bucket_years=width, first_year=first, last_year=2029)
    config = _year_passes(MatchConfig.default())
    national = build_population_index(pl.concat(regs))
    years = dict(zip(national["pid"].to_list(), national["yr"].to_list(), strict=True))
    ry = row_years(rows)
    want = {(r, p) for r, p in _pairs(rows, national, config)
            if years[p] is not None and years[p] in (ry["dob_year"][r], ry["id_year"][r])}
    counts = NationalCounts.of([national.select("gk", "fk", "mk", "nk")])
    bucket = national.select(policy.bucket_of(pl.col("yr")))[:, 0]
    # national token counts, summed over the buckets as build_bucket_indexes does
    tokens = sum_token_counts(token_counts_of(national.filter(bucket == b), config) for b in bucket.unique())
    assert tokens.sort("tok").equals(token_counts_of(national, config).sort("tok"))
    _ = national.select(policy.bucket_of(pl.col("yr")))[:, 0]
    visits = row_buckets(rows, policy)
    got: set[tuple[int, str]] = set()
    for b in visits["bucket"].unique().to_list():
        sel = visits.filter(pl.col("bucket") == b)["_row"].to_numpy()
        idx = with_national_counts(national.filter(bucket == b), counts)
        got |= {(int(sel[r]), p) for r, p in _pairs(rows[sel], idx, config, tokens)}
    assert want, "the data must exercise the property"
    assert want <= got, sorted(want - got)[:5]


# --------------------------------------------------------------------------- register and counts


def test_buckets_partition_the_register_and_counts_are_national(tmp_path: Path) -> None:
    regs, _ = _national()
    files = []
    for i, r in enumerate(regs):
        files.append(tmp_path / f"p{i}.parquet")
        r.write_parquet(files[-1])
    policy = NationalPolicy(bucket_years=10, first_year=1950, last_year=2019)
    sizes = build_bucket_indexes(files, tmp_path / "b", policy)
    everyone = pl.concat(regs)
    assert sum(sizes.values()) == everyone.filter(pl.col("date_of_birth").is_not_null()).height
    national = build_population_index(everyone)
    seen = []
    parents_named = 0
    for b in policy.bucket_keys():
        idx = load_bucket_index(tmp_path / "b", b)
        assert idx.height == sizes[b] == bucket_register(files, b, policy).height
        lo, hi = policy.year_range(b)
        assert idx.filter((lo is not None) & (pl.col("yr") < (lo or 0))).height == 0
        assert idx.filter((hi is not None) & (pl.col("yr") > (hi or 0))).height == 0
        seen += idx["pid"].to_list()
        # national frequency of each given / full name, rescaled to the bucket; name + year exact
        j = idx.join(national.select("pid", pl.col("gk_n").alias("g"), pl.col("nk_n").alias("n"),
                                     pl.col("nky_n").alias("ny"), pl.col("grk").alias("m"),
                                     pl.col("grk2").alias("f")), on="pid")
        if j.height:
            # parents' names as in the national index, though the parents are in other buckets
            assert j["grk"].eq_missing(j["m"]).all() and j["grk2"].eq_missing(j["f"]).all()
            parents_named += int(j["grk"].is_not_null().sum())
            np.testing.assert_allclose(j["gk_n"] / idx.height, j["g"] / national.height, rtol=1e-9)
            np.testing.assert_allclose(j["nk_n"] / idx.height, j["n"] / national.height, rtol=1e-9)
            assert (j["nky_n"] == j["ny"]).all()
    assert sorted(seen) == sorted(everyone["person_id"].to_list())  # each person in exactly one bucket
    assert parents_named > 0


_DOBS = st.one_of(st.none(), st.dates(dt.date(1880, 1, 1), dt.date(2040, 12, 31)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    files=st.lists(st.tuples(st.lists(_DOBS, max_size=12), st.booleans(), st.booleans()), min_size=1, max_size=4),
    width=st.integers(1, 30),
    first=st.integers(1900, 1990),
)
def test_the_one_pass_split_gives_each_bucket_the_per_bucket_scan(
    tmp_path_factory: pytest.TempPathFactory, files: list, width: int, first: int
) -> None:
    """Reading each register file once and splitting it gives every bucket the very frame the per-bucket
    scan gives (rows, order, columns, dtypes), whatever optional columns and date dtypes the files have."""
    tmp = tmp_path_factory.mktemp("split")
    policy = NationalPolicy(bucket_years=width, first_year=first, last_year=first + 3 * width + 1)
    paths = []
    for i, (dobs, has_old_id, as_datetime) in enumerate(files):
        df = pl.DataFrame({"person_id": [f"p{i}-{k}" for k in range(len(dobs))],
                           "full_name": ["Nguyễn Văn An"] * len(dobs), "date_of_birth": pl.Series(dobs, dtype=pl.Date),
                           "gender": ["nam"] * len(dobs), "ignored": [1] * len(dobs)})
        if has_old_id:
            df = df.with_columns(old_id=pl.lit("123456789"))
        if as_datetime:
            df = df.with_columns(pl.col("date_of_birth").cast(pl.Datetime("us")))
        paths.append(tmp / f"r{i}.parquet")
        df.write_parquet(paths[-1])
    split = split_register(paths, tmp / "split", policy)
    total = 0
    for b in policy.bucket_keys():
        expected = bucket_register(paths, b, policy)
        got = split.bucket(b)
        total += got.height
        assert got.schema == expected.schema
        assert got.equals(expected)
    assert total == sum(sum(d is not None for d in dobs) for dobs, _, _ in files)


@pytest.mark.parametrize("break_it", ["string_dob", "no_gender", "not_parquet"])
def test_a_malformed_register_fails_the_bucket_build_with_the_first_pass_error(
    tmp_path: Path, break_it: str
) -> None:
    """The bucket indexes refuse a malformed register with the first pass's one-line RegisterError
    (file and column named), before any bucket is written."""
    regs, _ = _national()
    good, bad = tmp_path / "good.parquet", tmp_path / "bad.parquet"
    regs[0].write_parquet(good)
    if break_it == "string_dob":
        regs[1].with_columns(pl.col("date_of_birth").cast(pl.Utf8)).write_parquet(bad)
    elif break_it == "no_gender":
        regs[1].drop("gender").write_parquet(bad)
    else:
        bad.write_bytes(b"not parquet at all")
    with pytest.raises(RegisterError) as first_pass:
        read_register([good, bad])
    with pytest.raises(RegisterError) as second_pass:
        build_bucket_indexes([good, bad], tmp_path / "b", load_policy())
    assert str(second_pass.value) == str(first_pass.value)
    assert "\n" not in str(second_pass.value) and str(bad) in str(second_pass.value)
    assert not list((tmp_path / "b").glob("*.parquet"))


# ------------------------------------------------------------------------------------------ merging


def _decision(row: int, bucket: str, status: str, person: str | None, score: float | None) -> dict:
    return {"file_sha256": "f", "sheet": "", "row_number": row, "province": "ho_chi_minh", "sector": "students",
            "bucket": bucket, "status": status, "person_id": person, "person_province": "ha_noi" if person else None,
            "score": score, "reason": "r"}


@settings(max_examples=50, deadline=None)
@given(st.randoms(use_true_random=False))
def test_merge_keeps_the_better_decision_whatever_the_order(rnd) -> None:
    parts = [
        _decision(1, "2010-2014", "unmatched", None, None), _decision(1, "1995-1999", "matched", "A", 0.995),
        _decision(2, "2010-2014", "ambiguous", None, 0.7), _decision(2, "2015-2019", "ambiguous", None, 0.9),
        _decision(3, "2010-2014", "matched", "B", 0.999), _decision(3, "1980-1984", "matched", "C", 0.998),
        _decision(4, "2000-2004", "matched", "D", 0.999), _decision(4, "2005-2009", "matched", "D", 0.997),
        _decision(5, "2000-2004", "unmatched", None, 0.1), _decision(5, "2005-2009", "unmatched", None, 0.1),
    ]
    rnd.shuffle(parts)
    frames = [pl.DataFrame([p]) for p in parts]
    merged = merge_decisions(frames).sort("row_number")
    assert merged.columns == list(SECOND_PASS_COLUMNS)
    got = {r["row_number"]: (r["status"], r["person_id"], r["bucket"], r["reason"])
           for r in merged.iter_rows(named=True)}
    assert got[1][:3] == ("matched", "A", "1995-1999")
    assert got[2][:3] == ("ambiguous", None, "2015-2019")
    assert got[3][:2] == ("ambiguous", None) and got[3][3] == TWO_BUCKETS  # two people matched
    assert got[4][:3] == ("matched", "D", "2000-2004")
    assert got[5][2] == "2000-2004"  # a tie goes to the earlier bucket


# a row anywhere in the lake: its partition, then file, sheet and row (spelled here, the spec under test)
KEY = ["province", "sector", "file_sha256", "sheet", "row_number"]
PARTITIONS = [("ho_chi_minh", "students"), ("ha_noi", "students"), ("ho_chi_minh", "insurance")]
DECISIONS = st.fixed_dictionaries({
    "partition": st.sampled_from(PARTITIONS),
    "row": st.integers(1, 4),
    "bucket": st.sampled_from(["1995-1999", "2000-2004", "2005-2009"]),
    "status": st.sampled_from(["matched", "ambiguous", "unmatched"]),
    "person": st.sampled_from(["A", "B", None]),
    "score": st.one_of(st.none(), st.sampled_from([0.1, 0.7, 0.99])),
})


def _in(d: dict) -> dict:
    """A bucket's decision on row ``d["row"]`` of the ONE file every partition uploaded."""
    province, sector = d["partition"]
    return {**_decision(d["row"], d["bucket"], d["status"], d["person"], d["score"]),
            "province": province, "sector": sector}


@settings(max_examples=80, deadline=None)
@given(st.lists(DECISIONS, min_size=1, max_size=30))
def test_merge_keeps_one_decision_per_partition_for_the_same_file(decisions) -> None:
    # same file_sha256, sheet and row numbers in every partition: merging them all at once must give
    # what merging each partition alone gives (no partition's row decided by another's buckets)
    parts = [pl.DataFrame([_in(d)]) for d in decisions]
    together = merge_decisions(parts).sort(KEY)
    alone = pl.concat([merge_decisions([f for f, d in zip(parts, decisions, strict=True) if d["partition"] == p])
                       for p in PARTITIONS if any(d["partition"] == p for d in decisions)]).sort(KEY)
    assert together.equals(alone)
    assert together.height == len({(d["partition"], d["row"]) for d in decisions})


def test_second_pass_rows_takes_each_partition_s_own_unmatched_rows() -> None:
    # one file in two partitions: unmatched in one, matched in the other; the rows sent on are the
    # unmatched partition's only, however the frames of both are handed over
    clean = pl.DataFrame([{**_decision(r, "", "", None, None), "province": p, "sector": s}
                          for (p, s) in PARTITIONS[:2] for r in (1, 2)]).select(KEY)
    first = clean.with_columns(status=pl.when(pl.col("province") == "ha_noi").then(pl.lit("matched"))
                               .otherwise(pl.lit("unmatched")))
    rows = second_pass_rows(first, clean, load_policy())
    assert rows.sort(KEY).equals(clean.filter(pl.col("province") == "ho_chi_minh").sort(KEY))


# ------------------------------------------------------------------------------------------ end to end


def test_a_small_national_second_pass_finds_people_registered_elsewhere(tmp_path: Path) -> None:
    regs, rows = _national()
    files = []
    for i, r in enumerate(regs):
        files.append(tmp_path / f"p{i}.parquet")
        r.write_parquet(files[-1])
    policy = load_policy()
    build_bucket_indexes(files, tmp_path / "b", policy)
    # the first pass (home register) cannot find the 40% registered elsewhere: send every row
    merged = run_second_pass(rows, tmp_path / "b", policy)
    assert merged.height == rows.height
    assert merged.select("file_sha256", "sheet", "row_number").n_unique() == rows.height
    j = rows.select("row_number", "_true", "out_of_province").join(merged, on="row_number")
    oop = j.filter(pl.col("out_of_province"))
    matched = oop.filter(pl.col("status") == "matched")
    correct = matched.filter(pl.col("person_id") == pl.col("_true"))
    assert correct.height >= 0.6 * oop.height  # harsh noise: most, not all
    all_matched = j.filter(pl.col("status") == "matched")
    assert all_matched.filter(pl.col("person_id") == pl.col("_true")).height >= 0.97 * all_matched.height
    assert (correct["person_province"] != "ho_chi_minh").all()
    no_year = j.filter(pl.col("reason") == NO_BIRTH_YEAR)
    assert no_year.height == rows_without_year(rows).len()
    assert (no_year["status"] == "unmatched").all() and no_year["bucket"].is_null().all()


def test_the_national_generator_mixes_in_people_registered_elsewhere() -> None:
    regs, rows = _national()
    everyone = pl.concat(regs)
    assert everyone["person_id"].n_unique() == everyone.height  # IDs unique nationally
    home_ids = set(regs[0]["person_id"].to_list())
    oop = rows.filter(pl.col("out_of_province"))
    assert oop.height == round(0.4 * rows.height)
    assert (rows["province"] == "ho_chi_minh").all()  # submitted in the home province
    assert oop["_true"].is_not_null().all() and not (set(oop["_true"].to_list()) & home_ids)
    assert set(oop["_true"].to_list()) <= set(everyone["person_id"].to_list())
    assert rows["row_number"].to_list() == list(range(1, rows.height + 1))
