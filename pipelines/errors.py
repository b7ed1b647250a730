"""One line for the operator from any error: the real cause, without personal data.

Shared by the step-failure lines of ``pipelines.runner`` (Dagster's serialised errors) and the
command line's last-resort handler (live exceptions). OS errors are reduced to their errno text: the
path may carry an uploader's file name, which may be a pupil's name. Long digit runs (IDs) are
masked; the line is bounded.
"""

from __future__ import annotations

import errno
import re

OS_ERRORS = {"OSError", "IOError", "FileNotFoundError", "PermissionError", "IsADirectoryError",
             "NotADirectoryError", "FileExistsError", "BlockingIOError", "InterruptedError"}
_LONG_DIGITS = re.compile(r"\d{6,}")
MAX_CHARS = 300


def one_line(name: str, message: str) -> str:
    """``Name: first line of the message``, OS errors as ``Name: strerror (ECODE)``."""
    message = (message or "").strip()
    message = re.sub(rf"^(?:[\w.]+\.)?{re.escape(name)}:\s*", "", message)
    if name in OS_ERRORS or name.endswith("OSError"):
        m = re.search(r"\[Errno (\d+)\] ([^:'\"]+)", message)
        text = f"{m.group(2).strip()} ({errno.errorcode.get(int(m.group(1)), 'E?')})" if m else name
        return f"{name}: {text}"
    first = message.splitlines()[0] if message else ""
    first = _LONG_DIGITS.sub(lambda d: d.group(0)[:3] + "*" * (len(d.group(0)) - 3), first)
    if len(first) > MAX_CHARS:
        first = first[: MAX_CHARS - 3] + "..."
    return f"{name}: {first}" if first else name


def describe(exc: BaseException) -> str:
    """:func:`one_line` for a live exception."""
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{type(exc).__name__}: {exc.strerror or ''} ({errno.errorcode.get(exc.errno, 'E?')})"
    return one_line(type(exc).__name__, str(exc))
