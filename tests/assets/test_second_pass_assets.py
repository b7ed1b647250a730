"""The national second pass through Dagster on a hand-built lake: bucket indexes, one partition per
bucket, the merged result with every unmatched row once, counts only in metadata."""

from __future__ import annotations

import dagster as dg
import polars as pl

from tests.assets.test_review_import import _complete

HOME, SECTOR = "ho_chi_minh", "insurance"


def _lake(data_dir):
    from assets.lake import write_parquet
    from assets.resources import DataPaths
    from rules.matching import build_population_index, match_records
    from rules.normalise import normalise_records
    from rules.synth import REFERENCE_DATE
    from rules.synth.national import generate_national_register, national_provinces, national_sector_records

    regs = dict(generate_national_register(national_provinces(3), 1_800, seed=5))
    (data_dir / "population").mkdir()
    for prov, reg in regs.items():
        reg.write_parquet(data_dir / "population" / f"{prov}.parquet")
    others = pl.concat([r for p, r in regs.items() if p != HOME])
    raw, truth = national_sector_records(regs[HOME], others, SECTOR, 300, seed=6, out_share=0.3)
    clean = normalise_records(raw, SECTOR, today=REFERENCE_DATE).with_columns(
        file_sha256=pl.lit("a" * 64), sheet=pl.lit(""), file_name=pl.lit("list.xlsx"),
        excel_row=pl.col("row_number") + 1,
    )
    first = match_records(clean, build_population_index(regs[HOME])).results
    paths = DataPaths(root=str(data_dir))
    write_parquet(clean, paths.lake("clean_records", HOME, SECTOR))
    write_parquet(_complete(first.with_columns(clean.select("file_sha256", "sheet")), "match_results"),
                  paths.lake("match_results", HOME, SECTOR))
    return paths, clean, first, truth, regs


def test_second_pass_assets_account_for_every_unmatched_row(data_dir):
    from assets.second_pass import (
        ALL_PROVINCES,
        NATIONAL_INDEX,
        national_register_buckets,
        second_pass,
        second_pass_input,
        second_pass_results,
        unmatched_rows,
    )
    from rules.matching.national import load_policy, row_buckets, run_second_pass

    paths, _, first, truth, _ = _lake(data_dir)
    rows = unmatched_rows(paths)
    assert rows.height == int((first["status"] == "unmatched").sum()) > 0
    visits = row_buckets(rows, load_policy())
    buckets = sorted(set(visits["bucket"].to_list()))
    res = {"paths": paths}
    with dg.instance_for_test() as instance:
        assert dg.materialize([national_register_buckets], resources=res, instance=instance).success
        r = dg.materialize([second_pass_input], resources=res, instance=instance)
        assert r.success and all(e.passed for e in r.get_asset_check_evaluations())
        # the unmatched rows written once per bucket they visit, every bucket's partition written
        staged = {b: pl.read_parquet(paths.lake("second_pass_input", ALL_PROVINCES, b))
                  for b in load_policy().bucket_keys()}
        assert sum(df.height for df in staged.values()) == visits.height
        for b, df in staged.items():
            assert df.select("file_sha256", "sheet", "row_number").equals(
                rows[visits.filter(pl.col("bucket") == b)["_row"]].select("file_sha256", "sheet", "row_number"))
        for b in buckets:
            r = dg.materialize([second_pass], partition_key=b, resources=res, instance=instance,
                               selection=[second_pass])
            assert r.success
            assert all(e.passed for e in r.get_asset_check_evaluations())
        r = dg.materialize([second_pass_results], resources=res, instance=instance)
    assert r.success
    checks = {e.check_name: e.passed for e in r.get_asset_check_evaluations()}
    assert checks == {"rows_accounted": True, "lake_schema": True}
    out = pl.read_parquet(paths.lake("second_pass_results", HOME, SECTOR))
    # each bucket read only its slice, yet decided every row as the all-buckets run on every row does
    alone = run_second_pass(rows, paths.layout.population_index(NATIONAL_INDEX), load_policy())
    key = ["file_sha256", "sheet", "row_number"]
    assert out.sort(key).select(alone.columns).equals(alone.sort(key))
    assert out.height == rows.height and out.select("file_sha256", "sheet", "row_number").n_unique() == rows.height
    # people registered elsewhere are found, in their own province
    j = out.join(truth.select("row_number", pl.col("person_id").alias("true_id"), "registered_in"), on="row_number")
    found = j.filter((pl.col("status") == "matched") & (pl.col("person_id") == pl.col("true_id")))
    assert found.height > 0 and (found["person_province"] == found["registered_in"]).all()
    assert (found["person_province"] != HOME).any()
    # metadata: counts only (no name, ID or date of any person)
    md = r.asset_materializations_for_node("second_pass_results")[0].metadata
    assert md["rows"].value == rows.height
    assert any(k.startswith("registered_elsewhere_") for k in md)
    text = repr(md)
    assert not any(pid in text for pid in out["person_id"].drop_nulls().to_list())
