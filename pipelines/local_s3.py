"""A local S3-compatible server on 127.0.0.1: ``moto`` in server mode, as a subprocess we own.

The one owner of its start-up, used by the lake tests (``tests/s3_server.py``) and by ``doisoat
rehearse`` (``pipelines.rehearsal``). moto is a Python package (the ``dev`` extra), not a service of the
machine: it runs wherever the package is installed and keeps the objects in its own memory, so
everything written to it is gone when it stops. Never for real data.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from rules.errors import UserError

REGION = "us-east-1"


class LocalS3Error(UserError, RuntimeError):
    """moto is not installed, or its server did not come up; the message says what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class LocalS3:
    """A running moto server: ``endpoint`` (``http://127.0.0.1:<port>``) and its process.

    ``key`` is both the access key id and the secret (moto accepts any); :meth:`env` gives the
    variables the lake reads (``rules.lake_store.storage_options_from_env``).
    """

    endpoint: str
    process: subprocess.Popen
    key: str = "doisoat-local"
    buckets: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 30.0) -> LocalS3:
        """Start ``python -m moto.server`` on ``host:port`` (0: a free port) and wait until it accepts
        connections. Raises :class:`LocalS3Error` when moto is missing or the server does not start."""
        try:
            import moto.server  # noqa: F401  (only to fail with one line when the extra is absent)
        except ImportError:
            raise LocalS3Error("moto is not installed (the local S3-compatible server): run `make rehearsal`, "
                               "which installs it, or `pip install 'moto[server]'`") from None
        port = port or free_port(host)
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while not _reachable(host, port, timeout=0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise LocalS3Error(f"the local S3 server (moto) did not start on {host}:{port} "
                                   f"within {timeout_s:.0f} s")
            time.sleep(0.1)
        return cls(f"http://{host}:{port}", proc)

    def env(self) -> dict[str, str]:
        """``AWS_*`` variables that point a lake (and boto3) at this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.key,
                "AWS_SECRET_ACCESS_KEY": self.key, "AWS_REGION": REGION}

    def create_bucket(self, name: str) -> str:
        """Create bucket ``name`` on this server; returns the name."""
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=self.key,
                     aws_secret_access_key=self.key).create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """Stop the server (its own process id only); everything it held is gone."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LocalS3:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
