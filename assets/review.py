"""Clerical review as Dagster assets: workbooks after each match run, decisions back from the inbox.

The logic (no Dagster) is ``rules.review.service``; these assets call it with ``DataPaths.layout``.

- ``review_workbooks`` (province x sector, group ``match``, so it runs after every match run): the
  owner-only workbook ``reports/review/<province>/<sector>.xlsx``.
- ``review_decisions`` (province, job ``review_import_job``, started by ``review_inbox_sensor``):
  imports every workbook in ``inbox/<province>/review/``; importing a workbook again changes nothing.

The ledger (lake table ``review_decisions``, local Parquet or Delta like every lake table) and the
workbooks hold personal data (owner-only files locally); Dagster metadata and logs get counts, block
codes, unit slugs and Excel rows only. A workbook's file name is chosen by a clerk and may name a pupil:
messages and warnings name it by its masked label (``rules.review.reader.shown_name``, the default of
``import_workbook``), never by the name itself.
"""

from pathlib import Path

import dagster as dg

from assets.checks import schema_check_results, schema_check_spec
from assets.partitions import province_partitions, province_sector_of, province_sector_partitions
from assets.resources import DataPaths
from rules.ingest.inbox import list_inbox, public_label
from rules.review.service import export_workbooks, import_workbook, ledger_schema, read_ledger, review_inbox


# ------------------------------------------------------------------------------------------------ assets
@dg.asset(
    partitions_def=province_sector_partitions,
    group_name="match",
    kinds={"excel"},
    owners=["team:provincial-data"],
    deps=["review_queue"],
)
def review_workbooks(context: dg.AssetExecutionContext, paths: DataPaths) -> dg.MaterializeResult:
    """The clerical-review workbook of the partition (owner-only, under reports/review/<province>/)."""
    province, sector = province_sector_of(context)
    [done] = export_workbooks(paths.layout, province, [sector])
    return dg.MaterializeResult(metadata={"blocks": done.blocks, "written": done.path is not None})


@dg.asset(
    partitions_def=province_partitions,
    group_name="review",
    kinds={"excel", "parquet"},
    owners=["team:provincial-data"],
    # match_results is per province x sector: Dagster maps each province to its sectors.
    deps=["match_results"],
    check_specs=[schema_check_spec("review_decisions", partitions_def=province_partitions)],
)
def review_decisions(context: dg.AssetExecutionContext, paths: DataPaths) -> dg.MaterializeResult:
    """Filled review workbooks of inbox/<province>/review/ imported: decisions validated and applied."""
    # Decisions go to the ledger, the match results and the audit log; the same workbook twice
    # changes nothing.
    from rules.review import ReviewWorkbookError

    province = str(context.partition_key)
    folder = review_inbox(paths.layout, province)
    # the inbox lister every inbox uses: links (to a file or from the folder) are refused, never followed
    listed, refused = list_inbox(folder)
    files = sorted((p for p in listed if p.suffix.lower() == ".xlsx"), key=_arrival)
    totals: dict[str, int] = {}
    problems: list[str] = [f"{public_label(r.name)}: not read ({r.reason})" for r in refused]
    for line in problems:
        context.log.warning(line)
    for number, path in enumerate(files, start=1):
        try:  # one import id per workbook: each gets its own audit file; messages name it masked
            rep = import_workbook(paths.layout, path, import_id=f"{context.run.run_id}-{number}",
                                  expected_province=province)
        except (ReviewWorkbookError, FileNotFoundError) as exc:
            problems.append(str(exc))
            context.log.warning(str(exc))
            continue
        for k, v in rep.counts.items():
            totals[k] = totals.get(k, 0) + v
        problems += rep.messages
    from rules.sectors import SECTORS

    stored = {s: ledger_schema(paths.layout, province, s) for s in SECTORS}
    ledgers = [(read_ledger(paths.layout, province, s), schema) for s, schema in stored.items() if schema is not None]
    return dg.MaterializeResult(metadata={
        "workbooks": len(files), **{f"decisions_{k}": v for k, v in sorted(totals.items())},
        # masked file labels, block codes, unit slugs and Excel row numbers only: no names, IDs or birth dates
        "messages": dg.MetadataValue.md("\n".join(f"- {m}" for m in problems[:200]) or "none")},
        check_results=[schema_check_results("review_decisions", ledgers)])


def _arrival(path: Path) -> int:
    """When the workbook arrived (its mtime), so workbooks import in the order they were dropped; 0 for
    one removed since the listing (``import_workbook`` then says so by its masked label, where the
    OSError raised here would have carried its path, and so its name, into Dagster's event log)."""
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0
