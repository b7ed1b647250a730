"""The sections of one province: uploads, rejections, data quality, matching, review, verification, quota.

Each section is a function ``(Warehouse, province slug) -> HTML`` paired with the table it needs, so a
warehouse built before a table existed simply leaves that section out. Counts of very different sizes
(accepted vs rejected rows, matched vs ambiguous) are drawn as panels with their own scales and printed
values (:func:`rules.report.chart.panel_bars`), so a handful of rejected rows beside 60,000 accepted
ones is visible; every chart has the table with the exact figures under it.
"""

from __future__ import annotations

from collections.abc import Callable

from rules.report.burn_down import forecast_section
from rules.report.chart import STATUS_COLOURS, Series, panel_bars
from rules.report.markup import details, fmt, heading, pct, table
from rules.report.names import province_name
from rules.report.warehouse import Warehouse

MATCH_STATUSES = ("matched", "ambiguous", "unmatched", "rejected")
MATCH_NAMES = {"matched": "khớp / matched", "ambiguous": "chưa rõ / ambiguous",
               "unmatched": "không khớp / unmatched", "rejected": "bị từ chối / rejected"}


def uploads(db: Warehouse, p: str) -> str:
    out = [heading(3, "Tệp tải lên", "Uploads")]
    totals = db.rows("""
        SELECT sector, count(*), sum(rows_read), sum(accepted), sum(rejected),
               count(*) FILTER (WHERE status = 'failed')
        FROM uploads WHERE province = ? AND status <> 'superseded' GROUP BY sector ORDER BY sector""", [p])
    if totals:
        out.append(panel_bars(
            f"uploads-{p}", "Dòng được nhận và bị từ chối / Rows accepted and rejected", [str(r[0]) for r in totals],
            [Series("được nhận / accepted", [r[3] or 0 for r in totals], STATUS_COLOURS["accepted"]),
             Series("bị từ chối / rejected", [r[4] or 0 for r in totals], STATUS_COLOURS["rejected"])]))
    out.append(table([("Lĩnh vực", "Sector"), ("Số tệp", "Files"), ("Dòng đọc", "Rows read"),
                      ("Được nhận", "Accepted"), ("Bị từ chối", "Rejected"), ("Tệp lỗi", "Failed files")],
                     totals))
    if db.has_column("uploads", "file_label"):
        files = db.rows("""
            SELECT sector, unit, file_label || ' (' || coalesce(file_id, '-') || ')', status, rows_read, accepted,
                   rejected, coalesce(error_code, '')
            FROM uploads WHERE province = ? ORDER BY sector, unit, file_label, file_id""", [p])
    else:  # a file built before names were masked: mask them here (rules.ingest.inbox owns the rule)
        from rules.ingest.inbox import public_label

        files = [(r[0], r[1], public_label(r[2] or ""), *r[3:]) for r in db.rows("""
            SELECT sector, unit, file_name, status, rows_read, accepted, rejected, coalesce(error_code, '')
            FROM uploads WHERE province = ? ORDER BY sector, unit, file_name""", [p])]
    out.append(details("Từng tệp", "Per file", len(files), table(
        [("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Tệp", "File"), ("Trạng thái", "Status"),
         ("Dòng đọc", "Rows read"), ("Được nhận", "Accepted"), ("Bị từ chối", "Rejected"),
         ("Mã lỗi", "Error code")], files, numeric_from=4)))
    return "".join(out)


def rejections(db: Warehouse, p: str) -> str:
    """Rows rejected per reason code, with that code's own message.

    A row rejected for several reasons carries joined messages ("… ; …") and the warehouse splits only
    the codes, so the text comes from ``rules/reasons.yaml`` (the validator's source); for a code not in
    it, the warehouse message is shown only when it is not a joined one.
    """
    from rules.validate import reasons, sector_dependent_codes

    # most messages are shared by all sectors (overrides change only `reject`); a message stating a
    # sector's bound (e.g. its plausible age) is shown once per sector, labelled with it
    per_sector = sorted(sector_dependent_codes())
    found = db.rows("""
        SELECT reason_code, CASE WHEN list_contains(?, reason_code) THEN sector END AS by_sector,
               any_value(message_vi), any_value(message_en), sum(rows) AS n, count(DISTINCT unit)
        FROM rejections WHERE province = ? GROUP BY reason_code, by_sector
        ORDER BY n DESC, reason_code, by_sector""", [per_sector, p])
    rows = []
    for code, sector, vi, en, n, units in found:
        known = reasons(sector or "students")
        label = f"{code} ({sector})" if sector else code
        rows.append((label, known[code].vi, known[code].en, n, units) if code in known
                    else (label, _single(vi), _single(en), n, units))
    body = table([("Mã lý do", "Reason code"), ("Thông báo", "Message (Vietnamese)"),
                  ("Message", "English"), ("Số dòng", "Rows"), ("Số đơn vị", "Units")], rows, numeric_from=3)
    return heading(3, "Lý do từ chối", "Rejections by reason") + body


def _single(message: str | None) -> str:
    return "" if message is None or " ; " in message else message


def data_quality(db: Warehouse, p: str) -> str:
    rows = db.rows("""
        SELECT sector, unit, accepted_rows, missing_id, old_cmnd_only, id_leading_zero_restored,
               id_structure_warnings, dob_not_full, dob_flagged, names_repaired
        FROM data_quality WHERE province = ? ORDER BY sector, unit""", [p])
    return heading(3, "Chất lượng dữ liệu theo đơn vị", "Data quality per unit") + details(
        "Từng đơn vị", "Per unit", len(rows), table(
            [("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Dòng nhận", "Accepted rows"),
             ("Thiếu số định danh", "Missing ID"),
             ("Chỉ có CMND", "Old CMND only"), ("Khôi phục số 0 đầu", "Leading zero restored"),
             ("Cảnh báo cấu trúc số", "ID structure warnings"), ("Ngày sinh không đủ", "Birth date not full"),
             ("Ngày sinh bất thường", "Date problems"), ("Tên được sửa", "Names repaired")], rows, numeric_from=2))


def matching(db: Warehouse, p: str) -> str:
    out = [heading(3, "Kết quả đối chiếu theo lĩnh vực", "Match outcomes per sector")]
    cols = ", ".join(f"coalesce(sum(rows) FILTER (WHERE status = '{s}'), 0)" for s in MATCH_STATUSES)
    rows = db.rows(f"SELECT sector, {cols}, sum(rows) FROM match_outcomes WHERE province = ? "
                   "GROUP BY sector ORDER BY sector", [p])
    if rows:
        out.append(panel_bars(f"matches-{p}", "Kết quả đối chiếu / Match outcomes", [str(r[0]) for r in rows],
                              [Series(MATCH_NAMES[s], [r[1 + k] for r in rows], STATUS_COLOURS[s])
                               for k, s in enumerate(MATCH_STATUSES)]))
    out.append(table([("Lĩnh vực", "Sector"), ("Khớp", "Matched"), ("Chưa rõ", "Ambiguous"),
                      ("Không khớp", "Unmatched"), ("Bị từ chối", "Rejected"), ("Tổng", "Total")],
                     rows))
    if db.has("match_flags"):
        flags = db.rows("SELECT sector, flag, sum(rows) AS n FROM match_flags WHERE province = ? "
                        "GROUP BY ALL ORDER BY sector, n DESC, flag", [p])
        out.append(heading(4, "Cờ đối chiếu", "Match flags (e.g. id_corrected)"))
        out.append(table([("Lĩnh vực", "Sector"), ("Cờ", "Flag"), ("Số dòng", "Rows")], flags,
                         numeric_from=2))
    return "".join(out)


def review(db: Warehouse, p: str) -> str:
    rows = db.rows("""
        SELECT sector, unit, rows_to_review, candidates FROM review_queue_size WHERE province = ?
        ORDER BY rows_to_review DESC, sector, unit""", [p])
    total = sum(int(r[2] or 0) for r in rows)
    lead = (f'<p class="kpi">{fmt(total)} dòng chờ rà soát thủ công '
            f"<small>rows waiting for clerical review</small></p>")
    return heading(3, "Hàng chờ rà soát", "Review queue") + lead + details("Từng đơn vị", "Per unit", len(rows), table(
        [("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Dòng cần rà soát", "Rows to review"),
         ("Ứng viên", "Candidates")], rows, numeric_from=2))


def review_backlog(db: Warehouse, p: str) -> str:
    """Clerical review per unit: waiting, decided, throughput (aggregates from ``review_backlog``)."""
    rows = db.rows("""
        SELECT sector, unit, waiting, matched_by_review, rejected_by_review, not_sure, decisions,
               decisions_per_review_day FROM review_backlog WHERE province = ? ORDER BY waiting DESC, sector, unit""",
                   [p])
    return heading(4, "Rà soát thủ công: tồn và tiến độ", "Clerical review: backlog and throughput") + details(
        "Từng đơn vị", "Per unit", len(rows), table(
            [("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Chờ rà soát", "Waiting"),
             ("Khớp sau rà soát", "Matched"), ("Không ai đúng", "Rejected"), ("Chưa chắc", "Not sure"),
             ("Quyết định", "Decisions"), ("Quyết định/ngày", "Per review day")], rows, numeric_from=2))


def verification_backlog(db: Warehouse, p: str) -> str:
    rows = db.rows("""
        SELECT sector, unit, waiting, in_flight, verified, mismatch, not_found, requests
        FROM verification_backlog WHERE province = ? ORDER BY waiting DESC, sector, unit""", [p])
    per_sector = db.rows("""
        SELECT sector, sum(waiting), sum(in_flight), sum(verified), sum(mismatch), sum(not_found), sum(requests)
        FROM verification_backlog WHERE province = ? GROUP BY sector ORDER BY sector""", [p])
    headers = [("Đang chờ", "Waiting"), ("Đang gửi", "In flight"), ("Đã xác thực", "Verified"),
               ("Sai lệch", "Mismatch"), ("Không tìm thấy", "Not found"), ("Tổng yêu cầu", "Requests")]
    return (heading(3, "Tồn đọng xác thực", "Verification backlog")
            + table([("Lĩnh vực", "Sector"), *headers], per_sector)
            + details("Từng đơn vị", "Per unit", len(rows),
                      table([("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), *headers], rows, numeric_from=2)))


def allocation(db: Warehouse, p: str) -> str:
    out = [heading(3, "Phân bổ hằng ngày và sử dụng hạn mức", "Daily allocation and quota usage")]
    quota_join = ("LEFT JOIN quota_usage q USING (day)" if db.has("quota_usage") else
                  "LEFT JOIN (SELECT NULL::VARCHAR AS day, NULL::BIGINT AS quota) q USING (day)")
    days = db.rows(f"""
        SELECT day, count(*), sum(a.backlog), sum(a.floor), sum(a.allocated), any_value(q.quota)
        FROM daily_allocation a {quota_join}
        WHERE split_part(unit_key, '/', 1) = ? GROUP BY day ORDER BY day""", [p])
    out.append(table([("Ngày", "Day"), ("Số đơn vị", "Units"), ("Tồn đọng", "Backlog"), ("Phần sàn", "Floor"),
                      ("Được phân bổ", "Allocated"), ("Hạn mức quốc gia", "National quota"),
                      ("Tỷ lệ hạn mức", "Share of quota")],
                     [(*r, pct(r[4], r[5])) for r in reversed(days)]))
    if days:
        last = days[-1][0]
        units = db.rows("""
            SELECT split_part(unit_key, '/', 2) AS sector, split_part(unit_key, '/', 3) AS unit,
                   backlog, floor, allocated FROM daily_allocation
            WHERE split_part(unit_key, '/', 1) = ? AND day = ?
            ORDER BY allocated DESC, unit_key""", [p, last])
        out.append(details(f"Phân bổ theo đơn vị ngày {last}", f"Allocation per unit on {last}", len(units),
                           table([("Lĩnh vực", "Sector"), ("Đơn vị", "Unit"), ("Tồn đọng", "Backlog"),
                                  ("Phần sàn", "Floor"), ("Được phân bổ", "Allocated")], units, numeric_from=2)))
    return "".join(out)


SECTIONS: tuple[tuple[str, Callable[[Warehouse, str], str]], ...] = (
    ("uploads", uploads), ("rejections", rejections), ("data_quality", data_quality),
    ("match_outcomes", matching), ("review_queue_size", review), ("review_backlog", review_backlog),
    ("verification_backlog", verification_backlog), ("daily_allocation", allocation),
    ("forecast", forecast_section),
)


def province_section(db: Warehouse, p: str) -> str:
    """Every section of province ``p`` whose table is in the file, under the province's name."""
    out = [f'<section class="province">{heading(2, province_name(p), p, f"p-{p}")}']
    out += [render(db, p) for needs, render in SECTIONS if db.has(needs)]
    out.append('<p class="note"><a href="#summary">↑ Tóm tắt <small>Summary</small></a></p></section>')
    return "".join(out)
