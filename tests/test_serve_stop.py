"""`scholarflow serve` stops on the first SIGTERM or Ctrl-C whenever it comes, including while it
starts and when the exception a signal handler raises is swallowed by Python."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from flows.serving.serve import StoppableRunner
from tests.ops import wait_for
from tests.serving import PrefectApi, ServeProcess
from tests.stop_in_collection import SENT

NO_ENGINE = "http://127.0.0.1:9"  # an engine URL that no run reaches: none starts here


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_a_stop_swallowed_during_start_up_still_stops_serve(tmp_path: Path):
    serve = ServeProcess(
        tmp_path / "home",
        PREFECT_API_URL.value(),
        "1",
        program=[sys.executable, "-m", "tests.stop_in_collection"],
        SCHOLARFLOW_ES_URL=NO_ENGINE,
    )
    code = serve.stop(sig=None)  # no second signal: the one sent from the collection must do
    text = serve.text()
    assert SENT in text
    assert "Exception ignored" in text and "KeyboardInterrupt" in text, text  # it was swallowed
    assert code == 0, text
    assert "stopped" in text.splitlines(), text


@pytest.mark.usefixtures("prefect_harness")
def test_a_runner_asked_to_stop_before_it_started_stops_once_it_has():
    requested = threading.Event()
    runner = StoppableRunner(requested, pause_on_shutdown=False)
    runner.handle_sigterm(signal.SIGTERM, None)  # Prefect's own handler raises SystemExit here
    assert requested.is_set() and not runner.started
    # a thread of its own: the runner then leaves this process's signal handlers alone
    thread = threading.Thread(target=asyncio.run, args=(runner.start(),), daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the runner kept running after the stop request"
    assert not runner.started


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_ctrl_c_stops_a_running_serve(tmp_path: Path):
    api_url = PREFECT_API_URL.value()
    serve = ServeProcess(tmp_path / "home", "--api-url", api_url, SCHOLARFLOW_ES_URL=NO_ENGINE)
    api = PrefectApi(api_url)
    try:
        serve.wait_for_line("serving:", timeout=120)
        wait_for(lambda: api.deployment("reindex", "reindex"), 60, "deployment reindex")
    finally:
        code = serve.stop(sig=signal.SIGINT)
    assert code == 0, serve.tail()
    assert "stopped" in serve.text().splitlines()
    assert "Traceback" not in serve.text()
