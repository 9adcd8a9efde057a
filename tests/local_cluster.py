"""A real three-node cluster of the embedded OpenSearch for the cluster tests, and what they
need around it: a generated corpus, which node holds what, and a node killed (SIGKILL) and
started again at its own addresses.

One cluster per session (starting three JVMs takes 20-40 s on two cores); each test empties it
and leaves it green with all three nodes.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch, helpers

from scholarflow.engine import EmbeddedEngine, EngineState
from scholarflow.engine.client import connect
from scholarflow.engine.cluster import health
from scholarflow.settings import DoiLookup, EngineKind, Settings

NODES = 3
GREEN_TIMEOUT = "120s"


@dataclass
class LocalCluster:
    engine: EmbeddedEngine
    state: EngineState
    home: Path

    def settings(self, tmp_path: Path, **overrides: Any) -> Settings:
        """Settings that reach every node of the cluster (the client's node pool), as
        `scholarflow engine start --nodes 3` leaves a home."""
        base = Settings(
            _env_file=None,
            home=self.home,
            engine=EngineKind.OPENSEARCH,
            engine_nodes=NODES,
            doi_lookup=DoiLookup.OFF,
            crossref_url="http://127.0.0.1:9",  # discard port: nothing listens
        )
        return base.model_copy(update=overrides)

    def client(self) -> Elasticsearch:
        return connect(self.settings(self.home), start=False)

    def wipe(self) -> None:
        """Every index and Scholarflow template a test left; all nodes up and green."""
        self.ensure_all_up()
        client = self.client()
        names = list(client.indices.get(index="*", expand_wildcards="all").body)
        if names:
            client.indices.delete(index=",".join(names), expand_wildcards="all")
        for template in client.indices.get_index_template().body.get("index_templates", []):
            client.indices.delete_index_template(name=template["name"])
        components = client.cluster.get_component_template().body.get("component_templates", [])
        for component in components:
            client.cluster.delete_component_template(name=component["name"])
        self.wait_green()

    def ensure_all_up(self) -> None:
        for node in self.engine.down_nodes(self.state):
            self.state = self.engine.restart_node(node.name)

    def wait_green(self) -> dict[str, Any]:
        client = self.client()
        client.cluster.health(wait_for_status="green", wait_for_nodes=NODES, timeout=GREEN_TIMEOUT)
        return health(client)

    def manager(self) -> str:
        return str(health(self.client())["cluster_manager"])

    def primary_nodes(self, index: str) -> dict[str, int]:
        """node name → primaries of `index` it holds."""
        rows = self.client().cat.shards(index=index, format="json", h="prirep,node,state")
        held: dict[str, int] = {}
        for row in rows.body:
            if row["prirep"] == "p" and row.get("node"):
                held[row["node"]] = held.get(row["node"], 0) + 1
        return held

    def kill(self, name: str) -> None:
        self.engine.kill_node(name)

    def restart(self, name: str) -> None:
        self.state = self.engine.restart_node(name)


def start_cluster(home: Path) -> LocalCluster:
    engine = EmbeddedEngine(home, kind=EngineKind.OPENSEARCH, nodes=NODES)
    return LocalCluster(engine, engine.start(), home)


def write_corpus(folder: Path, files: int, per_file: int) -> tuple[set[str], int]:
    """(distinct DOIs, broken lines). Every 50th record repeats the previous DOI (a duplicate
    to merge); every 997th line is broken JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    dois: set[str] = set()
    broken = 0
    for part in range(files):
        with (folder / f"part-{part}.jsonl").open("w") as out:
            for n in range(per_file):
                line_no = part * per_file + n
                if line_no % 997 == 996:
                    out.write('{"title": "broken", "doi": \n')
                    broken += 1
                    continue
                doi = f"10.5555/cluster.{line_no - 1 if line_no % 50 == 49 else line_no}"
                dois.add(doi)
                record = {
                    "title": f"Record {line_no} on leukopenia after rituximab",
                    "doi": doi,
                    "authors": "Li Wei, Zhang San",
                    "abstract": "<p>Rituximab " + "and leukocyte recovery " * 12 + "</p>",
                    "publicationDate": "2025-09",
                }
                out.write(json.dumps(record) + "\n")
    return dois, broken


def indexed_total(client: Elasticsearch, index: str) -> int:
    """Documents the primaries of `index` have indexed (searchable or not); -1 while the
    index does not exist or no node answers."""
    try:
        stats = client.indices.stats(index=index, metric="indexing")
        return int(stats["_all"]["primaries"]["indexing"]["index_total"])
    except Exception:  # polled while nodes die: any failure is "not yet"
        return -1


def ids_in(client: Elasticsearch, index: str) -> list[str]:
    client.indices.refresh(index=index)
    return [hit["_id"] for hit in helpers.scan(client, index=index, _source=False, size=2000)]


@dataclass
class Background:
    """A call run on a thread: its result, or the error it raised."""

    call: Callable[[], Any]
    result: Any = None
    error: BaseException | None = None
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self.call()
        except BaseException as exc:  # handed to the test
            self.error = exc

    def wait(self, timeout: float) -> Any:
        self.thread.join(timeout)
        if self.thread.is_alive():  # say where it is stuck, not only that it is
            frame = sys._current_frames().get(self.thread.ident or -1)
            where = "".join(traceback.format_stack(frame)) if frame else "(no frame)"
            raise AssertionError(f"still running after {timeout} s, at:\n{where}")
        return self.result

    def running(self) -> bool:
        return self.thread.is_alive()


def wait_until(condition: Callable[[], bool], timeout: float, while_: Background) -> bool:
    """Poll `condition` until it holds (True), or the background call ended or the time ran
    out (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and while_.running():
        if condition():
            return True
        time.sleep(0.05)
    return False
