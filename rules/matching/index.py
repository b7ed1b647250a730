"""The population index: the register normalised once into match features and value frequencies.

Building it costs seconds to minutes at 10M people, so it is cached as Parquet keyed by a content hash
of the register files (plus the index format version): a new register gives a new key and a rebuild,
an unchanged one is just read back.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from rules.errors import UserError
from rules.matching.features import index_features
from rules.private import private_dir, private_file

INDEX_VERSION = "3"
REQUIRED_REGISTER_COLUMNS: tuple[str, ...] = ("person_id", "full_name", "date_of_birth", "gender")
# used when present: old CMND, current province, and parent links (a parent's ID on a child's row)
OPTIONAL_COLUMNS: tuple[str, ...] = ("old_id", "province", "mother_id", "father_id", "household_id")
FREQUENCY_COLUMNS: dict[str, str] = {
    "gk": "gk_n",
    "fk": "fk_n",
    "mk": "mk_n",
    "nk": "nk_n",
    "idn_s": "idn_n",
    "cmnd": "cmnd_n",
}


class RegisterError(UserError, ValueError):
    """The population register is missing or malformed (message names the file and columns, no data)."""


def check_register(register: pl.DataFrame, source: str = "register") -> None:
    """Raise RegisterError if required columns are missing or of an unusable type."""
    missing = [c for c in REQUIRED_REGISTER_COLUMNS if c not in register.columns]
    if missing:
        raise RegisterError(f"{source}: missing required column(s): {', '.join(missing)}")
    dtype = register.schema["date_of_birth"]
    if dtype not in (pl.Date, pl.Datetime) and not isinstance(dtype, pl.Datetime):
        raise RegisterError(f"{source}: column date_of_birth must be a Date, found {dtype}")


def build_population_index(register: pl.DataFrame) -> pl.DataFrame:
    """Register (contract 1) -> index: ``pid`` + match features + register counts of name values.

    Row position in the index is the person's internal key (``pidx``) used by the blocking joins.
    Counts (``gk_n`` given name, ``fk_n`` family name, ``nk_n`` full name) feed the term-frequency
    weights: agreeing on "Nguyễn" is weak evidence, agreeing on a rare given name is strong.
    """
    check_register(register)
    feats = index_features(register)
    feats = feats.with_columns(register["person_id"].cast(pl.Utf8).alias("pid"))
    feats = feats.with_columns(pl.len().over(src).cast(pl.UInt32).alias(dst) for src, dst in FREQUENCY_COLUMNS.items())
    # whole name + birth year: namesakes of one generation are far more common than name x year
    return feats.with_columns(pl.len().over("nk", "yr").cast(pl.UInt32).alias("nky_n"))


def register_fingerprint(paths: Sequence[str | Path]) -> str:
    """sha256 over the register files' bytes (in the given order) and the index format version."""
    h = hashlib.sha256(f"doisoat-index-v{INDEX_VERSION}-polars-{pl.__version__}".encode())
    for p in paths:
        with open(p, "rb") as fh:
            while chunk := fh.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()


def read_register(paths: Sequence[str | Path]) -> pl.DataFrame:
    """Read and concatenate register Parquet files, with clear errors naming the faulty file."""
    frames = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise RegisterError(f"population register not found: {path}")
        try:
            df = pl.read_parquet(path)
        except Exception as exc:
            raise RegisterError(f"population register is not readable Parquet: {path} ({type(exc).__name__})") from None
        check_register(df, str(path))
        frames.append(df.select([c for c in df.columns if c in (*REQUIRED_REGISTER_COLUMNS, *OPTIONAL_COLUMNS)]))
    if not frames:
        raise RegisterError("no population register files given")
    return pl.concat(frames, how="diagonal_relaxed")


def register_paths_of(population: str | Path) -> list[Path]:
    """A register is a Parquet file or a folder of them (sorted, for a stable fingerprint)."""
    p = Path(population)
    if p.is_dir():
        files = sorted(p.glob("*.parquet"))
        if not files:
            raise RegisterError(f"no .parquet files in population folder: {p}")
        return files
    return [p]


def load_or_build_index(register_paths: Sequence[str | Path] | str | Path, index_dir: str | Path) -> pl.DataFrame:
    """Return the cached index for these register files, building and caching it if absent."""
    if isinstance(register_paths, (str, Path)):
        register_paths = register_paths_of(register_paths)
    for p in register_paths:
        if not Path(p).exists():
            raise RegisterError(f"population register not found: {p}")
    key = register_fingerprint(register_paths)[:20]
    index_dir = Path(index_dir)
    target = index_dir / f"population_index_{key}.parquet"
    if target.exists():
        return pl.read_parquet(target)
    index = build_population_index(read_register(register_paths))
    try:  # a cache we cannot write costs a rebuild next time, not the run
        private_dir(index_dir)  # a copy of the register (names, IDs, birth dates): owner-only
        tmp = private_file(index_dir / f".{target.name}.tmp{os.getpid()}")
        index.write_parquet(tmp, compression="lz4")
        os.replace(tmp, target)
        for stale in index_dir.glob("population_index_*.parquet"):  # one index per register version is enough
            if stale != target:
                stale.unlink(missing_ok=True)
    except OSError:
        pass
    return index
