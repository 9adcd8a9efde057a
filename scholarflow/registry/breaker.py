"""A circuit breaker: after N consecutive network failures, stop calling the registry."""

from __future__ import annotations

import threading


class CircuitBreaker:
    """Counts consecutive failed requests (network errors, 5xx); any other answer resets it.

    Requests, not lookups, are counted so that an unreachable registry is detected within a
    few seconds, before every DOI has spent its retries. Once open it stays open for the run:
    the remaining records are deferred, and re-enrichment picks them up later.
    """

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._failures = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        return self._failures >= self.threshold

    def record(self, network_ok: bool) -> None:
        with self._lock:
            if not self.open:
                self._failures = 0 if network_ok else self._failures + 1
