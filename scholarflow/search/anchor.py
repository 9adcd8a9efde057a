"""The textbook BM25 anchor: a judged set's papers in one plain index with stock analysis, and
each query as BEIR's Elasticsearch baseline asks it, so that every figure of Scholarflow's has a
baseline beside it that anyone can rebuild on the same engine (`index_mappings/anchor.bm25.json`).

Text goes to the English or the Chinese fields by its script (Han characters or not), as it
arrives: no cleaning, no folding of Traditional Chinese, no DOI, no ranking signal. The anchor is
written through the one bulk policy (`stores/bulk.py`) and deleted by its caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.paper.text import has_han
from scholarflow.stores.bulk import expanded, send
from scholarflow.stores.templates import load_mapping_file

ANCHOR_FILE = "anchor.bm25.json"
BATCH = 1000  # papers sent at a time


def anchor_document(paper: dict[str, Any]) -> dict[str, str]:
    """A set's paper as the anchor holds it: title and abstract, each in its script's fields."""
    doc: dict[str, str] = {}
    for part in ("title", "abstract"):
        text = paper.get(part)
        if isinstance(text, str) and text.strip():
            doc[f"{part}_{'zh' if has_han(text) else 'en'}"] = text
    return doc


def build_anchor(client: Elasticsearch, index: str, papers: Iterable[dict[str, Any]]) -> int:
    """A new anchor index `index` holding `papers` (each with the set's `id`); the papers
    written. An index of that name is replaced."""
    spec = load_mapping_file(ANCHOR_FILE)
    client.indices.delete(index=index, ignore_unavailable=True)
    client.indices.create(index=index, settings=spec["settings"], mappings=spec["mappings"])
    written = 0
    for batch in _batches(papers):
        actions = [
            {"_index": index, "_id": str(paper["id"]), "_source": anchor_document(paper)}
            for paper in batch
        ]
        result = send(client, expanded(actions))
        result.raise_refused(index)
        written += result.written
    client.indices.put_settings(index=index, settings={"index": {"refresh_interval": "1s"}})
    client.indices.refresh(index=index)
    return written


def anchor_query(text: str, size: int) -> dict[str, Any]:
    """BEIR's baseline query: one `multi_match`, best fields, tie-breaker 0.5."""
    match = dict(load_mapping_file(ANCHOR_FILE)["query"]["multi_match"], query=text)
    return {"size": size, "_source": False, "query": {"multi_match": match}}


def rank_anchor(client: Elasticsearch, index: str, text: str, size: int) -> list[str]:
    """The set ids of the first `size` papers the anchor returns."""
    response = client.search(index=index, body=anchor_query(text, size))
    return [hit["_id"] for hit in response["hits"]["hits"]]


def _batches(papers: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    iterator = iter(papers)
    while batch := list(islice(iterator, BATCH)):
        yield batch
