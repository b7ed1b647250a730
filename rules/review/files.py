"""Owner-only files: review workbooks and the decision ledger hold personal data (Decree 13/2023).

The rule has one owner, :mod:`rules.private` (folders 0700 and files 0600 from the first byte,
written under a hidden temporary name and renamed into place); these are its names in this package.
"""

from __future__ import annotations

from rules.private import private_dir, private_file
from rules.private import write_private_bytes as write_private

__all__ = ["private_dir", "private_file", "write_private"]
