"""What translated query words cost at search time (scholarflow/search/translate.py).

On the index an alias serves (a kept judged set: `scholarflow eval --set csl-xling-dev --embed
--keep` leaves `evalset-csl-xling-dev`; `python -m benchmarks.search_latency --keep` leaves the
20k-paper `bench-latency`), English keyword queries (the `en-to-zh` queries of csl-xling-dev)
are searched as `scholarflow search` does with vectors, without translated words and with them,
interleaved query by query (A, B, A, B …) so both see the same load. Printed: the wall time at
the 50th and 90th percentile of each, what translation adds, the dictionary lookup alone, and
how long the process took to load the dictionary (once, on the first search).

    uv run python -m benchmarks.translation --alias evalset-csl-xling-dev [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

from benchmarks.hybrid import percentile
from scholarflow.embedding.model import load_embedder
from scholarflow.engine.client import connect
from scholarflow.search import relevance
from scholarflow.search.hybrid import Hybrid
from scholarflow.search.query import SearchRequest
from scholarflow.search.service import search_index
from scholarflow.search.translate import reverse_index, translate
from scholarflow.settings import Settings

SET = "csl-xling-dev"
GROUP = "en-to-zh"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alias", default=f"evalset-{SET}")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    client = connect(settings)
    started = time.perf_counter()
    entries = len(reverse_index())
    loaded = time.perf_counter() - started
    embedder = load_embedder(settings.embed_max_tokens)
    weights = (settings.vector_weight, settings.translation_weight)
    plain = Hybrid(embedder, settings.hybrid, settings.fusion, weights[0], 0.0)
    translated = Hybrid(embedder, settings.hybrid, settings.fusion, *weights)
    queries = [j.query for j in relevance.load_set(SET).queries if j.group == GROUP]
    count = client.count(index=args.alias)["count"]
    for text in queries[:5]:  # warm-up: the model, the engine's caches
        search_index(client, args.alias, SearchRequest(text), translated)
    without: list[float] = []
    with_words: list[float] = []
    lookup: list[float] = []
    for _ in range(args.rounds):
        for text in queries:
            request = SearchRequest(text)
            started = time.perf_counter()
            search_index(client, args.alias, request, plain)
            without.append(time.perf_counter() - started)
            started = time.perf_counter()
            search_index(client, args.alias, request, translated)
            with_words.append(time.perf_counter() - started)
            started = time.perf_counter()
            translate(text)
            lookup.append(time.perf_counter() - started)
    print(
        f"{len(queries)} English keyword queries x {args.rounds} rounds on '{args.alias}' "
        f"({count} papers); dictionary: {entries} English glosses loaded in {loaded:.2f} s"
    )
    for name, values in (("hybrid", without), ("hybrid + translated", with_words)):
        print(
            f"{name:>22}: p50 {1000 * percentile(values, 0.5):6.1f} ms, "
            f"p90 {1000 * percentile(values, 0.9):6.1f} ms"
        )
    added = [b - a for a, b in zip(without, with_words, strict=True)]
    print(
        f"{'added by translation':>22}: p50 {1000 * percentile(added, 0.5):6.1f} ms, "
        f"p90 {1000 * percentile(added, 0.9):6.1f} ms  "
        f"(dictionary lookup alone: p50 {1e6 * percentile(lookup, 0.5):.0f} µs)"
    )


if __name__ == "__main__":
    main()
