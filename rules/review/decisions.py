"""Review decisions: validate a parsed workbook against the current state, keep a ledger, apply it.

State of an ambiguous row (every one is in exactly one):

- ``ambiguous``: waiting for review (never reviewed, reviewed "not sure", or its decision went stale);
- ``matched_by_review``: a reviewer picked a candidate; the row is matched to that person and goes to
  verification like an automatic match;
- ``rejected_by_review``: a reviewer said none of the candidates is the person.

The **ledger** (``lake/review_decisions/<province>/<sector>.parquet``) is append-only: one row per
decision ever accepted, keyed by ``decision_id`` = sha256(row key | fp_match | fp_register |
decision | rank). The match results are a *function* of (engine output, ledger): :func:`apply_decisions`
turns an ``ambiguous`` row into ``matched_by_review`` / ``rejected_by_review`` when the ledger holds a
final decision whose fingerprints equal the row's current ones (first decision wins). So a re-run of
matching re-applies every decision that still holds, and a row whose candidates or register records
changed goes back to ``ambiguous`` for a fresh review, never silently keeping an outdated choice.
Importing the same workbook again finds every decision_id already in the ledger and changes nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from rules.lake_schema import lake_table
from rules.review.blocks import ROW_KEY
from rules.review.reader import ParsedWorkbook

FINAL = ("match", "none")
STATUS_OF = {"match": "matched_by_review", "none": "rejected_by_review"}
REVIEWED_STATUSES = tuple(STATUS_OF.values())
REVIEW_FLAG = "clerical_review"
# The ledger's columns and dtypes are owned by the lake's schema registry (rules/lake_schema).
LEDGER_SCHEMA: dict[str, pl.DataType] = lake_table("review_decisions").schema()
OUTCOMES = ("applied", "unsure_recorded", "already_imported", "already_decided", "stale_match", "stale_register",
            "not_ambiguous", "gone")


def empty_ledger() -> pl.DataFrame:
    return pl.DataFrame(schema=LEDGER_SCHEMA)


@dataclass
class Evaluation:
    """``new``: ledger rows to append; ``outcomes``: one row per decided block (block, outcome);
    ``messages``: one line per refused or ignored block (no personal data: block code, unit, Excel row)."""

    new: pl.DataFrame
    outcomes: pl.DataFrame
    messages: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        got = dict(self.outcomes.group_by("outcome").len().iter_rows()) if self.outcomes.height else {}
        return {k: int(got.get(k, 0)) for k in OUTCOMES}


def _decision_id(key: tuple, fp_match: str, fp_register: str, decision: str, rank: int | None) -> str:
    text = "|".join(str(v) for v in (*key, fp_match, fp_register, decision, rank if rank is not None else ""))
    return hashlib.sha256(text.encode()).hexdigest()


def evaluate(parsed: ParsedWorkbook, queue: pl.DataFrame, current_fp: pl.DataFrame, results: pl.DataFrame,
             ledger: pl.DataFrame, *, import_id: str, decided_at: datetime, workbook_sha256: str,
             file_label: str) -> Evaluation:
    """Check every decided block of ``parsed`` against the current state.

    ``queue``: current review queue (ambiguous rows x candidates); ``current_fp``: their fingerprints
    (``blocks.fingerprints`` over the *current* register); ``results``: current match results (``ROW_KEY,
    status``); ``ledger``: decisions so far. ``file_label`` names the workbook in ``messages``: pass
    ``rules.review.reader.shown_name`` (masked unless the messages go to the person who gave the file).
    Nothing is written here.
    """
    decided = parsed.choices.join(parsed.blocks, on="block", how="inner")
    fp_now = {tuple(r[:3]): (r[3], r[4]) for r in current_fp.select(*ROW_KEY, "fp_match", "fp_register").iter_rows()}
    status_now = {tuple(r[:3]): r[3] for r in results.select(
        pl.col("file_sha256"), pl.col("sheet").fill_null(""), pl.col("row_number").cast(pl.Int64), "status",
    ).iter_rows()}
    known_ids = set(ledger["decision_id"].to_list())
    finals = {(r[0], r[1], r[2], r[3], r[4]) for r in ledger.filter(pl.col("decision").is_in(FINAL)).select(
        *ROW_KEY, "fp_match", "fp_register").iter_rows()}
    cands = _candidates(queue)
    rows, outcomes, messages = [], [], []
    for b in decided.iter_rows(named=True):
        key = (b["file_sha256"], b["sheet"] or "", int(b["row_number"]))
        where = f"{file_label}: block {b['block']} (unit {b['unit']}, Excel row {b['excel_row']} of its upload)"
        did = _decision_id(key, b["fp_match"], b["fp_register"], b["decision"], b["rank"])
        if did in known_ids:
            outcome = "already_imported"
        elif (*key, b["fp_match"], b["fp_register"]) in finals:
            outcome = "already_decided"
            messages.append(f"{where}: already decided in an earlier workbook; this choice is ignored")
        elif key in fp_now:
            fpm, fpr = fp_now[key]
            if fpm != b["fp_match"]:
                outcome = "stale_match"
                messages.append(f"{where}: refused, a match run changed this row's candidates since the export; "
                                "review it again in a new workbook")
            elif fpr != b["fp_register"]:
                outcome = "stale_register"
                messages.append(f"{where}: refused, the register records of its candidates changed since the "
                                "export; review it again in a new workbook")
            else:
                outcome = "applied" if b["decision"] in FINAL else "unsure_recorded"
                rows.append(_ledger_row(b, key, did, cands.get(key, []), parsed, import_id, decided_at,
                                        workbook_sha256))
        elif status_now.get(key) in REVIEWED_STATUSES:
            outcome = "already_decided"
            messages.append(f"{where}: already decided ({status_now[key]}); this choice is ignored")
        elif key in status_now:
            outcome = "not_ambiguous"
            messages.append(f"{where}: refused, the latest match run decided this row itself "
                            f"({status_now[key]}); nothing to review")
        else:
            outcome = "gone"
            messages.append(f"{where}: refused, the row is no longer in the current uploads (file replaced)")
        outcomes.append({"block": b["block"], "outcome": outcome})
    new = pl.DataFrame(rows, schema=LEDGER_SCHEMA) if rows else empty_ledger()
    return Evaluation(new=new, outcomes=pl.DataFrame(outcomes, schema={"block": pl.Utf8, "outcome": pl.Utf8}),
                      messages=messages)


def _candidates(queue: pl.DataFrame) -> dict[tuple, list[tuple[str, float, str]]]:
    out: dict[tuple, list[tuple[str, float, str]]] = {}
    for r in queue.sort(*ROW_KEY, "candidate_rank").select(
            "file_sha256", pl.col("sheet").fill_null(""), pl.col("row_number").cast(pl.Int64), "candidate_id",
            "candidate_score", "candidate_reason").iter_rows():
        out.setdefault((r[0], r[1], r[2]), []).append((r[3], r[4], r[5]))
    return out


def _ledger_row(b: dict, key: tuple, did: str, cands: list[tuple[str, float, str]], parsed: ParsedWorkbook,
                import_id: str, decided_at: datetime, workbook_sha256: str) -> dict:
    rank = b["rank"] if b["decision"] == "match" else None
    chosen = cands[rank - 1] if rank is not None and rank <= len(cands) else (None, None, None)
    best = cands[0] if cands else (None, None, None)
    return {
        "decision_id": did, "province": parsed.meta.get("province"), "sector": parsed.meta.get("sector"),
        "unit": b["unit"], "file_sha256": key[0], "sheet": key[1], "row_number": key[2],
        "excel_row": b["excel_row"], "fp_match": b["fp_match"], "fp_register": b["fp_register"],
        "decision": b["decision"], "chosen_rank": rank, "person_id": chosen[0], "chosen_score": chosen[1],
        "chosen_reason": chosen[2], "best_score": best[1], "best_reason": best[2],
        "runner_up_score": cands[1][1] if len(cands) > 1 else None, "n_candidates": len(cands),
        "candidate_reasons": [c[2] for c in cands], "reviewer": parsed.reviewer or None, "notes": b["notes"],
        "workbook_id": parsed.meta.get("workbook_id"), "workbook_sha256": workbook_sha256, "import_id": import_id,
        "exported_at": parsed.meta.get("exported_at"), "decided_at": decided_at,
    }


def final_decisions(ledger: pl.DataFrame) -> pl.DataFrame:
    """The decision in force per (row, fingerprints): the first final one (later ones were refused)."""
    return (ledger.filter(pl.col("decision").is_in(FINAL)).sort("decided_at", maintain_order=True)
            .unique([*ROW_KEY, "fp_match", "fp_register"], keep="first", maintain_order=True))


def apply_decisions(results: pl.DataFrame, current_fp: pl.DataFrame, ledger: pl.DataFrame) -> pl.DataFrame:
    """``results`` with every ambiguous row that has a final decision at its current fingerprints turned
    into ``matched_by_review`` (person_id = the chosen candidate) or ``rejected_by_review``.

    Idempotent: rows already decided are not ambiguous any more and are left as they are. Rows in
    ``current_fp`` are the ambiguous rows of the match run that ``results`` come from.
    """
    if ledger.height == 0 or current_fp.height == 0:
        return results
    force = final_decisions(ledger).join(current_fp.select(*ROW_KEY, "fp_match", "fp_register"),
                                         on=[*ROW_KEY, "fp_match", "fp_register"], how="inner")
    if force.height == 0:
        return results
    patch = force.select(*ROW_KEY, pl.col("decision").alias("_decision"), pl.col("person_id").alias("_pid"),
                         pl.col("chosen_score").alias("_score"), pl.col("chosen_reason").alias("_reason"))
    keyed = results.with_columns(pl.col("sheet").fill_null(""), pl.col("row_number").cast(pl.Int64))
    out = keyed.join(patch, on=ROW_KEY, how="left", maintain_order="left")
    hit = (pl.col("status") == "ambiguous") & pl.col("_decision").is_not_null()
    is_match = hit & (pl.col("_decision") == "match")
    out = out.with_columns(
        pl.when(hit).then(pl.col("_decision").replace_strict(STATUS_OF, default=None)).otherwise(pl.col("status"))
        .alias("status"),
        pl.when(is_match).then(pl.col("_pid")).when(hit).then(pl.lit(None, pl.Utf8)).otherwise(pl.col("person_id"))
        .alias("person_id"),
        pl.when(is_match).then(pl.col("_pid")).when(hit).then(pl.lit(None, pl.Utf8))
        .otherwise(pl.col("proposed_id")).alias("proposed_id"),
        pl.when(is_match).then(pl.col("_score")).otherwise(pl.col("score")).alias("score"),
        pl.when(is_match).then(pl.col("_reason")).otherwise(pl.col("reason")).alias("reason"),
        pl.when(hit).then(pl.col("flags").list.concat(pl.lit([REVIEW_FLAG]))).otherwise(pl.col("flags"))
        .alias("flags"),
    )
    return out.drop("_decision", "_pid", "_score", "_reason").select(results.columns)


def remaining_queue(queue: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """The review queue without the rows that are no longer ambiguous in ``results``."""
    still = results.filter(pl.col("status") == "ambiguous").select(
        pl.col("file_sha256"), pl.col("sheet").fill_null(""), pl.col("row_number").cast(pl.Int64))
    keyed = queue.with_columns(pl.col("sheet").fill_null(""), pl.col("row_number").cast(pl.Int64))
    return keyed.join(still, on=ROW_KEY, how="semi", maintain_order="left")
