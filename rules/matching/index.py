"""The population index: the register normalised once into match features and value frequencies.

Building it costs seconds to minutes at 10M people, so it is cached as Parquet keyed by a content hash
of the register files (plus the index format version): a new register gives a new key and a rebuild,
an unchanged one is just read back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from rules.errors import UserError
from rules.matching import blocking
from rules.matching.blocking import PreparedIndex, SortedKeys, prepare_index
from rules.matching.config import MatchConfig
from rules.matching.features import index_features
from rules.private import private_dir, private_file

INDEX_VERSION = "4"
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


def build_population_index(register: pl.DataFrame, parents_from: pl.DataFrame | None = None) -> pl.DataFrame:
    """Register (contract 1) -> index: ``pid`` + match features + register counts of name values.

    Row position in the index is the person's internal key (``pidx``) used by the blocking joins.
    Counts (``gk_n`` given name, ``fk_n`` family name, ``nk_n`` full name) feed the term-frequency
    weights: agreeing on "Nguyễn" is weak evidence, agreeing on a rare given name is strong.
    ``parents_from``: where parents' names are looked up (``features.person_name_keys`` of the whole
    register) when ``register`` is a part of it; default ``register`` itself.
    """
    check_register(register)
    feats = index_features(register, parents_from)
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


def register_schema(path: str | Path) -> pl.Schema:
    """The schema of one register file, checked (``check_register``): a missing file, unreadable
    Parquet, a missing column or a ``date_of_birth`` that is not a date is one ``RegisterError`` line
    naming the file, never a Polars traceback (the first pass and the second pass's buckets alike)."""
    path = Path(path)
    if not path.exists():
        raise RegisterError(f"population register not found: {path}")
    try:
        schema = pl.read_parquet_schema(path)
    except Exception as exc:
        raise RegisterError(f"population register is not readable Parquet: {path} ({type(exc).__name__})") from None
    check_register(pl.DataFrame(schema=schema), str(path))
    return schema


def read_register(paths: Sequence[str | Path]) -> pl.DataFrame:
    """Read and concatenate register Parquet files, with clear errors naming the faulty file."""
    frames = []
    for p in paths:
        register_schema(p)  # a missing, unreadable or malformed file: one RegisterError line naming it
        df = pl.read_parquet(p)
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


def _one_chunk(df: pl.DataFrame) -> pl.DataFrame:
    """``df`` with each column in one chunk, column by column (at most one extra column in memory).

    Why: a Parquet file reads as one chunk per row group, and gathering candidate pairs from a chunked
    column searches the chunk of every row: 8 times slower than from one chunk.
    """
    cols = df.get_columns()
    del df
    for i, s in enumerate(cols):
        if s.n_chunks() > 1:
            cols[i] = s.rechunk()
    return pl.DataFrame(cols)


def load_or_build_index(
    register_paths: Sequence[str | Path] | str | Path,
    index_dir: str | Path,
    prepare_for: MatchConfig | None = None,
) -> pl.DataFrame:
    """Return the cached index for these register files, building and caching it if absent.

    The returned frame remembers where it is cached (:func:`prepared_index`), so the blocking keys
    sorted for a config are cached beside it; ``prepare_for`` builds them now (the index step)
    instead of in the first match run.
    """
    if isinstance(register_paths, (str, Path)):
        register_paths = register_paths_of(register_paths)
    for p in register_paths:
        if not Path(p).exists():
            raise RegisterError(f"population register not found: {p}")
    key = register_fingerprint(register_paths)[:20]
    index_dir = Path(index_dir)
    target = index_dir / f"population_index_{key}.parquet"
    if target.exists():
        index = _one_chunk(pl.read_parquet(target))
        remember_index(index, index_dir, key)
        if prepare_for is not None:
            prepared_index(index, prepare_for)
        return index
    index = build_population_index(read_register(register_paths))
    try:  # a cache we cannot write costs a rebuild next time, not the run
        private_dir(index_dir)  # a copy of the register (names, IDs, birth dates): owner-only
        tmp = private_file(index_dir / f".{target.name}.tmp{os.getpid()}")
        # one row group: read back as one chunk per column (see _one_chunk), with no copy
        index.write_parquet(tmp, compression="lz4", row_group_size=max(index.height, 1))
        os.replace(tmp, target)
        for stale in index_dir.glob("population_index_*"):  # one index per register version is enough
            if stale.name.startswith(f"population_index_{key}"):
                continue
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
    except OSError:
        return index
    remember_index(index, index_dir, key)
    if prepare_for is not None:
        prepared_index(index, prepare_for)
    return index


# ----------------------------------------------------------------------- prepared blocking keys
#
# Sorting every pass's index keys costs more than the rest of a 100k-row match (13 sorts of the
# register, two of them over every name token). The sorted keys depend only on the index and on the
# index side of the passes, so they are cached beside the index Parquet, one folder per pass set,
# and memory-mapped on the next run. A frame not read through ``load_or_build_index`` (tests, a
# generic index) is simply prepared in memory.

PREPARED_VERSION = "2"
_SOURCES: dict[int, tuple[weakref.ref, Path, str]] = {}


def remember_index(index: pl.DataFrame, index_dir: str | Path, key: str) -> None:
    """Note that ``index`` (this very object) is the cached index ``key`` in ``index_dir`` (public: the
    national second pass registers its bucket indexes the same way, ``rules.matching.national``)."""
    k = id(index)

    def _forget(ref: weakref.ref, k: int = k) -> None:
        if _SOURCES.get(k, (None,))[0] is ref:
            del _SOURCES[k]

    _SOURCES[k] = (weakref.ref(index, _forget), Path(index_dir), key)


def index_source(index: pl.DataFrame) -> tuple[Path, str] | None:
    """(index folder, index key) of a frame returned by ``load_or_build_index``, else None."""
    entry = _SOURCES.get(id(index))
    if entry is None or entry[0]() is not index:
        return None
    return entry[1], entry[2]


def prepared_fingerprint(config: MatchConfig) -> str:
    """Key of the prepared keys: the index side of the passes, the blocking code, polars' hash."""
    h = hashlib.sha256(f"prepared-v{PREPARED_VERSION}-polars-{pl.__version__}".encode())
    spec = [(p.name, p.kind, list(p.index_keys)) for p in config.passes]
    h.update(json.dumps(spec).encode())
    h.update(Path(blocking.__file__).read_bytes())
    return h.hexdigest()[:16]


def prepared_index(index: pl.DataFrame, config: MatchConfig) -> PreparedIndex:
    """The passes' sorted index keys: read from the cache beside the index, else sorted (and cached)."""
    src = index_source(index)
    if src is None:
        return prepare_index(index, config)
    folder = src[0] / f"population_index_{src[1]}.prepared_{prepared_fingerprint(config)}"
    if (folder / "done").exists():
        try:
            return _read_prepared(folder)
        except (OSError, ValueError, KeyError, TypeError):
            shutil.rmtree(folder, ignore_errors=True)  # unreadable: sorted again and rewritten below
    prepared = prepare_index(index, config)
    # a cache we cannot write (or a field we do not know how to store) costs a sort next time, not the run
    with contextlib.suppress(OSError, TypeError):
        write_prepared(folder, prepared)
    return prepared


# Every field of PreparedIndex is stored by its kind, so a field added to it is cached too (or, if of
# a kind not listed here, the keys are simply not cached): SortedKeys, a dict of them, an array, a
# tuple of arrays, a frame, or None.


def _read_prepared(folder: Path) -> PreparedIndex:
    meta = json.loads((folder / "done").read_text(encoding="utf-8"))

    def arr(tag: str) -> np.ndarray:
        return np.load(folder / f"{tag}.npy", mmap_mode="r")

    def table(tag: str) -> SortedKeys:
        return SortedKeys(arr(f"{tag}.keys"), arr(f"{tag}.pidx"))

    values = {}
    for f in dataclasses.fields(PreparedIndex):
        m = meta[f.name]  # a field the cache does not hold: KeyError, the keys are sorted again
        kind = m["kind"]
        if kind == "none":
            values[f.name] = None
        elif kind == "sorted":
            values[f.name] = table(m["tag"])
        elif kind == "sorted_dict":
            values[f.name] = {k: table(t) for k, t in m["tags"].items()}
        elif kind == "array":
            values[f.name] = arr(m["tag"])
        elif kind == "arrays":
            values[f.name] = tuple(arr(t) for t in m["tags"])
        elif kind == "frame":
            values[f.name] = pl.read_parquet(folder / f"{m['tag']}.parquet")
        else:
            raise ValueError(f"unknown prepared field kind {kind!r}")
    return PreparedIndex(**values)


def write_prepared(folder: Path, prepared: PreparedIndex) -> None:
    """Write ``prepared`` (sorted blocking keys) into a hidden owner-only folder, then rename it to
    ``folder`` (readers never see half). Public: the second pass writes its buckets' keys with it."""
    tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}-{threading.get_ident()}")
    shutil.rmtree(tmp, ignore_errors=True)
    private_dir(tmp)
    try:
        counter = iter(range(1 << 30))

        def arr(a: np.ndarray) -> str:
            tag = f"a{next(counter)}"
            np.save(private_file(tmp / f"{tag}.npy"), np.ascontiguousarray(a))
            return tag

        def table(st: SortedKeys) -> str:
            tag = f"t{next(counter)}"
            np.save(private_file(tmp / f"{tag}.keys.npy"), np.ascontiguousarray(st.keys))
            np.save(private_file(tmp / f"{tag}.pidx.npy"), np.ascontiguousarray(st.pidx))
            return tag

        meta: dict[str, dict] = {}
        for f in dataclasses.fields(prepared):
            v = getattr(prepared, f.name)
            if v is None:
                meta[f.name] = {"kind": "none"}
            elif isinstance(v, SortedKeys):
                meta[f.name] = {"kind": "sorted", "tag": table(v)}
            elif isinstance(v, dict) and all(isinstance(x, SortedKeys) for x in v.values()):
                meta[f.name] = {"kind": "sorted_dict", "tags": {k: table(x) for k, x in v.items()}}
            elif isinstance(v, np.ndarray):
                meta[f.name] = {"kind": "array", "tag": arr(v)}
            elif isinstance(v, (tuple, list)) and all(isinstance(x, np.ndarray) for x in v):
                meta[f.name] = {"kind": "arrays", "tags": [arr(x) for x in v]}
            elif isinstance(v, pl.DataFrame):
                tag = f"f{next(counter)}"
                v.write_parquet(private_file(tmp / f"{tag}.parquet"))
                meta[f.name] = {"kind": "frame", "tag": tag}
            else:
                raise TypeError(f"prepared index field {f.name!r}: {type(v).__name__} is not cached")
        private_file(tmp / "done").write_text(json.dumps(meta), encoding="utf-8")
        os.replace(tmp, folder)
    finally:  # after a failure, or when another process put the folder there first
        shutil.rmtree(tmp, ignore_errors=True)
