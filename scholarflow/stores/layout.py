"""How a paper index is laid out on the cluster it lives on: primary shards, replicas, and the
health the alias waits for before it moves to a new index.

Replicas: by default `auto_expand_replicas: 0-1`, the engine's own rule, applied by the engine
itself as nodes come and go: no replica on one data node (one would never be allocated and the
index would stay yellow), one as soon as there are two. A replica is what keeps a paper
searchable and writable when its primary's node dies: the engine promotes it and the writes
that were in flight come back `unavailable_shards_exception` (503), which the bulk policy sends
again. `SCHOLARFLOW_REPLICAS=N` fixes the number instead.

Primary shards (fixed when an index is created; a re-index changes them): the larger of
- by size: the expected corpus (`SCHOLARFLOW_EXPECTED_PAPERS`) at `PAPER_BYTES` a paper, in
  shards of at most `TARGET_SHARD_BYTES` (the engines' guidance is 10-50 GB a shard: larger
  shards recover and relocate slowly after a node failure);
- by spread: on a cluster, one per data node, so that every node takes a share of the writes
  and no node holds all the primaries.
`SCHOLARFLOW_SHARDS=N` fixes the number instead. The bookkeeping stores (locks, manifest, dead
letters, caches) stay at one shard, with the same replica rule.

Writes wait for one active copy of their shard (`wait_for_active_shards: 1`, the engines'
default): a write is still replicated to every in-sync copy before it is acknowledged, and a run
keeps going while a node is down. Waiting for all copies would stop every run for as long as
one node is away, and gain no durability the replication does not already give. What waits for
all copies is the alias switch: a re-index moves the alias only to an index that is green
(`SWITCH_HEALTH`), checked after its documents are counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import ApiError, Elasticsearch

from scholarflow.settings import Settings

# Measured on the embedded OpenSearch 2.19.6 (Lucene 9.12.3), rounded up: the soak's generated
# papers took 5.5 KB each in the primaries of a three-node cluster at 3,835 papers, 4.1 KB at
# 18,601 (unmerged segments, ICU profile, no vectors; docs/cluster.md). Vectors add more.
PAPER_BYTES = 6 << 10
TARGET_SHARD_BYTES = 30 << 30
MAX_SHARDS = 1024
AUTO = "auto"
AUTO_REPLICAS = "0-1"
# The alias moves only to an index with every copy of every shard active.
SWITCH_HEALTH = "green"
SWITCH_HEALTH_TIMEOUT = "120s"


@dataclass(frozen=True)
class Layout:
    """Shards and replicas for a new paper index, and why."""

    shards: int
    replicas: str  # AUTO (the engine's auto-expand rule) or a fixed number
    data_nodes: int
    why: dict[str, str] = field(default_factory=dict)

    def replica_settings(self) -> dict[str, Any]:
        if self.replicas == AUTO:
            return {"auto_expand_replicas": AUTO_REPLICAS}
        return {"auto_expand_replicas": False, "number_of_replicas": int(self.replicas)}

    def index_settings(self) -> dict[str, Any]:
        return {"number_of_shards": self.shards, **self.replica_settings()}

    def as_dict(self) -> dict[str, Any]:
        return {
            "shards": self.shards,
            "replicas": AUTO_REPLICAS + " (auto)" if self.replicas == AUTO else self.replicas,
            "data_nodes": self.data_nodes,
            "why": self.why,
        }


def plan_layout(
    data_nodes: int, *, shards: str = AUTO, replicas: str = AUTO, expected_papers: int = 1
) -> Layout:
    """The layout for a cluster of `data_nodes` data nodes (the rule in the docstring)."""
    why = {}
    if shards == AUTO:
        by_size = math.ceil(expected_papers * PAPER_BYTES / TARGET_SHARD_BYTES)
        by_spread = data_nodes if data_nodes > 1 else 1
        count = min(max(by_size, by_spread, 1), MAX_SHARDS)
        why["shards"] = (
            f"{count}: the larger of {by_size} for {expected_papers:,} expected papers "
            f"(SCHOLARFLOW_EXPECTED_PAPERS) at {PAPER_BYTES >> 10} KB in shards of at most "
            f"{TARGET_SHARD_BYTES >> 30} GB, and {by_spread} for {data_nodes} data node(s)"
        )
    else:
        count = int(shards)
        why["shards"] = f"{count}: SCHOLARFLOW_SHARDS"
    if replicas == AUTO:
        now = 1 if data_nodes > 1 else 0
        why["replicas"] = (
            f"{now} now: auto_expand_replicas {AUTO_REPLICAS} (none on one data node, one from "
            f"two; the engine follows the nodes); {data_nodes} data node(s)"
        )
    else:
        why["replicas"] = f"{replicas}: SCHOLARFLOW_REPLICAS"
        if int(replicas) >= data_nodes:
            why["replicas"] += (
                f" (more than {data_nodes} data node(s) can hold: the index stays yellow)"
            )
    return Layout(count, replicas, data_nodes, why)


def data_nodes(client: Elasticsearch) -> int:
    """The cluster's data nodes (1 where the engine will not say)."""
    try:
        return int(client.cluster.health()["number_of_data_nodes"]) or 1
    except (ApiError, KeyError, TypeError, ValueError):
        return 1


def index_layout(client: Elasticsearch, settings: Settings | None = None) -> Layout:
    """The layout for a new paper index on this client's cluster, with the settings'
    overrides (None: every value automatic)."""
    if settings is None:
        return plan_layout(data_nodes(client))
    return plan_layout(
        data_nodes(client),
        shards=settings.shards,
        replicas=settings.replicas,
        expected_papers=settings.expected_papers,
    )


def wait_for_switch(client: Elasticsearch, index: str) -> dict[str, Any]:
    """The index's health once every copy of its shards is active, or as it is when the
    wait ends (`timed_out`); the caller refuses to move the alias unless it is green."""
    try:
        found: dict[str, Any] = client.cluster.health(
            index=index, wait_for_status=SWITCH_HEALTH, timeout=SWITCH_HEALTH_TIMEOUT
        ).body
    except ApiError as exc:
        if exc.status_code != 408 or not isinstance(exc.body, dict):
            raise
        found = exc.body  # the wait ended first: the health as it is, `timed_out`
    return found


def layout_status(
    client: Elasticsearch, settings: Settings, index: str | None, index_settings: dict[str, Any]
) -> dict[str, str]:
    """What `scholarflow status` says of the layout: the cluster's health, and for shards and
    replicas what the live index has and what a new index gets, and why."""
    try:
        health = client.cluster.health().body
        cluster = (
            f"{health['status']}, {health['number_of_nodes']} node(s), "
            f"{health['number_of_data_nodes']} data, {health['unassigned_shards']} shard "
            "copies unassigned"
        )
    except (ApiError, KeyError):
        cluster = "unknown (the engine does not report its health)"
    layout = index_layout(client, settings)
    found = index_settings.get("index", index_settings)
    live_shards = f"{index}: {found.get('number_of_shards')}; " if index else ""
    auto = found.get("auto_expand_replicas")
    replicas = found.get("number_of_replicas")
    if index and auto not in (None, "false", False):
        replicas = f"{replicas} (auto_expand_replicas {auto})"
    live_replicas = f"{index}: {replicas}; " if index else ""
    return {
        "cluster": cluster,
        "shards": f"{live_shards}a new index: {layout.why['shards']}",
        "replicas": f"{live_replicas}a new index: {layout.why['replicas']}",
    }
