"""`scholarflow serve`: the whole service in one foreground command, for operators without Docker.

It starts a Prefect server with its UI (unless pointed at an existing one), makes sure the
embedded engine runs (when no Elasticsearch URL is set), and serves the deployments in this
process. Ctrl-C or SIGTERM stops what it started, in reverse order: the runner (in-flight runs
are cancelled), the embedded engine if serve started it (one that was already running belongs
to someone else and keeps running), and the Prefect server.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.deployments import serve_deployments
from flows.server import PrefectServer
from scholarflow.engine import EmbeddedEngine
from scholarflow.settings import Settings


def run_serve(
    settings: Settings,
    *,
    port: int,
    api_url: str | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve until interrupted; `api_url` uses that Prefect server instead of starting one."""
    previous = signal.signal(signal.SIGTERM, _interrupt)  # the runner installs its own later
    try:
        with ExitStack() as stack:
            if api_url is None:
                home = Path(os.environ.get("PREFECT_HOME", settings.home_dir / "prefect"))
                say(f"starting the Prefect server (log {home / 'server.log'}) …")
                server = stack.enter_context(PrefectServer(home, port))
                api_url = server.api_url
            os.environ["PREFECT_API_URL"] = api_url  # for the runs' child processes
            stack.enter_context(temporary_settings({PREFECT_API_URL: api_url}))
            say(f"Prefect UI:  {api_url.removesuffix('/api')}")
            say(f"Prefect API: {api_url}")
            if settings.embedded:
                say(_engine(settings, stack))
            say(f"serving: {_schedules(settings)}")
            say("press Ctrl-C to stop")
            serve_deployments(settings)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    say("stopped")


def _engine(settings: Settings, stack: ExitStack) -> str:
    engine = EmbeddedEngine(settings.home_dir)
    running = engine.status()
    if running:
        return f"engine: embedded at {running.url} (already running: left running on exit)"
    state = engine.ensure()
    stack.callback(engine.stop)
    return f"engine: embedded at {state.url} (started here: stopped on exit)"


def _schedules(settings: Settings) -> str:
    zone = settings.schedule_timezone
    inbox = f"{len(settings.inbox)} inbox source(s)" if settings.inbox else "no inbox: schedule off"
    return (
        f"ingest ({settings.ingest_cron} {zone}; {inbox}), "
        f"reenrich ({settings.reenrich_cron} {zone}), reindex (started by hand)"
    )


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt
