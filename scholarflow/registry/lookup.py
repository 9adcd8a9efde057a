"""One DOI's answer, and what it cost to get it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# found: registry data; not_found: no registry knows the DOI (or none offers usable metadata);
# failed: an answer we cannot use (HTTP 400, malformed JSON); unreachable: no answer in time
# (network errors, 5xx or 429 after retries, the circuit breaker); cache_miss: cache-only mode.
LookupStatus = Literal["found", "not_found", "failed", "unreachable", "cache_miss"]


@dataclass(slots=True)
class Lookup:
    """What a registry (or the cache) said about one DOI."""

    doi: str
    status: LookupStatus
    source: str | None = None
    body: dict[str, Any] | None = None
    fetched_at: datetime | None = None
    from_cache: bool = False
    expired: bool = False  # a cached answer past its time to live (read with `stale_ok`)
    detail: str | None = None
    requests: int = 0  # HTTP requests sent for this DOI (retries and redirects included)
    retries: int = 0
    waited: float = 0.0  # seconds slept before retries
    throttled: float = 0.0  # seconds spent waiting for the rate limiter
    # Cached works of the notices (retractions, corrections, …) whose `update-to` names the DOI.
    notices: list[dict[str, Any]] = field(default_factory=list)
