"""Politeness per registry host: a request rate and a number of requests in flight.

One limiter per host and process, shared by every thread and task of the process, so worker
pools and concurrent batches together stay within what the host allows. It starts from the
configured rate and follows what the host advertises on every response: `x-rate-limit-limit`
requests per `x-rate-limit-interval`, and `x-concurrency-limit` requests in flight. A
`Retry-After` on a 429 or 503 pauses every thread, not only the one that was told.

The rate is a sliding window counted the way the server counts it. The server sees a request
at some moment between the client sending it and the client receiving the answer, so each
request holds its place in the window from when it is sent until `interval` after its answer
(or its failure) came back. A request may start only while fewer than `limit` requests are in
flight or answered within the last `interval`: then no window of that length, wherever it
begins and however late requests travel, holds more than `limit` arrivals at the server. The
price is the latency: at most `limit` requests per `interval + latency`.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from scholarflow.settings import Settings

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class Throttled(Exception):
    """The limiter cannot let a request start before the caller's deadline."""


class RateLimiter:
    """At most `limit` request starts per `interval` seconds and `concurrency` in flight."""

    def __init__(self, limit: int, interval: float, concurrency: int) -> None:
        self.limit = limit
        self.interval = interval
        self.concurrency = concurrency
        self._cond = threading.Condition()
        self._done: deque[float] = deque()  # when recent requests were answered
        self._in_flight = 0
        self._paused_until = 0.0

    @contextmanager
    def slot(self, deadline: float | None = None) -> Iterator[float]:
        """Hold one request slot; yields the seconds waited for it."""
        waited = self._acquire(deadline)
        try:
            yield waited
        finally:
            with self._cond:
                self._in_flight -= 1
                self._done.append(time.monotonic())
                self._cond.notify_all()

    def observe(self, status: int, headers: Mapping[str, str], retry_after: float | None) -> None:
        """Follow the limits a response advertises; pause everyone when the host asks to."""
        limit = _positive_int(headers.get("x-rate-limit-limit"))
        interval = parse_interval(headers.get("x-rate-limit-interval"))
        concurrency = _positive_int(headers.get("x-concurrency-limit"))
        with self._cond:
            if limit:
                self.limit = limit
            if interval:
                self.interval = interval
            if concurrency:
                self.concurrency = concurrency
            if status in (429, 503) and retry_after:
                self._paused_until = max(self._paused_until, time.monotonic() + retry_after)
            self._cond.notify_all()

    def _acquire(self, deadline: float | None) -> float:
        started = time.monotonic()
        with self._cond:
            while True:
                now = time.monotonic()
                ready_at = self._ready_at(now)
                if ready_at <= now and self._in_flight < self.concurrency:
                    break
                if deadline is not None and (ready_at > deadline or now >= deadline):
                    raise Throttled(
                        f"the rate limit leaves no room in the {deadline - started:.1f} s "
                        "left for this DOI"
                    )
                waits = [t - now for t in (ready_at, deadline) if t is not None and t > now]
                self._cond.wait(min(waits, default=None))
            self._in_flight += 1
        return now - started

    def _ready_at(self, now: float) -> float:
        """The earliest the next request may start as far as the rate and pauses go."""
        while self._done and self._done[0] <= now - self.interval:
            self._done.popleft()
        room = self.limit - self._in_flight
        if room <= 0:  # not before a request in flight is answered and its interval passed
            return now + self.interval
        ready = self._paused_until
        if len(self._done) >= room:
            ready = max(ready, self._done[-room] + self.interval)
        return ready


def parse_interval(value: str | None) -> float | None:
    """`x-rate-limit-interval` in seconds: `1s`, `500ms`, `1m`, or a bare number of seconds."""
    match = _INTERVAL.match(value or "")
    if not match:
        return None
    seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    return seconds if seconds > 0 else None


def _positive_int(value: str | None) -> int | None:
    try:
        number = int((value or "").strip())
    except ValueError:
        return None
    return number if number > 0 else None


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(host: str, settings: Settings) -> RateLimiter:
    """The process's limiter for `host` (host:port), created at the configured rate."""
    with _limiters_lock:
        limiter = _limiters.get(host)
        if limiter is None:
            limiter = RateLimiter(
                settings.doi_rate, settings.doi_rate_interval, settings.doi_concurrency
            )
            _limiters[host] = limiter
        return limiter


def reset_limiters() -> None:
    """Forget every host's learned limits (a new configuration, or an isolated test)."""
    with _limiters_lock:
        _limiters.clear()
