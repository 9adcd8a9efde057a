"""Resolve a batch of DOIs: the cache first, then the registries (when the mode allows)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from scholarflow.models import LookupStats
from scholarflow.registry.cache import DoiCache
from scholarflow.registry.client import RegistryClient
from scholarflow.registry.lookup import Lookup
from scholarflow.settings import DoiLookup, Settings

logger = logging.getLogger(__name__)


class Resolver:
    """Answers for DOIs, and `stats` on what getting them cost."""

    def __init__(self, settings: Settings, cache: DoiCache, client: RegistryClient | None) -> None:
        self.settings = settings
        self.cache = cache
        self.client = client
        self.stats = LookupStats()

    def resolve(
        self, dois: Iterable[str], fetched_after: datetime | None = None
    ) -> dict[str, Lookup]:
        """An answer for every DOI; a found one carries the cached notices that update it."""
        answers = self._answers(list(dict.fromkeys(dois)), fetched_after)
        found = [doi for doi, lookup in answers.items() if lookup.status == "found"]
        for doi, notices in self.cache.notices_for(found).items():
            answers[doi].notices = notices
        return answers

    def _answers(self, wanted: list[str], fetched_after: datetime | None) -> dict[str, Lookup]:
        answers = self.cache.get_many(wanted, fetched_after)
        self.stats.lookups += len(wanted)
        self.stats.cache_hits += len(answers)
        missing = [doi for doi in wanted if doi not in answers]
        if self.settings.doi_lookup is DoiLookup.CACHE_ONLY or self.client is None:
            answers.update(self._stale(missing, fetched_after, "lookups are cache-only"))
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
                fetched = list(pool.map(self.client.fetch, missing))
            self.cache.put_many(fetched)
            answers.update({lookup.doi: lookup for lookup in fetched})
            unreachable = [f.doi for f in fetched if f.status == "unreachable"]
            answers.update(self._stale(unreachable, fetched_after, "registry unreachable"))
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
        self.stats.breaker_open = self.stats.breaker_open or self.client.breaker.open
        return answers

    def _stale(
        self, dois: list[str], fetched_after: datetime | None, why: str
    ) -> dict[str, Lookup]:
        """Expired cached answers for DOIs nobody can answer now: an old answer beats none, and
        keeps a run during an outage from un-enriching papers enriched before."""
        stale = self.cache.get_many(dois, fetched_after, stale_ok=True) if dois else {}
        for lookup in stale.values():
            lookup.detail = f"{why}: cached answer past its time to live"
        self.stats.cache_hits += len(stale)
        return stale
