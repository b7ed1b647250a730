"""A lake root that names no lake is refused, never read as an empty lake (a hostile try: a typo in
``DOISOAT_LAKE`` made ``doisoat publish`` exit 0 and swap an empty analyst file over one with 633 match
decisions), and an unreachable lake on object storage says which lake, why and what to set.
"""

from __future__ import annotations

import re

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.lake import read_lake_table, write_partition
from assets.warehouse import EmptyLakeError, WarehouseSources, build_warehouse
from rules.errors import UserError
from rules.lake_store import LakeAccessError, open_lake
from rules.layout import URI_SCHEMES, DataLayout, LakeRootError, check_lake_root


def _matches(n: int) -> pl.DataFrame:
    """``n`` rows of ``match_results`` (every required column; synthetic values)."""
    from rules.lake_schema import lake_table

    values = {"province": "hcm", "sector": "students", "unit": "u1", "file_sha256": "a" * 64,
              "file_name": "list.xlsx", "sheet": "S1", "status": "matched", "person_id": "079123456789",
              "reason": "id_and_name", "flags": []}
    cols = {}
    for c in lake_table("match_results").columns:
        if c.optional:
            continue
        value = values.get(c.name, list(range(1, n + 1)) if c.dtype.is_integer() else None)
        cols[c.name] = pl.Series(c.name, value if isinstance(value, list) and c.dtype.is_integer()
                                 else [value] * n, dtype=c.dtype)
    return pl.DataFrame(cols)


def _rows(path, table: str) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()


@pytest.mark.parametrize("kind", ["missing", "file", "scheme"])
def test_a_lake_root_that_names_no_lake_is_refused_before_anything_is_read(tmp_path, kind):
    root = {"missing": str(tmp_path / "lak"), "file": str(tmp_path / "afile"), "scheme": "ftp://x/y"}[kind]
    (tmp_path / "afile").write_text("not a lake")
    layout = DataLayout.at(tmp_path / "data", lake_root=root)
    with pytest.raises(LakeRootError, match="DOISOAT_LAKE") as caught:
        read_lake_table(layout, "match_results")
    assert isinstance(caught.value, UserError) and "\n" not in str(caught.value)
    with pytest.raises(LakeRootError):
        write_partition(layout, "match_results", _matches(1), "hcm", "students")
    assert not (tmp_path / "lak").exists()  # nothing was created at the wrong place


@settings(max_examples=40, deadline=None)
@given(scheme=st.from_regex(r"[a-z][a-z0-9+.-]{0,8}", fullmatch=True), rest=st.from_regex(r"[a-z0-9/]{1,12}",
                                                                                          fullmatch=True))
def test_every_uri_of_a_scheme_the_lake_cannot_use_is_refused(scheme, rest):
    uri = f"{scheme}://{rest}"
    if uri.startswith(URI_SCHEMES):
        if rest.startswith("/") and scheme not in ("file", "memory"):  # object storage without a bucket
            with pytest.raises(LakeRootError, match="names no bucket"):
                check_lake_root(uri)
            return
        check_lake_root(uri)  # a scheme the lake reads: accepted here (reaching it is the store's business)
        return
    with pytest.raises(LakeRootError, match=re.escape(f"{scheme}://")):
        check_lake_root(uri)


def test_the_default_lake_may_be_missing_and_an_existing_folder_is_accepted(tmp_path):
    check_lake_root("")  # <data>/lake: the first ingest creates it
    check_lake_root(str(tmp_path))
    assert read_lake_table(DataLayout.at(tmp_path / "fresh"), "match_results") is None


def test_a_lake_uri_in_a_message_carries_no_credentials():
    with pytest.raises(LakeRootError) as caught:
        check_lake_root("ftp://user:s3cret@host/lake")
    assert "s3cret" not in str(caught.value) and "user" not in str(caught.value)


def test_publish_keeps_a_file_with_rows_when_the_lake_holds_no_tables(tmp_path):
    good = DataLayout.at(tmp_path / "data")
    write_partition(good, "match_results", _matches(5), "hcm", "students")
    target = good.warehouse()
    build_warehouse(WarehouseSources.from_layout(good), target)
    assert _rows(target, "match_decisions") == 5
    before = target.read_bytes()

    empty = tmp_path / "empty_lake"
    empty.mkdir()  # present but empty: an unmounted share, a wrong but existing folder
    wrong = DataLayout.at(tmp_path / "data", lake_root=str(empty))
    with pytest.raises(EmptyLakeError, match="holds no tables") as caught:
        build_warehouse(WarehouseSources.from_layout(wrong), target)
    assert isinstance(caught.value, UserError) and "\n" not in str(caught.value)
    assert target.read_bytes() == before and _rows(target, "match_decisions") == 5


def test_a_fresh_installation_publishes_its_empty_file(tmp_path):
    fresh = DataLayout.at(tmp_path / "data")
    counts = build_warehouse(WarehouseSources.from_layout(fresh), fresh.warehouse())
    assert counts["match_decisions"] == 0 and fresh.warehouse().exists()
    # and again: a file without rows may be replaced by another without rows
    build_warehouse(WarehouseSources.from_layout(fresh), fresh.warehouse())


def test_a_lake_that_held_tables_still_publishes_when_they_shrink_to_nothing(tmp_path):
    layout = DataLayout.at(tmp_path / "data")
    write_partition(layout, "match_results", _matches(3), "hcm", "students")
    build_warehouse(WarehouseSources.from_layout(layout), layout.warehouse())
    write_partition(layout, "match_results", _matches(0), "hcm", "students")  # the table exists, 0 rows
    build_warehouse(WarehouseSources.from_layout(layout), layout.warehouse())
    assert _rows(layout.warehouse(), "match_decisions") == 0


def test_a_missing_bucket_names_the_lake_the_cause_and_what_to_set(s3_lake, tmp_path):
    uri = s3_lake.uri.replace(s3_lake.bucket, "nobucket-doisoat")
    with pytest.raises(LakeAccessError) as caught:
        read_lake_table(DataLayout.at(tmp_path, lake_root=uri), "match_results")
    text = str(caught.value)
    assert isinstance(caught.value, UserError) and "\n" not in text
    assert uri in text and "not found" in text and "DOISOAT_LAKE" in text
    assert s3_lake.env["AWS_SECRET_ACCESS_KEY"] not in text


def test_an_unreachable_endpoint_names_it(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "never-shown")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    with pytest.raises(LakeAccessError) as caught:
        open_lake(DataLayout.at(tmp_path, lake_root="s3://b/lake")).read_all("match_results")
    text = str(caught.value)
    assert "s3://b/lake" in text and "unreachable" in text and "AWS_ENDPOINT_URL=http://127.0.0.1:9" in text
    assert "never-shown" not in text


def test_no_credentials_is_named_without_the_aws_sdk_warnings(tmp_path):
    """In a fresh process (the SDK's logger is set up once, on the first ``import deltalake``): no AWS_*
    credentials -> the cause and the variables to set in one line, and no IMDS warning blobs on stderr."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "RUST_LOG"}
    env["HOME"] = str(tmp_path)  # no ~/.aws of the machine
    code = ("from rules.layout import DataLayout\nfrom rules.lake_store import read_table, LakeAccessError\n"
            "try:\n    read_table(DataLayout.at('/nonexistent', lake_root='s3://nobucket/x'), 'uploads')\n"
            "except LakeAccessError as exc:\n    print(exc)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=300)
    assert "s3://nobucket/x" in proc.stdout and "no credentials" in proc.stdout, proc.stdout + proc.stderr
    assert "AWS_ACCESS_KEY_ID" in proc.stdout and "WARN" not in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize("uri", ["s3://", "s3:///lake", "gs://", "az://user:pw@/lake"])
def test_an_object_storage_lake_without_a_bucket_is_refused_before_any_run(uri):
    with pytest.raises(LakeRootError, match="names no bucket") as caught:
        check_lake_root(uri)
    assert "pw" not in str(caught.value)
