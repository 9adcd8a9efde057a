"""Searching the live index: what the CLI (and any caller) gets back for a query or a prefix."""

from __future__ import annotations

import logging
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.embedding.model import ModelUnavailable, embedder_for
from scholarflow.engine.client import connect
from scholarflow.search.hybrid import Hybrid
from scholarflow.search.query import (
    HIGHLIGHT_END,
    HIGHLIGHT_START,
    Filters,
    SearchRequest,
    build_query,
    suggest_query,
)
from scholarflow.settings import HybridMode, Settings
from scholarflow.stores.indices import live_index

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
    return Hybrid(
        embedder,
        settings.hybrid,
        settings.fusion,
        settings.vector_weight,
        settings.translation_weight,
        settings.question_parts,
        settings.question_weight,
        settings.query_vectors_kept,
    )


def search_index(
    client: Elasticsearch,
    index: str,
    request: SearchRequest,
    hybrid: Hybrid | None = None,
    *,
    order: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One search against an index or alias (a re-index verifies a new index this way); with
    `hybrid`, the papers nearest the query's meaning are fused in (scholarflow/search/hybrid.py).
    `order`: a total order for ties (score, then id), for callers that page with `search_after`.

    A search that finds nothing is asked once more with any one of its parts and its quoted
    phrases read as words (`relaxed: true` in the result when that found papers): no query
    whose words occur in the index returns nothing, while the first, stricter query keeps short
    keyword searches precise. Where the vector ranking takes every paper (a question, `always`)
    it always finds some, so there the words finding nothing is enough to ask again. Across
    scripts it is not: what the vectors found is what the words cannot reach, and the words'
    second try (a stray character of a Chinese query in a journal name) ranked above it (seeds,
    Chinese -> English-only papers: MRR@10 0.620 -> 0.498)."""
    body = build_query(request)
    result, found = _search(client, index, request, body, hybrid, order)
    if found == 0:
        loose = build_query(request, loose=True)
        if loose != body:
            relaxed, found = _search(client, index, request, loose, hybrid, order)
            if found:
                result = relaxed | {"relaxed": True}
    return result


def _search(
    client: Elasticsearch,
    index: str,
    request: SearchRequest,
    body: dict[str, Any],
    hybrid: Hybrid | None,
    order: list[dict[str, Any]] | None,
) -> tuple[dict[str, Any], int]:
    """The result, and how many papers it found for `search_index` to judge it by: the words'
    where the vector ranking takes every paper, all of them otherwise."""
    if order:
        body = body | {"sort": order, "track_scores": True}
    plan = hybrid.plan(client, index, request) if hybrid else None
    response: Any
    if plan is None:
        response = client.search(index=index, body=body)
        found = [_hit(hit) for hit in response["hits"]["hits"]]
        total = words = response["hits"]["total"]["value"]
    else:
        response, near, translated = plan.search(client, index, body, request)
        found = plan.fuse(response["hits"]["hits"], near, request.size, _hit, translated)
        lexical = {hit["_id"] for hit in response["hits"]["hits"]}
        crossed = {hit["_id"] for hit in [*near, *translated]} - lexical
        words = response["hits"]["total"]["value"]
        total = words + len(crossed)
        if plan.only_other:
            words = total
    result: dict[str, Any] = {"total": total, "hits": found}
    if request.facets:
        result["facets"] = {
            name: [_bucket(b) for b in agg["buckets"]]
            for name, agg in response.get("aggregations", {}).items()
        }
    return result, words


def suggest_titles(settings: Settings, prefix: str, *, size: int = 10) -> dict[str, Any]:
    """Titles for a prefix: completions of the title's start first, then titles with words
    starting that way anywhere (search-as-you-type)."""
    client = connect(settings)
    if live_index(client, settings.alias) is None:
        return {"prefix": prefix, "suggestions": []}
    return suggest_in(client, settings.alias, prefix, size=size)


def suggest_in(client: Elasticsearch, index: str, prefix: str, *, size: int = 10) -> dict[str, Any]:
    """`suggest_titles` over a client the caller keeps (the search service's one client)."""
    if not prefix.strip():
        return {"prefix": prefix, "suggestions": []}
    response = client.search(index=index, body=suggest_query(prefix, size))
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


# For callers that send a request of their own built on `build_query` (the search service's
# pages past the first ones, which continue with `search_after`): hits and facet buckets
# described as `search_index` describes them.
describe_hit = _hit
describe_bucket = _bucket
