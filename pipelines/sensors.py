"""The upload inbox sensor: a file dropped into ``data/inbox/<province>/<sector>/`` starts a run.

The run key is a keyed pseudonym of the partition's new file contents, so the same file dropped
twice runs once, and a corrected file (new content) runs again (docs/decisions.md, "sensors"). The cursor
remembers (mtime, size, content tag) per file so unchanged files are not hashed again on every tick. Files
a run already ingested (their sha256 is in the partition's ``uploads`` lake file: ``doisoat demo``
or ``doisoat run`` processed them before the sensor ever ticked) start nothing.

Nothing the sensor hands to Dagster holds a file name: Dagster stores cursors, run keys, tags and
skip messages in its own storage and shows them in the UI, and uploaders name files after pupils.
Cursor entries are keyed by :func:`rules.ingest.inbox.name_key` (masked label + 8 hex digits); the
content tags they hold and the run keys are keyed pseudonyms of the contents' sha256
(:mod:`rules.pseudonym`: anyone holding an upload can compute its sha256, not the key), tags and
messages carry counts and folder names only; a folder that is no province or sector was made by a
clerk and may be named after a pupil, so it is named by its masked
:func:`rules.ingest.inbox.public_label`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg

from assets.partitions import PROVINCE_PARTITIONS, partition_key, province_partitions
from assets.resources import DataPaths
from pipelines.jobs import province_job, review_import_job
from rules.ingest.formats import listed_formats
from rules.ingest.inbox import list_inbox, name_key, public_label, sha256_regular
from rules.layout import REVIEW_FOLDER, inbox_folder, review_inbox_folder
from rules.provinces import PROVINCE_SLUGS
from rules.pseudonym import pseudonym
from rules.sectors import SECTORS


def run_key(*parts: str) -> str:
    """``<kind>|<partition>|<16 hex>``: readable, bounded, and different for different file contents.

    The hex is a keyed pseudonym of ``digests`` (the files' sha256), as the cursor's name keys are: a
    plain hash of them would let anyone holding an upload find its run in Dagster's storage and UI.
    It depends on the deployment key alone, so it stays the same across ticks and restarts of one data
    folder and a file dropped again is still one run."""
    *head, digests = parts
    return "|".join([*head, pseudonym("run-key", digests, length=16)])


CONTENT_TAG_CHARS = 32  # 128 bits: no two contents share one in practice; not 64, a plain sha256's length
PLAIN_SHA256 = re.compile(r"[0-9a-f]{64}")


def content_tag(digest: str) -> str:
    """What the cursor keeps of a file's sha256: a keyed pseudonym (purpose ``cursor-content``).

    Dagster stores and shows cursors; a plain sha256 there would let anyone holding an upload hash it
    and find that it was uploaded. Equal contents give equal tags for one deployment key, so comparing
    tags tells a changed file from an unchanged one as comparing digests did."""
    return pseudonym("cursor-content", digest, length=CONTENT_TAG_CHARS)


def read_cursor(text: str | None) -> dict[str, list]:
    """The cursor state ``{key: [mtime_ns, size, content_tag]}`` stored as ``text``.

    A cursor written before content tags holds plain sha256 digests: each is turned into its tag here
    (the digest is all the tag needs, so no file is hashed again and none runs again), and the next
    cursor written holds tags only. Text that is not such a state (damaged, or hand-edited) gives up
    only the entries it cannot read, never the tick: those files count as new (an upload a run already
    ingested still starts nothing, :func:`ingested_digests`; a review workbook imported again changes
    nothing)."""
    try:
        raw = json.loads(text) if text else {}
    except ValueError:
        return {}
    if not isinstance(raw, dict):
        return {}
    return {key: entry for key, value in raw.items() if (entry := _cursor_entry(value)) is not None}


def _cursor_entry(value: object) -> list | None:
    """One cursor entry as ``[mtime_ns, size, content_tag]``, a plain digest replaced by its tag; None
    when it has another shape."""
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, int) for v in value[:2])
            and isinstance(value[2], str)):
        return None
    mtime_ns, size, seen = value
    return [mtime_ns, size, content_tag(seen) if PLAIN_SHA256.fullmatch(seen) else seen]


def ingested_digests(paths: DataPaths, province: str, sector: str) -> set[str]:
    """The sha256 of every file the last run of the partition read (``lake/uploads``), or nothing."""
    import polars as pl

    from rules.lake_store import read_table_partition

    try:  # the lake is local Parquet or Delta on object storage (rules.lake_store)
        uploads = read_table_partition(paths.layout, "uploads", province, sector, columns=["file_sha256"])
    except (OSError, pl.exceptions.PolarsError):  # being replaced: treat files as new
        return set()
    return set(uploads["file_sha256"].drop_nulls().to_list()) if uploads is not None else set()


def scan_inbox(
    root: Path, previous: dict[str, list]
) -> tuple[dict[str, list], list[tuple[str, str, str]], dict[str, int]]:
    """Return the new cursor state, (province, sector, sha256) of new or changed uploads, and
    ``{"<province>/<sector>": n}`` of files not named ``<unit>__<list>`` or of a type no inbox reads:
    they start no run and are never read, so the operator is told where they are (folder and count:
    names are uploader text and may name a pupil). One listing of each folder serves all three."""
    state: dict[str, list] = {}
    changed: list[tuple[str, str, str]] = []
    misnamed: dict[str, int] = {}
    for province in PROVINCE_SLUGS:
        for sector in SECTORS:
            # regular, well-named files only: links never start a run, a misnamed file is reported by the
            # next run of its folder (listed as failed, with what to rename it to)
            files, refused = list_inbox(inbox_folder(root, province, sector), units=True)
            for path in files:
                digest = _new_content(path, f"{province}/{sector}/{name_key(path.name)}", previous, state)
                if digest:
                    changed.append((province, sector, digest))
            n = sum(r.reason in ("misnamed_file", "unsupported_format") for r in refused)
            if n:
                misnamed[f"{province}/{sector}"] = n
    return state, changed, misnamed


def _new_content(path: Path, rel: str, previous: dict[str, list], state: dict[str, list]) -> str | None:
    """The sha256 of ``path`` when it is new or changed since ``previous`` (cursor entries
    ``[mtime_ns, size, content_tag]``, :func:`read_cursor`), else None; ``state[rel]`` is updated with
    the file's :func:`content_tag`, never its digest. The file is hashed only when its size or time
    changed, and opened without following links."""
    try:
        stat = path.lstat()
    except OSError:
        return None
    seen = previous.get(rel)
    if seen and seen[0] == stat.st_mtime_ns and seen[1] == stat.st_size:
        state[rel] = seen
        return None
    try:
        digest = sha256_regular(path)
    except OSError:  # replaced by a link or removed since the listing: not an upload
        return None
    tag = content_tag(digest)
    state[rel] = [stat.st_mtime_ns, stat.st_size, tag]
    return digest if not seen or seen[2] != tag else None


def misplaced_folders(root: Path) -> list[str]:
    """Inbox folders that match no province slug or sector: files there would never be picked up.

    Named for the sensor's log, which Dagster stores and shows: a clerk chose these names (a folder for
    one pupil's files), so each is its masked :func:`rules.ingest.inbox.public_label` (``HCM`` -> ``hcm``,
    ``Phạm Thu Dung 13-05-2013`` -> ``x``) under its province's slug."""
    if not root.is_dir():
        return []
    wrong = [public_label(p.name) for p in root.iterdir() if p.is_dir() and p.name not in PROVINCE_SLUGS]
    for province in PROVINCE_SLUGS:
        folder = root / province
        if folder.is_dir():
            wrong += [f"{province}/{public_label(p.name)}" for p in folder.iterdir()
                      if p.is_dir() and p.name not in SECTORS and p.name != REVIEW_FOLDER]
    return sorted(wrong)


@dg.sensor(
    job=province_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts ingest -> clean -> match for a province x sector when a file lands in its inbox.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, paths: DataPaths) -> dg.SensorResult:
    previous = read_cursor(context.cursor)
    state, changed, misnamed = scan_inbox(paths.inbox_root(), previous)
    wrong = misplaced_folders(paths.inbox_root())
    if wrong:  # folder names only: an uploader put files where no run will ever look
        context.log.warning(
            f"inbox folders ignored (unknown province or sector): {', '.join(wrong[:10])}; use "
            f"inbox/<province>/<sector>/ with a province from `doisoat provinces` and a sector of {', '.join(SECTORS)}"
        )
    if misnamed:
        context.log.warning(
            f"inbox files not read (not named <unit>__<list>.xlsx, or not {listed_formats()}): "
            + ", ".join(f"{folder}: {n}" for folder, n in sorted(misnamed.items())[:10])
            + "; save them as .xlsx or .csv named <unit>__<list>.xlsx, e.g. thpt_le_quy_don__ds_lop_10a1.xlsx"
        )
    # One run per partition: it processes every current file of that inbox folder anyway.
    by_partition: dict[tuple[str, str], list[str]] = {}
    for province, sector, digest in changed:
        by_partition.setdefault((province, sector), []).append(digest)
    for (province, sector), digests in list(by_partition.items()):
        left = sorted(set(digests) - ingested_digests(paths, province, sector))
        if left:
            by_partition[(province, sector)] = left
        else:  # a run (the demo, `doisoat run`) already ingested exactly these files
            del by_partition[(province, sector)]
    requests = [
        dg.RunRequest(
            run_key=run_key(province, sector, "+".join(digests)),
            partition_key=partition_key(province, sector),
            tags={"upload_files": str(len(digests)), "province": province, "sector": sector},
        )
        for (province, sector), digests in sorted(by_partition.items())
    ]
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new uploads in {len(state)} known files"),
                               cursor=json.dumps(state))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(state),
                           dynamic_partitions_requests=_new_provinces(context, {p for p, _ in by_partition}))


def _new_provinces(context: dg.SensorEvaluationContext, provinces: set[str]) -> list:
    """A request adding the provinces that are not partitions of this installation yet (or none)."""
    new = sorted(p for p in provinces if not context.instance.has_dynamic_partition(PROVINCE_PARTITIONS, p))
    return [province_partitions.build_add_request(new)] if new else []


def scan_review_inbox(root: Path, previous: dict[str, list]) -> tuple[dict[str, list], dict[str, list[str]]]:
    """New cursor state and, per province, the sha256 of new or changed review workbooks."""
    state: dict[str, list] = {}
    changed: dict[str, list[str]] = {}
    for province in PROVINCE_SLUGS:
        files, _ = list_inbox(review_inbox_folder(root, province))  # regular files only: links are never read
        for path in files:
            if path.suffix.lower() != ".xlsx" or path.name.startswith((".", "~$")):  # Excel's lock files
                continue
            digest = _new_content(path, f"{province}/{name_key(path.name)}", previous, state)
            if digest:
                changed.setdefault(province, []).append(digest)
    return state, changed


@dg.sensor(
    job=review_import_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Imports filled clerical-review workbooks dropped into inbox/<province>/review/.",
)
def review_inbox_sensor(context: dg.SensorEvaluationContext, paths: DataPaths) -> dg.SensorResult:
    previous = read_cursor(context.cursor)
    state, changed = scan_review_inbox(paths.inbox_root(), previous)
    requests = [dg.RunRequest(run_key=run_key("review", province, "+".join(sorted(digests))), partition_key=province,
                              tags={"review_workbooks": str(len(digests)), "province": province})
                for province, digests in sorted(changed.items())]
    if not requests:
        return dg.SensorResult(skip_reason=dg.SkipReason(f"no new review workbooks in {len(state)} known files"),
                               cursor=json.dumps(state))
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(state),
                           dynamic_partitions_requests=_new_provinces(context, set(changed)))


SENSORS = [inbox_sensor, review_inbox_sensor]
