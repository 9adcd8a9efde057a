"""Embed: give indexed papers their vectors, after indexing and apart from it.

An ingest makes papers searchable by their words at once; this stage follows, batch by batch,
with the vectors that find them across languages. Which papers: those whose `embedding_info`
does not name the current model, which is every paper an ingest wrote or rewrote since (a
rewrite replaces the whole document, vector and all) and every paper a re-enrichment changed
the text of; with `everything`, all papers, each checked against the hash of its text.

A batch's vectors come from the vector cache or the model (scholarflow/embedding/vectors.py);
its updates are partial documents guarded by the sequence numbers read with the hits, written
by the flow under the writer lock (tasks/updates.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch
from prefect import task
from prefect.cache_policies import NO_CACHE

from scholarflow.embedding.cache import VectorCache
from scholarflow.embedding.model import Embedder, embedder_for
from scholarflow.embedding.vectors import vectors_for
from scholarflow.engine.client import run_client
from scholarflow.settings import Settings
from tasks.updates import guarded_update


@dataclass
class EmbedResult:
    """What happened to one batch of papers."""

    outcomes: Counter[str] = field(default_factory=Counter)  # updated, unchanged, conflicts, …
    vectors: Counter[str] = field(default_factory=Counter)  # embedded, cached, empty, truncated
    errors: Counter[str] = field(default_factory=Counter)  # reasons of refused updates
    model_seconds: float = 0.0  # CPU time the model took
    updates: list[dict[str, Any]] = field(default_factory=list)  # bulk actions not yet written


def plan_vectors(hits: list[dict[str, Any]], embedder: Embedder, cache: VectorCache) -> EmbedResult:
    """The hits' vectors, as guarded partial updates not yet written."""
    batch = vectors_for({hit["_id"]: hit["_source"] for hit in hits}, embedder, cache)
    result = EmbedResult(vectors=batch.vectors, model_seconds=batch.model_seconds)
    result.outcomes["unchanged"] = batch.unchanged
    result.updates = [
        guarded_update(h, batch.docs[h["_id"]]) for h in hits if h["_id"] in batch.docs
    ]
    return result


@task(name="embed", cache_policy=NO_CACHE)
def embed_batch(settings: Settings, hits: list[dict[str, Any]], run_id: str) -> EmbedResult:
    """One batch's vectors (a task run each, on any worker: the model loads once per process);
    the flow writes the updates under the lock."""
    client: Elasticsearch = run_client(settings, run_id)
    return plan_vectors(hits, embedder_for(settings), VectorCache(client))
