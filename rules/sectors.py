"""The sectors that send data to doisoat (partition dimension ``sector``)."""

SECTORS: tuple[str, ...] = ("students", "vaccinations", "insurance")


def check_sector(sector: str) -> str:
    """Return ``sector`` if known, else raise ValueError naming the valid sectors."""
    if sector not in SECTORS:
        raise ValueError(f"unknown sector {sector!r}; use one of: {', '.join(SECTORS)}")
    return sector
