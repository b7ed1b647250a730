"""The population register of a province, normalised once into the matching index.

The index is rebuilt only when the register's content changes (``rules.matching`` keys its cache by
content hash); the asset's data version is that hash, so Dagster shows when the register changed.
"""


import dagster as dg

from assets.partitions import province_partitions
from assets.resources import DataPaths


@dg.asset(
    partitions_def=province_partitions,
    group_name="register",
    kinds={"polars", "parquet"},
    owners=["team:provincial-data"],
)
def population_index(context: dg.AssetExecutionContext, paths: DataPaths) -> dg.MaterializeResult:
    """The province's population register normalised for matching (keys, name tokens, DOB parts, IDs)."""
    from rules.errors import MissingInputError
    from rules.matching import load_or_build_index

    province = str(context.partition_key)
    files = paths.population_files(province)
    if not files:
        raise MissingInputError(
            f"no population register for {province}: put it at {paths.population_hint(province)} "
            "(contract: person_id, full_name, date_of_birth, gender, old_id, province)"
        )
    from rules.matching.index import register_fingerprint

    index = load_or_build_index(files, paths.population_index(province))
    return dg.MaterializeResult(
        metadata={"people": index.height, "register_files": len(files)},
        data_version=dg.DataVersion(register_fingerprint(files)[:20]),
    )
