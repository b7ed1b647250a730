"""Excel cell references: one owner (``rules.ingest.limits`` for column letters, ``rules.ingest.formulas``
for A1 references), used by the limits, the formula reader and the error report alike."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from openpyxl.utils.cell import column_index_from_string, get_column_letter

from rules.ingest.formulas import cell_ref
from rules.ingest.limits import column_letters, column_number

_COLUMNS = st.integers(min_value=1, max_value=16_384)  # A..XFD, Excel's columns
_ROWS = st.integers(min_value=1, max_value=1_048_576)


@given(n=_COLUMNS)
def test_column_letters_and_numbers_are_excels_and_each_others_inverse(n: int) -> None:
    letters = column_letters(n)
    assert letters == get_column_letter(n)  # openpyxl: an independent reading of Excel's rule
    assert column_number(letters) == column_number(letters.encode()) == column_index_from_string(letters) == n


@given(row=_ROWS, col=_COLUMNS)
def test_an_a1_reference_reads_as_its_row_and_column_in_text_and_in_bytes(row: int, col: int) -> None:
    ref = f"{column_letters(col)}{row}"
    assert cell_ref(ref) == cell_ref(ref.encode()) == (row, col)


def test_what_is_no_a1_reference_reads_as_none() -> None:
    for ref in ("", "B", "7", "b7", "7B", "ABCD1", "A1:B2", "$A$1", " A1"):
        assert cell_ref(ref) is None and cell_ref(ref.encode()) is None, ref
