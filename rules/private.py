"""Owner-only files and folders for personal data (Decree 13/2023: data at rest is protected).

The one owner of "make a private folder / write a private file": the queue, the lake, the national
outputs, the register copies, the inbox, error reports, the operators' audit log and Dagster's
compute logs all hold names, IDs or birth dates, so their folders are ``0700`` and their files
``0600`` whatever the process umask is. The entry points also set a ``0o077`` umask
(:func:`restrict_umask`) as a second line of defence for files written by libraries we do not
control (Dagster's logs, DuckDB's WAL), but the modes here never depend on it.

Files are created owner-only *before* any byte is written (``os.open(..., 0o600)``), so there is no
window in which another local user could open them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077
#: The name :func:`private_temp` gives its temporary file: ``.tmp-<pid>-<12 hex>``.
TEMP_NAME = re.compile(r"\.tmp-([0-9]{1,10})-[0-9a-f]{12}")
#: A temporary older than this is left over whatever its pid says (the pid may have been reused).
STALE_TEMP_SECONDS = 24 * 3600
#: A temporary whose pid is not running here is left over only once it is this old: its writer may run
#: in another container sharing the volume (another pid namespace), and no write takes an hour.
DEAD_WRITER_GRACE_SECONDS = 3600


def restrict_umask() -> int:
    """Set the process umask to ``0o077`` (new files owner-only); returns the previous umask."""
    return os.umask(UMASK)


def private_dir(path: str | Path) -> Path:
    """Create ``path`` (and missing parents) as ``0700``; an existing folder of ours is tightened.

    Only the folders this call creates, and ``path`` itself, are changed: a parent that already
    existed (``/tmp``, the user's home) keeps its mode.
    """
    path = _make_missing(Path(path))
    _chmod(path, DIR_MODE)
    return path


def _make_missing(path: Path) -> Path:
    """Create the missing folders of ``path`` as ``0700``; existing ones are left as they are."""
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            d.mkdir(mode=DIR_MODE)
        _chmod(d, DIR_MODE)
    return path


def private_file(path: str | Path) -> Path:
    """Create ``path`` empty and owner-only if absent (its folder made private); tighten it if present.

    Use it before handing the path to a writer that opens an existing file without changing its
    mode (polars, SQLite, DuckDB, openpyxl all truncate or open in place). Missing folders are
    created ``0700``; an existing folder (possibly the user's own, for ``--out``) keeps its mode -
    our data folders are made private by :func:`private_dir` at the entry points.
    """
    path = Path(path)
    _make_missing(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        os.close(fd)
    except FileExistsError:
        if path.is_dir() and not path.is_symlink():  # never make someone's folder 0600 (unopenable)
            raise IsADirectoryError(errno.EISDIR, "a folder has this file's name", str(path)) from None
    _chmod(path, FILE_MODE)
    return path


@contextlib.contextmanager
def private_temp(path: str | Path) -> Iterator[Path]:
    """A hidden owner-only temporary file beside ``path``, renamed over ``path`` on success.

    The temporary name is hidden and does not end like the target, so no glob reads a half-written
    file; on failure it is removed (nothing is left behind).
    """
    path = Path(path)
    # named apart from the target: it fits whenever the target does (a name at the 255-byte limit) and
    # one left by a killed process never carries an uploader's file name
    tmp = path.with_name(f".tmp-{os.getpid()}-{secrets.token_hex(6)}")
    private_file(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):  # never hide the real error; a leftover is swept later
            tmp.unlink(missing_ok=True)  # (remove_stale_temps)
        raise


class Sweep(NamedTuple):
    """What :func:`remove_stale_temps` did: the temporaries removed, and those it could not remove."""

    removed: list[Path]
    failed: list[tuple[Path, OSError]]


def remove_stale_temps(folder: str | Path, *, max_age: float = STALE_TEMP_SECONDS,
                       grace: float = DEAD_WRITER_GRACE_SECONDS) -> Sweep:
    """Remove the temporaries :func:`private_temp` left in ``folder`` when its process was killed mid-write.

    Only regular files of ours named exactly ``.tmp-<pid>-<12 hex>`` are candidates, and one goes
    when process ``pid`` no longer runs on this machine and the file is older than ``grace`` seconds
    (a writer in another container has another pid namespace), or when it is older than ``max_age``
    seconds whatever its pid (a reused pid). Everything else in the folder is left alone, links included. Never
    raises: a folder that cannot be read is skipped, a file that cannot be removed is returned in
    ``failed``.
    """
    from rules.processes import process_alive

    folder = Path(folder)
    sweep = Sweep([], [])
    try:
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if TEMP_NAME.fullmatch(e.name)]
    except OSError:
        return sweep
    now = time.time()
    for name in sorted(names):
        path = folder / name
        pid = int(TEMP_NAME.fullmatch(name).group(1))
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
                continue  # not one of our temporary files
            age = now - st.st_mtime
            if age < grace or (age < max_age and process_alive(pid)):
                continue  # may still be written (by this process, one here, or one in another container)
            path.unlink()
        except FileNotFoundError:
            continue  # its writer finished (renamed it) or removed it meanwhile
        except OSError as exc:
            sweep.failed.append((path, exc))
        else:
            sweep.removed.append(path)
    return sweep


def write_private_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, owner-only."""
    with private_temp(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def tighten_tree(root: str | Path) -> int:
    """Make every folder under ``root`` ``0700`` and every file ``0600`` (folders written before
    this fix, or by libraries that ignore the umask). Returns how many modes changed."""
    root = Path(root)
    if not root.exists():
        return 0
    changed = 0
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            changed += _chmod(Path(dirpath) / name, DIR_MODE)
        for name in filenames:
            changed += _chmod(Path(dirpath) / name, FILE_MODE)
    return changed + _chmod(root, DIR_MODE)


def _chmod(path: Path, mode: int) -> int:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return 0
    if stat.S_ISLNK(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) == mode:
        return 0  # never follow a link, never touch someone else's file
    os.chmod(path, mode)
    return 1
