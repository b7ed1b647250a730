"""A real S3-compatible server on 127.0.0.1 for the lake tests: moto in server mode, as a subprocess.

moto is a Python package (the dev extra), not a service of the machine, so these tests run everywhere
and never skip. One server per test session on a free port; each test gets its own bucket and the
``AWS_*`` variables the lake reads (``rules.lake_store.storage_options_from_env``) set for the test.

The server's start-up has one owner, ``pipelines.local_s3.LocalS3`` (the national rehearsal starts the
same server); :func:`start_server`, :func:`create_bucket`, :func:`lake_env` and :func:`stop_server` are
thin pytest-free wrappers over it.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pipelines.local_s3 import REGION, LocalS3

ACCESS_KEY = SECRET_KEY = "doisoat-test"


@dataclass(frozen=True)
class S3Lake:
    """A bucket on the local server: ``uri`` is the lake root, ``env`` the variables that reach it."""

    uri: str
    bucket: str
    env: dict[str, str]


def start_server(host: str = "127.0.0.1", port: int | None = None,
                 timeout_s: float = 30) -> tuple[subprocess.Popen, str]:
    """Start ``moto.server`` on ``host:port`` (a free loopback port by default); returns the process and
    its endpoint URL once it accepts connections (``LocalS3.start``; raises ``LocalS3Error`` otherwise)."""
    server = LocalS3.start(host, port or 0, timeout_s)
    return server.process, server.endpoint


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server :func:`start_server` started (by its own process id)."""
    LocalS3("", proc).stop()


def lake_env(endpoint: str) -> dict[str, str]:
    """The ``AWS_*`` variables that point the lake (``rules.lake_store``) at the server."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION}


def create_bucket(endpoint: str, bucket: str) -> None:
    LocalS3(endpoint, None, key=ACCESS_KEY).create_bucket(bucket)  # type: ignore[arg-type]  (no process needed)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Start ``moto.server`` on a free loopback port; stopped (by its own process id) after the session."""
    with LocalS3.start() as server:
        yield server.endpoint


@pytest.fixture
def s3_lake(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Lake:
    """A fresh bucket and the environment of a lake on it (set for this test and its subprocesses)."""
    env = lake_env(s3_endpoint)
    bucket = f"lake-{uuid.uuid4().hex[:12]}"
    create_bucket(s3_endpoint, bucket)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return S3Lake(f"s3://{bucket}/doisoat/lake", bucket, env)
