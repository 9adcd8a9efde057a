"""Running the service with uvicorn: in the foreground (`scholarflow web`), or on a thread
beside the deployments (`scholarflow serve`), stopped when serve stops."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack

import uvicorn
from elasticsearch import Elasticsearch

from scholarflow.settings import Settings
from web.app import create_app

# Requests in flight at once; more wait in the server's backlog (FastAPI's thread pool bounds
# the engine calls at 40 threads).
MAX_CONCURRENCY = 200


def config(
    settings: Settings, client: Elasticsearch | None, host: str, port: int
) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, client),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        limit_concurrency=MAX_CONCURRENCY,
        server_header=False,
    )


def run(settings: Settings, client: Elasticsearch, host: str, port: int) -> None:
    uvicorn.Server(config(settings, client, host, port)).run()


def start_in_thread(settings: Settings, stack: ExitStack) -> str:
    """Serve on a thread until `stack` closes; the line saying where."""
    server = uvicorn.Server(config(settings, None, settings.web_host, settings.web_port))
    thread = threading.Thread(target=server.run, name="scholarflow-web", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    stack.callback(stop)
    if not server.started:
        return f"search page: did not start on {settings.web_host}:{settings.web_port}"
    return f"search page: http://{settings.web_host}:{settings.web_port}/"
