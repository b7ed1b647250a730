"""Population index: features, register frequencies, content-hash cache, clear register errors."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from rules.matching import RegisterError, build_population_index, load_or_build_index
from tests.rules.matching_helpers import person, register

D = dt.date


def small() -> pl.DataFrame:
    return register(
        [
            person("079190000001", "Nguyễn Văn An", D(1990, 1, 2), "Nam"),
            person("079190000002", "Nguyễn Thị Hòa", D(1991, 3, 4), "Nữ"),
            person("079190000003", "Trần Thị Hoà", D(1992, 5, 6), "Nữ"),
        ],
        with_filler=False,
    )


def test_index_features_and_frequencies():
    idx = build_population_index(small())
    assert idx.height == 3
    assert idx["pid"].to_list() == ["079190000001", "079190000002", "079190000003"]
    assert idx["nk"].to_list() == ["nguyen van an", "nguyen thi hoa", "tran thi hoa"]
    assert idx["fk_n"].to_list() == [2, 2, 1]  # two Nguyễn
    assert idx["gk_n"].to_list() == [1, 2, 2]  # "hoa" folded, whatever the tone style
    assert idx["gt"][1] == idx["gt"][2]  # old "Hòa" and new "Hoà" tone placement agree
    assert idx["idn"].to_list() == [79190000001, 79190000002, 79190000003]
    assert idx["prov"].unique().to_list() == ["ho_chi_minh"]


def test_cache_is_reused_and_rebuilt_when_the_register_changes(tmp_path):
    reg_path = tmp_path / "pop.parquet"
    small().write_parquet(reg_path)
    cache = tmp_path / "cache"
    a = load_or_build_index([reg_path], cache)
    files = list(cache.glob("*.parquet"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    b = load_or_build_index(reg_path, cache)  # a single path works too
    assert b.equals(a) and files[0].stat().st_mtime_ns == mtime  # read back, not rebuilt
    small().head(2).write_parquet(reg_path)
    c = load_or_build_index([reg_path], cache)
    # the changed register is re-indexed and the stale index removed (the cache stays one file)
    assert c.height == 2 and list(cache.glob("*.parquet")) != files and len(list(cache.glob("*.parquet"))) == 1


def test_register_folder(tmp_path):
    small().head(1).write_parquet(tmp_path / "a.parquet")
    small().tail(2).write_parquet(tmp_path / "b.parquet")
    idx = load_or_build_index(tmp_path, tmp_path / "cache")
    assert idx.height == 3


def test_missing_register_file_is_named(tmp_path):
    with pytest.raises(RegisterError, match=r"not found: .*nowhere\.parquet"):
        load_or_build_index([tmp_path / "nowhere.parquet"], tmp_path / "cache")


def test_missing_columns_are_named_without_data(tmp_path):
    p = tmp_path / "bad.parquet"
    small().drop("gender", "date_of_birth").write_parquet(p)
    with pytest.raises(RegisterError) as err:
        load_or_build_index([p], tmp_path / "cache")
    msg = str(err.value)
    assert "bad.parquet" in msg and "date_of_birth" in msg and "gender" in msg
    assert "Nguyễn" not in msg and "079190000001" not in msg


def test_not_parquet_and_wrong_date_type(tmp_path):
    p = tmp_path / "pop.parquet"
    p.write_text("person_id,full_name\n1,x\n")
    with pytest.raises(RegisterError, match="not readable Parquet"):
        load_or_build_index([p], tmp_path / "cache")
    with pytest.raises(RegisterError, match="date_of_birth must be a Date"):
        build_population_index(small().with_columns(pl.col("date_of_birth").cast(pl.Utf8)))


def test_parent_links_are_kept_through_the_cache(tmp_path):
    reg = small().with_columns(pl.Series("mother_id", [None, "079190000001", None], dtype=pl.Utf8))
    reg.write_parquet(tmp_path / "pop.parquet")
    idx = load_or_build_index([tmp_path / "pop.parquet"], tmp_path / "cache")
    assert idx["par1"].to_list() == [None, "079190000001", None]


def test_sorted_blocking_keys_are_cached_beside_the_index_and_change_no_decision(tmp_path):
    """The passes' sorted keys are written once beside the cached index (owner-only), memory-mapped
    by the next process, removed with a stale index; decisions equal those of an uncached index."""
    import stat

    import numpy as np

    from rules.matching import MatchConfig, match_records
    from rules.matching.index import index_source, prepared_index
    from rules.normalise import normalise_records
    from rules.synth import generate_register, generate_sector_records

    reg = generate_register("ho_chi_minh", 5_000, 611)
    raw, _ = generate_sector_records(reg, "students", 600, 612)
    recs = normalise_records(raw, "students")
    reg_path, cache = tmp_path / "pop.parquet", tmp_path / "cache"
    reg.write_parquet(reg_path)
    config = MatchConfig.default()
    first = load_or_build_index([reg_path], cache, prepare_for=config)
    folders = [p for p in cache.iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / "done").exists() and index_source(first) is not None
    assert stat.S_IMODE(folders[0].stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in folders[0].iterdir())
    again = load_or_build_index([reg_path], cache)  # read back: the keys come from the folder
    prepared = prepared_index(again, config)
    assert isinstance(next(iter(prepared.passes.values())).keys, np.memmap)
    plain = build_population_index(reg)  # not read through the cache: keys sorted in memory
    assert index_source(plain) is None and index_source(again.select(again.columns)) is None
    cached_out = match_records(recs, again, config, cache_dir=tmp_path / "est")
    cached_run = cached_out.results
    # the estimates of a cached index are keyed by its register fingerprint: found again next run
    assert not cached_out.estimates.from_cache
    assert match_records(recs, again, config, cache_dir=tmp_path / "est").estimates.from_cache
    plain_run = match_records(recs, plain, config).results
    assert cached_run.equals(plain_run)
    assert (cached_run["status"] == "matched").sum() > 300  # a real run, not an empty one
    reg.head(4_000).write_parquet(reg_path)  # a new register: the old index and its keys go
    load_or_build_index([reg_path], cache, prepare_for=config)
    now = [p for p in cache.iterdir() if p.is_dir()]
    assert len(now) == 1 and now != folders


def test_every_field_of_the_prepared_keys_is_cached(tmp_path, monkeypatch):
    """A field added to PreparedIndex (an array per index row, a tuple of them) is cached and read
    back too, so a new kind of pass never silently loses its data through the cache."""
    import dataclasses

    import numpy as np

    import rules.matching.index as ix
    from rules.matching.blocking import PreparedIndex, SortedKeys

    @dataclasses.dataclass
    class Wider(PreparedIndex):
        per_row: np.ndarray | None = None
        pair: tuple[np.ndarray, np.ndarray] | None = None

    monkeypatch.setattr(ix, "PreparedIndex", Wider)
    keys = SortedKeys(np.array([1, 5, 9], dtype=np.uint64), np.array([2, 0, 1], dtype=np.uint32))
    counts = pl.DataFrame({"tok": [7], "n": [3]})
    full = Wider({"p": keys}, keys, counts, per_row=np.arange(3), pair=(np.ones(3), np.zeros(3, dtype=bool)))
    ix.write_prepared(tmp_path / "k", full)
    back = ix._read_prepared(tmp_path / "k")
    assert back.passes["p"].keys.tolist() == [1, 5, 9] and back.id_table.pidx.tolist() == [2, 0, 1]
    assert back.token_counts.equals(counts) and back.per_row.tolist() == [0, 1, 2]
    assert back.pair[0].tolist() == [1.0, 1.0, 1.0] and back.pair[1].tolist() == [False] * 3
    empty = Wider({}, None, None)
    ix.write_prepared(tmp_path / "e", empty)
    assert ix._read_prepared(tmp_path / "e") == empty
