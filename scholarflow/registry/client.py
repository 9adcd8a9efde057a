"""DOI registries over HTTP: Crossref first, then the DOI's registration agency via doi.org.

Crossref registers most scholarly DOIs and answers `GET /works/{doi}` with its richest record.
For a DOI it does not know (404), `doi.org/ra/{prefix}` names the registration agency; for
DataCite, mEDRA and the others, doi.org content negotiation returns CSL-JSON from the agency.

Only transient failures are retried (timeouts, connection errors, 429 and 5xx), honouring
`Retry-After` and otherwise backing off exponentially with jitter, within a number of attempts
and a time budget per DOI. Every request goes through the host's rate limiter (transport.py).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
)

from scholarflow import __version__
from scholarflow.registry.breaker import CircuitBreaker
from scholarflow.registry.cache import cut_candidate
from scholarflow.registry.limiter import Throttled
from scholarflow.registry.lookup import Lookup, LookupStatus
from scholarflow.registry.transport import (
    DEADLINE,
    THROTTLED,
    PoliteTransport,
    retry_after_seconds,
)
from scholarflow.settings import Settings

CSL_JSON = "application/vnd.citationstyles.csl+json"
SERVER_ERRORS = frozenset({500, 502, 503, 504})
TRANSIENT_STATUSES = SERVER_ERRORS | {429}
NETWORK_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
AGENCY_CACHE_SIZE = 10_000


def user_agent(mailto: str | None) -> str:
    contact = f"; mailto:{mailto}" if mailto else ""
    return f"Scholarflow/{__version__} (https://github.com/scholarflow/scholarflow{contact})"


class TransientStatus(Exception):
    """A 429 or 5xx answer: worth retrying, after `retry_after` seconds if the server said so."""

    def __init__(self, status: int, retry_after: float | None) -> None:
        wait = f" (Retry-After {retry_after:g} s)" if retry_after is not None else ""
        super().__init__(f"HTTP {status}{wait}")
        self.status = status
        self.retry_after = retry_after


class Unreachable(Exception):
    """No usable answer in time: the lookup is deferred."""


class Unusable(Exception):
    """An answer that cannot be used and will not improve by retrying: the lookup failed."""


@dataclass
class _Trace:
    """One DOI's lookup: its deadline, and what it cost so far."""

    deadline: float
    requests: int = 0
    retries: int = 0
    waited: float = 0.0
    throttled: float = 0.0

    def slept(self, state: RetryCallState) -> None:
        self.retries += 1
        self.waited += state.upcoming_sleep


class _WaitForServer:
    """Wait what the server asked for (Retry-After), or back off exponentially with jitter."""

    def __init__(self) -> None:
        self._backoff = wait_exponential(multiplier=0.5, max=20) + wait_random(0, 0.5)

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        requested = getattr(error, "retry_after", None)
        return requested if requested is not None else self._backoff(state)


class _Agencies:
    """Registration agency per DOI prefix, remembered for the life of the process.

    A prefix belongs to one agency and practically never moves, and DOIs that reach this
    lookup are the ones missing from the persistent DOI cache, so a small in-memory map saves
    one request per DOI without needing a second persistent store. Only definite answers are
    kept; the map is bounded.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._known: OrderedDict[tuple[str, str], str | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> tuple[bool, str | None]:
        with self._lock:
            return key in self._known, self._known.get(key)

    def put(self, key: tuple[str, str], agency: str | None) -> None:
        with self._lock:
            self._known[key] = agency
            while len(self._known) > self._size:
                self._known.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._known.clear()


agencies = _Agencies(AGENCY_CACHE_SIZE)


class RegistryClient:
    """Look DOIs up in Crossref, then through doi.org; safe to call from many threads."""

    def __init__(self, settings: Settings, breaker: CircuitBreaker | None = None) -> None:
        self.settings = settings
        self.breaker = breaker or CircuitBreaker(settings.doi_breaker_threshold)
        self._mailto = {"mailto": settings.crossref_mailto} if settings.crossref_mailto else {}
        self._http = httpx.Client(
            transport=PoliteTransport(settings),
            timeout=httpx.Timeout(settings.doi_timeout),
            headers={"User-Agent": user_agent(settings.crossref_mailto)},
        )

    def close(self) -> None:
        self._http.close()

    def fetch(self, doi: str) -> Lookup:
        return self._traced(doi, lambda trace: self._registries(doi, trace))

    def search(self, key: str, text: str, rows: int) -> Lookup:
        """Crossref's works most like `text` (`query.bibliographic`), as the answer under
        `key`: `found` with the query and its candidates (cut to what matching reads), or
        `not_found` when Crossref has none."""
        return self._traced(key, lambda trace: self._crossref_search(key, text, rows, trace))

    def _traced(self, key: str, lookup: Callable[[_Trace], Lookup]) -> Lookup:
        """One lookup within the time budget, with what it cost."""
        trace = _Trace(deadline=time.monotonic() + self.settings.doi_max_seconds)
        try:
            answer = lookup(trace)
        except Unreachable as exc:
            answer = Lookup(key, "unreachable", detail=str(exc))
        except Unusable as exc:
            answer = _answer(key, "failed", "doi.org", detail=str(exc))
        answer.requests = trace.requests
        answer.retries = trace.retries
        answer.waited = trace.waited
        answer.throttled = trace.throttled
        return answer

    def _registries(self, doi: str, trace: _Trace) -> Lookup:
        lookup = self._crossref(doi, trace)
        if lookup.status == "not_found":
            lookup = self._elsewhere(doi, trace, lookup)
        return lookup

    # --- the registries ------------------------------------------------------------------

    def _crossref(self, doi: str, trace: _Trace) -> Lookup:
        url = f"{self.settings.crossref_url}/works/{quote(doi, safe='/')}"
        response = self._get(url, trace, params=self._mailto)
        if response.status_code == 404:
            return _answer(doi, "not_found", "crossref", detail="HTTP 404 from Crossref")
        if response.status_code != 200:
            return _answer(doi, "failed", "crossref", detail=_http_error(response, "Crossref"))
        body = _json(response)
        if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
            return _answer(doi, "failed", "crossref", detail="malformed JSON from Crossref")
        return _answer(doi, "found", "crossref", body=body)

    def _crossref_search(self, key: str, text: str, rows: int, trace: _Trace) -> Lookup:
        params = {"query.bibliographic": text, "rows": rows, **self._mailto}
        response = self._get(f"{self.settings.crossref_url}/works", trace, params=params)
        if response.status_code == 404:
            return _answer(key, "not_found", "crossref", detail="HTTP 404 from Crossref")
        if response.status_code != 200:
            return _answer(key, "failed", "crossref", detail=_http_error(response, "Crossref"))
        body = _json(response)
        message = body.get("message") if isinstance(body, dict) else None
        items = message.get("items") if isinstance(message, dict) else None
        if not isinstance(items, list):
            return _answer(
                key, "failed", "crossref", detail="malformed search answer from Crossref"
            )
        candidates = [cut_candidate(item) for item in items[:rows] if isinstance(item, dict)]
        status: LookupStatus = "found" if candidates else "not_found"
        return _answer(key, status, "crossref", body={"query": text, "items": candidates})

    def _elsewhere(self, doi: str, trace: _Trace, crossref_404: Lookup) -> Lookup:
        """A DOI Crossref does not know: ask its registration agency through doi.org."""
        prefix = doi.split("/", 1)[0]
        agency = self._agency(prefix, trace)
        if agency is None:
            return _answer(doi, "not_found", "doi.org", detail="no registration agency knows it")
        if agency.casefold() == "crossref":
            return crossref_404
        url = f"{self.settings.doi_org_url}/{quote(doi, safe='/')}"
        response = self._get(url, trace, headers={"Accept": CSL_JSON}, follow_redirects=True)
        status = response.status_code
        body = _json(response) if status == 200 else None
        if status in (404, 406) or (status == 200 and "json" not in _content_type(response)):
            detail = f"{agency} has no CSL-JSON for it (HTTP {status})"
            return _answer(doi, "not_found", "doi.org", detail=detail)
        if status != 200:
            return _answer(doi, "failed", "doi.org", detail=_http_error(response, "doi.org"))
        if not isinstance(body, dict):
            return _answer(doi, "failed", "doi.org", detail=f"malformed CSL-JSON from {agency}")
        return _answer(doi, "found", "doi.org", body=body)

    def _agency(self, prefix: str, trace: _Trace) -> str | None:
        """The prefix's registration agency; None when no agency knows the prefix."""
        key = (self.settings.doi_org_url, prefix)
        known, agency = agencies.get(key)
        if known:
            return agency
        response = self._get(f"{self.settings.doi_org_url}/ra/{quote(prefix)}", trace)
        if response.status_code != 200:
            raise Unusable(f"registration agency lookup: {_http_error(response, 'doi.org')}")
        body = _json(response)
        if not (isinstance(body, list) and body and isinstance(body[0], dict)):
            raise Unusable("registration agency lookup: unreadable answer from doi.org")
        agency = body[0].get("RA") or None
        agencies.put(key, agency)
        return agency

    # --- one request, with retries -------------------------------------------------------

    def _get(self, url: str, trace: _Trace, **options: Any) -> httpx.Response:
        """GET with retries on transient failures; raises Unreachable when none succeeded."""
        if self.breaker.open:
            raise Unreachable(self._open_detail())

        def give_up(state: RetryCallState) -> bool:
            return (
                state.attempt_number >= self.settings.doi_attempts
                or self.breaker.open
                or time.monotonic() + state.upcoming_sleep >= trace.deadline
            )

        retrying = Retrying(
            retry=retry_if_exception_type((TransientStatus, *NETWORK_ERRORS)),
            stop=give_up,
            wait=_WaitForServer(),
            before_sleep=trace.slept,
            reraise=True,
        )
        try:
            return retrying(self._get_once, url, trace, options)
        except Throttled as exc:
            raise Unreachable(str(exc)) from exc
        except (TransientStatus, *NETWORK_ERRORS) as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise Unreachable(self._give_up_detail(exc, attempts, trace)) from exc

    def _get_once(self, url: str, trace: _Trace, options: dict[str, Any]) -> httpx.Response:
        try:
            response = self._http.get(url, extensions={DEADLINE: trace.deadline}, **options)
        except NETWORK_ERRORS:
            trace.requests += 1
            self.breaker.record(network_ok=False)
            raise
        trace.requests += 1 + len(response.history)
        trace.throttled += sum(r.extensions.get(THROTTLED, 0.0) for r in response.history)
        trace.throttled += response.extensions.get(THROTTLED, 0.0)
        status = response.status_code
        self.breaker.record(network_ok=status not in SERVER_ERRORS)
        if status in TRANSIENT_STATUSES:
            raise TransientStatus(status, retry_after_seconds(response.headers.get("retry-after")))
        return response

    def _give_up_detail(self, exc: Exception, attempts: int, trace: _Trace) -> str:
        error = str(exc) if isinstance(exc, TransientStatus) else _describe(exc)
        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}"
        if self.breaker.open:
            return f"{error} after {tries}; {self._open_detail()}"
        if attempts < self.settings.doi_attempts:
            limit = self.settings.doi_max_seconds
            return f"{error} after {tries}; gave up to stay within {limit:g} s per DOI"
        return f"{error} after {tries}"

    def _open_detail(self) -> str:
        return (
            f"registry unreachable: lookups stopped after {self.breaker.threshold} "
            "consecutive network failures"
        )


def _answer(doi: str, status: LookupStatus, source: str, **fields: Any) -> Lookup:
    return Lookup(doi, status, source, fetched_at=datetime.now(UTC), **fields)


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def _content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").lower()


def _http_error(response: httpx.Response, service: str) -> str:
    """`HTTP 400 from Crossref: <the registry's own message>` when it gave one."""
    body = _json(response) if "json" in _content_type(response) else None
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, list) and message and isinstance(message[0], dict):
        message = message[0].get("message")
    reason = f": {message}" if isinstance(message, str) and message else ""
    return f"HTTP {response.status_code} from {service}{reason}"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
