"""Splink's scored result, stored once per (data set, size, seed, Splink configuration) and reused.

Why: Splink's answer does not depend on our engine, and at 10M x 1M it costs tens of minutes of the
shared machine; the final evaluation run of doisoat compares against the stored figures instead of
rerunning Splink (``bench_match.py --splink-cached``). The printout says the figures came from the
cache and when they were measured.

Layout: ``<out-dir>/splink_cache/<key>/`` holds ``predictions.parquet`` (one ``person_id`` per record
row, row-aligned with the data set's truth, null below the threshold) and ``result.json`` (the key's
parts, the configuration text, Splink's version, when and under what load it was measured, time
and peak RSS, and the overall scores at the time). The scores are recomputed from the stored
predictions on reuse, so a change to ``scoring.py`` cannot leave stale figures.

The key: the data set's tag (for the harsh data it already names the sizes, the seed and a hash of
the generator and normaliser code), the size label, the seed, and the configuration hash
(``splink_runner.config_hash``: the spec, the threshold, the recipe's source and Splink's version).
Resource settings (memory limit, threads, spill folder) are not in the key: they change time and
memory, not the result.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from benchmarks.splink_runner import SplinkSpec, config_hash

CACHE_DIR = "splink_cache"


@dataclass(frozen=True)
class CachedResult:
    """A stored Splink run: its predictions and what was recorded when it was measured."""

    key: str
    predictions: pl.Series  # Utf8 person_id per record row (null = no match)
    figures: dict  # seconds, train_seconds, pairs, process_seconds, rss (GB)
    measured_at: str  # ISO UTC
    load_average: float | None
    splink_version: str


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:120]


def cache_key(dataset_tag: str, size: str | None, seed: int | None, spec: SplinkSpec) -> str:
    """Folder name of one result: ``<data set>__<size>__seed<seed>__cfg<hash>`` (filesystem-safe)."""
    return (
        f"{_slug(dataset_tag)}__{_slug(size or 'na')}__seed{seed if seed is not None else 'na'}__cfg{config_hash(spec)}"
    )


def store(
    out_dir: Path,
    key: str,
    predictions: pl.Series,
    figures: dict,
    *,
    spec: SplinkSpec,
    scores: dict | None = None,
    measured_at: dt.datetime | None = None,
) -> Path:
    """Write one result atomically (a half-written folder is never read as a result)."""
    from benchmarks.splink_runner import splink_version

    root = Path(out_dir) / CACHE_DIR
    final = root / key
    tmp = root / f".{key}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    pl.DataFrame({"person_id": predictions.cast(pl.Utf8)}).write_parquet(tmp / "predictions.parquet")
    meta = {
        "key": key,
        "measured_at": (measured_at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "load_average": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count(),
        "splink_version": splink_version(),
        "config_hash": config_hash(spec),
        "spec": repr(spec),
        "rows": predictions.len(),
        "figures": figures,
        "scores": scores or {},
    }
    (tmp / "result.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def load(out_dir: Path, key: str, rows: int) -> tuple[CachedResult | None, str]:
    """The stored result for ``key`` and ``""``, or None and why not (missing, partial, wrong row count)."""
    d = Path(out_dir) / CACHE_DIR / key
    meta_path, pred_path = d / "result.json", d / "predictions.parquet"
    if not meta_path.exists() or not pred_path.exists():
        return None, f"no stored Splink result under {d}"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        pred = pl.read_parquet(pred_path)["person_id"].cast(pl.Utf8)
    except (OSError, ValueError, pl.exceptions.PolarsError, KeyError) as exc:
        return None, f"stored Splink result unreadable ({type(exc).__name__}) under {d}"
    if pred.len() != rows or meta.get("key") != key:
        return None, f"stored Splink result under {d} has {pred.len():,} rows for {rows:,} records: stale"
    return (
        CachedResult(
            key=key,
            predictions=pred,
            figures=meta.get("figures", {}),
            measured_at=meta.get("measured_at", "?"),
            load_average=meta.get("load_average"),
            splink_version=meta.get("splink_version", "?"),
        ),
        "",
    )
