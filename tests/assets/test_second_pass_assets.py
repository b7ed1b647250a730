"""The national second pass through Dagster on a hand-built lake: bucket indexes, one partition per
bucket, the merged result with every unmatched row once, counts only in metadata."""

from __future__ import annotations

import dagster as dg
import polars as pl

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


OTHER_PROVINCE, OTHER_SECTOR = "ha_noi", "students"


def _copy_to(paths, clean: pl.DataFrame, first: pl.DataFrame, province: str, sector: str) -> None:
    """The same upload (same bytes: same file_sha256, sheet and row numbers) in another partition."""
    from assets.lake import write_parquet

    where = {"province": pl.lit(province), "sector": pl.lit(sector)}
    write_parquet(clean.with_columns(**where), paths.lake("clean_records", province, sector))
    results = first.with_columns(clean.select("file_sha256", "sheet")).with_columns(**where)
    write_parquet(_complete(results, "match_results"), paths.lake("match_results", province, sector))


def test_the_same_file_in_two_partitions_keeps_a_decision_in_each(data_dir):
    """One file uploaded to three partitions (its own, another province's, another sector's): its rows
    share file_sha256, sheet and row_number, and each partition must keep its own second-pass decision
    for each of them; the counts reconcile partition by partition."""
    paths, clean, first, _, _ = _lake(data_dir)
    # the other province's first pass matched every other row the home province left unmatched
    other_first = first.with_columns(
        status=pl.when((pl.col("status") == "unmatched") & (pl.col("row_number") % 2 == 0))
        .then(pl.lit("matched")).otherwise("status"))
    _copy_to(paths, clean, other_first, OTHER_PROVINCE, SECTOR)
    _copy_to(paths, clean, first, HOME, OTHER_SECTOR)
    home_unmatched = int((first["status"] == "unmatched").sum())
    per_partition = {(HOME, SECTOR): home_unmatched, (HOME, OTHER_SECTOR): home_unmatched,
                     (OTHER_PROVINCE, SECTOR): int((other_first["status"] == "unmatched").sum())}
    assert 0 < per_partition[OTHER_PROVINCE, SECTOR] < home_unmatched
    rows = unmatched_rows(paths)
    assert rows.height == sum(per_partition.values())

    res = {"paths": paths}
    with dg.instance_for_test() as instance:
        assert dg.materialize([national_register_buckets], resources=res, instance=instance).success
        r = dg.materialize([second_pass_input], resources=res, instance=instance)
        assert r.success and all(e.passed for e in r.get_asset_check_evaluations())
        for b in sorted(set(row_buckets(rows, load_policy())["bucket"].to_list())):
            r = dg.materialize([second_pass], partition_key=b, resources=res, instance=instance,
                               selection=[second_pass])
            # the bucket holds the file's rows once per partition: that is no duplicate key
            assert r.success and all(e.passed for e in r.get_asset_check_evaluations())
        r = dg.materialize([second_pass_results], resources=res, instance=instance, raise_on_error=False)
    checks = {e.check_name: (e.passed, e.metadata) for e in r.get_asset_check_evaluations()}
    assert checks["rows_accounted"][0], checks["rows_accounted"][1]
    assert checks["lake_schema"][0]
    md = r.asset_materializations_for_node("second_pass_results")[0].metadata
    assert md["rows"].value == rows.height

    key = ["province", "sector", "file_sha256", "sheet", "row_number"]
    # the same decisions as all the buckets run in one process on the same rows, each in its own partition
    alone = run_second_pass(rows, paths.layout.population_index(NATIONAL_INDEX), load_policy())
    outs = {}
    for (province, sector), n in per_partition.items():
        out = pl.read_parquet(paths.lake("second_pass_results", province, sector))
        assert out.height == n == out.select(key).n_unique()
        assert (out["province"] == province).all() and (out["sector"] == sector).all()
        mine = alone.filter((pl.col("province") == province) & (pl.col("sector") == sector))
        assert out.sort(key).select(mine.columns).equals(mine.sort(key))
        outs[province, sector] = out.drop("province", "sector").sort("row_number")
    # the same bytes in another sector of the province are decided alike; in another province the row's
    # province is evidence (the matcher compares it), so that copy needs its own decision, never a borrowed one
    assert outs[HOME, SECTOR].equals(outs[HOME, OTHER_SECTOR])
    odd = first.filter((pl.col("status") == "unmatched") & (pl.col("row_number") % 2 == 1))["row_number"]
    assert outs[OTHER_PROVINCE, SECTOR]["row_number"].equals(odd.sort())
