"""A local Prefect server (API + UI) for operators without Docker: `prefect server start` as a
child process, its SQLite database under the Prefect home, listening on 127.0.0.1 only.

It is started in its own session, so a Ctrl-C in the terminal reaches `scholarflow serve` alone,
which then stops the server itself once the served runs have wound down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from scholarflow.errors import ScholarflowError

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 180.0  # a cold start (migrations, UI assets) takes 10–20 s on two cores
DATABASE_TIMEOUT = 30.0  # seconds a request may wait for SQLite's write lock


class ServerStartError(ScholarflowError):
    """The Prefect server could not be started."""


class PrefectServer:
    def __init__(self, prefect_home: Path, port: int) -> None:
        self.home = prefect_home
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.api_url = f"{self.url}/api"
        self.log_file = prefect_home / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrefectServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = STARTUP_TIMEOUT) -> None:
        if _in_use(self.port):
            raise ServerStartError(
                f"port {self.port} on {HOST} is in use: stop what listens there or choose "
                "another port (--port or SCHOLARFLOW_PREFECT_PORT)"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
        # On two busy cores a SQLite write can wait longer than Prefect's 10 s default, and the
        # UI does not retry the 503 that follows; when one still happens, the log says why.
        env.setdefault("PREFECT_SERVER_DATABASE_TIMEOUT", str(DATABASE_TIMEOUT))
        env.setdefault("PREFECT_SERVER_LOG_RETRYABLE_ERRORS", "true")
        env |= {
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_API_HOST": HOST,
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_SERVER_UI_ENABLED": "true",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        command = [sys.executable, "-m", "prefect", "server", "start"]
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_healthy(timeout)

    def _wait_healthy(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_file.read_text(errors="replace").strip().splitlines()[-3:]
                raise ServerStartError(
                    f"the Prefect server exited ({self.process.returncode}): "
                    f"{' / '.join(tail) or 'no output'} (log {self.log_file})"
                )
            if self.healthy():
                return
            time.sleep(0.5)
        self.stop()
        raise ServerStartError(
            f"the Prefect server did not answer within {timeout:.0f} s (log {self.log_file})"
        )

    def healthy(self) -> bool:
        try:
            response = httpx.get(f"{self.api_url}/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.json() is True

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the server's process group, SIGKILL after `timeout` seconds."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex((HOST, port)) == 0
