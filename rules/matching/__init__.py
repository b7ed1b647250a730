"""Matching sector records to the population register (bounded blocking, explained decisions).

Public API::

    index = load_or_build_index(["data/population/ho_chi_minh.parquet"], "data/lake/population_index")
    out = match_records(normalised_records, index)          # MatchOutput
    out.results, out.review_queue, out.pass_counts, out.stats
    out.estimates.to_frame(config)       # m, u, match weight per comparison level (estimated per run)
    match_weights_svg(out.estimates, config)   # Splink-style match-weights chart

The engine is configured by YAML (``vietnam.yaml`` by default, ``febrl4.yaml`` for the FEBRL4 peer
benchmark); this package never imports Dagster, Splink or recordlinkage.
"""

from rules.matching.config import MatchConfig
from rules.matching.engine import MatchOutput, build_generic_index, match_records
from rules.matching.estimate import Estimates, cache_root
from rules.matching.files import combine_with_rejected, match_file, match_with_rejected
from rules.matching.index import RegisterError, build_population_index, load_or_build_index
from rules.matching.report import match_weights_svg

__all__ = [
    "Estimates",
    "MatchConfig",
    "MatchOutput",
    "RegisterError",
    "build_generic_index",
    "build_population_index",
    "cache_root",
    "combine_with_rejected",
    "load_or_build_index",
    "match_file",
    "match_records",
    "match_weights_svg",
    "match_with_rejected",
]
