"""The queue's location is printed without its password (command summaries, errors)."""

from rules.verify.queue import shown_location


def test_a_queue_url_is_shown_without_its_password() -> None:
    shown = shown_location("postgresql://doisoat:s3cret@db.example:6543/queue")
    assert shown == "postgresql://doisoat@db.example:6543/queue"
    assert "s3cret" not in shown


def test_a_queue_file_is_shown_as_is(tmp_path) -> None:
    assert shown_location(tmp_path / "queue.sqlite") == str(tmp_path / "queue.sqlite")
