"""What `scholarflow status` says about vectors: which vector field the live index has, and how
many of its papers have a vector, have no text to embed, or wait for the next embedding run."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.embedding.model import MODEL_ID
from scholarflow.settings import VectorMapping
from scholarflow.stores.vector_mapping import DESCRIPTIONS, INFO_FIELD, index_mapping


def vector_status(client: Elasticsearch, index: str | None) -> dict[str, Any]:
    """`vector_mapping` (the field, or why there is none) and `vectors` (papers per state)."""
    if index is None:
        return {"vector_mapping": None, "vectors": {}}
    mapping = index_mapping(client, index)
    if mapping is VectorMapping.NONE:
        return {"vector_mapping": DESCRIPTIONS[mapping], "vectors": {}}
    current = {"term": {f"{INFO_FIELD}.model": MODEL_ID}}
    empty = {"term": {f"{INFO_FIELD}.empty": True}}
    response = client.search(
        index=index,
        size=0,
        track_total_hits=True,
        aggs={
            "states": {
                "filters": {
                    "filters": {
                        "embedded": {"bool": {"filter": [current], "must_not": [empty]}},
                        "no_text": {"bool": {"filter": [current, empty]}},
                    }
                }
            }
        },
    )
    buckets = response["aggregations"]["states"]["buckets"]
    embedded, no_text = buckets["embedded"]["doc_count"], buckets["no_text"]["doc_count"]
    waiting = response["hits"]["total"]["value"] - embedded - no_text
    return {
        "vector_mapping": f"{DESCRIPTIONS[mapping]}; model {MODEL_ID}",
        "vectors": {"embedded": embedded, "no_text": no_text, "waiting": waiting},
    }
