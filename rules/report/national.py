"""The report's first screens: the summary of every province reported, the national quota, review learning.

The summary comes first so that the e-mailed page answers "how are we doing" before any detail: one
row per province with its files, rows accepted and rejected, match rate, queues and forecast day.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from rules.report.chart import GREYS, PALETTE, STATUS_COLOURS, Series, stacked_bars
from rules.report.markup import heading, note, pct, table
from rules.report.names import province_name
from rules.report.warehouse import Warehouse

QUOTA_DAYS = 30  # days drawn in the quota chart (the table lists every day)


def _per_province(db: Warehouse, table_name: str, select: str, where: str = "") -> dict[str, tuple]:
    if not db.has(table_name):
        return {}
    rows = db.rows(f"SELECT province, {select} FROM {table_name} {where} GROUP BY province")
    return {r[0]: tuple(r[1:]) for r in rows}


def summary_section(db: Warehouse, provinces: Sequence[str], others: Sequence[str]) -> str:
    """One row per province reported; ``others`` (provinces with national counts only) named in a note."""
    out = [heading(2, "Tóm tắt", "Summary", "summary")]
    uploads = _per_province(db, "uploads", "count(*), sum(rows_read), sum(accepted), sum(rejected)",
                            "WHERE status <> 'superseded'")
    matches = _per_province(db, "match_outcomes", "sum(rows) FILTER (WHERE status = 'matched'), sum(rows)")
    review = _per_province(db, "review_queue_size", "sum(rows_to_review)")
    backlog = _per_province(db, "verification_backlog", "sum(waiting), sum(verified)")
    forecast = _per_province(db, "forecast", "CASE WHEN count(*) FILTER (WHERE clearance_day IS NULL AND backlog > 0)"
                             " > 0 THEN NULL ELSE max(clearance_day) END, sum(backlog)")
    rows = []
    for p in provinces:
        files, read, accepted, rejected = uploads.get(p, (None,) * 4)
        matched, outcomes = matches.get(p, (None, None))
        waiting, verified = backlog.get(p, (None, None))
        clear, left = forecast.get(p, (None, None))
        when = ("–" if left is None else "không còn / none left" if not left
                else str(clear) if clear is not None else "không trong thời hạn / not within horizon")
        rows.append((f"{province_name(p)} ({p})", files, read, accepted, rejected, pct(rejected, read),
                     pct(matched, outcomes), review.get(p, (None,))[0], waiting, verified, when))
    out.append(table([("Tỉnh", "Province"), ("Số tệp", "Files"), ("Dòng đọc", "Rows read"),
                      ("Được nhận", "Accepted"), ("Bị từ chối", "Rejected"), ("Tỷ lệ từ chối", "Rejected share"),
                      ("Tỷ lệ khớp", "Matched share"), ("Chờ rà soát", "Review queue"),
                      ("Chờ xác thực", "Verification waiting"), ("Đã xác thực", "Verified"),
                      ("Dự báo hết tồn đọng", "Forecast clearance")], rows))
    links = " ".join(f'<a href="#p-{html.escape(p, quote=True)}">{html.escape(province_name(p))}</a>'
                     for p in provinces)
    if links:
        out.append(f"<nav>{links}</nav>")
    if others:
        out.append(note(f"{len(others)} tỉnh khác chỉ có số liệu phân bổ và dự báo quốc gia; thêm "
                        "--all-provinces để xem từng tỉnh.",
                        f"{len(others)} other provinces have national allocation and forecast counts only; "
                        "add --all-provinces to show each of them."))
    return "".join(out)


def quota_section(db: Warehouse) -> str:
    """The national quota per day: answered, allocated but not answered (with why), and quota not needed.

    ``unused`` in the warehouse is the part of the day's allocation that got no answer (outage, rate
    limit), so the segments (with other provinces' share) add up to the quota.
    """
    out = [heading(2, "Hạn mức xác thực quốc gia", "National verification quota", "national")]
    if not db.has("quota_usage"):
        return "".join(out)
    elsewhere = "coalesce(allocated_elsewhere, 0)" if db.has_column("quota_usage", "allocated_elsewhere") else "0"
    rows = db.rows(f"""
        SELECT day, quota, allocated, coalesce(unused, 0), coalesce(stop_cause, ''),
               greatest(coalesce(allocated, 0) - coalesce(unused, 0), 0) AS answered,
               greatest(coalesce(quota, 0) - coalesce(allocated, 0) - {elsewhere}, 0) AS headroom,
               {elsewhere} AS elsewhere
        FROM quota_usage ORDER BY day""")
    if rows:
        recent = rows[-QUOTA_DAYS:]
        out.append(stacked_bars(
            "quota", "Sử dụng hạn mức theo ngày / Quota use per day", [str(r[0]) for r in recent],
            [Series("đã gửi và trả lời / answered", [r[5] for r in recent], PALETTE[0]),
             Series("phân bổ, chưa trả lời / allocated, no answer", [r[3] for r in recent],
                    STATUS_COLOURS["rejected"]),
             Series("tỉnh khác / other provinces", [r[7] for r in recent], GREYS[0]),
             Series("không cần dùng / not needed", [r[6] for r in recent], GREYS[1])]))
    out.append(table([("Ngày", "Day"), ("Hạn mức", "Quota"), ("Đã phân bổ", "Allocated"),
                      ("Phân bổ chưa trả lời", "Allocated, no answer"), ("Lý do", "Stop cause"),
                      ("Tỷ lệ dùng", "Share of quota")],
                     [(*r[:5], pct(r[2], r[1])) for r in reversed(rows)]))
    return "".join(out)


def review_learning_section(db: Warehouse) -> str:
    """What reviewed pairs say about the matcher (national aggregates; rules.review.labels)."""
    if not db.has("review_label_levels", "review_precision", "review_threshold_whatif"):
        return ""
    out = [heading(2, "Rà soát dạy bộ đối chiếu", "What clerical review teaches the matcher", "review")]
    prec = db.rows("SELECT band_low, band_high, reviewed, best_confirmed, precision, ci_low, ci_high, "
                   "model_expected FROM review_precision")
    out.append(heading(3, "Độ chính xác gần ngưỡng", "Measured precision near the threshold"))
    out.append(table([("Từ điểm", "Band from"), ("Đến", "to"), ("Đã rà soát", "Reviewed"),
                      ("Ứng viên đầu đúng", "Best confirmed"), ("Độ chính xác", "Precision"),
                      ("KTC 95% thấp", "CI low"),
                      ("KTC 95% cao", "CI high"), ("Mô hình dự kiến", "Model expected")],
                     [r for r in prec if r[2]], numeric_from=0))
    out.append(heading(3, "Nếu hạ ngưỡng", "What-if: a lower match threshold"))
    out.append(table([("Ngưỡng", "Threshold"), ("Khớp thêm", "Extra matches"), ("Dự kiến sai", "Expected wrong"),
                      ("Tỷ lệ sai", "Error rate"), ("Phần đo được", "Measured share")],
                     db.rows("SELECT * FROM review_threshold_whatif ORDER BY threshold DESC"), numeric_from=0))
    out.append(heading(3, "Xác suất m theo mức (đã gán nhãn)", "m per comparison level, blended with labels"))
    out.append(table([("So sánh", "Comparison"), ("Mức", "Level"), ("m ước lượng", "m (unsupervised)"),
                      ("Nhãn", "Labelled"), ("Ở mức này", "At level"), ("m nhãn", "m (labels)"),
                      ("m kết hợp", "m (blended)")],
                     db.rows("SELECT comparison, level, m_em, n_lab, n_level, m_lab, m_blended FROM "
                             "review_label_levels WHERE n_lab > 0 ORDER BY comparison, level"), numeric_from=2))
    return "".join(out)


def intro(generated: str, source_name: str) -> str:
    return (heading(1, "Báo cáo đối soát dữ liệu chuyên ngành", "Sector data reconciliation report")
            + note(f"Tạo lúc {generated} từ {source_name}. Chỉ số liệu tổng hợp, không có họ tên, số định danh "
                   "hay ngày sinh.",
                   "Generated from the analyst warehouse: aggregates only, no names, ID numbers or birth dates."))
