"""Point Dagster and doisoat at the repository's ``data/`` folder before anything imports Dagster state.

DAGSTER_HOME is the folder that holds ``dagster.yaml`` (the repo root); the instance storage goes to
``data/dagster_home/`` through the env vars that ``dagster.yaml`` reads. ``DOISOAT_DATA`` moves the
whole data folder (tests use a temporary one). Values already set in the environment win.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Sub-folders of the data root that hold personal data (names, IDs, birth dates): owner-only (0700).
# ``warehouse/`` is the analyst file (masked aggregates, no personal data) and keeps its mode.
PERSONAL_FOLDERS = ("population", "inbox", "truth", "lake", "national", "reports", "operator", "dagster_home")


def data_root() -> Path:
    return Path(os.environ.get("DOISOAT_DATA", REPO_ROOT / "data")).resolve()


def configure(data: Path | None = None) -> Path:
    """Set the environment for the embedded default instance and return the data root."""
    if data is not None:
        os.environ["DOISOAT_DATA"] = str(Path(data).resolve())
        os.environ.pop("DOISOAT_DAGSTER_STORAGE", None)
        os.environ.pop("DOISOAT_COMPUTE_LOGS", None)
    root = data_root()
    storage = root / "dagster_home"
    os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT))
    os.environ["DOISOAT_DAGSTER_STORAGE"] = os.environ.get("DOISOAT_DAGSTER_STORAGE") or str(storage)
    os.environ["DOISOAT_COMPUTE_LOGS"] = os.environ.get("DOISOAT_COMPUTE_LOGS") or str(storage / "logs")
    from rules.private import private_dir

    # Dagster's run storage and compute logs (step output may quote rows): owner-only.
    private_dir(os.environ["DOISOAT_DAGSTER_STORAGE"])
    private_dir(os.environ["DOISOAT_COMPUTE_LOGS"])
    for name in PERSONAL_FOLDERS:  # folders written before issue 11 were 0755: tighten them
        if (root / name).is_dir():
            private_dir(root / name)
    return root
