"""`scholarflow serve` runs the search service beside the deployments, on the address the
settings give, and stops it with everything else; `--no-web` leaves it out."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prefect.settings import PREFECT_API_URL

from scholarflow.settings import Settings
from tests.serving import ServeProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def test_serve_runs_the_search_service_and_stops_it(seeded_settings: Settings, tmp_path: Path):
    port = free_port()
    serve = ServeProcess(
        tmp_path / "home",
        "--api-url",
        PREFECT_API_URL.value(),
        SCHOLARFLOW_ES_URL=seeded_settings.es_url or "",
        SCHOLARFLOW_WEB_PORT=str(port),
    )
    try:
        line = serve.wait_for_line("search page:", timeout=180)
        assert line == f"search page: http://127.0.0.1:{port}/"
        serve.wait_for_line("serving:", timeout=120)
        status = httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=30)
        assert status.status_code == 200 and status.json()["documents"] == 32
    finally:
        code = serve.stop()
    assert code == 0, serve.tail()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=5)


def test_serve_without_the_search_service(seeded_settings: Settings, tmp_path: Path):
    serve = ServeProcess(
        tmp_path / "home",
        "--api-url",
        PREFECT_API_URL.value(),
        "--no-web",
        SCHOLARFLOW_ES_URL=seeded_settings.es_url or "",
    )
    try:
        serve.wait_for_line("serving:", timeout=180)
    finally:
        code = serve.stop()
    assert code == 0, serve.tail()
    assert "search page:" not in serve.text()
