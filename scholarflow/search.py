"""Searching the live index and describing it: what the CLI (and any caller) gets back."""

from __future__ import annotations

from typing import Any

from scholarflow.indices import live_index
from scholarflow.query import SearchRequest, build_query
from scholarflow.search_client import check, connect
from scholarflow.settings import Settings


def search_papers(settings: Settings, text: str, *, size: int = 10) -> dict[str, Any]:
    client = connect(settings)
    if live_index(client, settings.alias) is None:
        return {"total": 0, "hits": []}
    response = client.search(index=settings.alias, body=build_query(SearchRequest(text, size=size)))
    hits = response["hits"]
    return {
        "total": hits["total"]["value"],
        "hits": [
            {
                "id": hit["_id"],
                "doi": hit["_source"].get("doi"),
                "title_en": hit["_source"].get("title_en"),
                "title_zh": hit["_source"].get("title_zh"),
                "score": hit["_score"],
                "highlight": [
                    f for fragments in hit.get("highlight", {}).values() for f in fragments
                ],
            }
            for hit in hits["hits"]
        ],
    }


def index_status(settings: Settings) -> dict[str, Any]:
    client = connect(settings)
    info = check(client, settings.es_url or "embedded engine")
    version = info["version"]
    engine = (
        f"embedded ({version.get('distribution', 'opensearch')} {version['number']}) at "
        f"{client.transport.node_pool.get().base_url}"
        if settings.embedded
        else f"elasticsearch {version['number']} at {settings.es_url}"
    )
    index = live_index(client, settings.alias)
    documents = client.count(index=index)["count"] if index else 0
    return {"engine": engine, "alias": settings.alias, "index": index, "documents": documents}
