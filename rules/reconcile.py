"""Counts that must add up after a full run: the rehearsal's (and an operator's) proof that nothing was lost.

Three identities, each checked from counts only (no personal data):

* per province x sector: **rows read = matched + ambiguous + unmatched + rejected**. Rows read are the
  data rows of the current uploads; rejected are the rows validation refused (``rejected_records``)
  and that got no match decision (a refused row matched on the fields it has counts under its decision),
  the rest each got exactly one match decision (``match_results``; a reviewer's decision counts under
  what it decided: ``matched_by_review`` as matched, ``rejected_by_review`` as unmatched).
* the verification queue: **enqueued = sent + waiting (+ withdrawn)**, where sent is answered plus in
  flight, waiting is pending plus failed, withdrawn are requests of superseded uploads; and for every
  day **quota spent <= daily quota** (spent: requests answered that day; allocated <= quota too).
* the analyst file: **warehouse rows = lake rows** for each table copied from the lake.

The functions take small frames and dicts and return :class:`Check` rows; the caller prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

# Match statuses -> the outcome they count under in the identity.
OUTCOME_OF_STATUS = {"matched": "matched", "matched_by_review": "matched", "ambiguous": "ambiguous",
                     "unmatched": "unmatched", "rejected_by_review": "unmatched", "rejected": "rejected"}
OUTCOMES = ("matched", "ambiguous", "unmatched")
WAITING_STATES = ("pending", "failed")
ANSWERED_STATES = ("verified", "mismatch", "not_found")
IN_FLIGHT_STATES = ("allocated", "sent", "sending")


@dataclass(frozen=True)
class Check:
    """One identity: ``what`` it is about, ``ok`` when it holds, ``detail`` the figures as one line."""

    what: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.what:<28} {self.detail}"


def partition_table(read: pl.DataFrame, rejected: pl.DataFrame, decisions: pl.DataFrame) -> pl.DataFrame:
    """One row per province x sector: ``rows_read, matched, ambiguous, unmatched, rejected, ok``.

    ``read``: ``province, sector, rows_read`` (one row per current upload, summed here).
    ``rejected``: ``province, sector, rows`` (rows refused by validation). ``decisions``: ``province,
    sector, status, rows`` (match decisions by status; a ``rejected`` status there, written by a matcher
    that carries validation rejects along, is ignored so a reject never counts twice). Partitions present
    in any input appear, with zeros where an input has none.
    """
    keys = ["province", "sector"]
    r = read.group_by(keys).agg(pl.col("rows_read").sum().cast(pl.Int64))
    rej = rejected.group_by(keys).agg(pl.col("rows").sum().cast(pl.Int64).alias("rejected"))
    d = (decisions.with_columns(outcome=pl.col("status").replace_strict(OUTCOME_OF_STATUS, default="other"))
         .filter(pl.col("outcome") != "rejected"))
    pivot = (d.group_by(keys).agg([pl.col("rows").filter(pl.col("outcome") == o).sum().cast(pl.Int64).alias(o)
                                   for o in (*OUTCOMES, "other")]))
    out = r.join(rej, on=keys, how="full", coalesce=True).join(pivot, on=keys, how="full", coalesce=True)
    cols = ["rows_read", *OUTCOMES, "rejected", "other"]
    out = out.with_columns([pl.col(c).fill_null(0) for c in cols])
    return (out.with_columns(ok=(pl.col("rows_read") == pl.sum_horizontal(*OUTCOMES, "rejected"))
                             & (pl.col("other") == 0))
            .select(*keys, *cols, "ok").sort(keys))


def partition_checks(table: pl.DataFrame) -> list[Check]:
    """A :class:`Check` per row of :func:`partition_table`."""
    checks = []
    for row in table.iter_rows(named=True):
        detail = (f"read {row['rows_read']:,} = matched {row['matched']:,} + ambiguous {row['ambiguous']:,} + "
                  f"unmatched {row['unmatched']:,} + rejected {row['rejected']:,}")
        if row["other"]:
            detail += f" (+ {row['other']:,} of an unknown status)"
        checks.append(Check(f"{row['province']}/{row['sector']}", bool(row["ok"]), detail))
    return checks


def queue_checks(states: Mapping[str, int], days: pl.DataFrame) -> list[Check]:
    """The queue's identities. ``states``: requests per state (the store's ``state_counts``); ``days``:
    ``day, quota, allocated, answered`` per verification day."""
    enqueued = sum(states.values())
    answered = sum(states.get(s, 0) for s in ANSWERED_STATES)
    in_flight = sum(states.get(s, 0) for s in IN_FLIGHT_STATES)
    waiting = sum(states.get(s, 0) for s in WAITING_STATES)
    withdrawn = states.get("withdrawn", 0)
    known = {*ANSWERED_STATES, *IN_FLIGHT_STATES, *WAITING_STATES, "withdrawn"}
    other = sum(n for s, n in states.items() if s not in known)
    detail = (f"enqueued {enqueued:,} = sent {answered + in_flight:,} (answered {answered:,}, in flight "
              f"{in_flight:,}) + waiting {waiting:,}" + (f" + withdrawn {withdrawn:,}" if withdrawn else ""))
    if other:
        detail += f"; {other:,} in an unknown state"
    checks = [Check("queue", other == 0 and enqueued == answered + in_flight + waiting + withdrawn, detail)]
    for row in days.sort("day").iter_rows(named=True):
        ok = row["answered"] <= row["allocated"] <= row["quota"]
        checks.append(Check(f"quota {row['day']}", ok,
                            f"spent {row['answered']:,} <= allocated {row['allocated']:,} <= daily quota "
                            f"{row['quota']:,}"))
    return checks


def table_checks(pairs: Mapping[str, tuple[int, int]]) -> list[Check]:
    """``{name: (warehouse rows, lake rows)}`` -> a :class:`Check` each (equal counts)."""
    return [Check(f"warehouse {name}", w == lake, f"{w:,} rows = lake {lake:,} rows")
            for name, (w, lake) in pairs.items()]
