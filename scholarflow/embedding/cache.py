"""The vector cache: every vector made, by the hash of its text (passages.py), in an index of the
engine (`scholarflow-vectors`).

Embedding is the expensive step (a few hundred milliseconds of CPU for an abstract); reading a
cached vector costs a lookup. A paper rewritten by an ingest (which drops its vector), an index
rebuilt by a replay re-index, or a second run over the same papers finds its text here and is
never embedded again; every worker and process shares the one cache, as they share the DOI
cache. Vectors are stored as little-endian float32 bytes (1.5 kB each), not indexed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from elasticsearch import Elasticsearch

from scholarflow.embedding.model import MODEL_ID
from scholarflow.stores.bulk import BulkRetry, expanded, send
from scholarflow.stores.indices import ensure_index
from scholarflow.stores.templates import load_mapping_file

CACHE_INDEX = "scholarflow-vectors"
MAPPINGS_FILE = "vector-cache.mappings.json"


@dataclass(frozen=True, slots=True)
class CachedVector:
    vector: np.ndarray
    tokens: int
    truncated: bool


class VectorCache:
    def __init__(self, client: Elasticsearch, retry: BulkRetry | None = None) -> None:
        self.client = client
        self.retry = retry
        ensure_index(client, CACHE_INDEX, load_mapping_file(MAPPINGS_FILE))

    def get(self, hashes: list[str]) -> dict[str, CachedVector]:
        """The cached vectors among `hashes` (one round trip)."""
        if not hashes:
            return {}
        docs = self.client.mget(index=CACHE_INDEX, ids=hashes)["docs"]
        return {
            doc["_id"]: CachedVector(
                np.frombuffer(base64.b64decode(doc["_source"]["vector"]), dtype="<f4"),
                doc["_source"]["tokens"],
                doc["_source"]["truncated"],
            )
            for doc in docs
            if doc.get("found")
        }

    def put(self, entries: dict[str, CachedVector]) -> None:
        """Keep new vectors; a refused write fails the run in one line (a full disk)."""
        if not entries:
            return
        now = datetime.now(UTC).isoformat()
        actions = [
            {
                "_index": CACHE_INDEX,
                "_id": key,
                "_source": {
                    "model": MODEL_ID,
                    "vector": base64.b64encode(entry.vector.astype("<f4").tobytes()).decode(),
                    "tokens": entry.tokens,
                    "truncated": entry.truncated,
                    "cached_at": now,
                },
            }
            for key, entry in entries.items()
        ]
        send(self.client, expanded(actions), self.retry).raise_refused(CACHE_INDEX)
