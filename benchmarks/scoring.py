"""Accuracy of a linkage against truth: precision / recall / F1 overall and by group.

A prediction is one person ID (or null) per record row. Precision counts the rows given an ID;
recall counts the rows whose person is in the register (truth not null). Groups: noise level
(``clean`` / ``1`` / ``2-3`` / ``4+`` from a per-row error count), each truth label, each sector.
Nothing here is fed back into any matcher: it only reads predictions after they are made.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

LEVELS: tuple[str, ...] = ("clean", "1", "2-3", "4+")


@dataclass(frozen=True)
class Score:
    rows: int
    precision: float
    recall: float
    f1: float
    fp: int
    fn: int
    in_register: int
    predicted: int

    def line(self) -> str:
        return (
            f"P {self.precision:.5f}  R {self.recall:.5f}  F1 {self.f1:.5f}  "
            f"(rows {self.rows:,}, in register {self.in_register:,}, FP {self.fp:,}, FN {self.fn:,})"
        )


def score(pred: pl.Series, truth: pl.Series) -> Score:
    """``pred`` and ``truth``: Utf8 person IDs per row (null = no ID / not in the register)."""
    df = pl.DataFrame({"p": pred.cast(pl.Utf8), "t": truth.cast(pl.Utf8)})
    has_p, has_t = pl.col("p").is_not_null(), pl.col("t").is_not_null()
    c = df.select(
        tp=(has_p & (pl.col("p") == pl.col("t"))).sum(),
        n_pred=has_p.sum(),
        n_true=has_t.sum(),
        # a wrong ID for a person in the register is both a false positive and a false negative
    ).row(0, named=True)
    tp, n_pred, n_true = int(c["tp"] or 0), int(c["n_pred"] or 0), int(c["n_true"] or 0)
    prec = tp / n_pred if n_pred else 1.0
    rec = tp / n_true if n_true else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return Score(df.height, prec, rec, f1, n_pred - tp, n_true - tp, n_true, n_pred)


def level_of(n_errors: pl.Expr) -> pl.Expr:
    """Error count -> level name (null stays null: the data set has no levels)."""
    return (
        pl.when(n_errors == 0)
        .then(pl.lit("clean"))
        .when(n_errors == 1)
        .then(pl.lit("1"))
        .when(n_errors <= 3)
        .then(pl.lit("2-3"))
        .when(n_errors.is_not_null())
        .then(pl.lit("4+"))
    )


@dataclass
class Breakdown:
    """Scores of one system on one data set: overall and per level / label / sector."""

    overall: Score
    levels: dict[str, Score]
    labels: dict[str, Score]
    sectors: dict[str, Score]
    sector_levels: dict[tuple[str, str], Score]


def breakdown(pred: pl.Series, truth: pl.DataFrame) -> Breakdown:
    """``truth`` columns: ``person_id``; optional ``n_errors`` (Int), ``labels`` (List[Utf8]),
    ``sector`` (Utf8). Row-aligned with ``pred``."""
    df = truth.with_columns(_pred=pred.cast(pl.Utf8))
    if "n_errors" in df.columns:
        df = df.with_columns(_level=level_of(pl.col("n_errors")))
    else:
        df = df.with_columns(_level=pl.lit(None, pl.Utf8))

    def sub(mask: pl.Expr) -> Score:
        s = df.filter(mask)
        return score(s["_pred"], s["person_id"])

    levels = {lv: sub(pl.col("_level") == lv) for lv in LEVELS if (df["_level"] == lv).any()}
    labels: dict[str, Score] = {}
    if "labels" in df.columns:
        for lab in sorted(set(df["labels"].explode().drop_nulls().to_list())):
            labels[lab] = sub(pl.col("labels").list.contains(lab))
    sectors: dict[str, Score] = {}
    sector_levels: dict[tuple[str, str], Score] = {}
    if "sector" in df.columns and df["sector"].n_unique() > 1:
        for sec in sorted(df["sector"].drop_nulls().unique().to_list()):
            sectors[sec] = sub(pl.col("sector") == sec)
            for lv in levels:
                sector_levels[(sec, lv)] = sub((pl.col("sector") == sec) & (pl.col("_level") == lv))
    return Breakdown(score(df["_pred"], df["person_id"]), levels, labels, sectors, sector_levels)


def print_breakdown(system: str, b: Breakdown, out) -> None:
    out(f"  [{system}] overall          {b.overall.line()}")
    for lv, s in b.levels.items():
        out(f"  [{system}] level {lv:<10} {s.line()}")
    for sec, s in b.sectors.items():
        out(f"  [{system}] sector {sec:<9} {s.line()}")
    for (sec, lv), s in b.sector_levels.items():
        out(f"  [{system}]   {sec:<12} {lv:<5} R {s.recall:.5f}  P {s.precision:.5f}  (in register {s.in_register:,})")
    for lab, s in b.labels.items():
        out(f"  [{system}]   label {lab:<22} {s.line()}")


#: Targets of issue 10 on the harsh profile, every sector.
RECALL_TARGETS: dict[str, float] = {"clean": 0.999, "1": 0.99, "2-3": 0.90, "4+": 0.50}
PRECISION_TARGET = 0.999


def harsh_target_names(sectors: list[str]) -> list[str]:
    """The per-sector accuracy targets on the harsh profile, in print order (``all`` when the data
    set has no sectors): listed even when a system did not run, so none goes missing silently."""
    names = []
    for sec in sectors or ["all"]:
        names.append(f"{sec}: precision >= {PRECISION_TARGET}")
        names += [f"{sec}: recall {lv} >= {want}" for lv, want in RECALL_TARGETS.items()]
    return names


def harsh_targets(
    b: Breakdown, tradeoffs: dict[tuple[str, str], Tradeoff] | None = None
) -> list[tuple[str, bool, str]]:
    """(target, met, why) for the per-sector accuracy targets on the harsh profile. A recall target
    not met says, from ``tradeoffs`` (:func:`best_tradeoff` per (sector, level)), whether any
    threshold on the posterior would have met it at the precision target."""
    rows = []
    sectors = b.sectors or {"all": b.overall}
    for sec, s in sectors.items():
        names = iter(harsh_target_names([sec]))
        rows.append((next(names), s.precision >= PRECISION_TARGET, f"P = {s.precision:.5f}"))
        for (lv, want), name in zip(RECALL_TARGETS.items(), names, strict=True):
            got = b.sector_levels.get((sec, lv)) if b.sectors else b.levels.get(lv)
            if got is None:
                rows.append((name, False, "not measured: no rows at this level"))
                continue
            why = f"R = {got.recall:.5f}"
            t = (tradeoffs or {}).get((sec, lv))
            if got.recall < want and t is not None:
                why += "; " + tradeoff_text(t, want)
            rows.append((name, got.recall >= want, why))
    return rows


def tradeoff_text(t: Tradeoff, want: float) -> str:
    """Why a recall target is not met, in one clause, from the best trade-off of the posterior."""
    if t.threshold is None:
        return f"no threshold on the posterior keeps precision >= {PRECISION_TARGET}"
    if t.recall >= want:
        return (
            f"a threshold of {t.threshold:.4f} on the best candidate's posterior would give R = {t.recall:.5f} "
            f"at precision >= {PRECISION_TARGET} (not used: no threshold is fitted to truth)"
        )
    return (
        f"no threshold on the posterior reaches it at precision >= {PRECISION_TARGET}: at most "
        f"R = {t.recall:.5f} (threshold {t.threshold:.4f}): the evidence, not the decision rule, limits it"
    )


@dataclass(frozen=True)
class Tradeoff:
    """The most recall any threshold on one ranking score could give at a precision floor.

    ``recall``: the highest recall of the level's rows over every cut of the ranking whose precision
    (over the sector's rows) is at least the floor; ``threshold``: the score at that cut (None when no
    cut reaches the floor); ``decided``: rows above the cut."""

    recall: float
    threshold: float | None
    decided: int


def best_tradeoff(
    proposed: pl.Series, ranking: pl.Series, truth: pl.DataFrame, sector: str, level: str, precision_floor: float
) -> Tradeoff:
    """Scoring only (truth read after the decisions, nothing fed back): if the rows of ``sector``
    were decided by one threshold on ``ranking`` (e.g. the best candidate's posterior) instead of
    the matcher's rule, what is the most recall on ``level`` that keeps precision >= ``precision_floor``?

    Says whether a NOT MET recall target is a matter of the decision rule (some threshold would reach
    it) or of the evidence (no threshold on this ranking reaches it). ``proposed``: person ID per row
    (null = none proposed); ``ranking``: Float per row; ``truth``: ``person_id``, ``n_errors``,
    ``sector``, row-aligned. Every cut point is tried (one sort, cumulative sums)."""
    df = (
        truth.select("person_id", "sector", _level=level_of(pl.col("n_errors")))
        .with_columns(_p=proposed.cast(pl.Utf8), _s=ranking.cast(pl.Float64))
        .filter(pl.col("sector") == sector)
    )
    n_true = int(df.filter((pl.col("_level") == level) & pl.col("person_id").is_not_null()).height)
    ranked = (
        df.filter(pl.col("_p").is_not_null() & pl.col("_s").is_not_null())
        .sort("_s", descending=True)
        .with_columns(
            right=(pl.col("_p") == pl.col("person_id")).fill_null(False),
        )
        .with_columns(
            tp=pl.col("right").cum_sum(),
            tp_level=(pl.col("right") & (pl.col("_level") == level)).cum_sum(),
            n=pl.int_range(1, pl.len() + 1),
        )
        # a cut falls between two different scores only (ties are decided together)
        .filter(pl.col("_s") != pl.col("_s").shift(-1).fill_null(-1.0))
        .filter(pl.col("tp") >= precision_floor * pl.col("n"))
    )
    if ranked.height == 0 or n_true == 0:
        return Tradeoff(0.0, None, 0)
    best = ranked.sort(["tp_level", "_s"], descending=[True, True]).row(0, named=True)
    return Tradeoff(best["tp_level"] / n_true, best["_s"], int(best["n"]))
