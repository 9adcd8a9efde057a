"""`scholarflow serve`: the whole service in one foreground command, for operators without Docker.

It starts a Prefect server with its UI (unless pointed at an existing one), makes sure the
embedded engine runs (when no Elasticsearch URL is set), and serves the deployments in this
process. Ctrl-C or SIGTERM stops what it started, in reverse order: the runner (in-flight runs
are cancelled), the embedded engine if serve started it (one that was already running belongs
to someone else and keeps running), and the Prefect server.

A stop request is recorded before anything is raised for it. A handler that raises does so at
whatever bytecode the main thread is running; when that is a garbage-collector callback, a
finalizer or a weakref callback, Python prints "Exception ignored" and carries on, and the
request is lost: serve kept serving until it was killed. During start-up the handler still raises
KeyboardInterrupt, to cut a wait short, and if that is swallowed the runner sees the record once it
has started; while the runner runs, the handler only schedules its stop and raises nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from types import FrameType
from typing import Any, Self

from prefect.runner import Runner
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.serving.deployments import build_deployments, configured_sources
from flows.serving.server import PrefectServer
from scholarflow.engine import embedded_engine
from scholarflow.settings import Settings

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_serve(
    settings: Settings,
    *,
    port: int,
    api_url: str | None = None,
    say: Callable[[str], None] = print,
    also: Sequence[Callable[[ExitStack], str]] = (),
) -> None:
    """Serve until interrupted; `api_url` uses that Prefect server instead of starting one.
    `also`: services to run beside the deployments once the engine is up (the search page),
    each started in the stack that stops them and saying in one line where it is."""
    requested = threading.Event()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        requested.set()  # first: the exception below may be swallowed
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in STOP_SIGNALS}
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
            for start in also:
                say(start(stack))
            say(f"serving: {_schedules(settings)}")
            say("press Ctrl-C to stop")
            serve_deployments(settings, requested)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("stopped")


def _engine(settings: Settings, stack: ExitStack) -> str:
    engine = embedded_engine(settings)
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
        f"embed ({settings.embed_cron} {zone}), "
        f"reenrich ({settings.reenrich_cron} {zone}), reindex (started by hand)"
    )


def serve_deployments(settings: Settings, requested: threading.Event) -> None:
    """Serve the deployments in this process until a stop is `requested`.

    `pause_on_shutdown=False`: stopping the process leaves the schedules active, so runs keep
    being scheduled and the next `serve` (or a worker) picks them up after a restart.
    """
    deployments = build_deployments(settings, configured_sources(settings))
    runner = StoppableRunner(requested, pause_on_shutdown=False, limit=len(deployments))
    for deployment in deployments:
        runner.add_deployment(deployment)
    if not requested.is_set():
        asyncio.run(runner.start())


class StoppableRunner(Runner):
    """Prefect's runner, stopped by a request whenever it came: before, while or after starting.

    Prefect's own SIGTERM handler exits (raises SystemExit) while the runner is starting, which is
    lost like any exception raised from a handler (see the module docstring), and leaves SIGINT to
    Python's handler, which raises too.
    """

    def __init__(self, requested: threading.Event, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requested = requested

    async def start(self, run_once: bool = False, webserver: bool | None = None) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                signal.signal(sig, self.handle_sigterm)
        await super().start(run_once, webserver)

    def handle_sigterm(self, *_: Any) -> None:
        """Record the request and, once started, schedule the stop; never raise."""
        self.requested.set()
        if self.started:
            self.execute_in_background(self._stop)

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        if self.requested.is_set():  # asked while starting: stop as soon as the loop runs
            self.execute_in_background(self._stop)
        return self

    async def _stop(self) -> None:
        if self.started:  # `astop` clears it, so the second of two requests does nothing
            await self.astop()
