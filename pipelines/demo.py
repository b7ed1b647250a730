"""``doisoat demo``: the main job on the embedded default, end to end through Dagster.

Generate (if absent) -> register index -> ingest, clean, match per sector -> national daily
verification -> publish the analyst file -> a summary of counts per stage, read back from the lake
and the warehouse (never personal data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.environment import layout
from rules.sectors import SECTORS

# Hồ Chí Minh City's student list is the mission's headline case (56,000 records waiting in 2023).
DEMO_SIZES = {"ho_chi_minh": 240_000}
DEFAULT_DEMO_SIZE = 40_000
# The smallest registers the command line accepts (``--size``). ``generate`` writes at least 50 rows per
# sector; student rows need school-age people (3-18), about 24 % of a register and, over 300 seeds, never
# fewer than 54 in 300 people (46 are needed). The demo asks a quarter of the register as students, just
# under the average share: from 1,000 people a register rarely falls short (a few seeds in a hundred at
# 1,000-3,000, none seen from 5,000); when one does, the command says so in one line (--size, --seed).
MIN_GENERATE_SIZE = 300
MIN_DEMO_SIZE = 1_000


def demo_size(province: str) -> int:
    return DEMO_SIZES.get(province, DEFAULT_DEMO_SIZE)


def demo_rows_per_sector(province: str, size: int) -> dict[str, int]:
    """Rows per sector. At the default HCMC size (240,000 people) the student lists hold 60,000 rows,
    which leaves a verification backlog of about 56,000 once matched (the 2023 figure)."""
    return {"students": size // 4, "vaccinations": size // 30, "insurance": size // 30}


@dataclass
class DemoSummary:
    ok: bool
    stages: list[tuple[str, bool]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def render(self) -> str:
        marks = "  ".join(f"{'✓' if ok else '✗'} {name}" for name, ok in self.stages)
        return "\n".join([f"stages: {marks}", *self.lines])


def run_demo(province: str, day: str | None = None) -> DemoSummary:
    from pipelines.runner import run_national_day, run_province, run_publish, today_vn  # Dagster: not for --help

    day = day or today_vn()
    stages: list[tuple[str, bool]] = []
    print(f"[2/4] ingest, clean and match {province} ({', '.join(SECTORS)}) through Dagster…")
    stages.append(("register+ingest+match", run_province(province, list(SECTORS))))
    from pipelines.national import write_simulated_external_backlog

    # The quota is national: the other 33 provinces' backlogs (simulated counts) share it.
    write_simulated_external_backlog({province})
    print(f"[3/4] national daily verification for {day} (other provinces' backlogs simulated as counts)…")
    stages.append(("verification", run_national_day(day)))
    print("[4/4] publishing the analyst warehouse…")
    stages.append(("publish", run_publish()))
    summary = DemoSummary(ok=all(ok for _, ok in stages), stages=stages)
    summary.lines = summary_lines(day) + review_lines(province)
    return summary


def review_lines(province: str) -> list[str]:
    """The clerical-review workbooks the match runs wrote (paths and counts only)."""

    where = layout()
    folder = where.review_workbooks(province)
    books = sorted(folder.glob("*.xlsx")) if folder.is_dir() else []
    lines = []
    for book in books:
        from rules.lake_schema import ROW_KEY
        from rules.lake_store import read_table_partition

        key = list(ROW_KEY)  # one partition's queue: file, sheet and row name a row
        queue = read_table_partition(where, "review_queue", province, book.stem.split("__")[0], columns=key)
        rows = queue.select(key).n_unique() if queue is not None else 0
        lines.append(f"review workbook: {book} ({rows} rows to review)")
    return lines or [f"review workbooks: none (no ambiguous rows in {province})"]


def summary_lines(day: str) -> list[str]:
    """Counts per stage, read from the analyst file (which holds no personal data)."""
    import duckdb

    path = layout().warehouse()
    if not path.exists():
        return ["(no warehouse file: publishing did not run)"]
    con = duckdb.connect(str(path), read_only=True)
    try:
        lines = ["", "per sector       files   rows  accepted  rejected   matched  ambiguous  unmatched"]
        rows = con.execute("""
            SELECT u.sector, count(*) AS files, sum(rows_read), sum(accepted), sum(rejected),
                   (SELECT sum(rows) FROM match_outcomes m WHERE m.sector = u.sector AND status = 'matched'),
                   (SELECT sum(rows) FROM match_outcomes m WHERE m.sector = u.sector AND status = 'ambiguous'),
                   (SELECT sum(rows) FROM match_outcomes m WHERE m.sector = u.sector AND status = 'unmatched')
            FROM uploads u WHERE status = 'current' GROUP BY u.sector ORDER BY u.sector
        """).fetchall()
        for sector, files, read, acc, rej, mat, amb, unm in rows:
            lines.append(f"{sector:<14} {files:>6} {_n(read):>6} {_n(acc):>9} {_n(rej):>9} {_n(mat):>9} "
                         f"{_n(amb):>10} {_n(unm):>10}")
        reasons = con.execute(
            "SELECT reason_code, sum(rows) FROM rejections GROUP BY 1 ORDER BY 2 DESC LIMIT 6").fetchall()
        if reasons:
            lines.append("rejected by reason (a row with several reasons counts under each): "
                         + ", ".join(f"{r} {_n(n)}" for r, n in reasons))
        flags = con.execute("SELECT flag, sum(rows) FROM match_flags GROUP BY 1 ORDER BY 2 DESC").fetchall()
        if flags:
            lines.append("match flags: " + ", ".join(f"{f} {_n(n)}" for f, n in flags))
        usage = con.execute("SELECT quota, allocated, unused, stop_cause FROM quota_usage WHERE day = ?",
                            [day]).fetchall()
        national = con.execute("SELECT count(*), sum(backlog), sum(allocated), sum(floor) FROM daily_allocation "
                               "WHERE day = ?", [day]).fetchall()
        if usage and national:
            quota, allocated, unused, cause = usage[0]
            units, backlog, spent, floors = national[0]
            lines += [
                "",
                f"verification {day}: national quota {_n(quota)} shared by {_n(units)} units with "
                f"{_n(backlog)} waiting (floor {_n(floors)}, the rest by backlog^alpha with ageing)",
                f"  this installation: allocated {_n(allocated)}, unused {_n(unused)}{f' ({cause})' if cause else ''}; "
                f"the other provinces (simulated counts) got {_n(spent - allocated)}",
            ]
        here = con.execute("""
            SELECT split_part(unit_key, '/', 1) || '/' || split_part(unit_key, '/', 2) AS grp, count(*) AS units,
                   sum(backlog), sum(allocated) FROM daily_allocation
            WHERE day = ? AND unit_key IN (SELECT unit_key FROM verification_backlog) GROUP BY 1 ORDER BY 3 DESC
        """, [day]).fetchall()
        lines += [f"  {g:<30} {u:>4} units, backlog {_n(b):>7} -> allocated {_n(a):>7} today" for g, u, b, a in here]
        outcomes = con.execute(
            "SELECT status, sum(rows) FROM verification_outcomes GROUP BY 1 ORDER BY 2 DESC").fetchall()
        if outcomes:
            lines.append("  " + answers_line(outcomes, _reused_answers()))
        top = con.execute("SELECT unit_key, backlog, floor, allocated FROM daily_allocation "
                          "WHERE day = ? ORDER BY allocated DESC, unit_key LIMIT 6", [day]).fetchall()
        if top:
            lines.append("  largest allocations (unit: backlog -> floor + share = allocated):")
            lines += [f"    {u:<46} {_n(b):>7} -> {_n(f):>3} + {_n(a - f):>6} = {_n(a):>6}" for u, b, f, a in top]
        small = con.execute("SELECT count(*) FROM daily_allocation WHERE day = ? AND allocated = backlog "
                            "AND backlog <= floor", [day]).fetchone()[0]
        lines.append(f"  {_n(small)} small units are cleared in full by the floor alone")
        fc = con.execute("""
            SELECT max(clearance_day) FILTER (WHERE province = 'ho_chi_minh' AND sector = 'students'),
                   max(clearance_day), count(*) FILTER (WHERE clearance_day IS NULL)
            FROM forecast""").fetchall()
        if fc and fc[0][1] is not None:
            hcmc, country, never = fc[0]
            lines.append(f"forecast: HCMC students clear by {hcmc or 'today'}; the whole country by {country}"
                         + (f"; {never} units not within the horizon" if never else ""))
        lines.append(f"analyst file: {path}")
        return lines
    finally:
        con.close()


def answers_line(outcomes: list[tuple[str, int]], reused: int | None) -> str:
    """The answers by outcome, reconciled with the checks the quota paid for.

    ``verification_outcomes`` counts rows (one request per matched row); the quota counts checks.
    A row asking exactly what another row asked (the same person, name, birth date and gender: twins
    within a list, a re-sent list) takes that check's answer without spending quota, so rows
    answered = checks + rows that shared an answer (``reused``, from the queue; None if unreadable).
    """
    total = sum(int(n or 0) for _, n in outcomes)
    by_status = ", ".join(f"{s} {_n(n)}" for s, n in outcomes)
    if reused is None:
        return f"verification answers: {_n(total)} rows: {by_status}"
    return (f"verification answers: {_n(total)} rows answered by {_n(total - reused)} checks "
            f"(one check per person; {_n(reused)} rows shared the answer of the same person's check, "
            f"no quota spent): {by_status}")


def _reused_answers() -> int | None:
    """Rows answered from another row's check (counts only), or None when the queue cannot be read."""
    from rules.verify import StoreError, open_queue
    from rules.verify.queue import is_url, queue_location

    where = layout()
    location = queue_location(where.queue_store())
    if not (is_url(location) or where.queue_store().exists()):
        return None
    try:
        return int(open_queue(location).reused_answers())
    except StoreError:
        return None


def _n(value: object) -> str:
    return f"{int(value):,}" if value is not None else "0"
