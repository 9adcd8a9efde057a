"""Resolve a batch of DOIs (or bibliographic searches): the cache first, then the registries
(when the mode allows)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Protocol

from scholarflow.paper.models import LookupStats
from scholarflow.registry.cache import DoiCache
from scholarflow.registry.client import RegistryClient
from scholarflow.registry.lookup import Lookup
from scholarflow.registry.search_cache import SearchCache
from scholarflow.settings import DoiLookup, Settings

logger = logging.getLogger(__name__)


class AnswerStore(Protocol):
    """Where answers are kept: the DOI cache, or the search cache."""

    def get_many(
        self, keys: Iterable[str], fetched_after: datetime | None = None, stale_ok: bool = False
    ) -> dict[str, Lookup]: ...

    def put_many(self, lookups: Iterable[Lookup]) -> int: ...


class Resolver:
    """Answers for DOIs (and for bibliographic searches), and `stats` on what getting them
    cost: both go through the same caches' rules, lookup mode, client and accounting."""

    def __init__(
        self,
        settings: Settings,
        cache: DoiCache,
        client: RegistryClient | None,
        searches: SearchCache | None = None,
    ) -> None:
        self.settings = settings
        self.cache = cache
        self.client = client
        self.searches = searches or SearchCache(cache.client, settings)
        self.stats = LookupStats()

    def resolve(
        self, dois: Iterable[str], fetched_after: datetime | None = None
    ) -> dict[str, Lookup]:
        """An answer for every DOI; a found one carries the cached notices that update it."""
        fetch = self.client.fetch if self.client else None
        answers = self._answers(self.cache, fetch, dois, fetched_after)
        found = [doi for doi, lookup in answers.items() if lookup.status == "found"]
        for doi, notices in self.cache.notices_for(found).items():
            answers[doi].notices = notices
        return answers

    def search(
        self, queries: dict[str, str], rows: int, fetched_after: datetime | None = None
    ) -> dict[str, Lookup]:
        """Crossref's candidates for bibliographic queries (key → query text), by key."""
        client = self.client
        fetch = (lambda key: client.search(key, queries[key], rows)) if client else None
        return self._answers(self.searches, fetch, queries, fetched_after)

    def _answers(
        self,
        store: AnswerStore,
        fetch: Callable[[str], Lookup] | None,
        keys: Iterable[str],
        fetched_after: datetime | None = None,
    ) -> dict[str, Lookup]:
        wanted = list(dict.fromkeys(keys))
        # One read: the fresh answers, and the expired ones kept for when no registry answers.
        cached = store.get_many(wanted, fetched_after, stale_ok=True)
        answers = {key: lookup for key, lookup in cached.items() if not lookup.expired}
        stale = {key: lookup for key, lookup in cached.items() if lookup.expired}
        self.stats.lookups += len(wanted)
        self.stats.cache_hits += len(answers)
        missing = [key for key in wanted if key not in answers]
        if self.settings.doi_lookup is DoiLookup.CACHE_ONLY or fetch is None:
            answers.update(self._stale(stale, missing, "lookups are cache-only"))
            answers.update(
                {
                    d: Lookup(d, "cache_miss", detail="not in the DOI cache")
                    for d in missing
                    if d not in answers
                }
            )
            return answers
        if missing:
            workers = min(self.settings.doi_workers, len(missing))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                fetched = list(pool.map(fetch, missing))
            store.put_many(fetched)
            answers.update({lookup.doi: lookup for lookup in fetched})
            unreachable = [f.doi for f in fetched if f.status == "unreachable"]
            answers.update(self._stale(stale, unreachable, "registry unreachable"))
            for lookup in fetched:
                logger.log(
                    logging.INFO if lookup.retries else logging.DEBUG,
                    "DOI %s: %s after %d requests, %d retries, %.1f s waited, %.1f s throttled%s",
                    lookup.doi,
                    lookup.status,
                    lookup.requests,
                    lookup.retries,
                    lookup.waited,
                    lookup.throttled,
                    f" ({lookup.detail})" if lookup.detail else "",
                )
                self.stats.requests += lookup.requests
                self.stats.retries += lookup.retries
                self.stats.waited_seconds += lookup.waited
                self.stats.throttled_seconds += lookup.throttled
        if self.client is not None:
            self.stats.breaker_open = self.stats.breaker_open or self.client.breaker.open
        return answers

    def _stale(self, stale: dict[str, Lookup], keys: list[str], why: str) -> dict[str, Lookup]:
        """Expired cached answers for DOIs nobody can answer now: an old answer beats none, and
        keeps a run during an outage from un-enriching papers enriched before."""
        used = {key: stale[key] for key in keys if key in stale}
        for lookup in used.values():
            lookup.detail = f"{why}: cached answer past its time to live"
        self.stats.cache_hits += len(used)
        return used
