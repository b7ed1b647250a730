"""Data-entry noise for synthetic records: names, dates and ID numbers, each with a truth label.

Rates live in ``noise_rates.yaml`` (probability per *eligible* row, exclusive groups drawn once per
row). A label is recorded only when the noise changed the value, so the truth never claims noise
that is not visible in the cell. All work is polars expressions over per-row random numbers drawn
with numpy, so 1M rows take seconds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import ConfigDict, Field, RootModel

from rules.config import StrictModel, load_config
from rules.synth.text import strip_diacritics, toggle_style

RATES_FILE = Path(__file__).with_name("noise_rates.yaml")

#: Noise labels by the field they damage, and every truth label in the order of docs/contracts.md §2.
NAME_LABELS: tuple[str, ...] = (
    "no_diacritics",
    "partial_diacritics",
    "nfd",
    "tone_style",
    "upper_case",
    "extra_spaces",
    "name_typo",
    "dropped_middle",
    "swapped_order",
)
DATE_LABELS: tuple[str, ...] = ("day_month_swapped", "year_only", "excel_serial")
ID_LABELS: tuple[str, ...] = (
    "id_lost_leading_zero",
    "id_separators",
    "id_wrong_digit",
    "id_transposed",
    "old_cmnd",
    "parent_id",
    "id_missing",
)
NOISE_LABELS: tuple[str, ...] = (*NAME_LABELS, *DATE_LABELS, *ID_LABELS, "duplicate_row", "not_in_register", "clean")

EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 61+ in the 1900 date system (domain README §5)
_TYPO_LETTERS = "aeiouynhtcgmdlrs"


class NoiseRate(StrictModel):
    """One noise: probability per eligible row, its exclusive group, who is eligible (prose)."""

    rate: float = Field(ge=0, le=1)
    group: str | None = None
    eligible: str = ""


class NoiseRates(RootModel[dict[Literal[NOISE_LABELS], NoiseRate]]):  # type: ignore[valid-type]
    """``noise_rates.yaml``: label -> :class:`NoiseRate` (a label not in ``NOISE_LABELS`` is refused)."""

    model_config = ConfigDict(frozen=True)


@cache
def noise_config() -> dict[str, dict]:
    rates = load_config(RATES_FILE, NoiseRates).root
    return {label: spec.model_dump() for label, spec in rates.items()}


def noise_rates() -> dict[str, float]:
    """Label -> documented rate (probability per eligible row)."""
    return {k: float(v["rate"]) for k, v in noise_config().items()}


def pick_series(values: list[str], idx: np.ndarray) -> pl.Series:
    """``values[idx]`` as a polars Series (no numpy string arrays: they are slow to convert)."""
    return pl.Series(values, dtype=pl.Utf8).gather(idx)


def _group_draw(rng: np.random.Generator, n: int, group: str) -> pl.Series:
    """One exclusive choice per row among the group's labels ('' = none)."""
    cfg = noise_config()
    labels = [k for k, v in cfg.items() if v["group"] == group]
    p = np.array([cfg[k]["rate"] for k in labels])
    u = rng.random(n)
    edges = np.cumsum(p)
    idx = np.searchsorted(edges, u, side="right")
    return pick_series([*labels, ""], idx)


def _typo(s: pl.Expr, pos: pl.Expr, kind: pl.Expr, letter: pl.Expr) -> pl.Expr:
    """One character edit at ``pos``: 0 delete, 1 double, 2 swap with next, 3 substitute."""
    head, ch, nxt = s.str.slice(0, pos), s.str.slice(pos, 1), s.str.slice(pos + 1, 1)
    return (
        pl.when(kind == 0)
        .then(head + s.str.slice(pos + 1))
        .when(kind == 1)
        .then(head + ch + s.str.slice(pos))
        .when((kind == 2) & (nxt != " ") & (nxt != ""))
        .then(head + nxt + ch + s.str.slice(pos + 2))
        .otherwise(head + letter + s.str.slice(pos + 1))
    )


def _typo_position(s: pl.Expr, u: pl.Expr) -> pl.Expr:
    """A character position inside a word (never on a space)."""
    n = s.str.len_chars()
    pos = (u * n).floor().cast(pl.Int64).clip(0, pl.max_horizontal(n - 1, 0))
    return pl.when(s.str.slice(pos, 1) == " ").then(pos - 1).otherwise(pos)


def _on_rows(
    s: pl.Series, mask: np.ndarray, fn: Callable[[pl.Expr], pl.Expr], extra: dict[str, np.ndarray] | None = None
) -> tuple[pl.Series, np.ndarray]:
    """Apply ``fn`` to the masked rows only (noise is rare, so this is ~20x cheaper than when/then);
    return the new series and a per-row flag "the value changed"."""
    idx = np.flatnonzero(mask)
    changed = np.zeros(s.len(), dtype=bool)
    if idx.size == 0:
        return s, changed
    sub = pl.DataFrame({"s": s.gather(idx), **{k: v[idx] for k, v in (extra or {}).items()}})
    out = sub.select(fn(pl.col("s")).alias("s"))["s"]
    changed[idx] = (out != sub["s"]).fill_null(True).to_numpy()
    return s.clone().scatter(idx, out), changed


def _partial(s: pl.Expr) -> pl.Expr:
    """Strip the marks of some words: the family name only, all but it, or the given name only."""
    first = s.str.extract(r"^(\S+)", 1)
    rest = s.str.extract(r"^\S+ (.*)$", 1)
    but_last = s.str.extract(r"^(.*) \S+$", 1)
    last = s.str.extract(r"(\S+)$", 1)
    k = pl.col("kind")
    return (
        pl.when(k == 0)
        .then(pl.concat_str([strip_diacritics(first), rest], separator=" "))
        .when(k == 1)
        .then(pl.concat_str([first, strip_diacritics(rest)], separator=" "))
        .otherwise(pl.concat_str([but_last, strip_diacritics(last)], separator=" "))
    )


def _spaces(s: pl.Expr) -> pl.Expr:
    k = pl.col("kind")
    return (
        pl.when(k == 0)
        .then(s.str.replace(" ", "  ", literal=True))
        .when(k == 1)
        .then(" " + s)
        .when(k == 2)
        .then(s + "  ")
        .otherwise(s.str.replace(" ", "\u00a0", literal=True))
    )


def _swap(s: pl.Expr) -> pl.Expr:
    w = s.str.split(" ")
    return pl.concat_str([w.list.last(), w.list.head(w.list.len() - 1).list.join(" ")], separator=" ")


def _typo_expr(s: pl.Expr) -> pl.Expr:
    return _typo(s, _typo_position(s, pl.col("pos")), pl.col("kind"), pl.col("letter"))


def noisy_names(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Adds ``name_out`` and one boolean column per name label, from ``full_name`` (NFC)."""
    r = noise_rates()
    n = df.height
    name = df["full_name"]
    n_words = (name.str.count_matches(" ") + 1).to_numpy()
    letters = np.array(list(_TYPO_LETTERS))
    u_typo, u_typo2 = rng.random(n), rng.random(n)
    script = rng.choice(
        5,
        size=n,
        p=[
            *(r[k] for k in ("tone_style", "no_diacritics", "partial_diacritics", "nfd")),
            1 - sum(r[k] for k in ("tone_style", "no_diacritics", "partial_diacritics", "nfd")),
        ],
    )
    flags: dict[str, np.ndarray] = {}
    s, flags["dropped_middle"] = _on_rows(
        name,
        (rng.random(n) < r["dropped_middle"]) & (n_words >= 3),
        lambda x: pl.concat_str([x.str.extract(r"^(\S+)", 1), x.str.extract(r"(\S+)$", 1)], separator=" "),
    )
    s, flags["swapped_order"] = _on_rows(s, rng.random(n) < r["swapped_order"], _swap)
    typo_extra = {
        "pos": rng.random(n),
        "kind": rng.integers(0, 4, n),
        "letter": letters[rng.integers(0, letters.size, n)],
    }
    s, t1 = _on_rows(s, u_typo < r["name_typo"], _typo_expr, typo_extra)
    typo_extra = {
        "pos": rng.random(n),
        "kind": rng.integers(0, 4, n),
        "letter": letters[rng.integers(0, letters.size, n)],
    }
    s, t2 = _on_rows(s, (u_typo < r["name_typo"]) & (u_typo2 < 0.3), _typo_expr, typo_extra)
    flags["name_typo"] = t1 | t2
    s, flags["tone_style"] = _on_rows(s, script == 0, toggle_style)
    s, flags["no_diacritics"] = _on_rows(s, script == 1, strip_diacritics)
    s, flags["partial_diacritics"] = _on_rows(
        s, (script == 2) & (n_words >= 2), _partial, {"kind": rng.integers(0, 3, n)}
    )
    s, flags["upper_case"] = _on_rows(s, rng.random(n) < r["upper_case"], lambda x: x.str.to_uppercase())
    s, flags["extra_spaces"] = _on_rows(s, rng.random(n) < r["extra_spaces"], _spaces, {"kind": rng.integers(0, 4, n)})
    # NFD last: the other transforms work on NFC code points
    s, flags["nfd"] = _on_rows(s, script == 3, lambda x: x.str.normalize("NFD"))
    return df.with_columns(name_out=s, **{k: pl.Series(v) for k, v in flags.items()})


def format_dates(dob: pl.Expr, style: pl.Expr) -> pl.Expr:
    """Clean written forms: 0 dd/mm/yyyy, 1 d/m/yyyy, 2 dd-mm-yyyy, 3 dd.mm.yyyy."""
    return (
        pl.when(style == 1)
        .then(dob.dt.strftime("%-d/%-m/%Y"))
        .when(style == 2)
        .then(dob.dt.strftime("%d-%m-%Y"))
        .when(style == 3)
        .then(dob.dt.strftime("%d.%m.%Y"))
        .otherwise(dob.dt.strftime("%d/%m/%Y"))
    )


def noisy_dates(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Adds ``dob_out`` (text) and the date labels, from ``dob`` (Date)."""
    n = df.height
    style = rng.choice(4, size=n, p=[0.8, 0.1, 0.05, 0.05])
    group = _group_draw(rng, n, "date")
    dob = pl.col("dob")
    serial = (dob - pl.lit(EXCEL_EPOCH)).dt.total_days()
    d = df.with_columns(_style=pl.Series(style), _g=group)
    g = pl.col("_g")
    eligible_swap = dob.dt.day() != dob.dt.month()
    d = d.with_columns(
        dob_out=pl.when((g == "day_month_swapped") & eligible_swap)
        .then(dob.dt.strftime("%m/%d/%Y"))
        .when(g == "year_only")
        .then(dob.dt.year().cast(pl.Utf8))
        .when(g == "excel_serial")
        .then(serial.cast(pl.Utf8))
        .otherwise(format_dates(dob, pl.col("_style"))),
        day_month_swapped=(g == "day_month_swapped") & eligible_swap,
        year_only=g == "year_only",
        excel_serial=g == "excel_serial",
    )
    return d.drop("_style", "_g")


def noisy_ids(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Adds ``id_out`` and the ID labels from ``true_id``, ``old_id``, ``parent_id``, ``age``."""
    n = df.height
    d = df.with_columns(
        _g=_group_draw(rng, n, "id"),
        _f=_group_draw(rng, n, "idfmt"),
        _p=pl.Series(rng.integers(0, 12, n)),
        _k=pl.Series(rng.integers(1, 10, n)),
        _t=pl.Series(rng.integers(0, 11, n)),
        _sep=pick_series([" ", "."], rng.integers(0, 2, n)),
    )
    g, s = pl.col("_g"), pl.col("true_id")
    p, t = pl.col("_p"), pl.col("_t")
    new_digit = ((s.str.slice(p, 1).cast(pl.Int64) + pl.col("_k")) % 10).cast(pl.Utf8)
    wrong = s.str.slice(0, p) + new_digit + s.str.slice(p + 1)
    transposed = s.str.slice(0, t) + s.str.slice(t + 1, 1) + s.str.slice(t, 1) + s.str.slice(t + 2)
    can_parent = pl.col("parent_id").is_not_null() & (pl.col("age") < 18)
    d = d.with_columns(
        _id1=pl.when(g == "id_missing")
        .then(pl.lit(None, pl.Utf8))
        .when((g == "old_cmnd") & pl.col("old_id").is_not_null())
        .then(pl.col("old_id"))
        .when((g == "parent_id") & can_parent)
        .then(pl.col("parent_id"))
        .when(g == "id_wrong_digit")
        .then(wrong)
        .when(g == "id_transposed")
        .then(transposed)
        .otherwise(s)
    )
    i1, f = pl.col("_id1"), pl.col("_f")
    sep = pl.col("_sep")
    grouped = pl.concat_str([i1.str.slice(0, 3), sep, i1.str.slice(3, 3), sep, i1.str.slice(6, 3)]) + pl.when(
        i1.str.len_chars() > 9
    ).then(sep + i1.str.slice(9)).otherwise(pl.lit(""))
    d = d.with_columns(
        id_out=pl.when(f == "id_lost_leading_zero")
        .then(i1.str.strip_chars_start("0"))
        .when(f == "id_separators")
        .then(grouped)
        .otherwise(i1)
    )
    changed = i1 != s
    d = d.with_columns(
        id_missing=g == "id_missing",
        old_cmnd=(g == "old_cmnd") & changed.fill_null(False),
        parent_id=(g == "parent_id") & changed.fill_null(False),
        id_wrong_digit=(g == "id_wrong_digit") & changed.fill_null(False),
        id_transposed=(g == "id_transposed") & changed.fill_null(False),
        id_lost_leading_zero=(pl.col("id_out") != i1).fill_null(False) & (f == "id_lost_leading_zero"),
        id_separators=(pl.col("id_out") != i1).fill_null(False) & (f == "id_separators"),
    )
    return d.drop([c for c in d.columns if c.startswith("_")])


def label_list(flag_columns: list[str]) -> pl.Expr:
    """List[Utf8] of the labels whose flag column is true; ``["clean"]`` when none is.

    Built as a comma-joined string then split: ``concat_list`` + ``drop_nulls`` is ~30x slower.
    """
    joined = pl.concat_str([pl.when(pl.col(c)).then(pl.lit(c + ",")).otherwise(pl.lit("")) for c in flag_columns])
    return pl.when(joined == "").then(pl.lit("clean")).otherwise(joined.str.strip_suffix(",")).str.split(",")
