"""DOI enrichment benchmark: how close the client gets to a registry's advertised rate, and how
fast the cache answers.

A local registry on 127.0.0.1 answers every `/works/{doi}` after 50 ms and advertises
50 requests / 1 s with 5 concurrent requests (the shape of Crossref's headers). The client starts
at its configured rate (Crossref's public pool: 5 / 1 s, one at a time) and must adapt. Targets:
at least 90% of the advertised rate, never above it in any 1 s window as the server counts; the
cache-hit path is reported in lookups per second.

    uv run python -m benchmarks.doi_enrichment [--quick]
"""

from __future__ import annotations

import argparse
import time

from osmem_server import OsmemServer

from scholarflow.engine.client import connect
from scholarflow.paper.models import Paper
from scholarflow.registry import DoiCache, RegistryClient, Resolver, reset_limiters
from scholarflow.settings import DoiLookup, Settings
from tasks.enrich import enrich_papers
from tests.fixture_server import CROSSREF_WORKS, FIXTURES, FixtureServer, Reply

LATENCY = 0.05
ADVERTISED = {"x-rate-limit-limit": "50", "x-rate-limit-interval": "1s", "x-concurrency-limit": "5"}
ALLOWED_PER_SECOND = 50
BATCH = 500  # the ingest flow's default batch size
WORK = (FIXTURES / "doi" / CROSSREF_WORKS["10.1136/jclinpath-2020-206745"]).read_bytes()


def most_in_one_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 DOIs instead of 1,000")
    count = 200 if parser.parse_args().quick else 1000
    dois = [f"10.5555/bench.{n:05d}" for n in range(count)]

    with OsmemServer.start(japanese=False) as engine, FixtureServer() as registry:
        registry.default_headers = ADVERTISED
        for doi in dois:
            registry.route(
                f"/works/{doi}", Reply(200, WORK, {"content-type": "application/json"}, LATENCY)
            )
        settings = Settings(
            _env_file=None,
            es_url=engine.url,
            doi_lookup=DoiLookup.ON,
            crossref_url=registry.url,
            doi_org_url=registry.url,
            doi_workers=8,
        )
        reset_limiters()
        cache = DoiCache(connect(settings), settings)
        resolver = Resolver(settings, cache, RegistryClient(settings))

        started = time.perf_counter()
        for at in range(0, count, BATCH):
            resolver.resolve(dois[at : at + BATCH])
        network_seconds = time.perf_counter() - started
        times = [seen.at for seen in registry.requests]
        achieved = len(times) / network_seconds  # wall clock: cache reads and writes included
        busiest = most_in_one_second(times)

        cached = Resolver(settings, cache, None)
        started = time.perf_counter()
        for at in range(0, count, BATCH):
            cached.resolve(dois[at : at + BATCH])
        cache_seconds = time.perf_counter() - started

        papers = [Paper(id=doi, doi=doi, title_en="A source title") for doi in dois]
        started = time.perf_counter()
        for at in range(0, count, BATCH):
            enrich_papers(papers[at : at + BATCH], cached)
        enrich_seconds = time.perf_counter() - started

    ratio = achieved / ALLOWED_PER_SECOND
    print(f"DOI enrichment benchmark: {count} DOIs, {LATENCY * 1000:.0f} ms registry latency")
    print(f"  advertised limit      {ALLOWED_PER_SECOND} requests / 1 s, 5 concurrent")
    print(f"  requests sent         {len(times)} in {network_seconds:.1f} s")
    print(f"  achieved rate         {achieved:.1f} requests/s = {ratio:.1%} of allowed")
    print(f"  busiest 1 s window    {busiest} requests (limit {ALLOWED_PER_SECOND})")
    print(f"  cache hits            {count / cache_seconds:,.0f} lookups/s")
    print(f"  enrich from cache     {count / enrich_seconds:,.0f} papers/s (lookup + merge)")
    verdict = "ok" if ratio >= 0.9 and busiest <= ALLOWED_PER_SECOND else "MISSED"
    print(f"  target (>= 90% of allowed, never above): {verdict}")


if __name__ == "__main__":
    main()
