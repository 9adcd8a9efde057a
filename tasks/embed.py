"""Embed: give indexed papers their vectors, after indexing and apart from it.

An ingest makes papers searchable by their words at once; this stage follows, batch by batch,
with the vectors that find them across languages. Which papers: those whose `embedding_info`
does not name the current model, which is every paper an ingest wrote or rewrote since (a
rewrite replaces the whole document, vector and all) and every paper a re-enrichment changed
the text of; with `everything`, all papers, each checked against the hash of its text.

Per batch: the passage of each paper (passages.py) and its hash; vectors for hashes the cache
holds are read, the others made by the model and added to the cache; then one partial update
per paper (the vector and `embedding_info`), written by the flow under the writer lock
(tasks/updates.py). A paper without text gets `embedding_info.empty` and no vector, and is not
visited again until its text changes.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch
from prefect import task
from prefect.cache_policies import NO_CACHE

from scholarflow.embedding.cache import CachedVector, VectorCache
from scholarflow.embedding.mapping import INFO_FIELD, VECTOR_FIELD
from scholarflow.embedding.model import MODEL_ID, Embedder, load_embedder
from scholarflow.embedding.passages import PASSAGE_FIELDS, passage_text, text_hash
from scholarflow.search_client import run_client
from scholarflow.settings import Settings
from tasks.updates import guarded_update

# What a batch reads of each paper.
READ_FIELDS = [*PASSAGE_FIELDS, f"{INFO_FIELD}.model", f"{INFO_FIELD}.text_hash"]


@dataclass
class EmbedResult:
    """What happened to one batch of papers."""

    outcomes: Counter[str] = field(default_factory=Counter)  # updated, unchanged, conflicts, …
    vectors: Counter[str] = field(default_factory=Counter)  # embedded, cached, empty, truncated
    errors: Counter[str] = field(default_factory=Counter)  # reasons of refused updates
    model_seconds: float = 0.0  # CPU time the model took
    updates: list[dict[str, Any]] = field(default_factory=list)  # bulk actions not yet written


def selection(model: str = MODEL_ID, everything: bool = False) -> dict[str, Any]:
    """Papers whose vector is missing or was made by another model (all papers: `everything`)."""
    if everything:
        return {"match_all": {}}
    return {"bool": {"must_not": [{"term": {f"{INFO_FIELD}.model": model}}]}}


def plan_vectors(hits: list[dict[str, Any]], embedder: Embedder, cache: VectorCache) -> EmbedResult:
    """Each hit's vector, from the cache or the model; the partial updates, not yet written."""
    result = EmbedResult()
    window = embedder.max_tokens
    texts = {hit["_id"]: passage_text(hit["_source"]) for hit in hits}
    hashes = {doc_id: text_hash(text, window) for doc_id, text in texts.items()}
    wanted = [h for doc_id, h in hashes.items() if texts[doc_id]]
    found = cache.get(list(dict.fromkeys(wanted)))
    missing = {h: texts[doc_id] for doc_id, h in hashes.items() if texts[doc_id] and h not in found}
    started = time.process_time()
    made = embedder.passages(list(missing.values())) if missing else []
    result.model_seconds = time.process_time() - started
    new = {
        h: CachedVector(p.vector, p.tokens, p.truncated)
        for h, p in zip(missing, made, strict=True)
        if p.vector is not None
    }
    cache.put(new)
    now = datetime.now(UTC).isoformat()
    for hit in hits:
        digest = hashes[hit["_id"]]
        stored = hit["_source"].get(INFO_FIELD) or {}
        if stored.get("model") == MODEL_ID and stored.get("text_hash") == digest:
            result.outcomes["unchanged"] += 1
            continue
        entry = new.get(digest) or found.get(digest)
        info: dict[str, Any] = {"model": MODEL_ID, "text_hash": digest, "embedded_at": now}
        if entry is None:
            result.vectors["empty"] += 1
            result.updates.append(guarded_update(hit, {INFO_FIELD: {**info, "empty": True}}))
            continue
        result.vectors["embedded" if digest in new else "cached"] += 1
        result.vectors["truncated"] += entry.truncated
        info |= {"tokens": entry.tokens, "truncated": entry.truncated, "empty": False}
        doc = {VECTOR_FIELD: [float(x) for x in entry.vector], INFO_FIELD: info}
        result.updates.append(guarded_update(hit, doc))
    return result


def batch_embedder(settings: Settings) -> Embedder:
    """The model as the settings ask for it, loaded once per process."""
    return load_embedder(settings.embed_max_tokens, settings.embed_threads)


@task(name="embed", cache_policy=NO_CACHE)
def embed_batch(settings: Settings, hits: list[dict[str, Any]], run_id: str) -> EmbedResult:
    """One batch's vectors (a task run each, on any worker: the model loads once per process);
    the flow writes the updates under the lock."""
    client: Elasticsearch = run_client(settings, run_id)
    return plan_vectors(hits, batch_embedder(settings), VectorCache(client))
