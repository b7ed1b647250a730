"""Asset-check results of a partitioned run are stored against the partition's materialisation.

Runs the ingest step (raw_records, clean_records: two multi-assets, four lake tables) for two
province x sector partitions on a real Dagster instance, then reads the instance back: every check
of every asset has a result for each partition, recorded with that partition and pointing at that
partition's materialisation (what the asset page needs to show pass/fail per province x sector
instead of "Not Evaluated").
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.base import AssetRecordsFilter

from assets.ingest import clean_records, raw_records
from assets.partitions import partition_key
from assets.resources import DataPaths

HEADER = "STT,Họ và tên,Ngày sinh,Giới tính,Số định danh cá nhân\n"
PARTITIONS = (("ha_noi", "students"), ("ha_noi", "vaccinations"))


def _inbox(data: Path, province: str, sector: str, rows: list[str]) -> None:
    folder = data / "inbox" / province / sector
    folder.mkdir(parents=True)
    path = folder / "unit_a__list.csv"
    path.write_text(HEADER + "".join(f"{i},{r}\n" for i, r in enumerate(rows, 1)), encoding="utf-8")
    old = time.time() - 60
    os.utime(path, (old, old))


def test_each_check_result_is_tied_to_its_partitions_materialisation(data_dir: Path):
    _inbox(data_dir, "ha_noi", "students", ["Nguyễn Văn An,01/02/2012,Nam,001212000001"])
    _inbox(data_dir, "ha_noi", "vaccinations", ["Trần Thị Bình,03/02/1990,Nữ,001190000003",
                                                "Lê Văn Cúc,31/02/1990,Nam,001090000004"])  # one rejected
    (data_dir / "inbox" / "ha_noi" / "vaccinations" / "unit_b__x.xlsx").write_bytes(b"not a workbook")
    specs = [*raw_records.check_specs, *clean_records.check_specs]
    assert len(specs) == 6 and all(s.description for s in specs)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("province", ["ha_noi"])  # the installation's provinces (assets.partitions)
        for province, sector in PARTITIONS:
            result = dg.materialize([raw_records, clean_records], partition_key=partition_key(province, sector),
                                    resources={"paths": DataPaths(root=str(data_dir))}, instance=instance)
            assert result.success
        storage = instance.event_log_storage
        infos = storage.get_asset_check_partition_info([s.key for s in specs])
        by_key = {(i.check_key.asset_key.path[-1], i.check_key.name, i.partition_key): i for i in infos}
        for spec in specs:
            asset = spec.asset_key.path[-1]
            for province, sector in PARTITIONS:
                key = str(partition_key(province, sector))
                info = by_key.get((asset, spec.name, key))
                assert info is not None, f"{asset}.{spec.name} has no result for {key}"
                mat = instance.fetch_materializations(
                    AssetRecordsFilter(asset_key=spec.asset_key, asset_partitions=[key]), limit=1).records[0]
                assert info.latest_target_materialization_storage_id == mat.storage_id, (asset, spec.name, key)
                assert info.is_current
                expected = (AssetCheckExecutionRecordStatus.FAILED
                            if (spec.name, sector) == ("all_files_readable", "vaccinations")
                            else AssetCheckExecutionRecordStatus.SUCCEEDED)
                assert info.latest_execution_status == expected, (asset, spec.name, key)
        # the history names the partition of each evaluation
        [latest] = storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("uploads"), "all_files_readable"), limit=1)
        assert latest.partition == str(partition_key("ha_noi", "vaccinations"))
