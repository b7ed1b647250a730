"""``doisoat ui``: ``dagster dev`` as a child that stops with us, whoever stops us.

``dagster dev`` starts the webserver, the daemon and a code server as its own children. Stopped by
Ctrl-C at a terminal, the whole foreground process group gets SIGINT and every one of them exits.
A service manager (or ``kill <pid>``) signals only our pid: before this module, the command died
and killed ``dagster dev`` outright, leaving the webserver and the daemon orphaned (parent pid 1),
still serving HTTP and launching sensor runs against a dead code server.

So the UI runs in its own process group; SIGTERM / SIGINT to us is forwarded to that whole group,
we wait for it to exit, and whatever still runs after a grace period (or was re-parented away from
the group) is killed. Only a SIGKILL of this process itself cannot be forwarded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

from pipelines.environment import REPO_ROOT

# Seconds the UI's processes get to exit after the forwarded signal before they are killed.
GRACE_SECONDS = 20.0
_POLL_SECONDS = 0.5
_FORWARDED = (signal.SIGTERM, signal.SIGINT)


def ui_command(port: int) -> list[str]:
    """``dagster dev`` on 127.0.0.1:``port``; run in the repository it loads ``[tool.dagster]`` of
    pyproject.toml, the code location ``doisoat`` our own runs carry as their origin."""
    dagster = Path(sys.executable).with_name("dagster")
    return [str(dagster if dagster.exists() else "dagster"), "dev", "-p", str(port), "-h", "127.0.0.1"]


def serve_ui(port: int) -> int:
    """Run the Dagster UI until it exits or we are signalled; exit 0 when a signal stopped it cleanly."""
    cmd = ui_command(port)
    print("starting:", " ".join(cmd), f"(open http://127.0.0.1:{port})", flush=True)
    code, stopped_by = run_supervised(cmd, cwd=REPO_ROOT)
    if stopped_by is not None:
        print(f"doisoat ui: stopped by {stopped_by}; the webserver, daemon and code server have exited",
              file=sys.stderr)
        return 0
    return code


def run_supervised(cmd: Sequence[str], *, cwd: Path, grace: float = GRACE_SECONDS) -> tuple[int, str | None]:
    """Run ``cmd`` in a new process group and forward SIGTERM / SIGINT to that group.

    Returns ``(exit code, name of the signal that stopped it or None)``. Whatever descendant still
    runs once ``cmd`` has exited (or ``grace`` seconds after the signal) is killed: no orphan outlives
    the command. Main thread only (Python delivers signals there).
    """
    proc = subprocess.Popen(list(cmd), cwd=cwd, process_group=0)
    received: list[tuple[int, float]] = []  # (signal, when)

    def forward(signum: int, frame: object) -> None:
        received.append((signum, time.monotonic()))
        _signal_group(proc.pid, signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    family: dict[int, psutil.Process] = {}
    try:
        while True:
            _remember_descendants(proc.pid, family)
            try:
                code = proc.wait(timeout=_POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            if received and time.monotonic() - received[0][1] > grace:
                _signal_group(proc.pid, signal.SIGKILL)
    except BaseException:  # an error of ours must not leave the UI running either
        _signal_group(proc.pid, signal.SIGTERM)
        raise
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _reap(list(family.values()), grace if received else 5.0)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, (signal.Signals(received[0][0]).name if received else None)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _remember_descendants(pid: int, family: dict[int, psutil.Process]) -> None:
    """Add the live descendants of ``pid`` to ``family``: once ``pid`` exits, an orphan's parent is
    pid 1 and it can no longer be found by walking down from us."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(pid).children(recursive=True):
            family.setdefault(child.pid, child)


def _reap(family: list[psutil.Process], grace: float) -> None:
    """Wait up to ``grace`` seconds for the remembered descendants, then SIGTERM and SIGKILL the rest."""
    _, alive = psutil.wait_procs(family, timeout=grace)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive:
            return
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)
        _, alive = psutil.wait_procs(alive, timeout=5.0)
