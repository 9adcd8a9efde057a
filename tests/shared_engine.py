"""One real engine for the whole test session, put back in a known state before each test.

Starting OpenSearch takes seconds, so tests share one node: `wipe()` deletes every index and
Scholarflow template (milliseconds), and `restore()` brings back a named snapshot (the seeds)
from a filesystem repository under the engine's `path.repo`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from elasticsearch import Elasticsearch

from scholarflow.engine import EngineState
from scholarflow.engine.transport import EngineNode

SEEDED = "seeded"
STOCK_SEEDED = "seeded-stock"  # the same seeds, built with the stock analysis profile
VECTORS_SEEDED = "seeded-vectors"  # the seeds with their vectors
REPOSITORY = "tests"


@dataclass
class SharedEngine:
    state: EngineState
    client: Elasticsearch = field(init=False)

    def __post_init__(self) -> None:
        self.client = Elasticsearch(self.state.url, node_class=EngineNode, request_timeout=120)

    @property
    def url(self) -> str:
        return self.state.url

    def wipe(self) -> None:
        """Every index, template and transient/persistent cluster setting a test may have left."""
        client = self.client
        names = list(client.indices.get(index="*", expand_wildcards="all").body)
        if names:
            client.indices.delete(index=",".join(names), expand_wildcards="all")
        for template in client.indices.get_index_template().body.get("index_templates", []):
            client.indices.delete_index_template(name=template["name"])
        components = client.cluster.get_component_template().body.get("component_templates", [])
        for component in components:
            client.cluster.delete_component_template(name=component["name"])
        settings = client.cluster.get_settings(flat_settings=True).body
        cleared = {
            scope: dict.fromkeys(values, None) for scope, values in settings.items() if values
        }
        if cleared:
            client.cluster.put_settings(**cleared)

    def take_snapshot(self, name: str) -> None:
        self.client.snapshot.create_repository(
            name=REPOSITORY, repository={"type": "fs", "settings": {"location": REPOSITORY}}
        )
        self.client.snapshot.create(
            repository=REPOSITORY,
            snapshot=name,
            indices="*",
            include_global_state=True,
            wait_for_completion=True,
        )

    def restore(self, name: str) -> None:
        self.client.snapshot.restore(
            repository=REPOSITORY,
            snapshot=name,
            include_global_state=True,
            wait_for_completion=True,
        )
