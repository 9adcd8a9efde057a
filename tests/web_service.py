"""The search service as a reader reaches it: uvicorn serving `web.app` on a free port of
127.0.0.1, from a thread of the test process, for the life of a `with` block."""

from __future__ import annotations

import threading
import time
from typing import Any, Self

import httpx
import uvicorn

from scholarflow.settings import Settings
from web.app import create_app


class WebService:
    def __init__(self, settings: Settings, **app_options: Any) -> None:
        app = create_app(settings, **app_options)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = ""

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the search service did not start"
            assert self.thread.is_alive(), "the search service stopped while starting"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)
