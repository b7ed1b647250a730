"""The code location loads, and its shape is what the docs promise."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg

from rules.provinces import PROVINCE_SLUGS


def test_definitions_load(data_dir):
    from pipelines.definitions import build_definitions

    defs = build_definitions()
    dg.Definitions.validate_loadable(defs)
    for job in ("register_job", "province_job", "national_verification_job", "publish_job"):
        assert defs.resolve_job_def(job) is not None
    schedules = {s.name for s in defs.schedules}
    assert {f"nightly_{p}" for p in PROVINCE_SLUGS} <= schedules
    assert len(PROVINCE_SLUGS) == 34
    assert "inbox_sensor" in {s.name for s in defs.sensors}


def test_every_asset_is_documented_grouped_and_owned(data_dir):
    from pipelines.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    keys = list(graph.get_all_asset_keys())
    assert {"raw_records", "clean_records", "match_results", "population_index"} <= {k.path[-1] for k in keys}
    for key in keys:
        node = graph.get(key)
        assert node.description and "\n" not in node.description.strip(), key
        assert node.group_name and node.group_name != "default", key
        assert node.owners, key
        assert node.kinds, key


def test_dagster_cli_validates_the_code_location(data_dir):
    """No target: Dagster reads [tool.dagster] of pyproject.toml, as `make ui` does; the location is doisoat."""
    from pipelines.environment import REPO_ROOT

    proc = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate"],
                          capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful for code location doisoat" in proc.stdout + proc.stderr


def test_our_runs_carry_the_origin_of_the_location_dagster_loads(monkeypatch):
    """The origin the runner gives runs is the one Dagster's own loader builds from pyproject.toml in
    the repository (what `dagster dev` / `make ui` serves): so the job pages list our runs."""
    from dagster._core.workspace.load_target import PyProjectFileTarget

    from pipelines import code_location
    from pipelines.environment import REPO_ROOT

    monkeypatch.chdir(REPO_ROOT)  # dagster dev runs in the repository (`doisoat ui` starts it there)
    loaded = PyProjectFileTarget(str(REPO_ROOT / "pyproject.toml")).create_origins()
    assert [o.location_name for o in loaded] == ["doisoat"]
    ours = code_location.job_origin("province_job")
    assert ours.repository_origin.code_location_origin == loaded[0]
    assert ours.repository_origin.get_label() == "__repository__@doisoat"
    assert ours.job_name == "province_job"


def test_rules_never_import_dagster():
    """The layering of docs/architecture.md: rules/ <- assets/ <- pipelines/, checked on the source."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for layer, forbidden in (("rules", ("dagster", "assets", "pipelines")), ("assets", ("pipelines",))):
        for path in (root / layer).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                stripped = line.strip()
                if stripped.startswith(("import ", "from ")):
                    module = stripped.split()[1].split(".")[0]
                    if module in forbidden:
                        offenders.append(f"{path.relative_to(root)}: {stripped}")
    assert not offenders, offenders


def test_every_check_is_described_and_partitioned_like_its_asset(data_dir):
    """A check without a description shows a bare name in the UI; one without its asset's partitions
    has its results recorded for no partition, so the asset page says "Not Evaluated"."""
    from pipelines.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    checks = list(graph.asset_check_keys)
    assert len(checks) >= 20
    lake_tables = set()
    for key in checks:
        spec = graph.get_check_spec(key)
        assert spec.description and len(spec.description) > 20, key
        assert spec.partitions_def == graph.get(key.asset_key).partitions_def, key
        if key.name == "lake_schema":
            lake_tables.add(key.asset_key.path[-1])
    from rules.lake_schema import LAKE_TABLES

    assert lake_tables == {t.written_by for t in LAKE_TABLES.values()}


def test_readme_asset_table_matches_dagster_asset_list(data_dir):
    """The README's asset table names exactly the assets ``dagster asset list`` prints."""
    import re
    from pathlib import Path

    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "list", "-m", "pipelines.definitions"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    listed = {line.strip() for line in proc.stdout.splitlines() if line.strip()}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Assets", 1)[1].split("\n\n", 2)[1]
    documented = {name for row in table.splitlines()[2:] for name in re.findall(r"`([a-z_]+)`", row.split("|")[2])}
    assert documented == listed
