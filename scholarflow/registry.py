"""DOI registry lookups (Crossref), with retries, a circuit breaker and a persistent cache.

The cache is an index in the same engine as the papers: every worker of every process shares it,
it survives restarts like the papers do, and it needs no second store to operate.
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx
import orjson
from elasticsearch import Elasticsearch, helpers
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from scholarflow import __version__
from scholarflow.settings import DoiLookup, Settings

CACHE_INDEX = "scholarflow-doi-cache"
CACHE_MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "doi": {"type": "keyword"},
        "source": {"type": "keyword"},
        "status": {"type": "integer"},
        "fetched_at": {"type": "date"},
        "expires_at": {"type": "date"},
        "body": {"type": "object", "enabled": False},
    },
}
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_SECONDS_PER_DOI = 60.0

LookupStatus = Literal["found", "not_found", "failed", "unreachable", "cache_miss"]


@dataclass(slots=True)
class Lookup:
    """What the registry (or the cache) said about one DOI."""

    doi: str
    status: LookupStatus
    source: str | None = None
    body: dict[str, Any] | None = None
    fetched_at: datetime | None = None
    from_cache: bool = False
    detail: str | None = None
    attempts: int = 0
    waited: float = 0.0


@dataclass
class LookupStats:
    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    breaker_open: bool = False
    by_status: dict[str, int] = field(default_factory=dict)


class TransientError(Exception):
    """A failure worth retrying; `retry_after` is the server's requested wait, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CircuitBreaker:
    """Opens after `threshold` consecutive network failures; the run then stops calling."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._failures = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        return self._failures >= self.threshold

    def record(self, network_ok: bool) -> None:
        with self._lock:
            self._failures = 0 if network_ok else self._failures + 1


def user_agent(mailto: str | None) -> str:
    contact = f"; mailto:{mailto}" if mailto else ""
    return f"Scholarflow/{__version__} (https://github.com/scholarflow/scholarflow{contact})"


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _WaitForServer:
    """Wait what the server asked for (Retry-After), or back off exponentially with jitter."""

    def __init__(self) -> None:
        self._backoff = wait_exponential_jitter(multiplier=0.5, max=20, jitter=0.5)

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        requested = getattr(error, "retry_after", None)
        return requested if requested is not None else self._backoff(state)


class CrossrefClient:
    """`GET /works/{doi}` against Crossref (or a mirror at `crossref_url`)."""

    source = "crossref"

    def __init__(self, settings: Settings, breaker: CircuitBreaker | None = None) -> None:
        self.settings = settings
        self.breaker = breaker or CircuitBreaker(settings.doi_breaker_threshold)
        self.stats = LookupStats()
        params = {"mailto": settings.crossref_mailto} if settings.crossref_mailto else None
        self._http = httpx.Client(
            base_url=settings.crossref_url,
            params=params,
            timeout=httpx.Timeout(settings.doi_timeout),
            headers={"User-Agent": user_agent(settings.crossref_mailto)},
            limits=httpx.Limits(max_connections=settings.doi_workers),
        )

    def close(self) -> None:
        self._http.close()

    def fetch(self, doi: str) -> Lookup:
        if self.breaker.open:
            self.stats.breaker_open = True
            return Lookup(
                doi, "unreachable", self.source, detail="circuit open: registry unreachable"
            )
        retrying = Retrying(
            retry=retry_if_exception_type((TransientError, httpx.TransportError)),
            stop=stop_after_attempt(self.settings.doi_attempts)
            | stop_after_delay(MAX_SECONDS_PER_DOI),
            wait=_WaitForServer(),
            reraise=True,
        )
        started = time.monotonic()
        try:
            lookup = retrying(self._fetch_once, doi)
        except httpx.TransportError as exc:
            self.breaker.record(network_ok=False)
            lookup = Lookup(
                doi, "unreachable", self.source, detail=f"network error: {_describe(exc)}"
            )
        except TransientError as exc:
            self.breaker.record(network_ok=True)
            lookup = Lookup(doi, "failed", self.source, detail=str(exc))
        else:
            self.breaker.record(network_ok=True)
        attempts = retrying.statistics.get("attempt_number", 1)
        lookup.attempts = attempts
        lookup.waited = time.monotonic() - started
        self.stats.retries += attempts - 1
        return lookup

    def _fetch_once(self, doi: str) -> Lookup:
        self.stats.requests += 1
        response = self._http.get(f"/works/{quote(doi, safe='/')}")
        status = response.status_code
        if status in TRANSIENT_STATUSES:
            raise TransientError(
                f"HTTP {status} from {self.source}",
                retry_after_seconds(response.headers.get("retry-after")),
            )
        now = datetime.now(UTC)
        if status == 404:
            return Lookup(doi, "not_found", self.source, fetched_at=now, detail="HTTP 404")
        if status != 200:
            return Lookup(doi, "failed", self.source, fetched_at=now, detail=f"HTTP {status}")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return Lookup(doi, "failed", self.source, fetched_at=now, detail="malformed JSON")
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            return Lookup(doi, "failed", self.source, fetched_at=now, detail="unexpected body")
        return Lookup(doi, "found", self.source, body=body, fetched_at=now)


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


class DoiCache:
    """Registry answers keyed by normalised DOI, kept in the engine with a time to live."""

    def __init__(self, client: Elasticsearch, settings: Settings) -> None:
        self.client = client
        self.ttl = timedelta(days=settings.doi_cache_ttl_days)
        self.negative_ttl = timedelta(days=settings.doi_negative_ttl_days)

    def ensure(self) -> None:
        if not self.client.indices.exists(index=CACHE_INDEX):
            self.client.indices.create(
                index=CACHE_INDEX,
                mappings=CACHE_MAPPINGS,
                settings={"number_of_shards": 1, "number_of_replicas": 0},
            )

    def get_many(self, dois: Iterable[str]) -> dict[str, Lookup]:
        """Fresh cached answers; expired entries are left out so they get refreshed."""
        ids = list(dict.fromkeys(dois))
        if not ids:
            return {}
        self.ensure()
        now = datetime.now(UTC)
        found: dict[str, Lookup] = {}
        for doc in self.client.mget(index=CACHE_INDEX, ids=ids)["docs"]:
            if not doc.get("found"):
                continue
            entry = doc["_source"]
            if datetime.fromisoformat(entry["expires_at"]) <= now:
                continue
            status: LookupStatus = "found" if entry["status"] == 200 else "not_found"
            found[doc["_id"]] = Lookup(
                entry["doi"],
                status,
                entry["source"],
                body=entry.get("body"),
                fetched_at=datetime.fromisoformat(entry["fetched_at"]),
                from_cache=True,
            )
        return found

    def put_many(self, lookups: Iterable[Lookup]) -> int:
        """Store answers worth keeping (found and not-found); returns how many were stored."""
        actions = [
            self._action(lookup) for lookup in lookups if lookup.status in ("found", "not_found")
        ]
        if not actions:
            return 0
        self.ensure()
        stored, _ = helpers.bulk(self.client, actions, refresh="wait_for", raise_on_error=False)
        return stored

    def import_entries(self, entries: Iterable[dict[str, Any]]) -> int:
        """Load recorded answers (one object per line: doi, source, status, fetched_at, body)."""
        lookups = [
            Lookup(
                e["doi"],
                "found" if e["status"] == 200 else "not_found",
                e.get("source", "crossref"),
                body=e.get("body"),
                fetched_at=datetime.fromisoformat(e["fetched_at"].replace("Z", "+00:00")),
            )
            for e in entries
        ]
        return self.put_many(lookups)

    def _action(self, lookup: Lookup) -> dict[str, Any]:
        fetched = lookup.fetched_at or datetime.now(UTC)
        ttl = self.ttl if lookup.status == "found" else self.negative_ttl
        # Recorded answers may be old: they stay usable for one TTL from when they are stored.
        expires = max(fetched, datetime.now(UTC)) + ttl
        return {
            "_index": CACHE_INDEX,
            "_id": lookup.doi,
            "_source": {
                "doi": lookup.doi,
                "source": lookup.source,
                "status": 200 if lookup.status == "found" else 404,
                "fetched_at": fetched.isoformat(),
                "expires_at": expires.isoformat(),
                "body": lookup.body,
            },
        }


class Resolver:
    """Cache first, then the registry (when the mode allows), for a batch of DOIs at a time."""

    def __init__(self, settings: Settings, cache: DoiCache, client: CrossrefClient | None) -> None:
        self.settings = settings
        self.cache = cache
        self.client = client

    def resolve(self, dois: Iterable[str]) -> dict[str, Lookup]:
        wanted = list(dict.fromkeys(dois))
        answers = self.cache.get_many(wanted)
        if self.client:
            self.client.stats.cache_hits += len(answers)
        missing = [doi for doi in wanted if doi not in answers]
        if self.settings.doi_lookup is DoiLookup.CACHE_ONLY or self.client is None:
            answers.update(
                {d: Lookup(d, "cache_miss", detail="not in the DOI cache") for d in missing}
            )
            return answers
        with ThreadPoolExecutor(max_workers=self.settings.doi_workers) as pool:
            fetched = list(pool.map(self.client.fetch, missing))
        self.cache.put_many(fetched)
        answers.update({lookup.doi: lookup for lookup in fetched})
        return answers
