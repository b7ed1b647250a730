"""What a leak of a user-chosen file name looks like, and everything Dagster kept of a run to look in.

Clerks name files after pupils (an upload, a correction, a review workbook). Dagster stores what a
run hands it (metadata, check results, log lines) as JSON in its own storage, shows it in the UI and
prints log lines on the console: a test of "no file name reaches Dagster" searches all of it for
every form the name can take.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from rules.provinces import slugify


def name_forms(*names: str) -> list[str]:
    """Lower-case forms of each person's name as it can show in text: as typed, folded to ASCII, as a
    slug, JSON-escaped (``Duy\\u00ean``), and the same for the given names alone."""
    forms: set[str] = set()
    for name in names:
        given = name.split()[-2:]
        for text in (name, " ".join(given), given[-1]):
            slug = slugify(text)
            forms |= {text.lower(), slug, slug.replace("_", " ")}
    return sorted(forms | {json.dumps(f)[1:-1] for f in forms})


def dagster_text(instance: dg.DagsterInstance, run_id: str, home: Path, printed: str) -> str:
    """Lower-cased: every event of the run as Dagster stores it (materialisations with their metadata,
    check results, log lines), every byte of the instance's storage under ``home`` (event log, compute
    logs) and ``printed``, the console output captured while the run ran."""
    events = "\n".join(repr(entry) for entry in instance.all_logs(run_id))
    stored = "\n".join(p.read_bytes().decode("utf-8", errors="ignore") for p in sorted(home.rglob("*"))
                       if p.is_file())
    return "\n".join([events, stored, printed]).lower()
