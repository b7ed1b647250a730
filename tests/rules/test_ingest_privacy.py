"""An upload error never quotes personal data back (it may be printed, logged or stored)."""

from __future__ import annotations

import pytest

from rules.ingest import UploadError, read_upload


def test_no_header_message_masks_the_data_rows_it_quotes(tmp_path):
    path = tmp_path / "ds.csv"
    path.write_text("Nguyễn Văn An,01/02/2010,Nam,079210001234\nTrần Thị Bình,03/04/2011,Nữ,079311004567\n",
                    encoding="utf-8")
    with pytest.raises(UploadError) as info:
        read_upload(path, province="ho_chi_minh", sector="students")
    message = str(info.value)
    assert info.value.code == "no_header" and "ds.csv" in message
    for secret in ("Nguyễn Văn An", "Trần Thị Bình", "01/02/2010", "079210001234", "079311004567"):
        assert secret not in message
    assert "##/##/####" in message  # the uploader still sees the shape of what was found
