"""`scholarflow web`: the search page and the JSON API, in the foreground until Ctrl-C."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import checked_client, fail, run
from scholarflow.settings import get_settings


def web(
    host: Annotated[
        str | None,
        typer.Option(help="Address to listen on [SCHOLARFLOW_WEB_HOST, 127.0.0.1: this machine]."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port [SCHOLARFLOW_WEB_PORT, 8080].")
    ] = None,
) -> None:
    """Serve the bilingual search page and the JSON API (read-only) over the live alias.

    Starts the embedded engine when no SCHOLARFLOW_ES_URL is set, like every other command.
    """
    settings = get_settings()
    host = host or settings.web_host
    port = settings.web_port if port is None else port

    def body() -> None:
        from web.server import run as serve_web

        client = checked_client(settings)  # the one client every request uses
        print(
            f"search page: http://{host}:{port}/  (API: /api/search, schema: /api/openapi.json)",
            flush=True,
        )
        try:
            serve_web(settings, client, host, port)
        except SystemExit as exc:  # uvicorn exits when it cannot bind
            fail(
                f"cannot listen on {host}:{port} (in use, or not this machine's address)",
                code=int(exc.code or 1),
            )

    run(body)
