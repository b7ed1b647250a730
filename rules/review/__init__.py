"""Clerical review of ambiguous matches (no Dagster import): workbook export and import, validation,
the decision ledger and its application to match results, and label statistics.

    lines, blocks = build_blocks(queue, clean_records, candidate_people(register, queue["candidate_id"]), "Hồ Chí Minh")
    data = write_workbook(lines, blocks, meta, ReviewPolicy.from_yaml())     # bytes; write with write_private
    parsed = read_workbook(path)                                             # ParsedWorkbook
    ev = evaluate(parsed, queue, fingerprints(queue, people), results, ledger, ...)   # Evaluation
    results = apply_decisions(results, fingerprints(queue, people), ledger)
    blend_m(m_em, ledger, k), precision_band(ledger, band), threshold_what_if(...)

States of an ambiguous row: ``ambiguous`` | ``matched_by_review`` | ``rejected_by_review``
(``rules.review.decisions``).
"""

from rules.review.blocks import ROW_KEY, build_blocks, candidate_people, fingerprints, parse_reason
from rules.review.decisions import (
    REVIEW_FLAG,
    REVIEWED_STATUSES,
    Evaluation,
    apply_decisions,
    empty_ledger,
    evaluate,
    final_decisions,
    remaining_queue,
)
from rules.review.files import private_dir, write_private
from rules.review.labels import (
    blend_m,
    config_m,
    labelled_level_counts,
    labelled_pair_levels,
    precision_band,
    threshold_what_if,
)
from rules.review.policy import ReviewPolicy, ReviewPolicyError
from rules.review.reader import ParsedWorkbook, ReviewWorkbookError, read_workbook
from rules.review.workbook import new_workbook_id, write_workbook

__all__ = [
    "REVIEWED_STATUSES",
    "REVIEW_FLAG",
    "ROW_KEY",
    "Evaluation",
    "ParsedWorkbook",
    "ReviewPolicy",
    "ReviewPolicyError",
    "ReviewWorkbookError",
    "apply_decisions",
    "blend_m",
    "build_blocks",
    "candidate_people",
    "config_m",
    "empty_ledger",
    "evaluate",
    "final_decisions",
    "fingerprints",
    "labelled_level_counts",
    "labelled_pair_levels",
    "new_workbook_id",
    "parse_reason",
    "precision_band",
    "private_dir",
    "read_workbook",
    "remaining_queue",
    "threshold_what_if",
    "write_private",
    "write_workbook",
]
