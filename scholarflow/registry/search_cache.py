"""Crossref's answers to bibliographic searches, kept like DOI answers.

The index `scholarflow-doi-searches` holds one entry per search (keyed by a hash of the query
text and the rows asked for) in the DOI cache's entry shape and with its times to live: 90 days
for candidates, 7 for "no candidates". A re-run, a replay re-index or a `cache-only` run reads
the same candidates, and so reaches the same decision, without asking Crossref again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta

from elasticsearch import Elasticsearch

from scholarflow.registry.cache import cache_entry, usable_lookups
from scholarflow.registry.lookup import Lookup
from scholarflow.settings import Settings
from scholarflow.stores.bulk import Fate, expanded, send
from scholarflow.stores.indices import ensure_index, stored_documents
from scholarflow.stores.templates import load_mapping_file

SEARCH_INDEX = "scholarflow-doi-searches"
SEARCH_MAPPINGS_FILE = "doi-searches.mappings.json"


def search_key(text: str, rows: int) -> str:
    """One key per query, however it is spaced or cased."""
    normalised = " ".join(text.casefold().split())
    return hashlib.blake2b(f"{rows}\0{normalised}".encode(), digest_size=16).hexdigest()


class SearchCache:
    def __init__(self, client: Elasticsearch, settings: Settings) -> None:
        self.client = client
        self.ttl = timedelta(days=settings.doi_cache_ttl_days)
        self.negative_ttl = timedelta(days=settings.doi_negative_ttl_days)

    def ensure(self) -> None:
        ensure_index(self.client, SEARCH_INDEX, load_mapping_file(SEARCH_MAPPINGS_FILE))

    def get_many(
        self, keys: Iterable[str], fetched_after: datetime | None = None, stale_ok: bool = False
    ) -> dict[str, Lookup]:
        ids = list(dict.fromkeys(keys))
        if not ids:
            return {}
        entries = stored_documents(self.client, SEARCH_INDEX, ids)
        return usable_lookups(entries, "body", fetched_after, stale_ok)

    def put_many(self, lookups: Iterable[Lookup]) -> int:
        """Store answers worth keeping (candidates, or none); returns how many were stored."""
        actions = [
            {
                "_index": SEARCH_INDEX,
                "_id": lookup.doi,
                "_source": cache_entry(
                    lookup, self.ttl if lookup.status == "found" else self.negative_ttl
                ),
            }
            for lookup in lookups
            if lookup.status in ("found", "not_found")
        ]
        if not actions:
            return 0
        self.ensure()
        # An answer not stored is asked for again next time: nothing is lost.
        result = send(self.client, expanded(actions), refresh="wait_for")
        return sum(item.fate is Fate.WRITTEN for item in result.items)
