"""The HARSH noise profile: a counted number of real errors per row, compounded on one row.

Why: the default profile (``noise.py``) draws each kind of noise independently at a few percent, so
most rows carry at most one error and a matcher tuned on it never meets the rows that real files
are full of (a typo in the given name AND a wrong DOB digit AND no ID). Here every row first draws
how many errors it gets (0 / 1 / 2-3 / 4-6, shares in ``harsh_rates.yaml``), then which ones, among
those eligible for the row and never two of one group; the truth keeps each row's ``n_errors`` and
labels so a benchmark can report recall per level. Formatting noise (case, spaces, NFD, tone style,
Excel serials, ID separators) is independent and not counted: it loses no information.

Everything is numpy / polars over whole columns; 1M rows take a few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field, field_validator, model_validator

from rules.config import StrictModel, load_config
from rules.synth.names import name_tables
from rules.synth.noise import EXCEL_EPOCH, format_dates, pick_series
from rules.synth.text import strip_diacritics, toggle_style

HARSH_FILE = Path(__file__).with_name("harsh_rates.yaml")
FORMAT_LABELS: tuple[str, ...] = ("tone_style", "upper_case", "extra_spaces", "nfd", "excel_serial", "id_separators")
_TYPO_LETTERS = "aeiouynhtcgmdlrs"
#: Notes people write inside the name cell: nicknames, disambiguators, status remarks.
NOTES_FIXED: tuple[str, ...] = (
    "(Bé)",
    "(bé)",
    "(Tý)",
    "(Bi)",
    "(Su)",
    "(Bống)",
    "- chuyển trường",
    "- chuyển đến",
    "- nghỉ học",
    "(lưu ban)",
    "(KT)",
    "(HS mới)",
    "[CĐ]",
)
NOTES_WITH_GIVEN: tuple[str, ...] = ("[{} lớn]", "[{} nhỏ]", "({} A)", "({} B)")


@dataclass(frozen=True)
class HarshProfile:
    """``harsh_rates.yaml`` checked: level ranges and shares, error weights / groups, formatting rates."""

    levels: tuple[tuple[int, int, float], ...]
    errors: tuple[str, ...]
    weights: np.ndarray
    groups: tuple[str | None, ...]
    formatting: dict[str, float]
    conflicts: tuple[tuple[str, str], ...]

    def conflict_matrix(self) -> np.ndarray:
        """E x E booleans: True where two errors may not both be chosen for one row."""
        e = len(self.errors)
        c = np.zeros((e, e), dtype=bool)
        g = np.array([x or f"_{i}" for i, x in enumerate(self.groups)])
        c |= g[:, None] == g[None, :]
        for a, b in self.conflicts:
            i, j = self.errors.index(a), self.errors.index(b)
            c[i, j] = c[j, i] = True
        return c


class HarshLevel(StrictModel):
    """A share of rows and the inclusive range [lo, hi] of errors each of them gets."""

    errors: tuple[int, int]
    share: float = Field(ge=0, le=1)

    @field_validator("errors")
    @classmethod
    def _range(cls, value: tuple[int, int]) -> tuple[int, int]:
        if not 0 <= value[0] <= value[1]:
            raise ValueError(f"level range {list(value)} must be 0 <= lo <= hi")
        return value


class HarshError(StrictModel):
    """One countable error: its draw weight, its exclusive group, and who is eligible (prose)."""

    weight: float = Field(ge=0)
    group: str | None = None
    eligible: str = ""


class HarshRates(StrictModel):
    """``harsh_rates.yaml``."""

    levels: tuple[HarshLevel, ...]
    errors: dict[str, HarshError]
    formatting: dict[Literal[FORMAT_LABELS], float] = Field(default_factory=dict)  # type: ignore[valid-type]
    conflicts: tuple[tuple[str, str], ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> HarshRates:
        if abs(sum(lv.share for lv in self.levels) - 1.0) > 1e-9:
            raise ValueError("levels: shares must sum to 1")
        if set(self.errors) != set(_ELIGIBILITY):
            raise ValueError(f"errors must be exactly {sorted(_ELIGIBILITY)}")
        for pair in self.conflicts:
            for x in pair:
                if x not in self.errors:
                    raise ValueError(f"conflicts: names unknown error {x!r}")
        return self


@cache
def harsh_profile() -> HarshProfile:
    """The profile from ``harsh_rates.yaml``; :class:`rules.config.ConfigError` naming the key path."""
    raw = load_config(HARSH_FILE, HarshRates)
    levels = tuple((lv.errors[0], lv.errors[1], lv.share) for lv in raw.levels)
    errors = tuple(raw.errors)
    weights = np.array([spec.weight for spec in raw.errors.values()])
    groups = tuple(spec.group for spec in raw.errors.values())
    return HarshProfile(levels, errors, weights, groups, dict(raw.formatting), raw.conflicts)


def harsh_summary() -> dict[str, object]:
    """The profile as plain data for a manifest: levels and error weights."""
    prof = harsh_profile()
    return {
        "levels": [{"errors": [lo, hi], "share": share} for lo, hi, share in prof.levels],
        "error_weights": dict(zip(prof.errors, prof.weights.tolist(), strict=True)),
        "formatting": dict(prof.formatting),
    }


def harsh_labels() -> tuple[str, ...]:
    """Every truth label the harsh profile can write (errors, then formatting)."""
    return (*harsh_profile().errors, *FORMAT_LABELS)


# -- choosing the errors -----------------------------------------------------------------------


def draw_error_counts(rng: np.random.Generator, n: int) -> np.ndarray:
    """How many errors each row is meant to get (level by share, uniform inside the level)."""
    prof = harsh_profile()
    shares = np.array([s for *_, s in prof.levels])
    level = rng.choice(len(prof.levels), size=n, p=shares / shares.sum())
    lo = np.array([a for a, _, _ in prof.levels])[level]
    hi = np.array([b for _, b, _ in prof.levels])[level]
    return lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)


def choose_errors(rng: np.random.Generator, eligible: np.ndarray, k: np.ndarray) -> np.ndarray:
    """n x E booleans: up to ``k[i]`` distinct eligible errors per row, weighted, no two conflicting.

    Weighted sampling without replacement by exponential keys (-log U / w, smallest first), then a
    greedy pass in key order that skips errors conflicting with one already chosen: E vectorised
    steps over all rows.
    """
    prof = harsh_profile()
    n, e = eligible.shape
    keys = -np.log(rng.random((n, e))) / prof.weights[None, :]
    keys[~eligible] = np.inf
    order = np.argsort(keys, axis=1)
    conflict = prof.conflict_matrix()
    chosen = np.zeros((n, e), dtype=bool)
    count = np.zeros(n, dtype=np.int64)
    rows = np.arange(n)
    for r in range(e):
        col = order[:, r]
        ok = np.isfinite(keys[rows, col]) & (count < k)
        ok &= ~(chosen & conflict[col]).any(axis=1)
        chosen[rows[ok], col[ok]] = True
        count += ok
    return chosen


# -- names --------------------------------------------------------------------------------------


def _typo(part: pl.Expr, u_pos: pl.Expr, kind: pl.Expr, l1: pl.Expr, l2: pl.Expr) -> pl.Expr:
    """One visible character edit: 0 delete (words of 2+ letters), 1 double, 2 swap with a different
    next letter (never a space), otherwise substitute with a different letter (case kept)."""
    n = part.str.len_chars()
    pos = (u_pos * n).floor().cast(pl.Int64).clip(0, pl.max_horizontal(n - 1, 0))
    pos = pl.when(part.str.slice(pos, 1) == " ").then(pos - 1).otherwise(pos)  # two-word middles
    head, ch, nxt = part.str.slice(0, pos), part.str.slice(pos, 1), part.str.slice(pos + 1, 1)
    letter = pl.when(l1 == ch.str.to_lowercase()).then(l2).otherwise(l1)
    letter = pl.when(ch != ch.str.to_lowercase()).then(letter.str.to_uppercase()).otherwise(letter)
    return (
        pl.when((kind == 0) & (n >= 2))
        .then(head + part.str.slice(pos + 1))
        .when(kind == 1)
        .then(head + ch + part.str.slice(pos))
        .when((kind == 2) & (nxt != "") & (nxt != ch))
        .then(head + nxt + ch + part.str.slice(pos + 2))
        .otherwise(head + letter + part.str.slice(pos + 1))
    )


def _typo_columns(rng: np.random.Generator, n: int, tag: str) -> dict[str, pl.Series]:
    letters = np.array(list(_TYPO_LETTERS))
    i = rng.integers(0, letters.size, n)
    return {
        f"_{tag}_u": pl.Series(rng.random(n)),
        f"_{tag}_k": pl.Series(rng.integers(0, 4, n)),
        f"_{tag}_l1": pl.Series(letters[i]),
        f"_{tag}_l2": pl.Series(letters[(i + 1) % letters.size]),
    }


def _typo_of(part: str, tag: str) -> pl.Expr:
    c = pl.col
    return _typo(c(part), c(f"_{tag}_u"), c(f"_{tag}_k"), c(f"_{tag}_l1"), c(f"_{tag}_l2"))


def _other_middles(rng: np.random.Generator, gender: pl.Series, middle: pl.Series) -> pl.Series:
    """A middle name of the same gender that differs from the current one."""
    t = name_tables()
    n = gender.len()
    out = pl.Series([None] * n, dtype=pl.Utf8)
    for g in ("Nam", "Nữ"):
        pool = pl.concat([t.middle_marked[g], t.middle_other[g].drop_nulls()])
        p = np.concatenate([t.middle_marked_p[g], t.middle_other_p[g][t.middle_other[g].is_not_null().to_numpy()]])
        idx = rng.choice(pool.len(), size=n, p=p / p.sum())
        first, second = pool.gather(idx), pool.gather((idx + 1) % pool.len())
        pick = pl.select(
            pl.when(first.str.to_lowercase() == middle.str.to_lowercase()).then(second).otherwise(first)
        ).to_series()
        out = pl.select(pl.when(gender == g).then(pick).otherwise(out)).to_series()
    return out


def _notes(rng: np.random.Generator, given: pl.Series) -> pl.Series:
    n = given.len()
    fixed = pick_series(list(NOTES_FIXED), rng.integers(0, len(NOTES_FIXED), n))
    templ = rng.integers(0, len(NOTES_WITH_GIVEN), n)
    with_given = pl.select(
        pl.coalesce(
            [
                pl.when(pl.Series(templ == i)).then(pl.lit(t.split("{}")[0]) + given + pl.lit(t.split("{}")[1]))
                for i, t in enumerate(NOTES_WITH_GIVEN)
            ]
        )
    ).to_series()
    note = pl.select(pl.when(pl.Series(rng.random(n) < 0.6)).then(fixed).otherwise(with_given)).to_series()
    glue = pick_series([" ", " ", " ", ""], rng.integers(0, 4, n))  # some cells lose the space
    return pl.select(pl.when(note.str.starts_with("-")).then(pl.lit(" ")).otherwise(glue) + note).to_series()


def harsh_names(df: pl.DataFrame, chosen: dict[str, np.ndarray], rng: np.random.Generator) -> pl.DataFrame:
    """``name_out`` and one flag per name error (True only where the cell really changed)."""
    n = df.height
    d = df.select(
        full=pl.col("full_name"),
        gender=pl.col("gender"),
        family=pl.col("full_name").str.extract(r"^(\S+)", 1),
        middle=pl.col("full_name").str.extract(r"^\S+ (.+) \S+$", 1),
        given=pl.col("full_name").str.extract(r"(\S+)$", 1),
    )
    d = d.with_columns(
        _new_mid=_other_middles(rng, d["gender"], d["middle"]),
        **_typo_columns(rng, n, "f"),
        **_typo_columns(rng, n, "m"),
        **_typo_columns(rng, n, "g"),
    )
    sel = {k: pl.Series(v) for k, v in chosen.items()}
    d = d.with_columns(
        middle=pl.when(sel["dropped_middle"])
        .then(pl.lit(None, pl.Utf8))
        .when(sel["middle_changed"])
        .then(pl.col("_new_mid"))
        .when(sel["typo_middle"])
        .then(_typo_of("middle", "m"))
        .otherwise(pl.col("middle")),
        family=pl.when(sel["typo_family"]).then(_typo_of("family", "f")).otherwise(pl.col("family")),
        given=pl.when(sel["typo_given"]).then(_typo_of("given", "g")).otherwise(pl.col("given")),
    )
    flags: dict[str, pl.Series] = {}
    mid_before = df["full_name"].str.extract(r"^\S+ (.+) \S+$", 1)
    for lab in ("dropped_middle", "middle_changed", "typo_middle"):
        flags[lab] = sel[lab] & (d["middle"].ne_missing(mid_before))
    before_f, before_g = df["full_name"].str.extract(r"^(\S+)", 1), df["full_name"].str.extract(r"(\S+)$", 1)
    flags["typo_family"] = sel["typo_family"] & d["family"].ne_missing(before_f)
    flags["typo_given"] = sel["typo_given"] & d["given"].ne_missing(before_g)
    s = d.select(pl.concat_str(["family", "middle", "given"], separator=" ", ignore_nulls=True)).to_series()

    def step(label: str, new: pl.Series, s: pl.Series) -> pl.Series:
        out = pl.select(pl.when(sel[label]).then(new).otherwise(s)).to_series()
        flags[label] = sel[label] & out.ne_missing(s)
        return out

    s = step("no_diacritics", pl.select(strip_diacritics(pl.lit(s))).to_series(), s)
    words = s.str.split(" ")
    moved = pl.select(
        pl.concat_str([words.list.slice(1).list.join(" "), words.list.first()], separator=" ")
    ).to_series()
    s = step("family_last", moved, s)
    words = s.str.split(" ")
    nw = words.list.len().to_numpy()
    gap = np.where(rng.random(n) < 0.6, 0, (rng.random(n) * np.maximum(nw - 1, 1)).astype(np.int64))
    gap = pl.Series(np.minimum(gap, np.maximum(nw - 2, 0)))
    w, j = pl.col("w"), pl.col("j")
    fused = (
        pl.DataFrame({"w": words, "j": gap})
        .select(w.list.slice(0, j + 1).list.join(" ") + w.list.slice(j + 1).list.join(" "))
        .to_series()
    )
    s = step("fused_tokens", fused, s)
    s = step("name_note", s + _notes(rng, d["given"]), s)

    fmt = harsh_profile().formatting
    fl: dict[str, pl.Series] = {}

    def fmt_step(label: str, mask: np.ndarray, new: pl.Series, s: pl.Series) -> pl.Series:
        out = pl.select(pl.when(pl.Series(mask)).then(new).otherwise(s)).to_series()
        fl[label] = pl.Series(mask) & out.ne_missing(s)
        return out

    s = fmt_step("tone_style", rng.random(n) < fmt["tone_style"], pl.select(toggle_style(pl.lit(s))).to_series(), s)
    s = fmt_step("upper_case", rng.random(n) < fmt["upper_case"], s.str.to_uppercase(), s)
    spaced = pl.select(
        pl.when(pl.Series(rng.random(n) < 0.5))
        .then(pl.lit(s).str.replace(" ", "  ", literal=True))
        .otherwise(" " + pl.lit(s))
    ).to_series()
    s = fmt_step("extra_spaces", rng.random(n) < fmt["extra_spaces"], spaced, s)
    s = fmt_step("nfd", rng.random(n) < fmt["nfd"], s.str.normalize("NFD"), s)
    return pl.DataFrame({"name_out": s, **flags, **fl})


# -- dates --------------------------------------------------------------------------------------


def _days_in_month(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    dim = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[m - 1]
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    return dim + ((m == 2) & leap)


def _other_digit(rng: np.random.Generator, cur: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A digit in [lo, hi] different from ``cur`` (which lies in the range)."""
    k = lo + (rng.random(cur.size) * (hi - lo)).astype(np.int64)
    return k + (k >= cur)


def wrong_digit_dates(
    rng: np.random.Generator, y: np.ndarray, m: np.ndarray, d: np.ndarray, max_year: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each date with exactly one decimal digit of day, month or year changed, still a real date
    no later than ``max_year``. Falls back to the day's digit, which always has a valid change."""
    n = y.size
    comp = rng.integers(0, 3, n)
    y2, m2, d2 = y.copy(), m.copy(), d.copy()
    # year units digit
    yy = y - y % 10 + _other_digit(rng, y % 10, np.zeros(n, np.int64), np.full(n, 9))
    ok_y = (comp == 2) & (yy <= max_year) & (d <= _days_in_month(yy, m))
    y2[ok_y] = yy[ok_y]
    # month units digit: 1-9 stay 1-9, 10-12 stay 10-12
    lo = np.where(m >= 10, 0, 1)
    hi = np.where(m >= 10, 2, 9)
    mm = m - m % 10 + _other_digit(rng, m % 10, lo, hi)
    ok_m = (comp == 1) & (d <= _days_in_month(y, mm))
    m2[ok_m] = mm[ok_m]
    # day: units digit inside 1..28, or the tens digit for 29-31 (29 -> 19, 30 -> 20, 31 -> 21)
    rest = ~(ok_y | ok_m)
    tens = d // 10
    lo = np.where(tens == 0, 1, 0)
    hi = np.where(tens == 2, 8, 9)
    units = np.clip(d % 10, lo, hi)
    dd = np.where(d >= 29, d - 10, tens * 10 + _other_digit(rng, units, lo, hi))
    d2[rest] = dd[rest]
    return y2, m2, d2


def harsh_dates(df: pl.DataFrame, chosen: dict[str, np.ndarray], rng: np.random.Generator) -> pl.DataFrame:
    """``dob_out`` (text, null when missing) and the date error / formatting flags, from ``dob``."""
    n = df.height
    dob = df["dob"]
    y = dob.dt.year().to_numpy().astype(np.int64)
    m = dob.dt.month().to_numpy().astype(np.int64)
    d = dob.dt.day().to_numpy().astype(np.int64)
    wy, wm, wd = wrong_digit_dates(rng, y, m, d, max_year=2025)
    wrong = chosen["dob_wrong_digit"]
    swap = chosen["day_month_swapped"]
    y2 = np.where(wrong, wy, y)
    m2 = np.where(wrong, wm, np.where(swap, d, m))
    d2 = np.where(wrong, wd, np.where(swap, m, d))
    new = pl.select(pl.date(pl.Series(y2), pl.Series(m2), pl.Series(d2))).to_series()
    style = pl.Series(rng.choice(4, size=n, p=[0.8, 0.1, 0.05, 0.05]))
    full_date = ~(chosen["dob_missing"] | chosen["year_only"])
    serial = full_date & (rng.random(n) < harsh_profile().formatting["excel_serial"])
    text = pl.select(
        pl.when(pl.Series(chosen["dob_missing"]))
        .then(pl.lit(None, pl.Utf8))
        .when(pl.Series(chosen["year_only"]))
        .then(pl.lit(pl.Series(y)).cast(pl.Utf8))
        .when(pl.Series(serial))
        .then((pl.lit(new) - pl.lit(EXCEL_EPOCH)).dt.total_days().cast(pl.Utf8))
        .otherwise(format_dates(pl.lit(new), pl.lit(style)))
    ).to_series()
    changed = (new != dob).to_numpy()
    return pl.DataFrame(
        {
            "dob_out": text,
            "dob_wrong_digit": wrong & changed,
            "day_month_swapped": swap & changed,
            "year_only": chosen["year_only"],
            "dob_missing": chosen["dob_missing"],
            "excel_serial": serial,
        }
    )


# -- IDs ----------------------------------------------------------------------------------------


def _digits(ids: pl.Series) -> np.ndarray:
    """n x 12 digit matrix of 12-digit ID strings."""
    raw = "".join(ids.to_list()).encode("ascii")
    return (np.frombuffer(raw, dtype=np.uint8).reshape(-1, 12) - 48).astype(np.int64)


def _from_digits(mat: np.ndarray) -> pl.Series:
    b = (mat + 48).astype(np.uint8).tobytes()
    w = mat.shape[1]
    return pl.Series([b[i * w : (i + 1) * w].decode("ascii") for i in range(mat.shape[0])], dtype=pl.Utf8)


def scientific(mat: np.ndarray) -> pl.Series:
    """What Excel's General format shows for a long number: 6 significant digits, ``7.91235E+11``."""
    w = mat.shape[1]
    value = (mat * (10 ** np.arange(w - 1, -1, -1, dtype=np.int64))).sum(axis=1)
    lead = np.argmax(mat > 0, axis=1)
    exp = (w - 1) - lead
    scale = 10 ** np.maximum(exp - 5, 0)
    q, r = np.divmod(value, scale)
    mant = q + (2 * r >= scale)
    over = mant >= 10**6
    mant = np.where(over, mant // 10, mant)
    exp = exp + over
    s = pl.Series(mant).cast(pl.Utf8)
    body = (s.str.slice(0, 1) + "." + s.str.slice(1)).str.strip_chars_end("0").str.strip_suffix(".")
    return body + "E+" + pl.Series(exp).cast(pl.Utf8).str.zfill(2)


def harsh_ids(df: pl.DataFrame, chosen: dict[str, np.ndarray], rng: np.random.Generator) -> pl.DataFrame:
    """``id_out`` and the ID error / formatting flags, from ``true_id``, ``parent_id``, ``twin_id``,
    ``old_id``."""
    n = df.height
    mat = _digits(df["true_id"])
    wrong = mat.copy()
    p = rng.integers(0, 12, n)
    wrong[np.arange(n), p] = (wrong[np.arange(n), p] + rng.integers(1, 10, n)) % 10
    diff = mat[:, :-1] != mat[:, 1:]
    t = np.argmax(rng.random((n, 11)) * diff, axis=1)
    tr = mat.copy()
    rows = np.arange(n)
    tr[rows, t], tr[rows, t + 1] = mat[rows, t + 1], mat[rows, t]
    c = {k: pl.Series(v) for k, v in chosen.items()}
    sub = pl.select(
        pl.when(c["id_missing"])
        .then(pl.lit(None, pl.Utf8))
        .when(c["parent_id"])
        .then(df["parent_id"])
        .when(c["twin_id"])
        .then(df["twin_id"])
        .when(c["old_cmnd"])
        .then(df["old_id"])
        .when(c["id_wrong_digit"])
        .then(_from_digits(wrong))
        .when(c["id_transposed"])
        .then(_from_digits(tr))
        .when(c["id_scientific"])
        .then(scientific(mat))
        .otherwise(df["true_id"])
    ).to_series()
    lost = pl.select(pl.when(c["id_lost_leading_zero"]).then(sub.str.strip_chars_start("0")).otherwise(sub)).to_series()
    sep = pick_series([" ", "."], rng.integers(0, 2, n))
    grouped = _grouped(lost, sep)
    want_sep = (rng.random(n) < harsh_profile().formatting["id_separators"]) & (lost.str.len_chars() == 12).fill_null(
        False
    ).to_numpy()
    out = pl.select(pl.when(pl.Series(want_sep)).then(grouped).otherwise(lost)).to_series()
    flags = {
        lab: chosen[lab] & sub.ne_missing(df["true_id"]).to_numpy()
        for lab in (
            "id_missing",
            "parent_id",
            "twin_id",
            "old_cmnd",
            "id_wrong_digit",
            "id_transposed",
            "id_scientific",
        )
    }
    flags["id_lost_leading_zero"] = chosen["id_lost_leading_zero"] & lost.ne_missing(sub).to_numpy()
    flags["id_separators"] = want_sep
    return pl.DataFrame({"id_out": out, **flags})


def _grouped(ids: pl.Series, sep: pl.Series) -> pl.Series:
    s, p = pl.col("s"), pl.col("p")
    return (
        pl.DataFrame({"s": ids, "p": sep})
        .select(pl.concat_str([s.str.slice(0, 3), p, s.str.slice(3, 3), p, s.str.slice(6, 3), p, s.str.slice(9)]))
        .to_series()
    )


# -- the whole row ------------------------------------------------------------------------------


def _eligibility(df: pl.DataFrame) -> dict[str, np.ndarray]:
    name = df["full_name"]
    nw = (name.str.count_matches(" ") + 1).to_numpy()
    dob = df["dob"]
    day, month = dob.dt.day().to_numpy(), dob.dt.month().to_numpy()
    ids = df["true_id"]
    mat = _digits(ids)
    yes = np.ones(df.height, dtype=bool)

    def nn(col: str) -> np.ndarray:
        return df[col].is_not_null().to_numpy()

    return {
        "typo_family": yes,
        "typo_middle": nw >= 3,
        "typo_given": yes,
        "middle_changed": nw >= 3,
        "dropped_middle": nw >= 3,
        "family_last": nw >= 2,
        "name_note": yes,
        "fused_tokens": nw >= 2,
        "no_diacritics": (name != pl.select(strip_diacritics(pl.lit(name))).to_series()).to_numpy(),
        "dob_wrong_digit": yes,
        "day_month_swapped": (day <= 12) & (day != month),
        "year_only": yes,
        "dob_missing": yes,
        "id_wrong_digit": yes,
        "id_transposed": (mat[:, :-1] != mat[:, 1:]).any(axis=1),
        "id_scientific": yes,
        "id_missing": yes,
        "parent_id": nn("parent_id") & (df["age"] < 18).to_numpy(),
        "twin_id": nn("twin_id"),
        "old_cmnd": nn("old_id"),
        "id_lost_leading_zero": ids.str.starts_with("0").to_numpy(),
        "gender_missing": yes,
        "gender_wrong": yes,
    }


_ELIGIBILITY = [
    "typo_family",
    "typo_middle",
    "typo_given",
    "middle_changed",
    "dropped_middle",
    "family_last",
    "name_note",
    "fused_tokens",
    "no_diacritics",
    "dob_wrong_digit",
    "day_month_swapped",
    "year_only",
    "dob_missing",
    "id_wrong_digit",
    "id_transposed",
    "id_scientific",
    "id_missing",
    "parent_id",
    "twin_id",
    "old_cmnd",
    "id_lost_leading_zero",
    "gender_missing",
    "gender_wrong",
]


def harsh_noise(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Adds ``name_out``, ``dob_out``, ``id_out``, ``gender_out``, one flag per label and ``n_errors``.

    ``df`` needs ``full_name`` (NFC), ``dob`` (Date), ``gender`` (Nam/Nữ), ``true_id`` (12 digits),
    ``parent_id``, ``twin_id``, ``old_id`` (nullable text) and ``age``.
    """
    prof = harsh_profile()
    n = df.height
    elig = _eligibility(df)
    matrix = np.column_stack([elig[e] for e in prof.errors]) if n else np.zeros((0, len(prof.errors)), dtype=bool)
    chosen_m = choose_errors(rng, matrix, draw_error_counts(rng, n))
    chosen = {e: chosen_m[:, i] for i, e in enumerate(prof.errors)}
    names = harsh_names(df, chosen, rng)
    dates = harsh_dates(df, chosen, rng)
    ids = harsh_ids(df, chosen, rng)
    g = df["gender"]
    flipped = pl.select(pl.when(g == "Nam").then(pl.lit("Nữ")).otherwise(pl.lit("Nam"))).to_series()
    gender_out = pl.select(
        pl.when(pl.Series(chosen["gender_missing"]))
        .then(pl.lit(None, pl.Utf8))
        .when(pl.Series(chosen["gender_wrong"]))
        .then(flipped)
        .otherwise(g)
    ).to_series()
    out = pl.concat([names, dates, ids], how="horizontal").with_columns(
        gender_out=gender_out,
        gender_missing=pl.Series(chosen["gender_missing"]),
        gender_wrong=pl.Series(chosen["gender_wrong"]),
    )
    out = out.with_columns(n_errors=pl.sum_horizontal([pl.col(e).cast(pl.Int64) for e in prof.errors]))
    # flag columns replace the inputs of the same name (parent_id, twin_id: used above)
    return pl.concat([df.drop([c for c in out.columns if c in df.columns]), out], how="horizontal")
