"""An httpx transport that passes every request through its host's rate limiter.

Working at the transport level covers every hop: a doi.org redirect to an agency's server is
limited by that server's limiter, with the limits that server advertises.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import httpx

from scholarflow.registry.limiter import limiter_for
from scholarflow.settings import Settings

# Request extension: the monotonic time by which the DOI's lookup must be done.
DEADLINE = "scholarflow.deadline"
# Response extension: seconds this request waited for the limiter.
THROTTLED = "scholarflow.throttled"


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class PoliteTransport(httpx.BaseTransport):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._inner = httpx.HTTPTransport(
            limits=httpx.Limits(max_connections=settings.doi_workers * 2)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        limiter = limiter_for(request.url.netloc.decode("ascii"), self.settings)
        with limiter.slot(request.extensions.get(DEADLINE)) as waited:
            response = self._inner.handle_request(request)
            try:
                response.read()  # the slot covers the whole exchange, body included
            finally:
                response.close()
            # Before the slot is released, so the next request already obeys the new limits.
            retry_after = retry_after_seconds(response.headers.get("retry-after"))
            limiter.observe(response.status_code, response.headers, retry_after)
        response.extensions[THROTTLED] = waited
        return response

    def close(self) -> None:
        self._inner.close()
