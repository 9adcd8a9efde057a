"""`scholarflow serve` as a child process, for the tests that drive it as an operator would, and a
small client for the Prefect REST API it serves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from tenacity import retry, retry_if_result, stop_after_delay, wait_exponential

from tests.conftest import REPO
from tests.ops import wait_for

FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServeProcess:
    """`scholarflow serve` with its own home, DOI lookups off, output in `<home>/serve.out`;
    `program` replaces the `scholarflow serve` command (`args` follow it)."""

    def __init__(
        self, home: Path, *args: str, program: Sequence[str] | None = None, **env: str
    ) -> None:
        self.home = home
        self.output = home / "serve.out"
        home.mkdir(parents=True, exist_ok=True)
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SCHOLAR"))}
        environment = clean | {
            "SCHOLARFLOW_HOME": str(home),
            "SCHOLARFLOW_DOI_LOOKUP": "off",
            "PREFECT_HOME": str(home / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_RUNNER_POLL_FREQUENCY": "2",  # pick up new runs quickly
            "DO_NOT_TRACK": "1",
            "PYTHONFAULTHANDLER": "1",  # a crash prints every thread's stack into the output
            **env,
        }
        scholarflow = [str(Path(sys.executable).parent / "scholarflow"), "serve"]
        command = [*(program or scholarflow), *args]
        with open(self.output, "wb") as out:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=environment, stdout=out, stderr=subprocess.STDOUT
            )

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.text().splitlines()[-lines:])

    def wait_for_line(self, prefix: str, timeout: float) -> str:
        def line() -> str | None:
            assert self.process.poll() is None, f"serve exited early:\n{self.tail()}"
            found = [ln for ln in self.text().splitlines() if ln.startswith(prefix)]
            return found[0] if found else None

        return wait_for(line, timeout, f"serve to print {prefix!r}")

    def stop(self, timeout: float = 90, sig: int | None = signal.SIGTERM) -> int:
        """`sig` (SIGTERM, as a service manager would send; None: none) then the exit code."""
        if sig is not None and self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"serve did not stop within {timeout} s:\n{self.tail()}") from None


def _server_busy(response: httpx.Response) -> bool:
    return response.status_code == 503


class PrefectApi:
    """The few Prefect API calls the tests make. A 503 is the server asking the client to try
    again (its SQLite database was busy: the scheduler writes runs for new deployments at the
    same moment), and Prefect's own client retries it; so do these calls."""

    def __init__(self, api_url: str) -> None:
        self.http = httpx.Client(base_url=api_url.rstrip("/") + "/", timeout=30)

    @retry(
        retry=retry_if_result(_server_busy),
        wait=wait_exponential(multiplier=0.5, max=5),
        stop=stop_after_delay(60),
        retry_error_callback=lambda state: state.outcome.result(),
    )
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def deployment(self, flow: str, name: str) -> dict[str, Any] | None:
        response = self._request("GET", f"deployments/name/{flow}/{name}")
        return response.json() if response.status_code == 200 else None

    def run_deployment(self, deployment_id: str, parameters: dict[str, Any]) -> str:
        response = self._request(
            "POST", f"deployments/{deployment_id}/create_flow_run", json={"parameters": parameters}
        )
        response.raise_for_status()
        return response.json()["id"]

    def flow_run_named(self, name: str) -> dict[str, Any] | None:
        response = self._request(
            "POST", "flow_runs/filter", json={"flow_runs": {"name": {"any_": [name]}}}
        )
        response.raise_for_status()
        runs = response.json()
        return runs[0] if runs else None

    def flow_run(self, run_id: str) -> dict[str, Any]:
        response = self._request("GET", f"flow_runs/{run_id}")
        response.raise_for_status()
        return response.json()

    def wait_final(self, run_id: str, timeout: float, serve: ServeProcess) -> dict[str, Any]:
        def final() -> dict[str, Any] | None:
            run = self.flow_run(run_id)
            return run if run["state_type"] in FINAL_STATES else None

        try:
            return wait_for(final, timeout, f"flow run {run_id} to finish", every=1.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{serve.tail()}") from None


def wait_until_down(port: int, timeout: float = 30) -> None:
    def closed() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) != 0

    wait_for(closed, timeout, f"port {port} to close")


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.1f} s"
