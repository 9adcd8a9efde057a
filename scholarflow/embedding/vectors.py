"""A batch of papers' vectors, from the vector cache or the model: the work of the embedding
stage (tasks/embed.py), and of anything else that gives papers vectors (the cross-lingual
evaluation's copies of the index).

Per batch: each paper's passage (passages.py) and its hash; vectors for hashes the cache holds
are read, the others made by the model in one call and added to the cache; then each paper's
partial document: the vector and `embedding_info`. A paper without text gets
`embedding_info.empty` and no vector; one whose stored `embedding_info` names this model and
text already has its vector (`unchanged`).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scholarflow.embedding.cache import CachedVector, VectorCache
from scholarflow.embedding.model import MODEL_ID, Embedder
from scholarflow.embedding.passages import PASSAGE_FIELDS, passage_text, text_hash
from scholarflow.stores.vector_mapping import INFO_FIELD, VECTOR_FIELD

# What a batch reads of each paper.
READ_FIELDS = [*PASSAGE_FIELDS, f"{INFO_FIELD}.model", f"{INFO_FIELD}.text_hash"]


@dataclass
class VectorBatch:
    """Partial documents by paper id, and how their vectors came about."""

    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    unchanged: int = 0
    vectors: Counter[str] = field(default_factory=Counter)  # embedded, cached, empty, truncated
    model_seconds: float = 0.0  # CPU time the model took


def selection(everything: bool = False) -> dict[str, Any]:
    """Papers whose vector is missing or was made by another model (all papers: `everything`)."""
    if everything:
        return {"match_all": {}}
    return {"bool": {"must_not": [{"term": {f"{INFO_FIELD}.model": MODEL_ID}}]}}


def vectors_for(
    papers: dict[str, dict[str, Any]], embedder: Embedder, cache: VectorCache
) -> VectorBatch:
    """The partial documents that give `papers` (id → source with READ_FIELDS) their vectors."""
    batch = VectorBatch()
    texts = {doc_id: passage_text(source) for doc_id, source in papers.items()}
    hashes = {doc_id: text_hash(text, embedder.max_tokens) for doc_id, text in texts.items()}
    found = cache.get(list(dict.fromkeys(hashes[d] for d, text in texts.items() if text)))
    missing = {hashes[d]: text for d, text in texts.items() if text and hashes[d] not in found}
    started = time.process_time()
    made = embedder.passages(list(missing.values())) if missing else []
    batch.model_seconds = time.process_time() - started
    new = {
        digest: CachedVector(p.vector, p.tokens, p.truncated)
        for digest, p in zip(missing, made, strict=True)
        if p.vector is not None
    }
    cache.put(new)
    now = datetime.now(UTC).isoformat()
    for doc_id, source in papers.items():
        digest = hashes[doc_id]
        stored = source.get(INFO_FIELD) or {}
        if stored.get("model") == MODEL_ID and stored.get("text_hash") == digest:
            batch.unchanged += 1
            continue
        entry = new.get(digest) or found.get(digest)
        info: dict[str, Any] = {"model": MODEL_ID, "text_hash": digest, "embedded_at": now}
        if entry is None:
            batch.vectors["empty"] += 1
            batch.docs[doc_id] = {INFO_FIELD: {**info, "empty": True}}
            continue
        batch.vectors["embedded" if digest in new else "cached"] += 1
        batch.vectors["truncated"] += entry.truncated
        info |= {"tokens": entry.tokens, "truncated": entry.truncated, "empty": False}
        batch.docs[doc_id] = {VECTOR_FIELD: [float(x) for x in entry.vector], INFO_FIELD: info}
    return batch
