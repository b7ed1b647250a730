"""Point Dagster and doisoat at the repository's ``data/`` folder before anything imports Dagster state.

DAGSTER_HOME is the folder that holds ``dagster.yaml`` (the repo root); the instance storage goes to
``data/dagster_home/`` through the env vars that ``dagster.yaml`` reads. ``DOISOAT_DATA`` moves the
whole data folder (tests use a temporary one). Values already set in the environment win.
"""

from __future__ import annotations

import os
from pathlib import Path

from rules.layout import REPO_ROOT, DataLayout, default_root


def data_root() -> Path:
    """The data folder: ``$DOISOAT_DATA`` or ``data/`` of the repository (absolute)."""
    return default_root()


def layout() -> DataLayout:
    """Where every file lives under the data folder (``rules.layout``), for code outside Dagster."""
    return DataLayout.at(data_root(), lake_root=os.environ.get("DOISOAT_LAKE", ""),
                         policy_file=os.environ.get("DOISOAT_POLICY", ""))


def configure(data: Path | None = None, *, make_folders: bool = True) -> Path:
    """Set the environment for the embedded default instance and return the data root.

    ``make_folders=False``: check and set the environment only, create nothing (the rehearsal works in
    its own folder and configures it itself; the default data folder must not appear on the way).

    Raises :class:`rules.errors.UserError` when the data folder, ``$DOISOAT_LAKE`` or ``$DAGSTER_HOME``
    names something that cannot be one (Dagster's own message for the latter reads like a defect in doisoat).
    """
    if data is not None:
        os.environ["DOISOAT_DATA"] = str(Path(data).resolve())
        os.environ.pop("DOISOAT_DAGSTER_STORAGE", None)
        os.environ.pop("DOISOAT_COMPUTE_LOGS", None)
    root = data_root()
    _check_folders(root)
    where = DataLayout.at(root)
    if not os.environ.get("DAGSTER_HOME", "").strip():  # set but empty reads as unset, as DOISOAT_DATA does
        os.environ["DAGSTER_HOME"] = str(REPO_ROOT)
    os.environ["DOISOAT_DAGSTER_STORAGE"] = os.environ.get("DOISOAT_DAGSTER_STORAGE") or str(where.dagster_storage())
    os.environ["DOISOAT_COMPUTE_LOGS"] = os.environ.get("DOISOAT_COMPUTE_LOGS") or str(where.compute_logs())
    if not make_folders:  # a command with its own data folder (`doisoat rehearse --workdir`) makes its own
        return root
    from rules.private import private_dir

    # Dagster's run storage and compute logs (step output may quote rows): owner-only.
    private_dir(os.environ["DOISOAT_DAGSTER_STORAGE"])
    private_dir(os.environ["DOISOAT_COMPUTE_LOGS"])
    for folder in where.personal_folders():  # folders written before issue 11 were 0755: tighten them
        if folder.is_dir():
            private_dir(folder)
    return root


def _check_folders(root: Path) -> None:
    """One clear line for the two folders a user may point elsewhere, before anything is created."""
    from rules.errors import UserError

    if root.exists() and not root.is_dir():
        raise UserError(
            f"the data folder {root} is a file, not a folder: give a folder with --data or DOISOAT_DATA "
            "(it is created if missing)"
        )
    from rules.layout import check_lake_root

    check_lake_root(os.environ.get("DOISOAT_LAKE", ""))  # a typo must not publish an empty analyst file
    home = os.environ.get("DAGSTER_HOME")
    if home and not Path(home).is_dir():
        raise UserError(
            f"DAGSTER_HOME={home} is not an existing folder: create it and put a dagster.yaml in it "
            f"(deploy/ has examples), or unset DAGSTER_HOME to use the project's own ({REPO_ROOT})"
        )
