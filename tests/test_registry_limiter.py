"""The rate limiter: advertised limits are never exceeded, as the server itself counts them."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from scholarflow.registry import RateLimiter, RegistryClient
from scholarflow.registry.limiter import Throttled, parse_interval
from scholarflow.settings import Settings
from tests.conftest import lookups_at
from tests.fixture_server import CROSSREF_WORKS, FIXTURES, FixtureServer, Reply

WORK = (FIXTURES / "doi" / CROSSREF_WORKS["10.3892/ijo_00000353"]).read_bytes()


def serve(server: FixtureServer, dois: list[str], **reply: float) -> None:
    for doi in dois:
        server.route(
            f"/works/{doi}", Reply(200, WORK, {"content-type": "application/json"}, **reply)
        )


def most_in_any_window(times: list[float], window: float) -> tuple[int, list[float]]:
    """The largest number of times within `window` of each other, and those times."""
    times = sorted(times)
    crowded = max(
        ([t for t in times[i:] if t < start + window] for i, start in enumerate(times)), key=len
    )
    return len(crowded), [round(t - times[0], 3) for t in crowded]


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("1s", 1.0), ("60s", 60.0), ("500ms", 0.5), ("1m", 60.0), ("2", 2.0), ("", None), ("x", None)],
)
def test_interval_header(header: str, seconds: float | None) -> None:
    assert parse_interval(header) == seconds


def test_sliding_window_and_deadline() -> None:
    limiter = RateLimiter(limit=3, interval=0.3, concurrency=10)
    starts: list[float] = []

    def one(_: int) -> None:
        with limiter.slot():
            starts.append(time.monotonic())

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(one, range(9)))
    assert most_in_any_window(starts, 0.3)[0] == 3
    assert max(starts) - min(starts) >= 0.6  # three windows were needed

    soon = time.monotonic() + 0.05  # three more starts fill the window: no room by then
    with (
        limiter.slot(),
        limiter.slot(),
        limiter.slot(),
        pytest.raises(Throttled),
        limiter.slot(deadline=soon),
    ):
        pass


@pytest.mark.slow
def test_200_lookups_never_exceed_the_advertised_rate(registry: FixtureServer) -> None:
    """Two clients (two concurrent batches) with four threads each share the host's limiter;
    it starts at a configured 50 requests / s and follows the server's advertised 5 / 1 s."""
    registry.default_headers = {
        "x-rate-limit-limit": "5",
        "x-rate-limit-interval": "1s",
        "x-concurrency-limit": "2",
    }
    dois = [f"10.1000/rate.{n}" for n in range(200)]
    serve(registry, dois, delay=0.05)  # long enough for requests in flight to overlap
    settings = Settings(_env_file=None, **lookups_at(registry, doi_rate=50, doi_concurrency=1))
    clients = [RegistryClient(settings), RegistryClient(settings)]

    def fetch(n: int) -> str:
        return clients[n % 2].fetch(dois[n]).status

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(fetch, range(len(dois))))

    assert statuses == ["found"] * len(dois)
    times = [seen.at for seen in registry.requests]
    assert len(times) == 200
    count, crowded = most_in_any_window(times, 1.0)
    assert count <= 5, f"{count} requests within 1 s, at {crowded} s into the run"
    assert registry.max_in_flight <= 2


def test_concurrency_follows_the_advertised_limit(registry: FixtureServer) -> None:
    registry.default_headers = {"x-concurrency-limit": "3"}
    dois = [f"10.1000/conc.{n}" for n in range(16)]
    serve(registry, dois, delay=0.2)
    client = RegistryClient(Settings(_env_file=None, **lookups_at(registry, doi_concurrency=1)))
    with ThreadPoolExecutor(max_workers=8) as pool:
        lookups = list(pool.map(client.fetch, dois))
    assert registry.max_in_flight == 3
    assert sum(lookup.throttled for lookup in lookups) > 0  # the other five threads waited


def test_retry_after_pauses_every_thread(registry: FixtureServer) -> None:
    busy, *others = [f"10.1000/pause.{n}" for n in range(6)]
    registry.route(f"/works/{busy}", Reply(429, b"", {"retry-after": "1"}), Reply(200, WORK))
    serve(registry, others)
    registry.default_headers = {"x-concurrency-limit": "1"}
    client = RegistryClient(Settings(_env_file=None, **lookups_at(registry)))

    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(client.fetch, busy)
        while not registry.requests:  # the 429 went out ...
            time.sleep(0.01)
        time.sleep(0.2)  # ... and came back; its Retry-After now holds every thread
        later = list(pool.map(client.fetch, others))

    told = registry.requests[0].at
    assert first.result().status == "found"
    assert all(lookup.status == "found" for lookup in later)
    assert all(seen.at - told >= 1.0 for seen in registry.requests[1:])
