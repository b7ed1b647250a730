"""The inbox sensor and the schedules, evaluated with Dagster's test contexts."""

from __future__ import annotations

import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
from hypothesis import given
from hypothesis import strategies as st


def _sensor_tick(data_dir, cursor=None):
    from pipelines.definitions import build_definitions
    from pipelines.sensors import inbox_sensor

    defs = build_definitions()
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"paths": defs.resources["paths"]})
        return inbox_sensor(ctx)


def test_inbox_sensor_requests_one_run_per_new_upload_and_never_repeats(data_dir):
    inbox = data_dir / "inbox" / "ho_chi_minh" / "students"
    inbox.mkdir(parents=True)
    (inbox / "thpt_a__ds.csv").write_text("Họ và tên,Ngày sinh\nA,01/01/2010\n", encoding="utf-8")
    (inbox / "~$lock.xlsx").write_bytes(b"excel lock file")  # ignored
    (inbox / ".hidden.csv").write_bytes(b"x")  # ignored

    first = _sensor_tick(data_dir)
    assert len(first.run_requests) == 1
    request = first.run_requests[0]
    assert request.partition_key == "ho_chi_minh|students"
    assert request.run_key.startswith("ho_chi_minh|students|")

    again = _sensor_tick(data_dir, cursor=first.cursor)
    assert again.run_requests == []
    assert again.skip_reason is not None

    # A corrected file (new content) runs again, with a new run key.
    (inbox / "thpt_a__ds.csv").write_text("Họ và tên,Ngày sinh\nB,02/02/2010\n", encoding="utf-8")
    corrected = _sensor_tick(data_dir, cursor=first.cursor)
    assert len(corrected.run_requests) == 1
    assert corrected.run_requests[0].run_key != request.run_key
    (key,) = json.loads(corrected.cursor)  # masked label + 8 hex digits of the name, never the name itself
    assert re.fullmatch(r"ho_chi_minh/students/thpt_a__ds\.csv#[0-9a-f]{8}", key)


def test_the_run_key_is_a_keyed_pseudonym_of_the_contents_the_same_on_every_tick(data_dir, monkeypatch):
    """Dagster stores and shows run keys: whoever holds an upload can hash it, so the key must not be a
    plain hash of its sha256; it must stay the same from tick to tick, or a file dropped again runs again."""
    import hashlib

    inbox = data_dir / "inbox" / "ho_chi_minh" / "students"
    inbox.mkdir(parents=True)
    body = "Họ và tên,Ngày sinh\nA,01/01/2010\n".encode()
    (inbox / "thpt_a__ds.csv").write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()

    (first,) = _sensor_tick(data_dir).run_requests
    (second,) = _sensor_tick(data_dir).run_requests  # no cursor: the file is seen anew, as after a reset
    assert first.run_key == second.run_key  # so Dagster de-duplicates the second request
    tag = first.run_key.rsplit("|", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{16}", tag)
    assert tag not in hashlib.sha256(digest.encode()).hexdigest() and tag not in digest
    monkeypatch.setenv("DOISOAT_PSEUDONYM_KEY", "another deployment's key, long enough: 0123456789")
    (elsewhere,) = _sensor_tick(data_dir).run_requests
    assert elsewhere.run_key != first.run_key  # the key decides: without it the tag cannot be computed


def _touch(path, seconds=1):
    """A new modification time, content unchanged (an uploader's copy tool saving the same bytes again)."""
    import os

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + seconds * 1_000_000_000))


def test_the_cursor_holds_keyed_content_tags_and_still_tells_changed_files_from_seen_ones(data_dir):
    """Dagster stores and shows cursors: a plain sha256 of an upload there lets anyone holding the file
    find that it was uploaded. The tags that replace it must still skip a file seen before (also when
    it is hashed again after a new modification time) and run a changed one, from the cursor read back."""
    import hashlib

    inbox = data_dir / "inbox" / "ho_chi_minh" / "students"
    inbox.mkdir(parents=True)
    path = inbox / "thpt_a__ds.csv"
    body = "Họ và tên,Ngày sinh\nA,01/01/2010\n".encode()
    path.write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()

    first = _sensor_tick(data_dir)
    assert len(first.run_requests) == 1
    assert digest[:8] not in first.cursor  # not the digest, nor any part of it worth searching for
    (entry,) = json.loads(first.cursor).values()
    assert re.fullmatch(r"[0-9a-f]{32}", entry[2])

    _touch(path)  # hashed again on the next tick: same content, same tag, no run
    again = _sensor_tick(data_dir, cursor=first.cursor)
    assert again.run_requests == [] and json.loads(again.cursor) != json.loads(first.cursor)
    assert _sensor_tick(data_dir, cursor=again.cursor).run_requests == []

    changed = "Họ và tên,Ngày sinh\nB,02/02/2010\n".encode()
    path.write_bytes(changed)
    corrected = _sensor_tick(data_dir, cursor=again.cursor)
    assert len(corrected.run_requests) == 1
    assert hashlib.sha256(changed).hexdigest()[:8] not in corrected.cursor
    assert _sensor_tick(data_dir, cursor=corrected.cursor).run_requests == []


def test_a_cursor_of_plain_digests_is_taken_over_without_running_its_files_again(data_dir):
    """The previous version kept each file's sha256 in the cursor. Read back, its files are known (no
    run, even when hashed again after a new modification time), a file changed since runs, and the next
    cursor holds tags only."""
    import hashlib

    from rules.ingest.inbox import name_key

    inbox = data_dir / "inbox" / "ho_chi_minh" / "students"
    inbox.mkdir(parents=True)
    bodies = {f"thpt_{i}__ds.csv": f"Họ và tên,Ngày sinh\nA{i},01/01/2010\n".encode() for i in range(3)}
    old = {}
    for name, body in bodies.items():
        (inbox / name).write_bytes(body)
        stat = (inbox / name).stat()
        old[f"ho_chi_minh/students/{name_key(name)}"] = [stat.st_mtime_ns, stat.st_size,
                                                           hashlib.sha256(body).hexdigest()]
    _touch(inbox / "thpt_1__ds.csv")
    (inbox / "thpt_2__ds.csv").write_bytes("Họ và tên,Ngày sinh\nC,03/03/2010\n".encode())

    tick = _sensor_tick(data_dir, cursor=json.dumps(old))
    assert [r.tags["upload_files"] for r in tick.run_requests] == ["1"]  # thpt_2 only
    assert not any(entry[2] in tick.cursor for entry in old.values())
    assert all(re.fullmatch(r"[0-9a-f]{32}", e[2]) for e in json.loads(tick.cursor).values())
    assert _sensor_tick(data_dir, cursor=tick.cursor).run_requests == []


def test_a_damaged_cursor_does_not_stop_the_sensor(data_dir):
    """A cursor that is not the sensor's state (cut short, hand-edited) costs at most a re-hash."""
    inbox = data_dir / "inbox" / "ho_chi_minh" / "students"
    inbox.mkdir(parents=True)
    (inbox / "thpt_a__ds.csv").write_text("Họ và tên,Ngày sinh\nA,01/01/2010\n", encoding="utf-8")
    for cursor in ['{"ho_chi_minh/students/x', "[1, 2]", '{"k": [1, "two", 3], "j": null, "i": [1, 2]}', "7"]:
        tick = _sensor_tick(data_dir, cursor=cursor)
        assert len(tick.run_requests) == 1  # the file is new to it, and nothing ingested it yet


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c, max_size=4))
# entries as the sensor writes them, old (plain sha256) and new (tag), among damaged ones
_ENTRY = st.tuples(st.integers(), st.integers(0), st.text("0123456789abcdef", min_size=64, max_size=64)
                   | st.text("0123456789abcdef", min_size=32, max_size=32)).map(list)


@given(st.text() | st.dictionaries(st.text(), _ENTRY | _JSON).map(json.dumps) | _JSON.map(json.dumps))
def test_any_cursor_text_reads_as_a_state_without_plain_digests(text):
    """Whatever Dagster hands back as the cursor, the sensor gets a state, and no plain digest survives
    into the cursor it writes next."""
    from pipelines.sensors import read_cursor

    state = read_cursor(text)
    assert isinstance(state, dict)
    for entry in state.values():
        assert len(entry) == 3 and not re.fullmatch(r"[0-9a-f]{64}", entry[2])


def test_misplaced_inbox_folders_are_named(data_dir):
    from pipelines.sensors import misplaced_folders

    (data_dir / "inbox" / "HCM" / "students").mkdir(parents=True)
    (data_dir / "inbox" / "ho_chi_minh" / "hoc_sinh").mkdir(parents=True)
    (data_dir / "inbox" / "ho_chi_minh" / "students").mkdir(parents=True)
    (data_dir / "inbox" / "ho_chi_minh" / "Phạm Thu Dung 13-05-2013").mkdir()  # invented pupil
    # named for the sensor's log (stored by Dagster) by their masked labels (rules.ingest.inbox.public_label)
    assert misplaced_folders(data_dir / "inbox") == ["hcm", "ho_chi_minh/hoc_sinh", "ho_chi_minh/x"]
    assert _sensor_tick(data_dir).run_requests == []


def test_province_schedules_are_off_by_default_and_request_every_sector(data_dir):
    from pipelines.definitions import build_definitions
    from rules.sectors import SECTORS

    defs = build_definitions()
    from assets.partitions import add_province

    schedule = defs.resolve_schedule_def("nightly_ho_chi_minh")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    when = datetime(2026, 11, 23, 1, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                        repository_def=defs.get_repository_def())
        skipped = schedule.evaluate_tick(ctx)  # a province this installation never processed
        assert not skipped.run_requests and "not processed by this installation" in skipped.skip_message
        add_province(instance, "ho_chi_minh")
        requests = schedule.evaluate_tick(ctx).run_requests
    assert sorted(r.partition_key for r in requests) == sorted(f"ho_chi_minh|{s}" for s in SECTORS)
    assert all(r.run_key.endswith("2026-11-23") for r in requests)


def test_national_schedule_spends_the_quota_of_the_vietnamese_day_it_runs_in(data_dir):
    from pipelines.definitions import build_definitions

    defs = build_definitions()
    schedule = defs.resolve_schedule_def("national_verification_daily")
    # 03:00 on 23 Nov in Hanoi is still 22 Nov in UTC: the partition must follow Vietnamese time.
    when = datetime(2026, 11, 23, 3, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    with dg.instance_for_test() as instance:
        ctx = dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                        repository_def=defs.get_repository_def())
        requests = schedule.evaluate_tick(ctx).run_requests
        days = instance.get_dynamic_partitions("day")
    assert [r.partition_key for r in requests] == ["2026-11-23"]
    assert days == ["2026-11-23"]  # the installation's first day: no 300 "missing" days before it


def test_files_a_run_already_ingested_start_nothing_and_run_keys_stay_short(data_dir):
    """After `doisoat demo` (or `run`) the sensor's first tick has no cursor: it must not ingest again."""
    import hashlib

    import polars as pl

    inbox = data_dir / "inbox" / "ho_chi_minh" / "students"
    inbox.mkdir(parents=True)
    contents = {f"thpt_{i}__ds.csv": f"Họ và tên,Ngày sinh\nA{i},01/01/2010\n".encode() for i in range(60)}
    for name, body in contents.items():
        (inbox / name).write_bytes(body)
    fresh = _sensor_tick(data_dir)
    assert len(fresh.run_requests) == 1 and len(fresh.run_requests[0].run_key) <= 64  # was 60 hashes long
    assert [r.partition_keys for r in fresh.dynamic_partitions_requests] == [["ho_chi_minh"]]

    # A run ingested every file: the lake's uploads table holds their hashes.
    lake = data_dir / "lake" / "uploads" / "ho_chi_minh"
    lake.mkdir(parents=True)
    pl.DataFrame({"file_sha256": [hashlib.sha256(b).hexdigest() for b in contents.values()]}).write_parquet(
        lake / "students.parquet")
    after_run = _sensor_tick(data_dir)
    assert after_run.run_requests == [] and "no new uploads" in after_run.skip_reason.skip_message

    # One corrected file: one run, for that partition, keyed by the new content only.
    (inbox / "thpt_7__ds.csv").write_bytes("Họ và tên,Ngày sinh\nA7,02/02/2010\n".encode())
    corrected = _sensor_tick(data_dir, cursor=after_run.cursor)
    assert [r.partition_key for r in corrected.run_requests] == ["ho_chi_minh|students"]
    assert corrected.run_requests[0].tags["upload_files"] == "1"


def test_days_run_from_the_installations_first_day_in_order_without_gaps():
    from datetime import date

    from assets.partitions import add_days

    with dg.instance_for_test() as instance:
        assert add_days(instance, date(2026, 11, 20)) == ["2026-11-20"]
        assert add_days(instance, date(2026, 11, 22)) == ["2026-11-21", "2026-11-22"]  # the gap shows as missing
        assert add_days(instance, date(2026, 11, 21)) == []
        assert add_days(instance, date(2026, 11, 18)) == ["2026-11-18", "2026-11-19"]  # earlier than the first
        assert instance.get_dynamic_partitions("day") == [f"2026-11-{d}" for d in range(18, 23)]
