"""Vietnamese normalisation of names, dates, genders, ID numbers and phones (contracts.md §4).

Public API::

    normalise_records(df, sector, today=None) -> pl.DataFrame   # raw sector records
    normalise_register(df, today=None) -> pl.DataFrame          # population register
    summarise_flags(df) -> dict[str, int]                       # counts of each code
    normalise_names(series, repair=True) / parse_dates(series, today=None)
    normalise_genders(series, sector) / normalise_ids(series, role) / normalise_phones(series)
    canonical_tone(text) / fold(text) / strip_diacritics(text)
    legacy: detect_legacy(text) / to_unicode(text, encoding) / decode_bytes(data)

Everything is vectorised with polars; Python runs only per unique value (garbled names, name
tokens whose tone may move, gender cells).
"""

from rules.normalise.dates import DATE_COLUMNS, parse_dates
from rules.normalise.flags import summarise_flags
from rules.normalise.gender import GENDER_COLUMNS, gender_table, normalise_genders
from rules.normalise.ids import ID_COLUMNS, id_structure_flags, normalise_ids
from rules.normalise.legacy import decode_bytes, detect_legacy, to_unicode
from rules.normalise.names import NAME_COLUMNS, normalise_names
from rules.normalise.phones import PHONE_COLUMNS, normalise_phones
from rules.normalise.records import normalise_records, normalise_register
from rules.normalise.repair import repair_text
from rules.normalise.syllable import canonical_syllable, canonical_tone, fold, strip_diacritics

__all__ = [
    "DATE_COLUMNS",
    "GENDER_COLUMNS",
    "ID_COLUMNS",
    "NAME_COLUMNS",
    "PHONE_COLUMNS",
    "canonical_syllable",
    "canonical_tone",
    "decode_bytes",
    "detect_legacy",
    "fold",
    "gender_table",
    "id_structure_flags",
    "normalise_genders",
    "normalise_ids",
    "normalise_names",
    "normalise_phones",
    "normalise_records",
    "normalise_register",
    "parse_dates",
    "repair_text",
    "strip_diacritics",
    "summarise_flags",
    "to_unicode",
]
