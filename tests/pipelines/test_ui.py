"""``doisoat ui`` stops with its pid: a service manager's SIGTERM (or a SIGINT to the pid) reaches the
webserver, the daemon and the code server, and no process of the UI outlives the command.

Before: the command died and killed ``dagster dev`` outright; the webserver and the daemon were
re-parented to pid 1, still serving HTTP and launching sensor runs against a dead code server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _kill_all(procs: list[psutil.Process]) -> None:
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()


def _serving(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5)
    except urllib.error.HTTPError:
        return True  # something answers HTTP
    except OSError:
        return False
    return True


def _role(p: psutil.Process) -> str:
    """Which of the UI's processes ``p`` is, from its command line (the rest is an instance ref)."""
    try:
        args = " ".join(p.cmdline()[:6])
    except psutil.Error:
        return "gone"
    for needle, role in (("dagster_webserver", "webserver"), ("dagster._daemon", "daemon"),
                         ("code-server", "code server"), ("api grpc", "code server")):
        if needle in args:
            return role
    return "other"


@pytest.mark.timeout(600)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signalling_the_ui_pid_stops_every_process_of_the_ui(tmp_path: Path, sig: signal.Signals):
    data = tmp_path / "data"
    env = {**os.environ, "DOISOAT_DATA": str(data), "DAGSTER_HOME": str(REPO),
           "DOISOAT_DAGSTER_STORAGE": str(data / "dagster_home"),
           "DOISOAT_COMPUTE_LOGS": str(data / "dagster_home" / "logs")}
    port = _free_port()
    log = (tmp_path / "ui.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "pipelines", "ui", "--port", str(port)], env=env, cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)
    seen: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 400  # dagster dev starts three processes; the machine is shared
        while not _serving(port):
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the UI did not answer HTTP in time"
            seen.update((p.pid, p) for p in _descendants(proc.pid))
            time.sleep(1)
        time.sleep(3)  # let the daemon come up beside the webserver
        seen.update((p.pid, p) for p in _descendants(proc.pid))
        roles = {_role(p) for p in seen.values()}
        assert {"webserver", "daemon", "code server"} <= roles, roles

        proc.send_signal(sig)  # to the pid only, as a service manager does
        code = proc.wait(timeout=120)
        _, alive = psutil.wait_procs(list(seen.values()), timeout=10)
        assert not alive, [(p.pid, _role(p), p.ppid()) for p in alive if p.is_running()]
        assert code == 0, (tmp_path / "ui.log").read_text()[-3000:]
        assert not _serving(port)
        assert f"stopped by {sig.name}" in (tmp_path / "ui.log").read_text()
    finally:
        _kill_all([*seen.values(), *_descendants(proc.pid)])
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_a_descendant_that_escapes_the_group_and_ignores_sigterm_is_killed(tmp_path: Path):
    """The supervisor's last line of defence: a grandchild in its own session, deaf to SIGTERM, is
    still killed once the command has exited (found by walking the process tree while it ran)."""
    pid_file = tmp_path / "grandchild.pid"
    child = textwrap.dedent(f"""
        import signal, subprocess, sys, time
        g = subprocess.Popen([sys.executable, "-c",
                              "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"],
                             start_new_session=True)
        open({str(pid_file)!r}, "w").write(str(g.pid))
        time.sleep(600)
    """)
    supervisor = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from pipelines.ui import run_supervised
        code, name = run_supervised([sys.executable, "-c", {child!r}], cwd=Path("."), grace=2.0)
        print(code, name)
    """)
    proc = subprocess.Popen([sys.executable, "-c", supervisor], cwd=REPO, stdout=subprocess.PIPE, text=True)
    grandchild = None
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        grandchild = psutil.Process(int(pid_file.read_text()))
        time.sleep(1.5)  # the supervisor polls the tree every 0.5 s
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert out.split()[-1] == "SIGTERM"
        psutil.wait_procs([grandchild], timeout=10)
        assert not grandchild.is_running()
    finally:
        if grandchild is not None:
            _kill_all([grandchild])
        if proc.poll() is None:
            proc.kill()
            proc.wait()
