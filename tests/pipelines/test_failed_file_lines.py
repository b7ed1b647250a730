"""`doisoat run` names each failed upload in one line, by its name unless the name holds personal data."""

from __future__ import annotations

from pipelines.summaries import _masked
from rules.ingest.errors import UploadError


def test_failed_files_are_named_as_is_or_by_their_masked_label():
    plain = "DS học sinh lớp 6A.xlsx"
    message = str(UploadError("misnamed_file", file=plain))
    assert _masked(plain, message) == message and "<unit>__<list>.xlsx" in message and "\n" not in message
    pupil = "Phạm Thu Dung 079313000104 13-05-2013.xlsx"  # invented
    shown = _masked(pupil, str(UploadError("misnamed_file", file=pupil)))
    assert "x.xlsx" in shown and not any(s in shown for s in ("079313000104", "13-05-2013", "Dung"))
