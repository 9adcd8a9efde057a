"""DOI registry lookups: Crossref and doi.org, politely rate-limited, retried, and cached.

- client.py: Crossref `/works/{doi}`, then the registration agency via doi.org (CSL-JSON);
  retries of transient failures, a time budget per DOI.
- limiter.py / transport.py: one rate limiter per registry host and process.
- breaker.py: stop calling an unreachable registry for the rest of a run.
- cache.py: the persistent DOI cache, an index in the engine, and the cached notices that
  update a DOI.
- search_cache.py: Crossref's answers to bibliographic searches, kept like DOI answers.
- matching.py: which searched work, if any, is a record that came without a DOI.
- lookup.py: one DOI's answer, and what it cost to get it.
- resolver.py: a batch of DOIs (or searches) through the caches and the registries, one read
  of each cache per batch.
"""

from scholarflow.registry.breaker import CircuitBreaker
from scholarflow.registry.cache import CACHE_INDEX, DoiCache
from scholarflow.registry.client import RegistryClient, user_agent
from scholarflow.registry.limiter import RateLimiter, limiter_for, reset_limiters
from scholarflow.registry.lookup import Lookup, LookupStatus
from scholarflow.registry.resolver import Resolver

__all__ = [
    "CACHE_INDEX",
    "CircuitBreaker",
    "DoiCache",
    "Lookup",
    "LookupStatus",
    "RateLimiter",
    "RegistryClient",
    "Resolver",
    "limiter_for",
    "reset_limiters",
    "user_agent",
]
