"""Splink 5 (DuckDB backend) as its documentation teaches, on standardised inputs, for any data set.

A ``SplinkSpec`` names the columns and the blocking; the run is always the same competent recipe:
blocking rules for prediction (ID, date of birth, name + birth year where the data set has them),
the share of matches from deterministic rules, u by random sampling, m by EM on two blocking rules,
then the best candidate per record with match probability >= 0.9. Nothing is tuned on truth.

``SplinkResources`` bounds DuckDB (memory limit, threads, a spill folder, prediction in chunks) so the 10M x 1M run fits
the shared machine; it changes time and memory, never the result, and is not in the configuration
hash (``config_hash``) that keys the stored results (``splink_cache.py``).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

THRESHOLD = 0.9


@dataclass(frozen=True)
class SplinkSpec:
    """Columns (both sides use the same names) and rules; ``unique_id`` is the row key."""

    names: tuple[str, ...] = ()  # NameComparison, term frequencies on
    names_plain: tuple[str, ...] = ()  # NameComparison without term frequencies (middle names)
    dob: str | None = None  # Date column: DateOfBirthComparison
    dob_text: str | None = None  # text date (yyyymmdd): Levenshtein 1, 2
    ids: tuple[str, ...] = ()  # Levenshtein 1, 2
    exact: tuple[str, ...] = ()  # ExactMatch
    blocking: tuple[tuple[str, ...], ...] = ()
    deterministic: tuple[tuple[str, ...], ...] = ()
    em_blocks: tuple[tuple[str, ...], ...] = ()
    recall: float = 0.8
    u_pairs: float = 5e6
    u_seed: int = 1  # random sampling for u is seeded: the same inputs give the same result
    em_max_pairs: float | None = None  # Splink's own cap on EM training pairs (None: every blocked pair)
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SplinkResources:
    """How DuckDB may use the machine. ``memory_limit_gb``: DuckDB's own limit (it spills to
    ``temp_dir`` beyond it; the process peak is higher by Python, Arrow and Splink's own frames);
    ``threads``: DuckDB worker threads. None = DuckDB's default."""

    memory_limit_gb: float | None = None
    threads: int | None = None
    temp_dir: Path | None = None
    chunks_left: int | None = None  # predict() in chunks of the records x the register (same pairs)
    chunks_right: int | None = None


def splink_version() -> str:
    """Installed Splink version, or ``not installed``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("splink")
    except PackageNotFoundError:
        return "not installed"


def config_hash(spec: SplinkSpec) -> str:
    """12 hex digits naming everything that decides Splink's answer: the spec, the threshold, the
    recipe (source of ``run_splink``) and Splink's version. Resources are left out."""
    h = hashlib.sha256()
    for part in (repr(spec), repr(THRESHOLD), inspect.getsource(run_splink), splink_version()):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def run_splink(
    left: Path,
    right: Path,
    spec: SplinkSpec,
    resources: SplinkResources | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[pl.Series, dict]:
    """Best register ``unique_id`` per row of the ``left`` parquet file (null below the threshold),
    row-aligned with it, and figures: ``seconds`` (training + prediction), ``train_seconds``,
    ``pairs`` (scored pairs with p >= the threshold). Both files are read by DuckDB itself (no
    Python copy of a 10M-row register)."""
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    res = resources or SplinkResources()
    logging.getLogger("splink").setLevel(logging.WARNING)
    t = time.perf_counter()
    comparisons = [cl.NameComparison(c).configure(term_frequency_adjustments=True) for c in spec.names]
    comparisons += [cl.NameComparison(c) for c in spec.names_plain]
    if spec.dob:
        comparisons.append(cl.DateOfBirthComparison(spec.dob, input_is_string=False))
    if spec.dob_text:
        comparisons.append(cl.LevenshteinAtThresholds(spec.dob_text, [1, 2]))
    comparisons += [cl.LevenshteinAtThresholds(c, [1, 2]) for c in spec.ids]
    comparisons += [cl.ExactMatch(c) for c in spec.exact]
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        blocking_rules_to_generate_predictions=[block_on(*b) for b in spec.blocking],
        comparisons=comparisons,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    con = duckdb.connect()
    if res.memory_limit_gb is not None:
        con.execute(f"SET memory_limit = '{res.memory_limit_gb:g}GB'")
    if res.threads is not None:
        con.execute(f"SET threads = {int(res.threads)}")
    if res.temp_dir is not None:
        Path(res.temp_dir).mkdir(parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{Path(res.temp_dir).as_posix()}'")
    con.execute("SET preserve_insertion_order = false")  # lets DuckDB stream and spill big joins
    con.execute("CREATE TABLE in_records AS SELECT * FROM read_parquet(?)", [str(left)])
    con.execute("CREATE TABLE in_register AS SELECT * FROM read_parquet(?)", [str(right)])
    db = DuckDBAPI(connection=con)
    linker = Linker(
        [db.register("in_records", table_name="records"), db.register("in_register", table_name="register")],
        settings,
        log_level=logging.ERROR,
    )
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*b) for b in spec.deterministic], recall=spec.recall
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=spec.u_pairs, seed=spec.u_seed)
    if progress is not None:
        progress(f"prior and u estimated: {time.perf_counter() - t:.0f} s")
    for b in spec.em_blocks:
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*b), max_pairs=spec.em_max_pairs)
        if progress is not None:
            progress(f"EM on {' + '.join(b)}: {time.perf_counter() - t:.0f} s")
    t_train = time.perf_counter() - t
    # prediction, in chunks of the records when asked (each chunk holds every pair of its records,
    # so the best candidate per record is found within its chunk); the best candidate per record,
    # ties broken by the register ID so the answer is reproducible
    n_chunks = res.chunks_left or 1
    bests, n_pairs = [], 0
    for i in range(1, n_chunks + 1):
        tc = time.perf_counter()
        if n_chunks == 1:
            pred = linker.inference.predict(threshold_match_probability=THRESHOLD)
        else:
            pred = linker.inference.predict_chunk(
                left_chunk=(i, n_chunks), right_chunk=(1, 1), threshold_match_probability=THRESHOLD
            )
        bests.append(
            con.sql(
                f"""SELECT unique_id_l AS unique_id, CAST(unique_id_r AS VARCHAR) AS pid
                    FROM {pred.physical_name}
                    QUALIFY row_number() OVER (PARTITION BY unique_id_l
                                               ORDER BY match_probability DESC, unique_id_r) = 1"""
            ).pl()
        )
        n_pairs += con.sql(f"SELECT count(*) FROM {pred.physical_name}").fetchall()[0][0]
        pred.drop_table_from_database_and_remove_from_cache()
        if progress is not None:
            progress(
                f"predict chunk {i}/{n_chunks}: {time.perf_counter() - tc:.0f} s, "
                f"{time.perf_counter() - t:.0f} s since start"
            )
    best = pl.concat(bests)
    ids = pl.read_parquet(left, columns=["unique_id"])
    joined = ids.join(
        best.with_columns(pl.col("unique_id").cast(ids["unique_id"].dtype)),
        on="unique_id",
        how="left",
        maintain_order="left",
    )
    con.close()
    return joined["pid"], {"seconds": time.perf_counter() - t, "train_seconds": t_train, "pairs": int(n_pairs)}
