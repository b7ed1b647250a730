"""Whether a local process still runs: the one rule behind stale leases, half-built files and runs
left ``STARTED`` by a killed process."""

from __future__ import annotations

import os


def process_alive(pid: int) -> bool:
    """True while process ``pid`` exists on this machine (also when it belongs to another user); False
    for a number no process can have (beyond the platform's pid type, read from a file name)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    return True
