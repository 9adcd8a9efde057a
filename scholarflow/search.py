"""Searching the live index and describing it: what the CLI (and any caller) gets back."""

from __future__ import annotations

import logging
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.deadletter import DeadLetterStore
from scholarflow.embedding.model import ModelUnavailable, embedder_for
from scholarflow.embedding.status import vector_status
from scholarflow.engine import embedded_engine
from scholarflow.hybrid import Hybrid
from scholarflow.indices import generations, live_index, profile_of
from scholarflow.lock import EXPIRED, Lease, read_lease
from scholarflow.percolator import unmatched_reason
from scholarflow.query import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Filters,
    SearchRequest,
    build_query,
    suggest_query,
)
from scholarflow.redact import redact_url
from scholarflow.search_client import check, connect
from scholarflow.settings import EngineKind, HybridMode, Settings
from scholarflow.watches import WatchStore

logger = logging.getLogger(__name__)


def search_papers(
    settings: Settings,
    text: str,
    *,
    size: int = 10,
    filters: Filters | None = None,
    facets: bool = False,
) -> dict[str, Any]:
    client = connect(settings)
    if live_index(client, settings.alias) is None:
        return {"total": 0, "hits": [], **({"facets": {}} if facets else {})}
    request = SearchRequest(text, size=size, filters=filters or Filters(), facets=facets)
    return search_index(client, settings.alias, request, hybrid_search(settings))


def hybrid_search(settings: Settings) -> Hybrid | None:
    """The vector half of searches as the settings ask for it; None (words alone) when it is
    off or the model cannot load, which is said in one line and searching goes on."""
    if settings.hybrid is HybridMode.OFF:
        return None
    try:
        embedder = embedder_for(settings)
    except ModelUnavailable as exc:
        logger.warning("%s%s; searching by words alone", exc.prefix, exc)
        return None
    return Hybrid(embedder, settings.hybrid, settings.fusion, settings.vector_weight)


def search_index(
    client: Elasticsearch, index: str, request: SearchRequest, hybrid: Hybrid | None = None
) -> dict[str, Any]:
    """One search against an index or alias (a re-index verifies a new index this way); with
    `hybrid`, the papers nearest the query's meaning are fused in (scholarflow/hybrid.py)."""
    body = build_query(request)
    plan = hybrid.plan(client, index, request) if hybrid else None
    response: Any
    if plan is None:
        response = client.search(index=index, body=body)
        found = [_hit(hit) for hit in response["hits"]["hits"]]
        total = response["hits"]["total"]["value"]
    else:
        response, near = plan.search(client, index, body, request)
        found = plan.fuse(response["hits"]["hits"], near, request.size, _hit)
        lexical = {hit["_id"] for hit in response["hits"]["hits"]}
        total = response["hits"]["total"]["value"] + sum(h["_id"] not in lexical for h in near)
    result: dict[str, Any] = {"total": total, "hits": found}
    if request.facets:
        result["facets"] = {
            name: [_bucket(b) for b in agg["buckets"]]
            for name, agg in response.get("aggregations", {}).items()
        }
    return result


def suggest_titles(settings: Settings, prefix: str, *, size: int = 10) -> dict[str, Any]:
    """Titles for a prefix: completions of the title's start first, then titles with words
    starting that way anywhere (search-as-you-type)."""
    client = connect(settings)
    if live_index(client, settings.alias) is None or not prefix.strip():
        return {"prefix": prefix, "suggestions": []}
    response = client.search(index=settings.alias, body=suggest_query(prefix, size))
    suggestions: list[dict[str, Any]] = []
    seen: set[str] = set()
    for option in response.get("suggest", {}).get("titles", [{}])[0].get("options", []):
        suggestions.append(_suggestion(option["text"], option, "completion"))
        seen.add(option["_id"])
    for hit in response["hits"]["hits"]:
        if len(suggestions) >= size:
            break
        if hit["_id"] not in seen:
            source = hit["_source"]
            text = source.get("title_en") or source.get("title_zh") or ""
            suggestions.append(_suggestion(text, hit, "search_as_you_type"))
            seen.add(hit["_id"])
    return {"prefix": prefix, "suggestions": suggestions[:size]}


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
    profile = None
    if index:
        contents = _contents(client, index)
        profile = profile_of(client.indices.get_settings(index=index)[index]["settings"])
    lease = read_lease(client, settings.alias)
    return {
        "engine": engine,
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


def _describe_engine(settings: Settings, version: dict[str, Any], client: Elasticsearch) -> str:
    """`opensearch 2.19.6 (Lucene 9.12.3) at URL`, saying when it is the embedded one and when
    that is the in-memory fallback."""
    name = f"{version.get('distribution', 'elasticsearch')} {version['number']}"
    if version.get("lucene_version"):
        name += f" (Lucene {version['lucene_version']})"
    if not settings.embedded:
        return f"{name} at {redact_url(settings.es_url or '')}"
    state = embedded_engine(settings).status()
    url = client.transport.node_pool.get().base_url
    if state and state.kind == EngineKind.OSMEM:
        return f"embedded fallback osmem at {url} (in memory, not Lucene)"
    return f"embedded {name} at {url}"


def _lock_state(lease: Lease | None) -> str:
    if lease is None:
        return "free"
    return f"{lease.describe()}; {EXPIRED}" if lease.expired() else lease.describe()


def _contents(client: Elasticsearch, index: str) -> dict[str, Any]:
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


def _hit(hit: dict[str, Any]) -> dict[str, Any]:
    source = hit["_source"]
    return {
        "id": hit["_id"],
        "doi": source.get("doi"),
        "title_en": source.get("title_en"),
        "title_zh": source.get("title_zh"),
        "score": hit["_score"],
        "highlight": [
            merge_marks(f) for fragments in hit.get("highlight", {}).values() for f in fragments
        ],
        "year": source.get("year"),
        "journal": (source.get("journal") or {}).get("name")
        or (source.get("journal") or {}).get("name_zh"),
        "correction": _correction(source.get("correction")),
        "index": hit["_index"],
    }


def _correction(correction: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a reader must see of a paper's corrections: the status and its notice."""
    if not correction or not correction.get("status"):
        return None
    return {key: correction.get(key) for key in ("status", "notice_doi", "notice_date")}


def merge_marks(fragment: str) -> str:
    """`«白细»«胞»«减少»` → `«白细胞减少»`: Chinese is matched in bigrams and single characters,
    and the highlighter marks each one; marks that touch become one span, as the reader sees one
    word."""
    return fragment.replace(HIGHLIGHT_END + HIGHLIGHT_START, "")


def _bucket(bucket: dict[str, Any]) -> dict[str, Any]:
    value = bucket["key"]
    if bucket.get("key_as_string") in ("true", "false"):
        value = bucket["key_as_string"] == "true"
    return {"value": value, "count": bucket["doc_count"]}


def _suggestion(text: str, hit: dict[str, Any], via: str) -> dict[str, Any]:
    source = hit.get("_source") or {}
    return {"text": text, "id": hit["_id"], "doi": source.get("doi"), "via": via}
