"""One owner for paths: ``rules.layout.DataLayout`` builds every path under the data folder.

The source scans fail when a path is built outside the layout (a ``/`` join with a string, a join
on the data root, ``os.path.join`` or ``Path(a, "b")``), when a second ``error_report_path`` appears,
or when ``pipelines/`` imports anything but Dagster objects from ``assets/``. The behaviour tests
check the layout itself: a register as one file or a folder of parts, the lake on object storage,
and the Dagster resource agreeing with the plain object.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from rules.layout import DataLayout, RemoteLakeError, is_uri

REPO = Path(__file__).resolve().parents[2]
LAYERS = ("rules", "assets", "pipelines")
LAYOUT_MODULE = REPO / "rules" / "layout.py"

# Folders of the code, not of the data: policy YAML and reference tables shipped beside the modules.
CODE_DIRS = {"REFERENCE_DIR", "NAMES_DIR", "HEADERS_DIR", "CONFIG_DIR", "REPO_ROOT"}
# Content-keyed file names inside a cache folder the layout hands in (the cache's own format).
CACHE_INTERNALS = {("rules/matching/estimate.py", "cache_dir"), ("rules/matching/index.py", "index_dir"),
                   ("rules/matching/index.py", "src[0]"), ("rules/matching/index.py", "folder"),
                   ("rules/matching/index.py", "tmp"), ("rules/matching/national.py", "folder")}
# Being moved by another branch right now (pipelines/reporting.py -> rules/report/); wired to
# DataLayout.warehouse() / .report_html() at merge. Skipped only while the file still exists.
PENDING: set[str] = set()


def _sources() -> list[tuple[str, ast.AST]]:
    out = []
    for layer in LAYERS:
        for path in sorted((REPO / layer).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if path != LAYOUT_MODULE and rel not in PENDING:
                out.append((rel, ast.parse(path.read_text(encoding="utf-8"), filename=rel)))
    return out


def _base(node: ast.AST) -> ast.AST:
    """The left-most operand of a chain of ``/`` joins (``Path(x)`` counts as ``x``)."""
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        node = node.left
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "Path" and len(node.args) == 1:
        return node.args[0]
    return node


def _is_code_relative(node: ast.AST) -> bool:
    text = ast.unparse(node)
    return "__file__" in text or (isinstance(node, ast.Name) and node.id in CODE_DIRS)


def _is_text(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(node, ast.JoinedStr)


def _is_data_root(node: ast.AST) -> bool:
    """``data_root()``, ``paths.base``, ``layout.root``-like expressions: the data folder itself."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"data_root", "default_root"}:
        return True
    return isinstance(node, ast.Attribute) and node.attr in {"base", "root"}


def hand_built_paths(rel: str, tree: ast.AST) -> list[str]:
    """Paths built in one module without the layout: ``"file:line: expression"``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            base = _base(node)
            if _is_code_relative(base):
                continue
            if (rel, ast.unparse(base)) in CACHE_INTERNALS:
                continue
            if _is_text(node.right) or _is_data_root(base):
                found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            joins = name in {"os.path.join", "Path", "pathlib.Path", "PurePath"} and len(node.args) > 1
            if joins and any(_is_text(a) for a in node.args[1:]):
                found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_path_is_built_outside_the_layout() -> None:
    found = sorted({f for rel, tree in _sources() for f in hand_built_paths(rel, tree)})
    assert found == []


def test_the_scan_finds_a_path_built_by_hand() -> None:
    """The scan is not vacuous: each kind of hand-built path is reported, code folders are not."""
    probe = ('import os\nfrom pathlib import Path\nfrom pipelines.environment import data_root\n'
             'a = data_root() / "lake" / "x.parquet"\nb = os.path.join(str(a), "inbox")\n'
             'c = Path(a, "reports")\nd = paths.base / province\ne = REFERENCE_DIR / "names"\n'
             'f = Path(__file__).parent / "quota.yaml"\ng = cache_dir / f"estimates_{key}.json"\n')
    found = hand_built_paths("pipelines/probe.py", ast.parse(probe))
    assert sorted({int(f.split(":")[1]) for f in found}) == [4, 5, 6, 7, 10], found
    assert hand_built_paths("rules/matching/estimate.py", ast.parse('g = cache_dir / f"e_{key}.json"\n')) == []


def test_one_error_report_path() -> None:
    defs = [f"{rel}:{node.lineno}" for rel, tree in _sources() for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name == "error_report_path"]
    assert [d.split(":")[0] for d in defs] == ["rules/ingest/report.py"], defs


# What pipelines/ may take from assets/: the asset modules (for Definitions), partitions, resources.
DAGSTER_MODULES_OF_ASSETS = {"assets", "assets.partitions", "assets.resources"}


def test_pipelines_import_only_dagster_objects_from_assets() -> None:
    import dagster as dg

    bad = []
    for rel, tree in _sources():
        if not rel.startswith("pipelines/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "assets":
                if node.module in DAGSTER_MODULES_OF_ASSETS:
                    continue
                import importlib

                module = importlib.import_module(node.module)
                for alias in node.names:
                    obj = getattr(module, alias.name)
                    if not isinstance(obj, dg.AssetsDefinition | dg.AssetChecksDefinition | dg.JobDefinition
                                      | dg.PartitionsDefinition | dg.ConfigurableResource):
                        bad.append(f"{rel}:{node.lineno}: {node.module}.{alias.name}")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "assets" for a in node.names):
                bad.append(f"{rel}:{node.lineno}: import {', '.join(a.name for a in node.names)}")
    assert bad == []


def test_register_is_one_file_or_a_folder_of_parts(tmp_path: Path) -> None:
    layout = DataLayout.at(tmp_path)
    assert layout.population_files("ha_noi") == [] and layout.population_provinces() == []
    parts = layout.population_parts_dir("ha_noi")
    parts.mkdir(parents=True)
    for name in ("b.parquet", "a.parquet", "notes.txt"):
        (parts / name).write_bytes(b"")
    assert layout.population_files("ha_noi") == [parts / "a.parquet", parts / "b.parquet"]
    layout.population_file("da_nang").write_bytes(b"")
    assert layout.population_files("da_nang") == [tmp_path / "population" / "da_nang.parquet"]
    assert layout.population_provinces() == ["da_nang", "ha_noi"]
    layout.population_file("ha_noi").write_bytes(b"")  # one file wins over parts
    assert layout.population_files("ha_noi") == [layout.population_file("ha_noi")]


def test_lake_partitions_are_listed_from_the_layout(tmp_path: Path) -> None:
    layout = DataLayout.at(tmp_path)
    for province, sector in (("ha_noi", "students"), ("da_nang", "insurance")):
        target = layout.lake("match_results", province, sector)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"")
    per_province = tmp_path / "lake" / "per_province" / "ha_noi.parquet"
    assert layout.lake("per_province", "ha_noi") == per_province
    assert [(p, s) for p, s, _ in layout.lake_partitions("match_results")] == [("da_nang", "insurance"),
                                                                               ("ha_noi", "students")]
    assert layout.lake_uri("match_results", "ha_noi", "students") == str(layout.lake("match_results", "ha_noi",
                                                                                     "students"))


def test_the_lake_can_be_object_storage(tmp_path: Path) -> None:
    layout = DataLayout.at(tmp_path, lake_root="s3://doisoat-lake/prod/")
    assert is_uri(layout.lake_location) and layout.lake_is_remote
    assert layout.lake_uri("clean_records", "ha_noi", "students") == "s3://doisoat-lake/prod/clean_records/ha_noi/students.parquet"
    assert layout.lake_table_uri("uploads") == "s3://doisoat-lake/prod/uploads"
    for local_only in (lambda: layout.lake("uploads", "ha_noi", "students"), lambda: layout.lake_dir("uploads"),
                       lambda: layout.lake_partitions("uploads")):
        with pytest.raises(RemoteLakeError, match=r"rules\.lake_store"):
            local_only()
    assert layout.queue_store() == tmp_path / "national" / "verification_queue.sqlite"  # the rest stays local
    # the memory-mapped index cache and the one-machine lock file stay on local disk, outside the lake
    assert layout.population_index("ha_noi") == tmp_path / "cache" / "population_index" / "ha_noi"
    assert layout.partition_lock("ha_noi", "students").is_relative_to(tmp_path / "cache")


def test_the_dagster_resource_is_the_layout(tmp_path: Path) -> None:
    from assets.resources import DataPaths

    paths = DataPaths(root=str(tmp_path / "x" / ".." / "data"), policy_file=str(tmp_path / "q.yaml"))
    layout = DataLayout.at(tmp_path / "data", policy_file=str(tmp_path / "q.yaml"))
    assert paths.layout == layout and paths.base == tmp_path / "data"
    assert paths.lake("uploads", "ha_noi", "students") == layout.lake("uploads", "ha_noi", "students")
    assert paths.policy_path() == tmp_path / "q.yaml" and paths.warehouse() == layout.warehouse()
    with pytest.raises(AttributeError):
        paths.no_such_location()


def test_inbox_file_follows_the_inbox_naming_rule(tmp_path: Path) -> None:
    from rules.ingest.inbox import UnitError, unit_of

    layout = DataLayout.at(tmp_path)
    target = layout.inbox_file("ha_noi", "students", "thpt_x", "/somewhere/DS lớp 10.xlsx")
    assert target == tmp_path / "inbox" / "ha_noi" / "students" / "thpt_x__DS lớp 10.xlsx"
    assert unit_of(target.name) == "thpt_x"  # built and parsed by the same module
    with pytest.raises(UnitError):
        layout.inbox_file("ha_noi", "students", "../x", "a.csv")
