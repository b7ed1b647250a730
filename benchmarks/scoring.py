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


def harsh_targets(b: Breakdown) -> list[tuple[str, bool, str]]:
    """(target, met, why) for the per-sector accuracy targets on the harsh profile."""
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
            rows.append((name, got.recall >= want, f"R = {got.recall:.5f}"))
    return rows
