"""The README's example queries run on a real analyst file, and query 3 counts rejected rows once.

Built with the real warehouse builder from the report tests' hand-made sources, where one row is
rejected for two reasons (missing_name;impossible_date): the old query 3 summed `rejections.rows`
and counted that row twice.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def con(sample_analyst_file):
    return sample_analyst_file


def _readme_queries() -> dict[int, list[str]]:
    """The numbered example queries of the analyst guide: number -> its SQL statements."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("### Example queries", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    parts = re.split(r"^-- (\d+)\. ", block, flags=re.MULTILINE)
    return {int(n): _sql(text) for n, text in zip(parts[1::2], parts[2::2], strict=True)}


def _sql(text: str) -> list[str]:
    """The statements of a numbered query (its title line and comment lines left out)."""
    lines = [line for line in text.splitlines()[1:] if not line.lstrip().startswith("--")]
    return [s for s in "\n".join(lines).split(";") if s.strip()]




def test_every_example_query_runs(con):
    queries = _readme_queries()
    assert sorted(queries) == list(range(1, len(queries) + 1)) and len(queries) >= 6
    for statements in queries.values():
        for sql in statements:
            con.sql(sql).fetchall()  # raises on a query the warehouse no longer answers


def test_query_3_counts_each_rejected_row_once(con):
    (query,) = _readme_queries()[3]
    rows = con.sql(query).fetchall()
    assert rows
    per_unit = {unit: rejected for unit, rejected, *_ in rows}
    truth = dict(con.sql("SELECT unit, sum(rejected) FROM uploads WHERE status = 'current' AND sector = 'students' "
                         "GROUP BY 1 HAVING sum(rejected) > 0").fetchall())
    assert per_unit == truth
    by_reason = dict(con.sql("SELECT unit, sum(rows) FROM rejections WHERE sector = 'students' GROUP BY 1").fetchall())
    assert any(by_reason[u] > per_unit[u] for u in per_unit)  # the sources hold a row with two reasons
