"""The file types doisoat reads, one list for every place that asks: the reader picks its parser by
them (``rules.ingest.readers``), an inbox lists them as uploads and refuses the rest saying so
(``rules.ingest.inbox``), report names tell a suffix from a list name by them (``rules.ingest.report``),
and ``doisoat match`` reads them. Lower case; a file's suffix is compared lower-cased."""

from __future__ import annotations

#: Workbooks, read through calamine (.xls also through ``rules.ingest.biff`` for what calamine hides).
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"})
#: Delimited text, read through ``rules.ingest.encoding`` and the CSV sniffer.
TEXT_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
READ_SUFFIXES = EXCEL_SUFFIXES | TEXT_SUFFIXES


def listed_formats() -> str:
    """The suffixes as an uploader reads them in a message: ``.csv/.ods/.tsv/.txt/.xls/.xlsb/.xlsm/.xlsx``."""
    return "/".join(sorted(READ_SUFFIXES))
