"""Requests to a harvested source: polite, retried, and bounded in time.

Every request goes through the host's rate limiter (the one the DOI lookups use,
scholarflow/registry/transport.py), which also pauses every request to a host that answered 429
or 503 with `Retry-After`. Timeouts, connection errors, 5xx, 429 and 503 are tried again, up to
`harvest_attempts`; a `Retry-After` longer than `harvest_max_wait` is not waited for: the
harvest stops and the next run asks again. The circuit breaker counts consecutive network
failures as it does for lookups. Any other answer goes back to the connector, which reads it
(OAI-PMH repositories send their errors with 200, 4xx or 503).
"""

from __future__ import annotations

from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from scholarflow.registry.breaker import CircuitBreaker
from scholarflow.registry.client import NETWORK_ERRORS, user_agent
from scholarflow.registry.transport import PoliteTransport, retry_after_seconds
from scholarflow.settings import Settings

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})


class Unanswered(Exception):
    """No usable answer after every attempt: `reason` groups well, `detail` says what happened."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class _Busy(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class HarvestHttp:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.breaker = CircuitBreaker(settings.doi_breaker_threshold)
        self.requests = 0
        self._http = httpx.Client(
            transport=PoliteTransport(settings),
            timeout=httpx.Timeout(settings.harvest_timeout),
            headers={"User-Agent": user_agent(settings.crossref_mailto)},
            follow_redirects=True,
        )

    def close(self) -> None:
        self._http.close()

    def get(self, url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """The first answer that is not a passing failure; raises Unanswered otherwise."""
        if self.breaker.open:
            raise Unanswered("source unreachable", "stopped after repeated network failures")
        retrying = Retrying(
            retry=retry_if_exception_type((_Busy, *NETWORK_ERRORS)),
            stop=stop_after_attempt(self.settings.harvest_attempts),
            wait=wait_exponential(multiplier=0.5, max=30),
            reraise=True,
        )
        try:
            return retrying(self._get_once, url, params)
        except _Busy as exc:
            status = exc.response.status_code
            tries = self.settings.harvest_attempts
            raise Unanswered(f"HTTP {status}", f"after {tries} attempts") from exc
        except httpx.TimeoutException as exc:
            limit, tries = self.settings.harvest_timeout, self.settings.harvest_attempts
            detail = f"{type(exc).__name__} after {limit:g} s, {tries} attempts"
            raise Unanswered("no answer in time", detail) from exc
        except NETWORK_ERRORS as exc:
            raise Unanswered("source unreachable", f"{type(exc).__name__}: {exc}") from exc

    def _get_once(self, url: str, params: dict[str, Any] | None) -> httpx.Response:
        self.requests += 1
        try:
            response = self._http.get(url, params=params)
        except NETWORK_ERRORS:
            self.breaker.record(network_ok=False)
            raise
        self.breaker.record(network_ok=response.status_code < 500)
        if response.status_code in RETRIED_STATUSES and not _oai_error(response):
            wait = retry_after_seconds(response.headers.get("retry-after"))
            longest = self.settings.harvest_max_wait
            if wait is not None and wait > longest:
                detail = f"the source asks to wait {wait:g} s (more than {longest:g})"
                raise Unanswered(f"HTTP {response.status_code}", detail)
            raise _Busy(response)
        return response


def _oai_error(response: httpx.Response) -> bool:
    """A 503 that is an OAI-PMH error answer (not a pause) is read, not retried."""
    return (
        response.status_code == 503
        and b"<error" in response.content[:4096]
        and (response.headers.get("retry-after") is None)
    )
