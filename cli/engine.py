"""`engine …`: the embedded engine, used when no Elasticsearch URL is set."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

from cli.common import JsonOption, fail, print_json, run
from scholarflow.redact import redact_url
from scholarflow.settings import get_settings

if TYPE_CHECKING:
    from scholarflow.engine import EngineState

engine_app = typer.Typer(help="Manage the embedded engine (used when no Elasticsearch URL is set).")


def _describe(state: EngineState) -> str:
    if state.kind == "osmem":
        return f"osmem {state.version} (fallback: in memory, not Lucene) at {redact_url(state.url)}"
    return f"opensearch {state.version} (Lucene {state.lucene}) at {redact_url(state.url)}"


@engine_app.command("status")
def engine_status(as_json: JsonOption = False) -> None:
    """Whether the embedded engine runs: its kind, versions, URL and pid."""
    from dataclasses import asdict

    from scholarflow.engine import embedded_engine

    state = embedded_engine(get_settings()).status()
    data = {"running": state is not None, **(asdict(state) if state else {})}
    if state:
        data["url"] = redact_url(state.url)
    if as_json:
        print_json(data)
    else:
        text = f"running: {_describe(state)} (pid {state.pid})" if state else "not running"
        Console().print(text, highlight=False)
    if state is None:
        raise typer.Exit(1)


@engine_app.command("start")
def engine_start() -> None:
    """Start the embedded engine now (commands also start it on demand)."""
    from scholarflow.engine import embedded_engine

    state = run(lambda: embedded_engine(get_settings()).ensure())
    Console().print(f"running: {_describe(state)} (pid {state.pid})", highlight=False)


@engine_app.command("build")
def engine_build() -> None:
    """Build the real engine with Maven now (the first start does it otherwise)."""
    from scholarflow.engine import opensearch

    settings = get_settings()
    try:
        java = opensearch.find_java()
        lib = opensearch.build(settings.home_dir / "engine" / "build.log")
    except opensearch.Unavailable as exc:
        if settings.engine == "opensearch":
            fail(f"the embedded OpenSearch cannot run: {exc}")
        Console().print(
            f"not built: {exc}; the fallback engine osmem will be used", highlight=False
        )
        return
    Console().print(f"built: {lib} (Java {java.major} at {java.path})", highlight=False)


@engine_app.command("migrate")
def engine_migrate(as_json: JsonOption = False) -> None:
    """Load the fallback engine's last snapshot into the running real engine."""
    from scholarflow.engine.client import connect
    from scholarflow.stores.engine_migration import migrate_snapshot, snapshot_of

    settings = get_settings()
    result = run(
        lambda: migrate_snapshot(connect(settings), snapshot_of(settings.home_dir), settings.alias)
    )
    if as_json:
        print_json(result)
        return
    for name, count in result["indices"].items():
        Console().print(f"{name}: {count} documents", highlight=False)
    Console().print(
        f"migrated {len(result['indices'])} indices from {result['snapshot']}; "
        f"aliases: {', '.join(result['aliases']) or 'none'}",
        highlight=False,
    )


@engine_app.command("stop")
def engine_stop() -> None:
    """Stop the embedded engine; its data stays under the home directory."""
    from scholarflow.engine import embedded_engine

    stopped = embedded_engine(get_settings()).stop()
    Console().print("stopped" if stopped else "was not running", highlight=False)
