"""The lake's storage backends (rules.lake_store): local Parquet and Delta on a real S3-compatible server.

The server is moto in server mode on 127.0.0.1 (``tests/s3_server.py``). Checked: a partition written,
replaced and read back on both backends (same answers); several OS processes writing different
partitions of one table at once (nothing lost, every write its own Delta version); two processes
replacing the same partition while a reader loops (every read is one whole version, never a mix).
"""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import polars as pl

from rules.lake_store import DeltaStore, LocalParquetStore, open_lake, storage_options_from_env
from rules.layout import DataLayout
from tests.s3_server import S3Lake  # the s3_lake fixture is registered in tests/conftest.py

UTC = pl.Datetime("us", "UTC")


def _frame(tag: str, n: int, start: int = 0) -> pl.DataFrame:
    """``n`` rows of every column type the lake schema uses, all carrying ``tag``."""
    i = pl.int_range(start, start + n, eager=True)
    return pl.DataFrame({
        "tag": pl.Series([tag] * n, dtype=pl.Utf8),
        "i": i,
        "small": (i % 100).cast(pl.Int8),
        "mid": i.cast(pl.Int32),
        "score": i.cast(pl.Float64) / 7,
        "ok": i % 2 == 0,
        "born": pl.Series([None] * n, dtype=pl.Date).fill_null(pl.date(2012, 1, 1)),
        "at": pl.Series([None] * n, dtype=UTC),
        "flags": pl.Series([["a", "b"]] * n, dtype=pl.List(pl.Utf8)),
    })


def _layouts(tmp_path: Path, s3: S3Lake) -> list[DataLayout]:
    return [DataLayout.at(tmp_path / "local"), DataLayout.at(tmp_path / "remote", lake_root=s3.uri)]


def test_backend_follows_the_layout(tmp_path: Path, s3_lake: S3Lake):
    local, remote = _layouts(tmp_path, s3_lake)
    assert isinstance(open_lake(local), LocalParquetStore)
    store = open_lake(remote)
    assert isinstance(store, DeltaStore)
    assert store.storage_options["AWS_ENDPOINT_URL"] == s3_lake.env["AWS_ENDPOINT_URL"]
    assert store.storage_options["AWS_ALLOW_HTTP"] == "true"  # a plain-http local server
    assert store.storage_options["AWS_S3_CONDITIONAL_PUT"] == "etag"  # commits race safely


def test_storage_options_respect_a_chosen_commit_mode():
    opts = storage_options_from_env({"AWS_S3_LOCKING_PROVIDER": "dynamodb", "AWS_DEFAULT_REGION": "ap-southeast-1",
                                     "AWS_ENDPOINT_URL": "https://s3.example.vn", "HOME": "/root"})
    assert opts == {"AWS_S3_LOCKING_PROVIDER": "dynamodb", "AWS_DEFAULT_REGION": "ap-southeast-1",
                    "AWS_REGION": "ap-southeast-1", "AWS_ENDPOINT_URL": "https://s3.example.vn"}


def test_partition_written_replaced_and_read_back_on_both_backends(tmp_path: Path, s3_lake: S3Lake):
    answers = []
    for layout in _layouts(tmp_path, s3_lake):
        store = open_lake(layout)
        assert store.read("t", "hcm", "students") is None and store.read_all("t") is None
        assert store.partitions("t") == []
        store.write("t", _frame("v1", 500), "hcm", "students")
        store.write("t", _frame("other", 70), "ha_noi", "students")
        first = store.read("t", "hcm", "students")
        assert first.equals(_frame("v1", 500))  # values and every dtype round-trip
        store.write("t", _frame("v2", 30, start=1000), "hcm", "students")  # replace: fewer, other rows
        got = store.read("t", "hcm", "students")
        assert got.equals(_frame("v2", 30, start=1000))
        assert store.read("t", "ha_noi", "students").equals(_frame("other", 70))  # neighbour untouched
        everything = store.read_all("t")
        assert sorted(everything["tag"].value_counts().rows()) == [("other", 70), ("v2", 30)]
        assert store.partitions("t") == [("ha_noi", "students"), ("hcm", "students")]
        assert store.read("t", "hcm", "students", columns=["i", "tag"]).columns == ["i", "tag"]
        assert store.schema("t", "hcm", "students") == _frame("x", 1).schema
        answers.append(everything.sort("tag", "i"))
    assert answers[0].equals(answers[1])  # local Parquet and Delta give the same table


def test_quotes_in_partition_values_are_data(tmp_path: Path, s3_lake: S3Lake):
    store = open_lake(DataLayout.at(tmp_path, lake_root=s3_lake.uri))
    store.write("t", _frame("a", 3), "x' OR '1'='1", "students")
    store.write("t", _frame("b", 4), "hcm", "students")
    store.write("t", _frame("c", 5), "x' OR '1'='1", "students")  # must not touch hcm
    assert store.read("t", "hcm", "students").height == 4
    assert store.read("t", "x' OR '1'='1", "students")["tag"].unique().to_list() == ["c"]


# --- several OS processes at once ---------------------------------------------------------------------
def _write_in_process(uri: str, env: dict[str, str], table: str, province: str, sector: str,
                      tags: list[str], n: int, start_at: float) -> None:
    """A writer process: wait for the common start, then replace the partition once per tag."""
    from rules.lake_store import open_lake as open_in_child

    store = open_in_child(DataLayout.at("/nonexistent-data-root", lake_root=uri), env)
    time.sleep(max(0.0, start_at - time.time()))
    for tag in tags:
        store.write(table, _frame(tag, n), province, sector)


def _spawn(s3: S3Lake, jobs: list[tuple[str, str, list[str], int]], start_in: float = 1.5) -> list:
    ctx = mp.get_context("spawn")
    start_at = time.time() + start_in
    procs = [ctx.Process(target=_write_in_process, args=(s3.uri, s3.env, "t", p, s, tags, n, start_at))
             for p, s, tags, n in jobs]
    for proc in procs:
        proc.start()
    return procs


def _delta_version(s3: S3Lake, table: str) -> int:
    from deltalake import DeltaTable

    return DeltaTable(f"{s3.uri}/{table}", storage_options=storage_options_from_env(s3.env)).version()


def test_concurrent_writers_of_different_partitions_lose_nothing(s3_lake: S3Lake, tmp_path: Path):
    jobs = [(p, s, [f"{p}/{s}"], 3000 + k * 100)
            for k, (p, s) in enumerate((p, s) for p in ("hcm", "ha_noi", "da_nang") for s in ("students", "insured"))]
    procs = _spawn(s3_lake, jobs)
    for proc in procs:
        proc.join(timeout=240)
    assert [proc.exitcode for proc in procs] == [0] * len(jobs)
    store = open_lake(DataLayout.at(tmp_path, lake_root=s3_lake.uri))
    assert store.partitions("t") == sorted((p, s) for p, s, _, _ in jobs)
    for p, s, tags, n in jobs:
        assert store.read("t", p, s).equals(_frame(tags[0], n))
    assert store.read_all("t").height == sum(n for *_, n in jobs)
    assert _delta_version(s3_lake, "t") == len(jobs) - 1  # six commits (versions 0..5), none dropped


def test_two_writers_of_one_partition_readers_see_whole_versions(s3_lake: S3Lake, tmp_path: Path):
    n, rounds = 4000, 4
    store = open_lake(DataLayout.at(tmp_path, lake_root=s3_lake.uri))
    store.write("t", _frame("init", n), "hcm", "students")
    store.write("t", _frame("neighbour", 123), "hcm", "insured")
    tags = {w: [f"{w}-{r}" for r in range(rounds)] for w in ("w1", "w2")}
    procs = _spawn(s3_lake, [("hcm", "students", tags[w], n) for w in tags], start_in=1.0)
    seen: list[str] = []
    while any(proc.is_alive() for proc in procs):
        got = store.read("t", "hcm", "students")
        versions = got["tag"].unique().to_list()
        assert len(versions) == 1 and got.height == n, f"a read mixed versions: {got['tag'].value_counts().rows()}"
        assert got.equals(_frame(versions[0], n))
        seen.append(versions[0])
        assert store.read("t", "hcm", "insured").height == 123
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0, 0]
    final = store.read("t", "hcm", "students")
    assert final["tag"].n_unique() == 1 and final.height == n
    assert final["tag"][0] in {tags["w1"][-1], tags["w2"][-1]}  # the last write of one writer, whole
    assert _delta_version(s3_lake, "t") == 1 + 2 * rounds  # every replace committed (none lost to the race)
    assert len(set(seen)) >= 2  # the reader really ran during the writes
