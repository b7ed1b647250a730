"""Headless Debian Chromium driven from the command line: DOM dumps and screenshots, no extra packages.

``--dump-dom`` with a virtual-time budget lets the Dagster UI (a React app fed by GraphQL) finish
loading before the DOM is printed, so plain text checks on the result see what a user sees.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio")


def ensure_chromium() -> tuple[Path | None, str]:
    """The Chromium binary, installing Debian's package when absent and possible; else (None, why)."""
    if CHROMIUM.exists():
        return CHROMIUM, ""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None, f"{CHROMIUM} is absent and cannot be installed here (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False)
        if done.returncode != 0:
            return None, f"{CHROMIUM} is absent and `{' '.join(cmd)}` failed: {done.stderr.strip()[-300:]}"
    if not CHROMIUM.exists():
        return None, f"apt-get installed chromium but there is no {CHROMIUM}"
    return CHROMIUM, ""


class Browser:
    """One headless profile (its own user-data-dir) reused by every call of a test."""

    def __init__(self, binary: Path, profile: Path, window: tuple[int, int] = (1400, 900)) -> None:
        self.binary, self.profile, self.window = binary, profile, window

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run Chromium in its own process group so a hung browser is killed with all its helpers."""
        cmd = [str(self.binary), *FLAGS, f"--user-data-dir={self.profile}",
               f"--window-size={self.window[0]},{self.window[1]}", *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

    def dump_dom(self, url: str, budget_ms: int = 15_000) -> str:
        done = self._run(f"--virtual-time-budget={budget_ms}", "--dump-dom", url)
        if done.returncode != 0:
            raise RuntimeError(f"chromium --dump-dom {url} exited {done.returncode}: {done.stderr[-500:]}")
        return done.stdout

    def screenshot(self, url: str, path: Path, budget_ms: int = 15_000) -> Path:
        done = self._run(f"--virtual-time-budget={budget_ms}", f"--screenshot={path}", url)
        if done.returncode != 0 or not path.exists():
            raise RuntimeError(f"chromium --screenshot {url} exited {done.returncode}: {done.stderr[-500:]}")
        return path


class PageText(HTMLParser):
    """Visible text (scripts and styles dropped) and link targets of a dumped DOM."""

    def __init__(self, dom: str) -> None:
        super().__init__(convert_charrefs=True)
        self._hidden = 0
        self.chunks: list[str] = []
        self.links: list[str] = []
        self.feed(dom)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript"):
            self._hidden += 1
        self.links += [v for k, v in attrs if k == "href" and v]

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript"):
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.chunks.append(data.strip())

    @property
    def text(self) -> str:
        return " | ".join(self.chunks)


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG header (and proof that the file is a PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
