"""The server gate skips on a machine without the server and fails where CI requires it."""

from __future__ import annotations

import socket

import pytest

from tests.services import reachable, require_service


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nothing listens there


def test_absent_server_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOISOAT_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not reachable"):
        require_service(("Nothing", "127.0.0.1", _closed_port()))


def test_absent_server_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOISOAT_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test"):
        require_service(("Nothing", "127.0.0.1", _closed_port()))


def test_listening_server_is_reachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        assert reachable("127.0.0.1", s.getsockname()[1])
