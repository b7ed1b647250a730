"""Sector file ingestion: read (xlsx/csv) -> header detection and mapping -> raw records.

Public API (Dagster-free): ``read_upload``, ``process_upload``, ``write_error_report``,
``supersede``, ``Upload``, ``UploadResult``, ``UploadError``.
"""

from rules.ingest.errors import UploadError
from rules.ingest.upload import LINEAGE_COLUMNS, Upload, read_upload

__all__ = ["LINEAGE_COLUMNS", "Upload", "UploadError", "read_upload"]
