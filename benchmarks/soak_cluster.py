"""The soak's node failure on a local cluster (`python -m benchmarks.soak --nodes 3`): one node
holding primaries of the papers index killed (SIGKILL) half-way through the load and started
again some seconds later, with the times the cluster was yellow and green again, the searches
that failed before and after it was yellow, and the papers the alias holds at the end.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from scholarflow.engine import EmbeddedEngine, EngineKind
from scholarflow.engine.cluster import health
from scholarflow.settings import Settings

INDEX = "papers-000001"
POLL = 0.5


class Searches(Protocol):
    failed_at: list[float]


@dataclass
class NodeFault:
    home: Path
    urls: list[str]
    kill_after: int  # papers indexed by the primaries before the kill
    down: float  # seconds the node stays down
    events: dict[str, float] = field(default_factory=dict)  # what happened, and when
    killed: str = ""

    def _engine(self) -> EmbeddedEngine:
        return EmbeddedEngine(self.home, kind=EngineKind.OPENSEARCH, nodes=len(self.urls))

    def _client(self) -> Any:
        from scholarflow.engine.client import connect

        settings = Settings(_env_file=None, es_url=",".join(self.urls), es_timeout=10)
        return connect(settings)

    def run(self, ingest: subprocess.Popen[str]) -> None:
        """Wait for half the load, kill a node, wait `down` s, start it again."""
        client = self._client()
        while ingest.poll() is None:
            if _indexed(client) >= self.kill_after:
                break
            time.sleep(POLL)
        else:
            return  # the load ended first: `killed` stays empty and the soak fails
        engine = self._engine()
        manager = health(client)["cluster_manager"]
        held = _primaries(client)
        self.killed = next((n for n in held if n != manager), next(iter(held)))
        self.events["started"] = time.monotonic()
        engine.kill_node(self.killed)
        self.events["killed"] = time.monotonic()
        self._wait_status(client, "yellow", "yellow_again")
        time.sleep(max(0.0, self.down - (time.monotonic() - self.events["killed"])))
        engine.restart_node(self.killed, wait_green=False)
        self.events["restarted"] = time.monotonic()
        self._wait_status(client, "green", "green_again")

    def _wait_status(self, client: Any, wanted: str, event: str) -> None:
        """Record when the cluster reports `wanted` (green counts as yellow) with no shard
        copy of a primary missing."""
        while event not in self.events:
            try:
                found = client.cluster.health(timeout="5s").body
            except Exception:  # the health call itself may meet the dead node: poll again
                found = {}
            status = found.get("status")
            if status == "green" or (wanted == "yellow" and status == "yellow"):
                self.events[event] = time.monotonic()
                return
            time.sleep(POLL)

    def finish(self, searches: Searches) -> dict[str, Any]:
        """The figures: seconds from the kill to each event, failed searches around them,
        and the papers the alias holds once the cluster is green."""
        client = self._client()
        client.cluster.health(wait_for_status="green", timeout="300s")
        if "restarted" in self.events:  # green now, if the fault thread has not polled it yet
            self.events.setdefault("green_again", time.monotonic())
        if not client.indices.exists_alias(name="papers"):
            return {"killed": self.killed, "papers": 0, "error": "the alias does not exist"}
        client.indices.refresh(index="papers")
        papers = int(client.count(index="papers")["count"])
        store = client.indices.stats(index="papers", metric="store")["_all"]["primaries"]
        killed = self.events.get("killed")
        yellow = self.events.get("yellow_again", float("inf"))
        failed = searches.failed_at
        before = killed if killed is not None else yellow
        return {
            "killed": self.killed,
            "seconds_after_kill": {
                name: round(when - killed, 1)
                for name, when in self.events.items()
                if killed is not None and name != "started"
            },
            "failed_searches_before_kill": sum(1 for t in failed if t < before),
            "failed_searches_until_yellow": sum(1 for t in failed if before <= t < yellow),
            "failed_searches_after_yellow": sum(1 for t in failed if t >= yellow),
            "papers": papers,
            # Unmerged segments: more than the papers take once merged (the layout's rule).
            "primary_store_bytes_per_paper": round(store["store"]["size_in_bytes"] / papers)
            if papers
            else None,
            "health": health(client),
        }


def _indexed(client: Any) -> int:
    try:
        stats = client.indices.stats(index=INDEX, metric="indexing")
        return int(stats["_all"]["primaries"]["indexing"]["index_total"])
    except Exception:  # not created yet, or a node is away: not there yet
        return -1


def _primaries(client: Any) -> list[str]:
    rows = client.cat.shards(index=INDEX, format="json", h="prirep,node").body
    return sorted({row["node"] for row in rows if row["prirep"] == "p" and row.get("node")})
