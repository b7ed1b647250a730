"""A real S3-compatible server on 127.0.0.1 for the lake tests: moto in server mode, as a subprocess.

moto is a Python package (the dev extra), not a service of the machine, so these tests run everywhere
and never skip. One server per test session on a free port; each test gets its own bucket and the
``AWS_*`` variables the lake reads (``rules.lake_store.storage_options_from_env``) set for the test.

:func:`start_server`, :func:`create_bucket`, :func:`lake_env` and :func:`stop_server` need no pytest
fixture: a command (the national rehearsal) may start the same server with them.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.services import reachable


@dataclass(frozen=True)
class S3Lake:
    """A bucket on the local server: ``uri`` is the lake root, ``env`` the variables that reach it."""

    uri: str
    bucket: str
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ACCESS_KEY = SECRET_KEY = "doisoat-test"
REGION = "us-east-1"


def start_server(host: str = "127.0.0.1", port: int | None = None,
                 timeout_s: float = 30) -> tuple[subprocess.Popen, str]:
    """Start ``moto.server`` on ``host:port`` (a free loopback port by default); returns the process and
    its endpoint URL once it accepts connections. Raises RuntimeError if it does not within ``timeout_s``."""
    port = port or _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while not reachable(host, port, timeout=0.2):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"moto server did not start on {host}:{port}")
        time.sleep(0.1)
    return proc, f"http://{host}:{port}"


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server :func:`start_server` started (by its own process id)."""
    proc.terminate()
    proc.wait(timeout=10)


def lake_env(endpoint: str) -> dict[str, str]:
    """The ``AWS_*`` variables that point the lake (``rules.lake_store``) at the server."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION}


def create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                 aws_secret_access_key=SECRET_KEY).create_bucket(Bucket=bucket)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Start ``moto.server`` on a free loopback port; stopped (by its own process id) after the session."""
    proc, endpoint = start_server()
    try:
        yield endpoint
    finally:
        stop_server(proc)


@pytest.fixture
def s3_lake(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Lake:
    """A fresh bucket and the environment of a lake on it (set for this test and its subprocesses)."""
    env = lake_env(s3_endpoint)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    create_bucket(s3_endpoint, bucket)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return S3Lake(f"s3://{bucket}/doisoat/lake", bucket, env)
