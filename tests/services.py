"""Gate for tests that need a server (PostgreSQL, Redis): skip on a user's machine without it, fail in CI.

A fresh machine may have neither server; `make test` must still pass there, so such tests skip with
a one-line reason. `.ci/run` sets ``DOISOAT_REQUIRE_SERVICES=1``: there an absent server is a failure,
so CI always runs these tests.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES = ("PostgreSQL", "127.0.0.1", 5432)
REDIS = ("Redis", "127.0.0.1", 6379)


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a TCP connection to ``host:port`` opens within ``timeout`` seconds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(service: tuple[str, str, int]) -> None:
    """Skip the calling test when ``service`` is unreachable, or fail when services are required."""
    name, host, port = service
    if reachable(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("DOISOAT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (DOISOAT_REQUIRE_SERVICES=1: CI must run this test)", pytrace=False)
    pytest.skip(reason)
