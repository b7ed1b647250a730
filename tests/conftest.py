"""Shared fixtures: every test that touches Dagster or data/ gets its own temporary data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_PSEUDONYM_KEY = "test-only-pseudonym-key-0123456789abcdef"
# The repository's own data folder, which `make demo` fills: no test may write there
_REPO_DATA = REPO / "data"
pytest_plugins = ["tests.s3_server"]  # s3_endpoint / s3_lake: a local S3-compatible server (moto)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data/ folder and Dagster storage under tmp_path, set before definitions are built."""
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("DOISOAT_DATA", str(data))
    monkeypatch.setenv("DAGSTER_HOME", str(REPO))
    monkeypatch.setenv("DOISOAT_DAGSTER_STORAGE", str(data / "dagster_home"))
    monkeypatch.setenv("DOISOAT_COMPUTE_LOGS", str(data / "dagster_home" / "logs"))
    (data / "dagster_home").mkdir()
    return data


@pytest.fixture(autouse=True)
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Matching caches (register index, parameter estimates) go to a per-test folder, never ~/.cache."""
    monkeypatch.setenv("DOISOAT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _test_pseudonym_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fixed pseudonym key (rules.pseudonym), so no test writes a key file into the repository's data/;
    tests of the generated key file unset it."""
    monkeypatch.setenv("DOISOAT_PSEUDONYM_KEY", TEST_PSEUDONYM_KEY)


@pytest.fixture(autouse=True)
def _no_leftover_dagster_state_storage():
    """Each test starts without a Dagster definitions-state storage left by an earlier test.

    A ``DagsterInstance`` registers its storage in a context variable that only its ``dispose`` resets;
    an instance dropped without it leaves a storage whose instance is gone, and the next
    ``build_definitions()`` fails with "undefined DagsterInstance weakref" (seen with
    test_sensors_schedules.py before test_review_sensor.py). Only when a test already imported Dagster.
    """
    import sys
    from contextlib import nullcontext

    if "dagster" not in sys.modules:
        yield
        return
    try:
        from dagster._core.storage.defs_state.base import set_defs_state_storage
    except ImportError:  # a later Dagster moved it: nothing to reset
        set_defs_state_storage = None
    with set_defs_state_storage(None) if set_defs_state_storage else nullcontext():
        yield


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    # Module- and session-scoped fixtures are set up before the function-scoped ones above: they get the
    # test key and a data folder of their own too (the shared analyst file once wrote a generated key
    # into the repository's data/secrets/).
    import tempfile

    os.environ.setdefault("DOISOAT_PSEUDONYM_KEY", TEST_PSEUDONYM_KEY)
    os.environ.setdefault("DOISOAT_DATA", tempfile.mkdtemp(prefix="doisoat-test-data-"))
    config.stash[_REPO_DATA_BEFORE] = _files_under(_REPO_DATA)
    from hypothesis import settings

    # No per-example deadline anywhere: speed is measured by the scripts in benchmarks/, and on a shared
    # 2-core machine a first example that imports Dagster (2 s) failed the 200 ms default by test order.
    settings.register_profile("doisoat", deadline=None)
    settings.load_profile("doisoat")


_REPO_DATA_BEFORE = pytest.StashKey[set]()


def _files_under(folder: Path) -> set[str]:
    return {str(p) for p in folder.rglob("*")} if folder.is_dir() else set()


_WROTE_DATA: list[str] = []


@pytest.fixture(autouse=True)
def _nothing_written_into_the_repository_data(request: pytest.FixtureRequest):
    """Name the test that created the repository's data/ (a fresh clone, as in CI: one stat per test)."""
    existed = _REPO_DATA.exists()
    yield
    if not existed and _REPO_DATA.exists():
        _WROTE_DATA.append(request.node.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a test wrote into the repository's data/ (a key, Dagster storage, a lake)."""
    if _REPO_DATA_BEFORE not in session.config.stash:
        return
    new = sorted(_files_under(_REPO_DATA) - session.config.stash[_REPO_DATA_BEFORE])
    if new:
        print(f"\ntests wrote into the repository's data folder ({len(new)} paths, e.g. {new[0]}; after "
              f"{', '.join(_WROTE_DATA[:3]) or 'a module or session fixture'}): a test or fixture runs without its "
              "own DOISOAT_DATA")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="module")
def sample_analyst_file(tmp_path_factory: pytest.TempPathFactory):
    """A read-only DuckDB connection to an analyst file built by the real warehouse builder from the
    report tests' hand-made lake sources (tests/pipelines/test_report.py)."""
    import duckdb

    from assets.warehouse import WarehouseSources, build_warehouse
    from tests.pipelines.test_report import _sources

    path = tmp_path_factory.mktemp("w") / "doisoat.duckdb"
    build_warehouse(WarehouseSources(_sources()), path)
    c = duckdb.connect(str(path), read_only=True)
    yield c
    c.close()
