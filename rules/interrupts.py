"""Stopping a long run cleanly on SIGTERM / SIGINT.

Why this exists: Python runs signal handlers only between bytecodes, and a long SQLite statement
runs in C, so without help a ``kill`` (the scheduler's timeout, an operator's Ctrl-C) waits until the
statement ends: the issue-11 queue took more than 18 minutes with SIGTERM "ignored". Two pieces fix
it:

- :func:`install` (called at our entry points) makes SIGTERM behave like Ctrl-C: the first signal
  records itself (:func:`stop_requested`) and raises :class:`KeyboardInterrupt` in the main thread;
  a second signal of the same kind ends the process at once (the operator insists).
- :func:`watch` (called on every queue connection) sets an SQLite progress handler. It runs a little
  Python every few thousand VM steps, which lets the pending signal handler run *during* the
  statement; once a stop is requested it returns non-zero, SQLite aborts the statement and rolls
  its transaction back, and the store raises :class:`Interrupted`. The queue is therefore exactly
  as it was after the last committed step.

Cleanup that must finish (returning a batch's requests to waiting) runs inside :func:`shielded`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from types import FrameType

# SQLite VM instructions between two checks: ~1 ms of work, so a stop is seen within milliseconds.
PROGRESS_STEPS = 20_000

_stop = threading.Event()
_signal_name: list[str] = []
_shield = threading.local()
_wakeup: list[int] = []  # read end of the pipe the C-level handler writes signal numbers to


class Interrupted(RuntimeError):
    """A stop was requested (SIGTERM/SIGINT) and the current step was rolled back."""

    def __init__(self, what: str = "the run") -> None:
        sig = signal_name() or "a stop request"
        super().__init__(
            f"{what} stopped by {sig}; the step in progress was rolled back and every committed "
            "step is kept: run the same command again to resume"
        )


def stop_requested() -> bool:
    """True once SIGTERM/SIGINT was received by a process that called :func:`install`."""
    return _stop.is_set()


def _drain() -> None:
    """Learn which signals arrived, whoever's Python handler ran (Dagster swaps in its own handler
    for SIGTERM and SIGINT while a step runs; the wake-up pipe still records the number)."""
    if not _wakeup:
        return
    try:
        data = os.read(_wakeup[0], 64)
    except (BlockingIOError, OSError):
        return
    for number in data:
        with contextlib.suppress(ValueError):
            name = signal.Signals(number).name
            if name in ("SIGTERM", "SIGINT") and name not in _signal_name:
                _signal_name.append(name)


def signal_name() -> str | None:
    _drain()
    named = [n for n in _signal_name if n.startswith("SIG")]
    return named[-1] if named else (_signal_name[-1] if _signal_name else None)


def request_stop(name: str = "a stop request") -> None:
    """Ask every watched statement to stop (what the signal handler does; tests may call it)."""
    _signal_name.append(name)
    _stop.set()


def reset() -> None:
    """Forget a stop request (tests, or a long-lived process that handled it)."""
    _stop.clear()
    _signal_name.clear()


def exit_code() -> int:
    """The conventional exit status of the signal that stopped us (128 + signal number)."""
    _drain()
    return 128 + (signal.SIGTERM if "SIGTERM" in _signal_name else signal.SIGINT)


def _handler(signum: int, frame: FrameType | None) -> None:
    name = signal.Signals(signum).name
    if _stop.is_set() and name in _signal_name:
        # Asked twice: stop now. The queue is a WAL database: an unfinished transaction is rolled back.
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    request_stop(name)
    raise KeyboardInterrupt(name)


def install() -> None:
    """Route SIGTERM and SIGINT to :func:`_handler` (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _handler)
    if not _wakeup:
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(w, warn_on_full_buffer=False)
            _wakeup.append(r)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Let short cleanup statements finish even after a stop was requested."""
    depth = getattr(_shield, "depth", 0)
    _shield.depth = depth + 1
    try:
        yield
    finally:
        _shield.depth = depth


def _progress() -> int:
    # Merely running this function lets Python deliver a pending signal; the handler then raises,
    # which SQLite also treats as "abort the statement".
    return 1 if _stop.is_set() and not getattr(_shield, "depth", 0) else 0


def watch(con: sqlite3.Connection) -> sqlite3.Connection:
    """Make ``con``'s statements abort promptly once a stop is requested."""
    con.set_progress_handler(_progress, PROGRESS_STEPS)
    return con


def is_interrupt(exc: BaseException) -> bool:
    """Whether an SQLite error is the abort caused by :func:`watch`.

    Also true when another library's signal handler (Dagster swaps in its own while a step runs)
    raised inside the progress handler: the stop is then recorded here too, so the command line
    still ends with the interrupt's message and exit status.
    """
    hit = isinstance(exc, sqlite3.OperationalError) and "interrupted" in str(exc)
    if hit and not _stop.is_set():
        request_stop("a signal")
    return hit
