"""``python -m rules.lake_schema``: regenerate the lake-table section of docs/contracts.md."""

from pathlib import Path

from rules.lake_schema.markdown import write_contracts

if __name__ == "__main__":
    page = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"
    print(f"{page}: {'updated' if write_contracts(page) else 'already up to date'}")
