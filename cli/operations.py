"""`serve`, `deploy`, `reindex` and `rollback`: running the flows, and moving the alias between
index generations."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console

from cli.common import JsonOption, configure_prefect, fail, print_json, run
from scholarflow.settings import get_settings


class ReindexMode(StrEnum):
    COPY = "copy"
    REPLAY = "replay"


REINDEX_MODE_HELP = (
    "copy: copy the live index server-side (mapping changes); "
    "replay: decode and enrich the recorded sources again (decoding changes)."
)


def serve(
    port: Annotated[
        int | None,
        typer.Option(help="Port of the Prefect server's UI and API [SCHOLARFLOW_PREFECT_PORT]."),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(help="Use this Prefect API instead of starting a server [PREFECT_API_URL]."),
    ] = None,
    web: Annotated[
        bool,
        typer.Option(
            envvar="SCHOLARFLOW_SERVE_WEB",
            help="Also serve the search page and API on SCHOLARFLOW_WEB_HOST:SCHOLARFLOW_WEB_PORT.",
        ),
    ] = True,
) -> None:
    """Start a Prefect server, its UI and the engine, and serve the deployments until Ctrl-C.

    The deployments: ingest on a schedule, reenrich nightly, reindex by hand.
    """
    settings = get_settings()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")  # run logs belong in the UI
    configure_prefect(settings)
    api_url = api_url or os.environ.get("PREFECT_API_URL")

    def body() -> None:
        from flows.serving.serve import run_serve
        from web.server import start_in_thread

        run_serve(
            settings,
            port=port or settings.prefect_port,
            api_url=api_url,
            say=lambda line: print(line, flush=True),
            also=[lambda stack: start_in_thread(settings, stack)] if web else [],
        )

    run(body)
    # Everything serve started has stopped and said so. Threads the Prefect client leaves behind
    # can sit in native code, and finalising the interpreter under them has aborted the process
    # (exit -6 after "stopped"), so the process ends here, its output flushed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def deploy(
    pool: Annotated[str, typer.Option(help="Process work pool; created when missing.")] = (
        "scholarflow"
    ),
) -> None:
    """Register the deployments on a work pool, for workers to run (scale-out).

    Server: PREFECT_API_URL. Workers: `prefect worker start --pool POOL`. Instead of `serve`.
    """
    settings = get_settings()
    if not os.environ.get("PREFECT_API_URL"):
        fail("set PREFECT_API_URL to the Prefect server the workers use")
    configure_prefect(settings)

    def body() -> list[str]:
        from flows.serving.deployments import deploy_to_pool

        return deploy_to_pool(settings, pool)

    ids = run(body)
    Console().print(f"{len(ids)} deployments on work pool '{pool}'", highlight=False)


def reindex(
    mode: Annotated[ReindexMode, typer.Option(help=REINDEX_MODE_HELP)] = ReindexMode.COPY,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report the plan only.")] = False,
    keep: Annotated[int, typer.Option(min=0, max=20, help="Previous indices kept.")] = 2,
    allow_removals: Annotated[
        bool, typer.Option("--allow-removals", help="Let the new index lack live documents.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Build the next index, verify it, switch the alias; searches never stop."""
    settings = get_settings()
    configure_prefect(settings)  # a failure is reported in one line; its traceback with --debug

    def body() -> dict[str, Any]:
        from flows.reindex import ReindexParameters
        from flows.reindex import reindex as reindex_flow
        from scholarflow.engine.client import connect
        from tasks.reindex import plan_reindex

        # Planning first surfaces an operator's mistake (no index, a missing source) as one
        # line, before Prefect starts; a dry run needs nothing more.
        plan = plan_reindex(connect(settings), settings, mode.value, keep)
        if dry_run:
            return {"dry_run": True, **plan.as_dict()}
        parameters = ReindexParameters(mode=mode.value, keep=keep, allow_removals=allow_removals)
        return reindex_flow(parameters=parameters)

    result = run(body)
    if as_json:
        print_json(result)
        return
    out = Console()
    if result["dry_run"]:
        out.print(
            f"would re-index {result['live']} ({result['live_documents']} documents, "
            f"{result['live_profile']} analysis) into {result['target']} by {result['mode']} "
            f"with {result['profile']} analysis; then delete "
            f"{', '.join(result['would_delete']) or 'nothing'}",
            highlight=False,
        )
        for source in result["sources"]:
            out.print(f"  source: {source}", highlight=False)
        for name in result["harvests"]:
            out.print(f"  harvested again: {name}", highlight=False)
        return
    check = result["verification"]
    out.print(
        f"alias '{result['alias']}': {result['previous']} → [bold]{result['index']}[/] "
        f"({check['documents']} documents: {check['added']} added, {check['removed']} removed; "
        f"{len(check['judged_queries_checked'])} judged queries checked, "
        f"{check['saved_searches']} saved searches rebuilt) in {result['seconds']} s",
        highlight=False,
    )
    out.print(
        f"  kept for rollback: {', '.join(result['kept']) or 'none'}; "
        f"deleted: {', '.join(result['deleted']) or 'none'}",
        highlight=False,
    )


def rollback(as_json: JsonOption = False) -> None:
    """Point the alias back at the previous index."""
    from scholarflow.engine.client import connect
    from scholarflow.stores.indices import roll_back

    settings = get_settings()

    def body() -> dict[str, str]:
        from scholarflow.engine import embedded_engine

        result = roll_back(connect(settings), settings.alias)
        if settings.embedded:
            embedded_engine(settings).persist()
        return result

    result = run(body)
    if as_json:
        print_json(result)
    else:
        Console().print(
            f"alias '{result['alias']}': {result['from']} → [bold]{result['to']}[/]",
            highlight=False,
        )
