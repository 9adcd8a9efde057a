"""A local cluster of the embedded OpenSearch: N nodes, each a JVM of its own on 127.0.0.1.

What a cluster adds to one node (replicas, a primary that moves when its node dies, a
cluster-manager election) can only be met with several real nodes. Each node gets fixed HTTP
and transport ports, chosen free when the cluster is first made and kept in the engine's state
file, so that a node killed and started again comes back at the same address: the client's
node pool still holds it, and the other nodes find it through `discovery.seed_hosts`.

Every node is cluster-manager-eligible and holds data. `cluster.initial_cluster_manager_nodes`
is given only when a node's data folder is new (the cluster's first start): a node that has
been part of the cluster rejoins it by itself.

Each node keeps its data, logs and launcher output under `<home>/engine/nodes/<name>/`; the
snapshot repository folder (`path.repo`) is shared, as a cluster's `fs` repository must be.
"""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

# Three JVMs must fit in 2 GB of heap on a two-core machine (the tests' cluster); a node of a
# local cluster gets this much unless SCHOLARFLOW_ENGINE_HEAP is set.
NODE_HEAP = "512m"
MAX_NODES = 9


@dataclass
class NodeState:
    """One node of a local cluster, as the state file records it."""

    name: str
    http_port: int
    transport_port: int
    pid: int = 0
    url: str = ""

    @property
    def address(self) -> str:
        return self.url or f"http://127.0.0.1:{self.http_port}"


def node_name(number: int) -> str:
    return f"node-{number}"


def cluster_name(engine_dir: Path) -> str:
    """A name of this home's own: two homes' clusters never join each other."""
    digest = hashlib.sha256(str(engine_dir.resolve()).encode()).hexdigest()[:8]
    return f"scholarflow-{digest}"


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now, held open together so that they are distinct."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def plan_nodes(count: int, base_port: int = 0) -> list[NodeState]:
    """The nodes of a new cluster: HTTP ports from `base_port` up (0: free ones), free
    transport ports."""
    ports = free_ports(2 * count)
    http = [base_port + i for i in range(count)] if base_port else ports[:count]
    return [
        NodeState(node_name(i + 1), http_port=http[i], transport_port=ports[count + i])
        for i in range(count)
    ]


def node_dir(engine_dir: Path, node: NodeState) -> Path:
    return engine_dir / "nodes" / node.name


def node_settings(engine_dir: Path, node: NodeState, nodes: list[NodeState]) -> dict[str, str]:
    """The OpenSearch settings of one node (on top of the launcher's command line)."""
    folder = node_dir(engine_dir, node)
    settings = {
        "cluster.name": cluster_name(engine_dir),
        "node.name": node.name,
        "transport.port": str(node.transport_port),
        "discovery.seed_hosts": ",".join(f"127.0.0.1:{n.transport_port}" for n in nodes),
        "path.repo": str(engine_dir / "backups"),
    }
    if not (folder / "data").exists():
        settings["cluster.initial_cluster_manager_nodes"] = ",".join(n.name for n in nodes)
    return settings


def health(client: Elasticsearch) -> dict[str, Any]:
    """The cluster's health and its elected cluster manager, from any node that answers:
    what `engine status` shows and the fault tests wait for."""
    found = client.cluster.health().body
    state = client.cluster.state(metric="master_node,nodes").body
    manager = state.get("cluster_manager_node") or state.get("master_node")
    names = {node_id: node.get("name", node_id) for node_id, node in state["nodes"].items()}
    return {
        "status": found["status"],
        "nodes": found["number_of_nodes"],
        "data_nodes": found["number_of_data_nodes"],
        "cluster_manager": names.get(manager, manager),
        "active_primary_shards": found["active_primary_shards"],
        "active_shards": found["active_shards"],
        "relocating_shards": found["relocating_shards"],
        "initializing_shards": found["initializing_shards"],
        "unassigned_shards": found["unassigned_shards"],
        "members": sorted(names.values()),
    }
