"""Cross-lingual search benchmark: what vectors cost at query time and at embedding time.

Query time, on the index the alias serves (run `make demo` and `scholarflow embed` first): the
judged queries (monolingual and cross-lingual) searched by words alone and with the vector
ranking fused in, interleaved query by query (A, B, A, B …) so both see the same load; the
added latency at the 50th and 90th percentile (target: at most 30 ms at p50), and the query's
embedding alone. Embedding time: the seed papers' passages through the model, as CPU seconds
per paper (the stage's cost per core) and wall seconds, with one thread and with every core.

    uv run python -m benchmarks.hybrid [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from elasticsearch import helpers

from scholarflow.embedding.model import load_embedder
from scholarflow.embedding.passages import passage_text
from scholarflow.engine.client import connect
from scholarflow.search import relevance
from scholarflow.search.crosslingual_eval import CROSSLINGUAL
from scholarflow.search.query import SearchRequest
from scholarflow.search.service import hybrid_search, search_index
from scholarflow.settings import Settings
from scholarflow.stores.indices import live_index


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def query_latency(settings: Settings, rounds: int) -> None:
    client = connect(settings)
    index = live_index(client, settings.alias)
    hybrid = hybrid_search(settings)  # the searches' own: mode, fusion, weights, model
    if hybrid is None:
        raise SystemExit(
            "no vector half to time: SCHOLARFLOW_HYBRID is off or the model is missing"
        )
    queries = [j.query for j in relevance.load_judgments()]
    queries += [j.query for j in relevance.load_judgments(CROSSLINGUAL)]
    words: list[float] = []
    both: list[float] = []
    embed: list[float] = []
    for _ in range(rounds):
        for text in queries:
            request = SearchRequest(text)
            started = time.perf_counter()
            search_index(client, settings.alias, request)
            words.append(time.perf_counter() - started)
            started = time.perf_counter()
            search_index(client, settings.alias, request, hybrid)
            both.append(time.perf_counter() - started)
            started = time.perf_counter()
            hybrid.embedder.query(text)
            embed.append(time.perf_counter() - started)
    added = [b - w for w, b in zip(words, both, strict=True)]
    print(f"index {index}, mode {settings.hybrid.value}, fusion {settings.fusion.value}")
    print(f"{len(words)} searches each ({len(queries)} judged queries x {rounds} rounds)")
    for name, values in (("words only", words), ("hybrid", both), ("query embedding", embed)):
        print(
            f"  {name:>16}: p50 {percentile(values, 0.5) * 1000:6.1f} ms, "
            f"p90 {percentile(values, 0.9) * 1000:6.1f} ms"
        )
    print(
        f"  {'added by vectors':>16}: p50 {statistics.median(added) * 1000:6.1f} ms, "
        f"p90 {percentile(added, 0.9) * 1000:6.1f} ms  (target: p50 <= 30 ms)"
    )


def embedding_cost(settings: Settings) -> None:
    client = connect(settings)
    sources = [hit["_source"] for hit in helpers.scan(client, index=settings.alias)]
    texts = [text for text in (passage_text(s) for s in sources) if text]
    embedder = load_embedder(settings.embed_max_tokens)
    cores = os.cpu_count() or 1
    print(f"{len(texts)} seed passages, window {settings.embed_max_tokens} tokens, {cores} cores")
    wall, cpu = time.perf_counter(), time.process_time()
    made = embedder.passages(texts)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    tokens = sum(p.tokens for p in made) / len(made)
    print(
        f"  {len(texts) / cpu:.2f} papers per CPU second (per core), "
        f"{len(texts) / wall:.2f} papers per second on {cores} cores; "
        f"{tokens:.0f} tokens a passage, {sum(p.truncated for p in made)} cut to the window"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    query_latency(settings, args.rounds)
    embedding_cost(settings)


if __name__ == "__main__":
    main()
