"""Matching configuration: fields, blocking passes, comparisons, weights and thresholds, read from YAML.

The engine is driven entirely by this object so that a new data set (FEBRL4, another register) needs a
YAML file, not code. Weights are Fellegi-Sunter log2 likelihood ratios log2(m/u); for "term-frequency"
levels, u is taken per value from register frequencies, so agreement on a rare value weighs more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONFIG_DIR = Path(__file__).parent


@dataclass(frozen=True)
class PassSpec:
    """One blocking pass: exact join of ``record_keys`` (record side) on ``index_keys`` (register side).

    ``kind`` is ``exact`` (join on the key columns) or ``id_variants`` (join every one-digit
    substitution / adjacent transposition of a numeric ID, for records whose ID was not found).
    ``cap``: a record whose block in this pass is larger than ``cap`` gets no pairs from this pass and
    the flag ``candidate_cap_hit``, which keeps pair counts (and memory) bounded.
    """

    name: str
    record_keys: tuple[str, ...]
    index_keys: tuple[str, ...]
    kind: str = "exact"
    cap: int = 50
    only_if_no_hit_in: str | None = None  # id_variants: run only for records without a hit in that pass


@dataclass(frozen=True)
class LevelSpec:
    """One agreement level of a comparison; the first level whose predicate holds wins.

    ``when`` names a predicate (see ``rules.matching.compare.PREDICATES``) applied to ``column``;
    ``tf`` names an index column holding the register count of the agreeing value, in which case
    u = max(u_min, count / register size) instead of the fixed ``u``.
    """

    label: str
    when: str
    column: str | None = None
    arg: float | None = None
    m: float = 0.9
    u: float = 0.1
    tf: str | None = None
    u_min: float = 1e-6
    weight: float | None = None  # explicit log2 weight, overrides m/u

    def fixed_weight(self) -> float:
        if self.weight is not None:
            return float(self.weight)
        return math.log2(self.m / self.u)


@dataclass(frozen=True)
class ComparisonSpec:
    """A field comparison: ``levels`` tried in order; if none applies, ``else_label``/``else_weight``."""

    name: str
    levels: tuple[LevelSpec, ...]
    null_columns: tuple[str, ...] = ()  # any null on either side -> level "missing", weight 0
    else_label: str = "disagree"
    else_m: float = 0.05
    else_u: float = 0.95
    agree_labels: tuple[str, ...] = ()  # labels counted as "agreeing" in decisions (default: first level)

    @property
    def else_weight(self) -> float:
        return math.log2(self.else_m / self.else_u)


@dataclass(frozen=True)
class MatchConfig:
    """Everything the engine needs: how to prepare features, block, compare and decide."""

    name: str
    prepare: str  # "vietnam" (normalised records + register index) or "generic" (column mapping)
    passes: tuple[PassSpec, ...]
    comparisons: tuple[ComparisonSpec, ...]
    prior: float = -10.0  # log2 prior odds that a blocked candidate pair is a match
    match_threshold: float = 0.99  # match probability needed for `matched`
    review_threshold: float = 0.5  # a candidate at or above this is "plausible" (ambiguous review)
    margin: float = 4.0  # log2 weight the best must exceed the runner-up by
    max_review_candidates: int = 5
    chunk_size: int = 200_000
    id_column: str = "pid"  # index column with the person identifier
    record_id_column: str | None = "idn_s"  # record column compared with id_column for flags
    generic_fields: dict[str, str] = field(default_factory=dict)  # generic prepare: feature <- column
    pair_fixups: tuple[str, ...] = ()
    id_known_pass: str = "id_exact"  # records with a hit in this pass have an ID known to the register
    pair_budget_per_record: float = 20.0  # asset check: candidate pairs per record above this is a warning
    max_ambiguous_share: float = 0.05  # asset check: share of ambiguous rows above this is a warning
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_yaml(cls, path: str | Path) -> MatchConfig:
        """Read a config file; unknown keys are rejected so that typos do not pass silently."""
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatchConfig:
        passes = tuple(
            PassSpec(
                name=p["name"],
                record_keys=tuple(p["record_keys"]),
                index_keys=tuple(p.get("index_keys", p["record_keys"])),
                kind=p.get("kind", "exact"),
                cap=int(p.get("cap", data.get("default_cap", 50))),
                only_if_no_hit_in=p.get("only_if_no_hit_in"),
            )
            for p in data["passes"]
        )
        comps = []
        for c in data["comparisons"]:
            levels = tuple(LevelSpec(**lv) for lv in c["levels"])
            comps.append(
                ComparisonSpec(
                    name=c["name"],
                    levels=levels,
                    null_columns=tuple(c.get("null_columns", ())),
                    else_label=c.get("else_label", "disagree"),
                    else_m=float(c.get("else_m", 0.05)),
                    else_u=float(c.get("else_u", 0.95)),
                    agree_labels=tuple(c.get("agree_labels", (levels[0].label,) if levels else ())),
                )
            )
        known = {
            "name",
            "prepare",
            "passes",
            "comparisons",
            "prior",
            "match_threshold",
            "review_threshold",
            "margin",
            "max_review_candidates",
            "chunk_size",
            "id_column",
            "record_id_column",
            "generic_fields",
            "pair_fixups",
            "default_cap",
            "description",
            "index_id_source",
            "id_known_pass",
            "pair_budget_per_record",
            "max_ambiguous_share",
        }
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown matching config keys: {sorted(unknown)}")
        return cls(
            name=data["name"],
            prepare=data.get("prepare", "vietnam"),
            passes=passes,
            comparisons=tuple(comps),
            prior=float(data.get("prior", -10.0)),
            match_threshold=float(data.get("match_threshold", 0.99)),
            review_threshold=float(data.get("review_threshold", 0.5)),
            margin=float(data.get("margin", 4.0)),
            max_review_candidates=int(data.get("max_review_candidates", 5)),
            chunk_size=int(data.get("chunk_size", 200_000)),
            id_column=data.get("id_column", "pid"),
            record_id_column=data.get("record_id_column", "idn_s"),
            generic_fields=dict(data.get("generic_fields", {})),
            pair_fixups=tuple(data.get("pair_fixups", ())),
            id_known_pass=data.get("id_known_pass", "id_exact"),
            pair_budget_per_record=float(data.get("pair_budget_per_record", 20.0)),
            max_ambiguous_share=float(data.get("max_ambiguous_share", 0.05)),
            raw=data,
        )

    def pair_budget(self, n_records: int) -> int:
        """Candidate-pair budget for ``n_records`` records (the asset check compares the pass totals)."""
        return max(1000, int(self.pair_budget_per_record * n_records))

    @classmethod
    def default(cls) -> MatchConfig:
        """The Vietnamese register configuration shipped beside the code."""
        return cls.from_yaml(CONFIG_DIR / "vietnam.yaml")
