"""The one Dagster ``Definitions`` of doisoat: assets, resources, jobs, schedules and sensors.

The code location ``doisoat`` (``[tool.dagster]`` of pyproject.toml): loaded by ``dagster dev`` run in the
repository (``doisoat ui`` / ``make ui``), by ``dagster definitions validate`` and by the ``doisoat``
command, whose runs carry that location's origin (``pipelines.code_location``). Paths come from
``pipelines.environment`` so every process agrees on ``data/``.
"""

from __future__ import annotations

import os

import dagster as dg

from assets import ingest, match, national, publish, register, review, second_pass
from assets.resources import DataPaths
from pipelines.environment import configure
from pipelines.jobs import JOBS
from pipelines.schedules import SCHEDULES
from pipelines.sensors import SENSORS


def build_definitions() -> dg.Definitions:
    from rules.private import restrict_umask

    restrict_umask()  # `dagster dev` code servers write lake files and logs too: owner-only by default
    root = configure()
    paths = DataPaths(root=str(root), lake_root=os.environ.get("DOISOAT_LAKE", ""),
                      policy_file=os.environ.get("DOISOAT_POLICY", ""))
    return dg.Definitions(
        assets=dg.load_assets_from_modules([register, ingest, match, national, publish, review, second_pass]),
        asset_checks=dg.load_asset_checks_from_modules(
            [register, ingest, match, national, publish, review, second_pass]
        ),
        resources={"paths": paths},
        jobs=JOBS,
        schedules=SCHEDULES,
        sensors=SENSORS,
        executor=dg.in_process_executor,
    )


defs = build_definitions()
