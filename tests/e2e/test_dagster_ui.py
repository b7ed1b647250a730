"""The Dagster UI as a provincial team sees it: a real webserver over a demo run, read by headless Chromium.

Steps: run the tiny demo through the real CLI in a temporary data folder, start ``dagster-webserver``
on that instance (no target: it reads ``[tool.dagster]`` of pyproject.toml like ``make ui``), then check
(1) GraphQL lists every asset of our definitions and the materialisations of the demo, the demo's runs
under their jobs in the ``doisoat`` code location, the installation's own partitions (one province,
one day), table/markdown metadata, and a dry run of the inbox sensor that launches nothing for the files
the demo already ingested, and (2) Chromium renders the asset catalogue with our asset names, an asset page that
links the run which materialised it, the runs page with that successful run, and the publish job's
page listing it (screenshot ``dagster_job_runs.png``); (3) the asset checks of the demo's partitioned
assets passed per province x sector: GraphQL's per-partition check statuses and each partition's latest
execution (passed, tied to that partition's materialisation), and the Checks tab of ``clean_records``
showing every check "Succeeded" / "Passed", never "Not evaluated" (screenshot ``dagster_asset_checks.png``).
A screenshot of the catalogue is saved under the test's tmp_path for a human to look at. Finally
``doisoat report`` is run on the demo's warehouse and the HTML is opened in the same browser
(screenshot ``doisoat_report.png``).

The instance config is a copy of the repository's ``dagster.yaml`` in a temporary DAGSTER_HOME (with
the "join the community" pop-up turned off unless the file already does), so the test never writes
into the repository and the screenshot shows the catalogue, not a sign-up form.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.browser import Browser, PageText, ensure_chromium, png_size
from tests.e2e.dagster_server import graphql, webserver

REPO = Path(__file__).resolve().parents[2]
DEMO = [sys.executable, "-m", "pipelines", "demo", "--size", "3000"]
# Materialised by every successful demo: the end of the province chain and the analyst file.
DEMO_ASSETS = ("match_results", "analyst_warehouse")
# The demo's province x sector partitions (Dagster's multi-partition key: dimension names sorted, "|").
DEMO_PARTITIONS = frozenset(f"ho_chi_minh|{s}" for s in ("students", "vaccinations", "insurance"))
# Partitioned assets whose checks are emitted with each partition's materialisation, and their checks.
CHECKED_ASSETS = {
    "raw_records": {"lake_schema"},
    "uploads": {"all_files_readable", "lake_schema"},
    "clean_records": {"rows_reconcile", "lake_schema"},
    "rejected_records": {"lake_schema"},
    "match_results": {"rows_accounted", "candidate_pair_budget", "ambiguous_share", "lake_schema"},
}
CHECKS_TAB_ASSET = "clean_records"

ASSETS_QUERY = """
{ assetsOrError { __typename
    ... on AssetConnection { nodes { key { path }
        assetMaterializations(limit: 1) { runId timestamp partition } } } } }
"""
RUN_QUERY = """
query Run($id: ID!) { runOrError(runId: $id) { __typename ... on Run { runId jobName status } } }
"""
NUX_QUERY = "{ shouldShowNux }"
LOCATIONS_QUERY = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
JOB_RUNS_QUERY = """
query JobRuns($sel: PipelineSelector!) { pipelineOrError(params: $sel) { __typename
    ... on Pipeline { runs(limit: 50) { runId status } } } }
"""
PARTITIONS_QUERY = """
query Partitions($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename
    ... on AssetNode { partitionKeysByDimension { name partitionKeys } } } }
"""
METADATA_QUERY = """
query Metadata($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename
    ... on AssetNode { assetMaterializations(limit: 1) { metadataEntries { label __typename } } } } }
"""
CHECKS_QUERY = """
query Checks($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { __typename
    ... on AssetNode { assetMaterializations(limit: 50) { runId partition }
        assetChecksOrError { __typename ... on AssetChecks { checks { name description
            partitionStatuses { __typename ... on AssetCheckMultiPartitionStatuses { primaryDimensionName
                ranges { primaryDimStartKey primaryDimEndKey secondaryDim { __typename
                    ... on AssetCheckDefaultPartitionStatuses { succeededPartitions failedPartitions
                        inProgressPartitions skippedPartitions executionFailedPartitions } } } } } } } } } } }
"""
CHECK_EXECUTIONS_QUERY = """
query Executions($key: AssetKeyInput!, $check: String!) {
    assetCheckExecutions(assetKey: $key, checkName: $check, limit: 50) { status partition timestamp
        evaluation { partition success targetMaterialization { runId } } } }
"""
SENSOR_DRY_RUN = """
mutation DryRun($sel: SensorSelector!) { sensorDryRun(selectorData: $sel, cursor: null) { __typename
    ... on DryRunInstigationTick { evaluationResult { runRequests { runKey } skipReason error { message } } }
    ... on PythonError { message } } }
"""
LOCATION, REPOSITORY = "doisoat", "__repository__"


def _instance_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME holding the repository's dagster.yaml, with the sign-up pop-up disabled."""
    home = tmp_path / "dagster_home_config"
    home.mkdir()
    config = (REPO / "dagster.yaml").read_text(encoding="utf-8")
    if "\nnux:" not in f"\n{config}":
        config += "\nnux:\n  enabled: false\n"
    (home / "dagster.yaml").write_text(config, encoding="utf-8")
    return home


def _run_demo(env: dict[str, str], log: Path) -> None:
    done = subprocess.run(DEMO, cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    log.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr, encoding="utf-8")
    command = " ".join(DEMO[2:])
    assert done.returncode == 0, f"`{command}` failed ({done.returncode}):\n{done.stderr[-3000:]}"


def _our_asset_names() -> set[str]:
    from pipelines.definitions import defs

    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


@pytest.mark.slow
@pytest.mark.timeout(900)  # normally ~80 s; the margin covers installing chromium when CI has not
def test_dagster_ui_shows_our_assets_and_the_demo_run(data_dir: Path, tmp_path: Path) -> None:
    chromium, why = ensure_chromium()
    if chromium is None:
        pytest.skip(why)
    env = {**os.environ, "DAGSTER_HOME": str(_instance_home(tmp_path)), "DAGSTER_DISABLE_TELEMETRY": "1",
           "PYTHONUNBUFFERED": "1"}
    expected = _our_asset_names()
    browser = Browser(chromium, tmp_path / "chromium-profile")

    # The demo first, then the webserver over the same instance: two processes creating a brand-new
    # SQLite instance storage at the same moment race on its schema ("table … already exists").
    _run_demo(env, tmp_path / "demo.log")
    with webserver(env, REPO, tmp_path / "webserver.log") as base:
        _check_ui(base, browser, expected, tmp_path)

    # --- the provincial HTML report of the same demo opens in the browser
    done = subprocess.run([sys.executable, "-m", "pipelines", "report"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    report = data_dir / "reports" / "doisoat.html"
    rendered = PageText(browser.dump_dom(report.as_uri(), budget_ms=1_000))
    assert "Hồ Chí Minh" in rendered.text, rendered.text[:1500]
    assert "Match outcomes per sector" in rendered.text, rendered.text[:1500]
    assert png_size(browser.screenshot(report.as_uri(), tmp_path / "doisoat_report.png", budget_ms=1_000))


def _check_ui(base: str, browser: Browser, expected: set[str], tmp_path: Path) -> None:
    """GraphQL first (robust), then what Chromium renders, then a screenshot of the catalogue."""
    # --- GraphQL: the robust view of the same instance
    data = graphql(base, ASSETS_QUERY)["assetsOrError"]
    assert data["__typename"] == "AssetConnection", data
    nodes = {"/".join(n["key"]["path"]): n for n in data["nodes"]}
    assert expected <= set(nodes), f"assets missing from the UI: {sorted(expected - set(nodes))}"
    latest: dict[str, dict] = {}
    for name in DEMO_ASSETS:
        events = nodes[name]["assetMaterializations"]
        assert events, f"{name} has no materialisation after the demo"
        latest[name] = events[0]
        run = graphql(base, RUN_QUERY, {"id": events[0]["runId"]})["runOrError"]
        assert run["__typename"] == "Run" and run["status"] == "SUCCESS", run
    assert graphql(base, NUX_QUERY)["shouldShowNux"] is False
    _check_origin_partitions_sensor(base, latest)

    # --- Chromium: the catalogue lists every asset
    # The catalogue is a virtualised list: only rows inside the window are rendered, so a tall window
    tall = Browser(browser.binary, browser.profile, window=(1400, 4000))
    catalogue = PageText(_dump_until(tall, f"{base}/assets", sorted(expected)))
    missing = sorted(name for name in expected if name not in catalogue.text)
    assert not missing, f"asset catalogue does not show {missing}; page text: {catalogue.text[:1500]}"
    assert "Something went wrong" not in catalogue.text

    # --- an asset page links the run that materialised it
    for name in DEMO_ASSETS:
        run_id = latest[name]["runId"]
        page = PageText(_dump_until(browser, f"{base}/assets/{name}", [f"/runs/{run_id}"]))
        assert "Latest materialization" in page.text, page.text[:1500]
        assert any(link.startswith(f"/runs/{run_id}") for link in page.links), (
            f"{name} page has no link to run {run_id[:8]}; links: {page.links[:40]}")

    # --- the runs page shows the demo's publish run as a success
    publish_run = latest["analyst_warehouse"]["runId"]
    runs = PageText(_dump_until(browser, f"{base}/runs", [publish_run[:8]]))
    assert f"/runs/{publish_run}" in runs.links and publish_run[:8] in runs.text
    assert "publish_job" in runs.text and "Success" in runs.text, runs.text[:1500]

    # --- the job page lists the demo's run (it said "No runs found" when runs had another origin)
    job_page = f"{base}/locations/{LOCATION}/jobs/publish_job/runs"
    jobs = PageText(_dump_until(browser, job_page, [publish_run[:8]]))
    assert publish_run[:8] in jobs.text and "No runs found" not in jobs.text, jobs.text[:1500]
    browser.screenshot(job_page, tmp_path / "dagster_job_runs.png", budget_ms=10_000)

    # --- every check of the demo's partitioned assets passed, per province x sector
    _check_asset_checks(base, browser, tmp_path)

    # --- a screenshot of the catalogue for a human
    shot = browser.screenshot(f"{base}/assets", tmp_path / "dagster_assets.png", budget_ms=10_000)
    assert png_size(shot) == (1400, 900)
    assert shot.stat().st_size > 30_000, "screenshot is nearly empty (blank page?)"


def _check_origin_partitions_sensor(base: str, latest: dict[str, dict]) -> None:
    """The demo's runs under the location `make ui` loads; the installation's own partitions; metadata as
    tables and markdown; and the inbox sensor, evaluated by the code server, launching nothing."""
    names = [e["name"] for e in graphql(base, LOCATIONS_QUERY)["workspaceOrError"]["locationEntries"]]
    assert names == [LOCATION], names
    for job, asset in (("province_job", "match_results"), ("publish_job", "analyst_warehouse")):
        sel = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "pipelineName": job}
        runs = graphql(base, JOB_RUNS_QUERY, {"sel": sel})["pipelineOrError"]["runs"]
        assert latest[asset]["runId"] in {r["runId"] for r in runs}, (job, runs)
        assert all(r["status"] == "SUCCESS" for r in runs), (job, runs)

    dims = graphql(base, PARTITIONS_QUERY, {"key": {"path": ["match_results"]}})["assetNodeOrError"]
    keys = {d["name"]: d["partitionKeys"] for d in dims["partitionKeysByDimension"]}
    assert keys == {"province": ["ho_chi_minh"], "sector": ["students", "vaccinations", "insurance"]}, keys
    days = graphql(base, PARTITIONS_QUERY, {"key": {"path": ["verification_results"]}})["assetNodeOrError"]
    day_keys = days["partitionKeysByDimension"][0]["partitionKeys"]
    assert len(day_keys) == 1, day_keys  # the demo's day, not every day since a fixed date

    entries = graphql(base, METADATA_QUERY, {"key": {"path": ["match_results"]}})["assetNodeOrError"]
    kinds = {e["label"]: e["__typename"] for e in entries["assetMaterializations"][0]["metadataEntries"]}
    assert kinds["score_distribution"] == "MarkdownMetadataEntry", kinds
    assert kinds["flags"] == kinds["candidate_pairs_by_pass"] == "TableMetadataEntry", kinds
    assert "JsonMetadataEntry" not in kinds.values(), kinds

    sel = {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": "inbox_sensor"}
    tick = graphql(base, SENSOR_DRY_RUN, {"sel": sel})["sensorDryRun"]
    assert tick["__typename"] == "DryRunInstigationTick", tick
    result = tick["evaluationResult"]
    assert result["error"] is None and result["runRequests"] == [], result  # every demo file already ingested
    assert "no new uploads" in result["skipReason"], result


def _check_asset_checks(base: str, browser: Browser, tmp_path: Path) -> None:
    """Each check of ``CHECKED_ASSETS`` passed for every demo partition, as the UI's GraphQL reports it, and
    the Checks tab of ``CHECKS_TAB_ASSET`` renders them passed (it read "Not Evaluated" when partitioned
    check results were not tied to the partition's materialisation)."""
    for asset, expected_checks in CHECKED_ASSETS.items():
        key = {"path": [asset]}
        node = graphql(base, CHECKS_QUERY, {"key": key})["assetNodeOrError"]
        assert node["__typename"] == "AssetNode", node
        materialised: dict[str, str] = {}  # partition -> run of its latest materialisation (newest first)
        for event in node["assetMaterializations"]:
            materialised.setdefault(event["partition"], event["runId"])
        assert set(materialised) == DEMO_PARTITIONS, (asset, sorted(materialised))
        checks = node["assetChecksOrError"]
        assert checks["__typename"] == "AssetChecks", (asset, checks)
        by_name = {c["name"]: c for c in checks["checks"]}
        assert set(by_name) == expected_checks, (asset, sorted(by_name))
        for name, check in by_name.items():
            where = f"{asset}.{name}"
            assert check["description"], f"{where} has no description"
            assert _partition_statuses(check["partitionStatuses"]) == {p: "succeeded" for p in DEMO_PARTITIONS}, (
                where, check["partitionStatuses"])
            executions = graphql(base, CHECK_EXECUTIONS_QUERY, {"key": key, "check": name})["assetCheckExecutions"]
            latest: dict[str, dict] = {}
            for execution in sorted(executions, key=lambda e: -e["timestamp"]):
                latest.setdefault(execution["partition"], execution)
            assert set(latest) == DEMO_PARTITIONS, (where, sorted(latest))
            for partition, execution in latest.items():
                evaluation = execution["evaluation"]
                assert execution["status"] == "SUCCEEDED" and evaluation["success"], (where, partition, execution)
                assert evaluation["partition"] == partition, (where, partition, evaluation)
                target = evaluation["targetMaterialization"]
                assert target and target["runId"] == materialised[partition], (
                    f"{where} [{partition}] is not tied to the partition's latest materialisation: {execution}")

    # --- Chromium: the Checks tab lists each check as succeeded, its detail says "Passed" for a partition
    asset = CHECKS_TAB_ASSET
    for name in sorted(CHECKED_ASSETS[asset]):
        url = f"{base}/assets/{asset}?view=checks&checkDetail={name}"
        page = PageText(_dump_until(browser, url, ["Passed", *CHECKED_ASSETS[asset]]))
        for listed in CHECKED_ASSETS[asset]:
            assert re.search(rf"\b{listed} \| (?:{listed} \| )?Succeeded\b", page.text), (
                f"the Checks tab does not list {listed} as Succeeded: {page.text[:2000]}")
        detail = page.text.split(f"| {name} | Execute |", 1)
        assert len(detail) == 2, f"no detail panel for {name}: {page.text[:2000]}"
        assert "Evaluation result | Passed" in detail[1], f"{name} not shown as Passed: {detail[1][:1500]}"
        shown = re.search(r"Partition \| (\S+) \|", detail[1])
        assert shown and shown.group(1) in DEMO_PARTITIONS, f"{name}: no demo partition in {detail[1][:1500]}"
        assert "not evaluated" not in page.text.lower(), page.text[:2000]
        assert "Something went wrong" not in page.text
    url = f"{base}/assets/{asset}?view=checks&checkDetail={sorted(CHECKED_ASSETS[asset])[-1]}"
    shot = browser.screenshot(url, tmp_path / "dagster_asset_checks.png", budget_ms=10_000)
    assert png_size(shot) == (1400, 900) and shot.stat().st_size > 30_000, "checks screenshot nearly empty"


def _partition_statuses(statuses: dict | None) -> dict[str, str]:
    """``AssetCheckMultiPartitionStatuses`` flattened to {"province|sector": status} (statuses lower-cased,
    e.g. "succeeded", "failed"); partitions the check never ran for are absent."""
    assert statuses and statuses["__typename"] == "AssetCheckMultiPartitionStatuses", statuses
    assert statuses["primaryDimensionName"] == "province", statuses
    flat: dict[str, str] = {}
    for span in statuses["ranges"]:
        # a range of primary keys with the same statuses; the demo has one province, so start == end
        assert span["primaryDimStartKey"] == span["primaryDimEndKey"], span
        secondary = span["secondaryDim"]
        assert secondary["__typename"] == "AssetCheckDefaultPartitionStatuses", secondary
        for field, keys in secondary.items():
            if field.endswith("Partitions"):
                flat.update({f"{span['primaryDimStartKey']}|{k}": field.removesuffix("Partitions").lower()
                             for k in keys})
    return flat


def _dump_until(browser: Browser, url: str, needles: list[str], attempts: int = 3) -> str:
    """Dump the DOM, giving the app more virtual time while the expected text has not rendered yet."""
    dom = ""
    for attempt in range(attempts):
        dom = browser.dump_dom(url, budget_ms=(5_000, 15_000, 30_000)[min(attempt, 2)])
        if all(n in dom for n in needles):
            return dom
    return dom
