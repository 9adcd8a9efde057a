"""What `scholarflow serve` and `deploy` say when they cannot work: one line, no traceback."""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from flows.serving.server import PrefectServer, ServerStartError
from scholarflow.settings import get_settings


def test_a_busy_port_is_named_before_anything_starts(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = PrefectServer(tmp_path / "prefect", port)
        with pytest.raises(ServerStartError, match=f"port {port} on 127.0.0.1 is in use"):
            server.start()
    assert server.process is None


def test_serve_reports_a_busy_port_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SCHOLARFLOW_HOME", str(tmp_path))
    for name in ("PREFECT_HOME", "PREFECT_LOGGING_LEVEL"):  # serve sets these: restore them
        monkeypatch.setenv(name, "recorded")
        monkeypatch.delenv(name)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    get_settings.cache_clear()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = CliRunner().invoke(app, ["serve", "--port", str(taken.getsockname()[1])])
    assert result.exit_code == 1
    assert "is in use" in result.output
    assert "Traceback" not in result.output
    assert {sig: signal.getsignal(sig) for sig in previous} == previous
    get_settings.cache_clear()


def test_deploy_needs_a_prefect_server(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    result = CliRunner().invoke(app, ["deploy", "--pool", "anything"])
    assert result.exit_code == 1
    assert "set PREFECT_API_URL" in result.output
