"""Matching configuration: fields, blocking passes, comparison levels and start values, read from YAML.

The engine is driven entirely by this object so that a new data set (FEBRL4, pseudopeople, another
register) needs a YAML file, not code. The YAML holds the *structure* of the Fellegi-Sunter model
(which comparisons, which levels in which order, which blocking passes) and optional *start values*
of the m and u probabilities; the values used to score are estimated from the data of each run
(``rules.matching.estimate``: m and the share of records that have a match by EM, u from random
record x register pairs and register frequencies). A config may therefore map columns only: a level
without ``m``/``u`` gets a default start value by its position in the list.

Models are frozen pydantic models that refuse unknown keys; a bad file fails with one line naming the
key path (``comparisons.2.levels.0.mm: unknown key``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from rules.config import StrictModel, load_config

CONFIG_DIR = Path(__file__).parent


_Strict = StrictModel  # frozen, unknown keys refused (rules.config)


class PassSpec(_Strict):
    """One blocking pass: exact join of ``record_keys`` (record side) on ``index_keys`` (register side).

    ``kind`` is ``exact`` (join on the key columns), ``id_variants`` (join every one-digit
    substitution / adjacent transposition of a numeric ID, for records whose ID was not found),
    ``token`` (the name's rarest token + the other keys) or ``id_household`` (everyone in the household
    of the register person holding the record's ID; ``index_keys`` = [ID column, household column]).
    Key columns may be derived ones (``rules.matching.blocking.DERIVED_KEYS``: ``md``, ``gi``).
    ``cap``: a record whose block in this pass is larger than ``cap`` gets no pairs from this pass and
    the flag ``candidate_cap_hit``, which keeps pair counts (and memory) bounded.
    """

    name: str
    record_keys: tuple[str, ...]
    index_keys: tuple[str, ...] = ()
    kind: Literal["exact", "id_variants", "token", "id_household"] = "exact"
    cap: int = Field(default=50, ge=1)
    only_if_no_hit_in: str | None = None  # id_variants: run only for records without a hit in that pass
    # exact/token passes: run only for records that none of these (earlier) passes found anyone for:
    # a fallback key for damaged rows is not needed where the ID or the exact name + date found someone
    skip_if_hit_in: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _default_index_keys(self) -> PassSpec:
        if not self.index_keys:
            object.__setattr__(self, "index_keys", self.record_keys)
        return self


class LevelSpec(_Strict):
    """One agreement level of a comparison; the first level whose predicate holds wins.

    ``when`` names a predicate (see ``rules.matching.compare.PREDICATES``) applied to ``column``.
    ``m``/``u`` are *start values* (estimated per run); ``tf`` names an index column holding the register
    count of the agreeing value, in which case the pair's u is max(u_min, count / register size) (a rare
    value weighs more). ``fixed: true`` keeps the start values (no estimation) for this level.

    ``u_from`` says how u is estimated: ``sample`` (random record x register pairs, the default), or,
    for a level too rare for any affordable sample to see (a few in 10^7 pairs), counted in the
    register itself: ``id_neighbours`` (people whose IDs are one digit substitution or adjacent
    transposition apart: the ``osa`` level of a 12-digit ID; needs an ``id_variants`` or
    ``id_household`` pass) or ``parent_links`` (the register's mother / father links: the
    ``parent_of`` level). See ``rules.matching.estimate.register_u``.

    ``implies``: comparisons whose agreement this level carries for two different people as well,
    each with the labels meant (``{dob: [exact, ...], gender: [agree]}``). Where a pair is at this
    level and the named comparison at one of those labels, that agreement is not counted a second
    time: the total loses log2 of 1 / P(those labels | different people), i.e. the named
    comparison's u is taken given this level (``compare.implied_adjustment``).
    """

    label: str
    when: str
    column: str | None = None
    arg: float | None = None
    m: float | None = Field(default=None, gt=0, lt=1)
    u: float | None = Field(default=None, gt=0, le=1)
    tf: str | None = None
    u_min: float = Field(default=1e-7, gt=0, lt=1)
    u_from: Literal["sample", "id_neighbours", "parent_links"] = "sample"
    # comparison -> its labels that this level implies even for two different people (their u is then
    # conditional on it): e.g. IDs one digit apart mostly share the digits of province, gender and year
    implies: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class ComparisonSpec(_Strict):
    """A field comparison: ``levels`` tried in order; if none applies, the ``else`` level.

    A null in any of ``null_columns`` (either side) gives the level ``missing``: weight 0, neutral.
    ``agree_labels``: labels counted as "agreeing" in decisions and flags (default: the first level).
    ``fixed``: keep the start values of every level (a comparison that is only a marker).
    """

    name: str
    levels: tuple[LevelSpec, ...]
    null_columns: tuple[str, ...] = ()
    else_label: str = "disagree"
    else_m: float | None = Field(default=None, gt=0, lt=1)
    else_u: float | None = Field(default=None, gt=0, le=1)
    agree_labels: tuple[str, ...] = ()
    fixed: bool = False
    name_part: bool = False  # one part of the person's name (joint name frequency adjustment)

    @property
    def labels(self) -> tuple[str, ...]:
        """Labels by level index: the listed levels, then the else level."""
        return (*(lv.label for lv in self.levels), self.else_label)

    @property
    def agreeing(self) -> tuple[str, ...]:
        return self.agree_labels or ((self.levels[0].label,) if self.levels else ())


class Estimation(_Strict):
    """How the parameters are estimated from the data of a run (see ``rules.matching.estimate``).

    Bounds keep one odd file from making a level absurd: m is a MAP estimate with ``m_strength``
    pseudo-matches spread as the start values, then clamped to ``m_bounds``; the share of records that
    have a match in the register starts at ``match_share`` with ``share_strength`` pseudo-records and
    stays within ``share_bounds``. u comes from ``u_sample_pairs`` random record x register pairs; a
    level seen fewer than ``u_min_hits`` times there keeps its start u (or the Laplace estimate when
    the config gives none). The birth-year prior (``year_prior_*``; ``estimate.year_prior``) weighs
    each candidate by how common its birth year is in the file compared with the register;
    ``year_prior_column: null`` turns it off.
    """

    enabled: bool = True
    max_iterations: int = Field(default=30, ge=0)
    tolerance: float = Field(default=1e-4, gt=0)
    m_strength: float = Field(default=50.0, ge=0)
    m_bounds: tuple[float, float] = (1e-4, 0.9999)
    match_share: float = Field(default=0.9, gt=0, lt=1)
    share_strength: float = Field(default=20.0, ge=0)
    share_bounds: tuple[float, float] = (0.05, 0.999)
    u_sample_pairs: int = Field(default=300_000, ge=1000)
    u_min_hits: int = Field(default=30, ge=1)
    id_neighbour_sample: int = Field(default=20_000, ge=100)  # register IDs whose one-edit neighbours are counted
    u_bounds: tuple[float, float] = (1e-10, 0.9999)
    max_records: int = Field(default=400_000, ge=1)  # records whose pairs feed EM (a hashed sample)
    seed: int = 20260101
    # birth-year prior: a file is not a uniform draw from the register (a school list holds children);
    # the prior that a candidate is the record's person follows the file's birth years (smoothed
    # toward the register's by ``year_prior_strength`` pseudo-records), within +- ``year_prior_max_log2``.
    # Off unless a config names the column (vietnam.yaml does not: see README, "Speed and accuracy")
    year_prior_column: str | None = None
    year_prior_by: str | None = "sector"  # records column whose values get a prior each (a run of many sectors)
    year_prior_strength: float = Field(default=200.0, ge=0)
    year_prior_max_log2: float = Field(default=3.0, ge=0)


class NameFrequency(_Strict):
    """Joint term frequencies of whole names (and name + birth year): when every name part agrees
    exactly, the name's weight uses the register count of the whole name instead of the product of
    the parts' frequencies (names are not independent parts), and the count of name + birth year
    when the years agree as well. ``max_gain``: at most this many log2 units more than the parts."""

    name_count: str = "nk_n"
    name_year_count: str | None = "nky_n"
    year_comparison: str = "dob"
    year_levels: tuple[str, ...] = ("exact", "day_month_swapped", "month_year", "year_only", "one_digit", "same_year")
    max_gain: float = 3.0


class MatchConfig(_Strict):
    """Everything the engine needs: how to prepare features, block, compare, estimate and decide."""

    name: str
    description: str = ""
    prepare: Literal["vietnam", "generic"] = "vietnam"
    passes: tuple[PassSpec, ...]
    comparisons: tuple[ComparisonSpec, ...]
    estimation: Estimation = Estimation()
    name_frequency: NameFrequency | None = None
    match_threshold: float = Field(default=0.99, gt=0, lt=1)  # posterior probability for `matched` ...
    margin: float = Field(default=4.0, ge=0)  # ... and log2 likelihood ratio above the runner-up
    # log2 units by which a sibling's name must read better than the holder of the row's ID for the ID
    # to be set aside (``decide.id_conflicts``): twice as likely, so a rounding difference never does it
    twin_name_margin: float = Field(default=1.0, ge=0)
    review_threshold: float = Field(default=0.5, gt=0, lt=1)  # a candidate this likely is "plausible"
    max_review_candidates: int = Field(default=5, ge=1)
    chunk_size: int = Field(default=200_000, ge=1)
    id_column: str = "pid"  # index column with the person identifier
    index_id_source: str = "person_id"  # generic prepare: the register column copied to id_column
    record_id_column: str | None = "idn_s"  # record column compared with id_column for flags
    id_comparison: str | None = "id"  # the comparison whose agreement means "the file's ID is this person's"
    # comparisons of which one must support an agreeing ID (positive weight) when another contradicts
    # it: an ID beside a name and date that share nothing personal with its holder (a relative's or a
    # borrowed ID) is evidence about the holder's household, not the row's person
    # (``decide.uncorroborated_ids``)
    id_corroborated_by: tuple[str, ...] = ()
    generic_fields: dict[str, str] = Field(default_factory=dict)  # generic prepare: feature <- column
    pair_fixups: tuple[str, ...] = ()
    default_cap: int | None = None  # applied in from_dict to passes without a cap
    id_known_pass: str = "id_exact"  # records with a hit in this pass have an ID known to the register
    pair_budget_per_record: float = 20.0  # asset check: candidate pairs per record above this is a warning
    max_ambiguous_share: float = 0.05  # asset check: share of ambiguous rows above this is a warning

    @model_validator(mode="after")
    def _check(self) -> MatchConfig:
        names = [p.name for p in self.passes]
        if len(set(names)) != len(names):
            raise ValueError("passes: pass names must be unique")
        for i, p in enumerate(self.passes):
            if p.only_if_no_hit_in and p.only_if_no_hit_in not in names:
                raise ValueError(f"passes.{p.name}.only_if_no_hit_in: no pass named {p.only_if_no_hit_in!r}")
            for dep in p.skip_if_hit_in:
                if dep not in names[:i]:
                    raise ValueError(f"passes.{p.name}.skip_if_hit_in: no earlier pass named {dep!r}")
        known = {c.name for c in self.comparisons}
        for name in self.id_corroborated_by:
            if name not in known:
                raise ValueError(f"id_corroborated_by: no comparison named {name!r}")
        from rules.matching.compare import PREDICATES  # late import: compare imports this module

        for i, c in enumerate(self.comparisons):
            for j, lv in enumerate(c.levels):
                if lv.when not in PREDICATES:
                    raise ValueError(
                        f"comparisons.{i}.levels.{j}.when: unknown predicate {lv.when!r} "
                        f"(known: {', '.join(sorted(PREDICATES))})"
                    )
                if lv.u_from == "id_neighbours" and not any(
                    p.kind in ("id_variants", "id_household") for p in self.passes
                ):
                    raise ValueError(
                        f"comparisons.{i}.levels.{j}.u_from: id_neighbours needs an id_variants or "
                        "id_household pass (the register's ID table it counts in)"
                    )
                for other, labels in lv.implies.items():
                    spec = self.comparison(other)
                    if spec is None or spec.name == c.name:
                        raise ValueError(f"comparisons.{i}.levels.{j}.implies: no other comparison named {other!r}")
                    for label in labels:
                        if label not in spec.labels:
                            raise ValueError(
                                f"comparisons.{i}.levels.{j}.implies.{other}: {other!r} has no level {label!r}"
                            )
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> MatchConfig:
        """Read a config file; unknown keys and bad values fail with one line naming the key path."""
        return load_config(path, cls, prepare=_with_default_cap)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MatchConfig:
        """Build from a plain mapping (YAML), with ``default_cap`` applied to passes without a cap."""
        try:
            return cls.model_validate(_with_default_cap(data))
        except ValidationError as exc:
            raise ValueError(_one_line(exc)) from None

    @property
    def raw(self) -> dict[str, Any]:
        """The config as a plain mapping (``from_dict(config.raw | {...})`` makes a variant)."""
        return self.model_dump()

    def comparison(self, name: str) -> ComparisonSpec | None:
        return next((c for c in self.comparisons if c.name == name), None)

    def pair_budget(self, n_records: int) -> int:
        """Candidate-pair budget for ``n_records`` records (the asset check compares the pass totals)."""
        return max(1000, int(self.pair_budget_per_record * n_records))

    def fingerprint(self) -> str:
        """A stable text of the whole config (part of the estimate cache key)."""
        return self.model_dump_json()

    @classmethod
    def default(cls) -> MatchConfig:
        """The Vietnamese register configuration shipped beside the code."""
        return cls.from_yaml(CONFIG_DIR / "vietnam.yaml")


def _with_default_cap(data: Any) -> Any:
    """``default_cap`` applied to the passes of a plain mapping that give no ``cap``."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    cap = data.get("default_cap")
    if cap is not None and isinstance(data.get("passes"), list):
        data["passes"] = [p if not isinstance(p, dict) or "cap" in p else {**p, "cap": cap} for p in data["passes"]]
    return data


def _one_line(exc: ValidationError) -> str:
    """First error of a pydantic ValidationError as ``key.path: what is wrong``."""
    errs = exc.errors()
    parts = []
    for e in errs[:3]:
        loc = ".".join(str(x) for x in e["loc"])
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        parts.append(f"{loc}: {msg}" if loc else msg)
    more = f" (and {len(errs) - 3} more)" if len(errs) > 3 else ""
    return "matching config: " + "; ".join(parts) + more
