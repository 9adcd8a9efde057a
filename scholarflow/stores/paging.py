"""Every document a query matches, read page by page in `id` order with `search_after`.

A scroll (or a point in time) keeps a context on the nodes that hold the shards; a node that
dies takes its contexts along and the whole read fails ("Scroll request has only succeeded on
2 of 3 shards"). Here each page is a search of its own, answered by whichever copies are alive;
a page some shard could not answer is asked again, so a node lost part-way costs a page, not the
read. Used where a run reads back what it wrote (the papers a run percolates), and where a
stage visits the papers it updates in place (embedding, re-enrichment: `seq_no` gives each hit
the sequence number its guarded update needs).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.errors import ScholarflowError

# Papers carry their document id in the keyword field `id` (index_mappings/papers.mappings.json).
ID_FIELD = "id"
PAGE_ATTEMPTS = 5
PAGE_BACKOFF = 1.0


class IncompletePage(ScholarflowError):
    """A page some shard never answered, after every attempt."""


def pages(
    client: Elasticsearch,
    index: str,
    query: dict[str, Any],
    source: list[str] | bool,
    size: int,
    *,
    seq_no: bool = False,
) -> Iterator[list[dict[str, Any]]]:
    """Hits of `query` in `index`, `size` a page, until none is left."""
    after: list[Any] | None = None
    while True:
        hits = _page(client, index, query, source, size, after, seq_no)
        if not hits:
            return
        yield hits
        if len(hits) < size:
            return
        after = hits[-1]["sort"]


def _page(
    client: Elasticsearch,
    index: str,
    query: dict[str, Any],
    source: list[str] | bool,
    size: int,
    after: list[Any] | None,
    seq_no: bool,
) -> list[dict[str, Any]]:
    for attempt in range(PAGE_ATTEMPTS):
        body: dict[str, Any] = {
            "query": query,
            "_source": source,
            "size": size,
            "sort": [{ID_FIELD: "asc"}],
            "track_total_hits": False,
            "seq_no_primary_term": seq_no,
        }
        if after:
            body["search_after"] = after
        response = client.search(index=index, body=body)
        if not response["_shards"].get("failed"):
            hits: list[dict[str, Any]] = response["hits"]["hits"]
            return hits
        time.sleep(PAGE_BACKOFF * 2**attempt)  # a shard's copies are moving: ask again
    raise IncompletePage(
        f"{index}: {response['_shards']['failed']} shards did not answer after "
        f"{PAGE_ATTEMPTS} attempts (is a node down and its shards without a replica?)"
    )
