"""What a benchmark data set is: paths of its cached inputs and how each system reads them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from benchmarks.splink_runner import SplinkSpec

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Dataset:
    """One linkage task. ``kind``: ``vietnam`` (normalised sector records against a register of
    contract 1, default engine config) or ``generic`` (standardised records against a standardised
    register through ``config``). ``truth``: person_id (+ n_errors, labels, sector), row-aligned
    with ``records``. ``splink_left``/``splink_right``: the same rows as Splink input."""

    name: str
    kind: str
    records: Path
    register: Path
    truth: Path
    splink_left: Path
    splink_right: Path
    splink: SplinkSpec
    config: Path | None = None
    harsh: bool = False
    size_label: str = ""
    seed: int | None = None  # the generator seed (harsh data); part of Splink's cache key


def code_version(*folders: str) -> str:
    """Short hash of the source files that shape cached data, so a code change regenerates it."""
    h = hashlib.sha256()
    for folder in folders:
        for p in sorted((ROOT / folder).rglob("*")):
            if p.suffix in (".py", ".yaml", ".csv") and p.is_file():
                h.update(p.relative_to(ROOT).as_posix().encode())
                h.update(p.read_bytes())
    return h.hexdigest()[:10]
