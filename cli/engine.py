"""`engine …`: the embedded engine, used when no Elasticsearch URL is set."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

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


def _nodes_and_health(state: EngineState) -> tuple[list[dict], dict | None]:
    """Each node of a local cluster (name, URL, pid, up) and the cluster's health, read from
    a node that answers (None when none does)."""
    from scholarflow.engine import embedded_engine
    from scholarflow.engine.client import connect
    from scholarflow.engine.cluster import health

    engine = embedded_engine(get_settings())
    down = {node.name for node in engine.down_nodes(state)}
    nodes = [
        {"name": n.name, "url": n.address, "pid": n.pid, "up": n.name not in down}
        for n in state.cluster_nodes
    ]
    try:
        return nodes, health(connect(get_settings(), start=False))
    except Exception:
        return nodes, None


def _print_cluster(state: EngineState) -> None:
    nodes, found = _nodes_and_health(state)
    console = Console(highlight=False)
    manager = found["cluster_manager"] if found else None
    for node in nodes:
        role = " (elected cluster manager)" if node["name"] == manager else ""
        where = f"{node['url']} (pid {node['pid']})" if node["up"] else f"{node['url']}: down"
        console.print(f"  {node['name']}: {where}{role}")
    if found:
        console.print(
            f"cluster: {found['status']}, {found['nodes']} nodes ({found['data_nodes']} data), "
            f"{found['active_shards']} shards active ({found['active_primary_shards']} "
            f"primaries), {found['unassigned_shards']} unassigned"
        )
    else:
        console.print("cluster: no node answers")


@engine_app.command("status")
def engine_status(as_json: JsonOption = False) -> None:
    """Whether the embedded engine runs: its kind, versions, URL and pid (each node's, and
    the cluster's health, for a local cluster)."""
    from dataclasses import asdict

    from scholarflow.engine import embedded_engine

    state = embedded_engine(get_settings()).status()
    data = {"running": state is not None, **(asdict(state) if state else {})}
    if state:
        data["url"] = redact_url(state.url)
        if state.nodes:
            data["nodes"], data["health"] = _nodes_and_health(state)
    if as_json:
        print_json(data)
    elif state and state.nodes:
        Console().print(f"running: {_describe(state)}, {len(state.nodes)} nodes:", highlight=False)
        _print_cluster(state)
    else:
        text = f"running: {_describe(state)} (pid {state.pid})" if state else "not running"
        Console().print(text, highlight=False)
    if state is None:
        raise typer.Exit(1)


NodesOption = Annotated[
    int | None,
    typer.Option(
        "--nodes",
        min=1,
        max=9,
        help="Nodes to run: 1, or a local cluster of N JVMs (default SCHOLARFLOW_ENGINE_NODES)",
    ),
]


@engine_app.command("start")
def engine_start(nodes: NodesOption = None) -> None:
    """Start the embedded engine now (commands also start it on demand); with --nodes N, a
    local cluster of N nodes, waiting until it is green; a node of it that is down starts
    again."""
    from scholarflow.engine import embedded_engine

    settings = get_settings()
    if nodes is not None:
        settings = settings.model_copy(update={"engine_nodes": nodes})
    state = run(lambda: embedded_engine(settings).start(exact=nodes is not None))
    if state.nodes:
        Console().print(f"running: {_describe(state)}, {len(state.nodes)} nodes:", highlight=False)
        _print_cluster(state)
    else:
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
    """Stop the embedded engine (every node of a local cluster); its data stays under the
    home directory."""
    from scholarflow.engine import embedded_engine

    stopped = embedded_engine(get_settings()).stop()
    Console().print("stopped" if stopped else "was not running", highlight=False)
