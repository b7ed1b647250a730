"""The demo's verification line reconciles what the warehouse counts (rows) with what the quota
counts (checks), for every mix of answers."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from pipelines.demo import answers_line

STATUSES = ("verified", "mismatch", "not_found")


def _int(text: str) -> int:
    return int(text.replace(",", ""))


@given(counts=st.lists(st.integers(0, 10**7), min_size=1, max_size=3), data=st.data())
def test_rows_answered_equal_checks_plus_shared_answers(counts: list[int], data: st.DataObject):
    outcomes = list(zip(STATUSES, counts, strict=False))
    total = sum(counts)
    reused = data.draw(st.integers(0, total))
    line = answers_line(outcomes, reused)
    found = re.fullmatch(r"verification answers: ([\d,]+) rows answered by ([\d,]+) checks \(one check per "
                         r"person; ([\d,]+) rows shared the answer of the same person's check, no quota spent\): "
                         r"(.+)", line)
    assert found, line
    rows, checks, shared = (_int(found.group(i)) for i in (1, 2, 3))
    shown = {s: _int(n) for s, n in re.findall(r"([a-z_]+) ([\d,]+)", found.group(4))}
    assert rows == sum(shown.values()) == total and checks + shared == rows and shared == reused
    assert shown == dict(outcomes)


def test_without_the_queue_the_line_still_adds_up():
    line = answers_line([("verified", 30_416), ("mismatch", 2_299)], None)
    assert line == "verification answers: 32,715 rows: verified 30,416, mismatch 2,299"
