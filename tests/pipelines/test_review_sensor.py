"""The review inbox sensor: a filled workbook in inbox/<province>/review/ starts one import run."""

from __future__ import annotations

import hashlib

import dagster as dg


def _tick(cursor=None):
    from pipelines.definitions import build_definitions
    from pipelines.sensors import review_inbox_sensor

    defs = build_definitions()
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"paths": defs.resources["paths"]})
        return review_inbox_sensor(ctx)


def test_a_dropped_workbook_starts_one_import_run_and_never_repeats(data_dir):
    from pipelines.sensors import misplaced_folders

    folder = data_dir / "inbox" / "ho_chi_minh" / "review"
    folder.mkdir(parents=True)
    (folder / "students.xlsx").write_bytes(b"filled workbook v1")
    (folder / "~$students.xlsx").write_bytes(b"excel lock file")  # ignored
    first = _tick()
    assert [r.partition_key for r in first.run_requests] == ["ho_chi_minh"]  # the sensor's job: review_import_job
    # Dagster stores and shows the cursor: a keyed tag of the workbook's content, not its sha256
    assert hashlib.sha256(b"filled workbook v1").hexdigest()[:8] not in first.cursor
    assert _tick(first.cursor).run_requests == []
    (folder / "students.xlsx").write_bytes(b"filled workbook v2")  # filled further and saved again
    again = _tick(first.cursor)
    assert len(again.run_requests) == 1 and again.run_requests[0].run_key != first.run_requests[0].run_key
    assert misplaced_folders(data_dir / "inbox") == []  # review/ is a known folder, not a misplaced sector


def test_review_import_job_is_defined_for_province_partitions(data_dir):
    from pipelines.definitions import build_definitions
    from pipelines.sensors import review_inbox_sensor

    assert review_inbox_sensor.job_name == "review_import_job"
    from assets.partitions import add_province

    job = build_definitions().resolve_job_def("review_import_job")
    with dg.instance_for_test() as instance:
        assert job.partitions_def.get_partition_keys(dynamic_partitions_store=instance) == []  # the installation's own
        add_province(instance, "ho_chi_minh")
        assert job.partitions_def.get_partition_keys(dynamic_partitions_store=instance) == ["ho_chi_minh"]
