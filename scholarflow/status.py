"""What an operator checks first about a live index: the engine serving it, its papers'
enrichment and corrections, the writer lock, dead letters, vectors and saved searches.

It reads every room of the core, so it stands on the top floor, and nothing in the core imports it.
"""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.alerts.percolator import unmatched_reason
from scholarflow.alerts.watches import WatchStore
from scholarflow.embedding.status import vector_status
from scholarflow.engine import embedded_engine
from scholarflow.engine.client import check, connect, node_urls
from scholarflow.redact import redact_url
from scholarflow.settings import EngineKind, Settings
from scholarflow.stores.deadletters import DeadLetterStore
from scholarflow.stores.indices import generations, live_index
from scholarflow.stores.layout import layout_status
from scholarflow.stores.lock import EXPIRED, Lease, read_lease
from scholarflow.stores.templates import profile_of


def index_status(settings: Settings) -> dict[str, Any]:
    """What an operator checks first: which engine and index serve the alias, when a run last
    wrote to it, how its papers' enrichment stands, how many are retracted or corrected, who may
    write now, what was rejected, and whether saved searches alert on this engine."""
    client = connect(settings)
    info = check(client, settings.es_url or "embedded engine")
    engine = _describe_engine(settings, info["version"], client)
    index = live_index(client, settings.alias)
    contents: dict[str, Any] = {
        "documents": 0,
        "last_indexed": None,
        "enrichment": {},
        "corrections": {},
    }
    profile, index_settings = None, {}
    if index:
        contents = index_contents(client, index)
        index_settings = client.indices.get_settings(index=index)[index]["settings"]
        profile = profile_of(index_settings)
    lease = read_lease(client, settings.alias)
    return {
        "engine": engine,
        **layout_status(client, settings, index, index_settings),
        "alias": settings.alias,
        "index": index,
        **contents,
        "analysis_profile": profile,
        **vector_status(client, index),
        "generations": generations(client, settings.alias),
        "writer_lock": _lock_state(lease),
        "dead_letters": DeadLetterStore(client).page(limit=0).total,
        "saved_searches": WatchStore(client).count(),
        "alerts": unmatched_reason(client) or "saved searches matched after each ingest",
    }


def engine_name(version: dict[str, Any]) -> str:
    """`opensearch 2.19.6 (Lucene 9.12.3)`, from the engine's own `version` answer."""
    name = f"{version.get('distribution', 'elasticsearch')} {version['number']}"
    if version.get("lucene_version"):
        name += f" (Lucene {version['lucene_version']})"
    return name


def _describe_engine(settings: Settings, version: dict[str, Any], client: Elasticsearch) -> str:
    """`opensearch 2.19.6 (Lucene 9.12.3) at URL`, saying when it is the embedded one and when
    that is the in-memory fallback."""
    name = engine_name(version)
    if not settings.embedded:
        nodes = node_urls(settings.es_url or "")
        return f"{name} at {', '.join(redact_url(url) for url in nodes)}"
    state = embedded_engine(settings).status()
    url = client.transport.node_pool.get().base_url
    if state and state.kind == EngineKind.OSMEM:
        return f"embedded fallback osmem at {url} (in memory, not Lucene)"
    return f"embedded {name} at {url}"


def _lock_state(lease: Lease | None) -> str:
    if lease is None:
        return "free"
    return f"{lease.describe()}; {EXPIRED}" if lease.expired() else lease.describe()


def index_contents(client: Elasticsearch, index: str) -> dict[str, Any]:
    """Documents, the newest `indexed_at`, the papers by enrichment status and by what their
    publisher's updates say (retracted, corrected …), in one request."""
    response = client.search(
        index=index,
        size=0,
        track_total_hits=True,
        aggs={
            "last": {"max": {"field": "indexed_at"}},
            "enrichment": {"terms": {"field": "enrichment.status", "size": 20}},
            "corrections": {"terms": {"field": "correction.status", "size": 20}},
        },
    )
    aggregations = response["aggregations"]
    last = aggregations["last"]
    return {
        "documents": response["hits"]["total"]["value"],
        "last_indexed": last.get("value_as_string") or last.get("value"),
        "enrichment": _counts(aggregations["enrichment"]),
        "corrections": _counts(aggregations["corrections"]),
    }


def _counts(terms: dict[str, Any]) -> dict[str, int]:
    return {b["key"]: b["doc_count"] for b in terms["buckets"]}
