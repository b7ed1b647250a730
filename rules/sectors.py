"""The sectors that send data to doisoat (partition dimension ``sector``)."""

from rules.errors import UserError

SECTORS: tuple[str, ...] = ("students", "vaccinations", "insurance")


class SectorError(UserError, ValueError):
    """A sector typed by the user that is not one of :data:`SECTORS`."""


def check_sector(sector: str) -> str:
    """Return ``sector`` if known, else raise :class:`SectorError` naming the valid sectors."""
    if sector not in SECTORS:
        raise SectorError(f"unknown sector {sector!r}; use one of: {', '.join(SECTORS)}")
    return sector
