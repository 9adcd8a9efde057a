"""The search service under load: API search latency at 20 concurrent clients (lexical, and
hybrid), the search page's render time, and the service's start to its first answer.

Data: the seed records plus a generated corpus (benchmarks/corpus.py, seed 7) ingested into a
fresh embedded engine (OpenSearch 2.19.6, Lucene 9.12.3). Vectors: the seeds get theirs from the
model (`scholarflow embed`); the generated papers get copies of the seeds' vectors, round-robin,
because embedding 20k papers takes hours of CPU: the k-NN search then runs over as many vectors
as a real index of that size holds (its latency is what is measured, not its quality).

Each measurement runs `scholarflow web` as its own process (hybrid off for the lexical run,
`cross-script` for the hybrid one: the judged queries are keywords, which the default
`questions` searches alike but for the few of five parts or more), with the rate limit lifted
and no query vector remembered; the clients are threads of this process, on the same machine.
The machine's load average is printed with the figures.

Two loads: `flat out`, each client sending its next search as soon as the last is answered
(the service's capacity: on two cores the latency is then mostly queueing, by Little's law 20
clients over the requests answered a second), and `paced`, each client pausing a random think
time (exponential, mean `--pace` seconds) between searches, as people searching do (the latency
one search gets while 20 people use the service).

    uv run python -m benchmarks.web [--records 20000] [--seconds 20] [--clients 20] [--pace 1]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import cycle
from pathlib import Path

import httpx
from elasticsearch import helpers

from benchmarks.corpus import REPO, SEED_RECORDS, Corpus
from scholarflow.engine import EmbeddedEngine
from scholarflow.engine.client import connect
from scholarflow.search import relevance
from scholarflow.search.crosslingual_eval import CROSSLINGUAL
from scholarflow.settings import DoiLookup, EngineKind, Settings
from scholarflow.stores.indices import ensure_live_index, live_index
from scholarflow.stores.vector_mapping import VECTOR_FIELD

TARGETS = {
    "lexical": ("p50 ≤ 30 ms, p99 ≤ 150 ms"),
    "hybrid": ("p50 ≤ 60 ms"),
    "page": ("p50 ≤ 50 ms"),
    "start": ("≤ 5 s"),
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def build_index(settings: Settings, records: int, work: Path) -> int:
    """Seeds + `records` generated ones, ingested; vectors for all; the document count."""
    from flows.embed import run_embed
    from flows.ingest import run_ingest

    corpus_file = work / "corpus.jsonl"
    corpus = Corpus(seed=7)
    with corpus_file.open("wb") as out:
        for number in range(records):
            out.write(corpus.line(number)[0] + b"\n")
    client = connect(settings)
    ensure_live_index(client, settings.alias, settings.analysis_profile)
    run_ingest(settings, [str(SEED_RECORDS)], settings.batch_size, full=True)
    run_embed(settings, everything=False, batch_size=settings.embed_batch_size)  # seeds only
    run_ingest(settings, [str(corpus_file)], settings.batch_size, full=True)
    index = live_index(client, settings.alias)
    assert index
    client.indices.refresh(index=index)
    with_vectors = {"query": {"exists": {"field": VECTOR_FIELD}}, "_source": [VECTOR_FIELD]}
    seeded = [
        hit["_source"][VECTOR_FIELD] for hit in helpers.scan(client, with_vectors, index=index)
    ]
    vectors = cycle(seeded)
    without = {
        "query": {"bool": {"must_not": {"exists": {"field": VECTOR_FIELD}}}},
        "_source": False,
    }
    actions = (
        {
            "_op_type": "update",
            "_index": index,
            "_id": hit["_id"],
            "doc": {VECTOR_FIELD: next(vectors)},
        }
        for hit in list(helpers.scan(client, without, index=index))
    )
    helpers.bulk(client.options(request_timeout=120), actions, chunk_size=500)
    client.indices.refresh(index=index)
    return client.count(index=index)["count"]


@contextmanager
def service(settings: Settings, hybrid: str) -> Iterator[tuple[str, float]]:
    """`scholarflow web` in a child process; (its address, seconds from start to first answer)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHOLARFLOW_")}
    env |= {
        "SCHOLARFLOW_ES_URL": settings.es_url or "",
        "SCHOLARFLOW_HOME": str(settings.home_dir),
        "SCHOLARFLOW_HYBRID": hybrid,
        "SCHOLARFLOW_WEB_RATE_PER_MINUTE": "1000000",
        # the clients cycle through the judged queries: remembered vectors would make every
        # hybrid search after the first round skip the model
        "SCHOLARFLOW_QUERY_VECTORS_KEPT": "0",
    }
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    child = subprocess.Popen(
        [str(Path(sys.executable).with_name("scholarflow")), "web", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        while True:
            try:
                if httpx.get(f"{url}/api/search?q=lupus", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if child.poll() is not None:
                raise RuntimeError(child.stderr.read().decode() if child.stderr else "exited")
            time.sleep(0.02)
        yield url, time.perf_counter() - started
    finally:
        child.terminate()
        child.wait(timeout=30)


def load(
    url: str, path: str, queries: list[str], clients: int, seconds: float, pace: float = 0.0
) -> list[float]:
    """Seconds per request from `clients` threads asking in turn for `seconds`, each pausing a
    random think time of mean `pace` seconds between two requests (none at 0)."""
    timings: list[list[float]] = [[] for _ in range(clients)]
    failures: list[int] = []
    stop = time.perf_counter() + seconds
    thinking = random.Random(7)

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            for i, text in enumerate(cycle(queries[number:] + queries[:number])):
                if time.perf_counter() > stop:
                    return
                began = time.perf_counter()
                answer = http.get(path, params={"q": text, "hl": "zh" if i % 2 else "en"})
                timings[number].append(time.perf_counter() - began)
                if answer.status_code != 200:
                    failures.append(answer.status_code)
                if pace:
                    time.sleep(thinking.expovariate(1 / pace))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {sorted(set(failures))}")
    return [t for per_client in timings for t in per_client]


def line(name: str, timings: list[float], target: str) -> str:
    ms = [t * 1000 for t in timings]
    return (
        f"{name:<34} {len(ms):>6} {statistics.median(ms):>8.1f} {percentile(ms, 0.9):>8.1f} "
        f"{percentile(ms, 0.99):>8.1f}   {target}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--pace", type=float, default=1.0, help="mean think time, seconds")
    args = parser.parse_args(argv)
    queries = [j.query for j in relevance.load_judgments()]
    queries += [j.query for j in relevance.load_judgments(CROSSLINGUAL)]
    with tempfile.TemporaryDirectory(prefix="scholarflow-bench-web-") as home:
        engine = EmbeddedEngine(Path(home) / "engine-home", kind=EngineKind.OPENSEARCH)
        state = engine.ensure()
        try:
            settings = Settings(
                _env_file=None, es_url=state.url, doi_lookup=DoiLookup.OFF, home=Path(home)
            )
            began = time.perf_counter()
            documents = build_index(settings, args.records, Path(home))
            print(
                f"index: {documents:,} papers (seeds + {args.records:,} generated, seed 7) in "
                f"{time.perf_counter() - began:.0f} s; engine {_engine_name(settings)}",
                flush=True,
            )
            loads = [os.getloadavg()]
            print(f"{'':<34} {'n':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}   target")
            starts = []
            for mode, name in (("off", "lexical"), ("cross-script", "hybrid")):
                with service(settings, mode) as (url, start):
                    starts.append(start)
                    load(url, "/api/search", queries, args.clients, 3)  # warm-up
                    timings = load(url, "/api/search", queries, args.clients, args.seconds)
                    label = f"API search, {name}, {args.clients} flat out"
                    print(line(label, timings, TARGETS[name]), flush=True)
                    timings = load(
                        url, "/api/search", queries, args.clients, args.seconds, args.pace
                    )
                    label = f"API search, {name}, {args.clients} paced"
                    print(line(label, timings, TARGETS[name]), flush=True)
                    if name == "hybrid":
                        pages = load(url, "/", queries, 1, args.seconds / 2)
                        print(line("search page, 1 client", pages, TARGETS["page"]), flush=True)
                loads.append(os.getloadavg())
            print(
                f"service start to first answer: {', '.join(f'{s:.2f} s' for s in starts)}"
                f"   target {TARGETS['start']}"
            )
            print(
                f"machine: {os.cpu_count()} cores, shared with other work; load average (1 min) "
                f"{' → '.join(f'{one:.1f}' for one, _, _ in loads)}"
            )
        finally:
            engine.stop()


def _engine_name(settings: Settings) -> str:
    version = connect(settings).info()["version"]
    return f"{version.get('distribution')} {version['number']} (Lucene {version['lucene_version']})"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    main()
