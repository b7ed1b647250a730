"""The one code location of doisoat, as ``dagster dev`` loads it, and the origin our own runs carry.

``pyproject.toml`` (``[tool.dagster]``) owns the module and the code-location name (``doisoat``);
``doisoat ui`` starts ``dagster dev`` in the repository with no target, so Dagster reads that block.
The runs ``doisoat run``/``demo``/``verify-day``/``publish`` start in process carry the same remote
origin (location ``doisoat``, repository ``__repository__``, the job's name): the job pages, the
timeline and "re-execute" of the UI find them, which runs without an origin never show on
(their job page says "No runs found").
"""

from __future__ import annotations

import tomllib
from functools import cache
from typing import TYPE_CHECKING

from pipelines.environment import REPO_ROOT

if TYPE_CHECKING:
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.remote_origin import RemoteJobOrigin, RemoteRepositoryOrigin

PYPROJECT = REPO_ROOT / "pyproject.toml"
# ``dg.Definitions`` is served as Dagster's single repository of that name.
REPOSITORY_NAME = "__repository__"
DEFINITIONS_ATTRIBUTE = "defs"


@cache
def _dagster_block() -> tuple[str, str]:
    """(module, code-location name) from ``[tool.dagster]`` of pyproject.toml."""
    block = tomllib.loads(PYPROJECT.read_text(encoding="utf-8")).get("tool", {}).get("dagster", {})
    return block.get("module_name", "pipelines.definitions"), block.get("code_location_name", "doisoat")


def module_name() -> str:
    return _dagster_block()[0]


def location_name() -> str:
    return _dagster_block()[1]


def repository_origin() -> RemoteRepositoryOrigin:
    """The repository origin ``dagster dev`` (run in the repository) builds from pyproject.toml."""
    from dagster._core.remote_origin import RemoteRepositoryOrigin
    from dagster._core.workspace.load_target import ModuleTarget

    target = ModuleTarget(module_name=module_name(), attribute=None, working_directory=str(REPO_ROOT),
                          location_name=location_name())
    return RemoteRepositoryOrigin(code_location_origin=target.create_origins()[0], repository_name=REPOSITORY_NAME)


def job_origin(job_name: str) -> RemoteJobOrigin:
    return repository_origin().get_job_origin(job_name)


def repository_label() -> str:
    """``__repository__@doisoat``: the hidden run tag the UI filters a job's runs by."""
    return repository_origin().get_label()


def reconstructable_repository() -> ReconstructableRepository:
    """How the code server loads the definitions (module, ``defs``, the repository as working directory)."""
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    return ReconstructableRepository.for_module(module_name(), DEFINITIONS_ATTRIBUTE, str(REPO_ROOT))
