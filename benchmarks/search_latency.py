"""Lexical search latency over a 20k-paper corpus: what a user waits for a search by words.

The corpus: the 5,183 real abstracts of the `scifact-train` judged set and synthetic aggregator
records (`benchmarks/corpus.py`) up to the size asked for, ingested through the normal ingest run
(DOI lookups off) into a throw-away alias. The queries, searched as `scholarflow search` does
(`search_index`, by words, the relaxed second query included when the first finds nothing):
the 809 SciFact train claims (long, natural language) and the seeds' 275 judged queries (short
keywords, titles, DOIs). Each is searched `--rounds` times after one warm-up round; printed:
the wall time a search takes as the client sees it, and the engine's own `took`, at the 50th
and 90th percentile, per kind of query (target: p50 at most 50 ms).

    uv run python -m benchmarks.search_latency [--papers 20000] [--rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from elasticsearch import Elasticsearch, helpers

from benchmarks.corpus import Corpus
from benchmarks.hybrid import percentile
from flows.ingest import run_ingest
from flows.judged_sets import engine_name
from scholarflow.embedding.cache import VectorCache
from scholarflow.embedding.passages import passage_text, text_hash
from scholarflow.engine.client import connect
from scholarflow.search import relevance
from scholarflow.search.query import SearchRequest, build_query
from scholarflow.search.service import hybrid_search, search_index
from scholarflow.settings import DoiLookup, HybridMode, Settings, get_settings
from scholarflow.stores.bulk import expanded, send
from scholarflow.stores.indices import generations, live_index
from scholarflow.stores.vector_mapping import VECTOR_FIELD

ALIAS = "bench-latency"
SET = "scifact-train"


def build_corpus(folder: Path, papers: int) -> list[str]:
    """The set's corpus file, and synthetic records up to `papers` in a second file."""
    judged_set = relevance.load_set(SET)
    real = sum(1 for _ in judged_set.papers())
    synthetic = folder / "synthetic.jsonl.gz"
    Corpus(seed=26).write(synthetic, max(0, papers - real))
    return [str(judged_set.corpus), str(synthetic)]


def give_vectors(client: Elasticsearch, settings: Settings) -> dict[str, int]:
    """Every paper of the alias a vector: its own from the vector cache when its text was
    embedded, otherwise a cached one of another paper with noise (see the module's doc)."""
    cache = VectorCache(client)
    fields = ["title_en", "title_zh", "abstract_en", "abstract_zh"]
    papers = [
        (hit["_id"], text_hash(passage_text(hit["_source"]), settings.embed_max_tokens))
        for hit in helpers.scan(client, index=ALIAS, _source=fields)
    ]
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(papers), 500):
        chunk = papers[start : start + 500]
        found = cache.get([key for _, key in chunk])
        vectors |= {doc_id: found[key].vector for doc_id, key in chunk if key in found}
    real = list(vectors.values())
    if not real:
        raise SystemExit("no cached vector: run `scholarflow eval --set scifact-train --embed`")
    rng = np.random.default_rng(26)
    borrowed = 0
    for doc_id, _ in papers:
        if doc_id not in vectors:
            noisy = real[int(rng.integers(len(real)))] + rng.normal(0, 0.02, len(real[0]))
            vectors[doc_id] = noisy / np.linalg.norm(noisy)
            borrowed += 1
    actions = (
        {"_op_type": "update", "_index": ALIAS, "_id": doc_id, "doc": {VECTOR_FIELD: v.tolist()}}
        for doc_id, v in vectors.items()
    )
    send(client, expanded(actions)).raise_refused(ALIAS)
    client.indices.refresh(index=ALIAS)
    return {"cached": len(real), "borrowed": borrowed}


def timed(
    client: Elasticsearch, queries: list[str], rounds: int, settings: Settings | None = None
) -> dict[str, list[float]]:
    """Wall seconds per search (as the client sees it) and the engine's `took`, in seconds.
    With `settings`, searched with their vector half, a new one each round: a query's vector is
    remembered within a set-up, and a query never asked before is what is measured."""
    wall: list[float] = []
    took: list[float] = []
    for round_number in range(rounds + 1):
        hybrid = hybrid_search(settings) if settings else None
        for text in queries:
            request = SearchRequest(text)
            started = time.perf_counter()
            search_index(client, ALIAS, request, hybrid)
            elapsed = time.perf_counter() - started
            if round_number:  # the first round warms the caches
                wall.append(elapsed)
                answer = client.search(index=ALIAS, body=build_query(request))
                took.append(answer["took"] / 1000)
    return {"wall": wall, "took": took}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--papers", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the corpus's alias")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--hybrid", type=HybridMode, help="search with vectors in this mode")
    args = parser.parse_args()
    settings = get_settings().model_copy(update={"alias": ALIAS, "doi_lookup": DoiLookup.OFF})
    if args.hybrid:
        settings = settings.model_copy(update={"hybrid": args.hybrid})
    client = connect(settings)
    try:
        if live_index(client, ALIAS) is None:
            with tempfile.TemporaryDirectory() as folder:
                paths = build_corpus(Path(folder), args.papers)
                started = time.perf_counter()
                summary = run_ingest(settings, paths, settings.batch_size, full=True)
                print(
                    f"ingested {summary.records_read:,} records in "
                    f"{time.perf_counter() - started:.0f} s: {dict(summary.outcomes)}"
                )
        client.indices.refresh(index=ALIAS)
        documents = client.count(index=ALIAS)["count"]
        with_vectors = client.count(index=ALIAS, query={"exists": {"field": VECTOR_FIELD}})
        if args.hybrid and with_vectors["count"] < documents:  # a kept alias has them already
            print(f"vectors: {give_vectors(client, settings)}")
        kinds = {
            "claims (SciFact train)": [j.query for j in relevance.load_set(SET).queries],
            "keywords (seeds' judged)": [j.query for j in relevance.load_judgments()],
        }
        results = {
            name: timed(client, queries, args.rounds, settings if args.hybrid else None)
            for name, queries in kinds.items()
        }
    finally:
        if not args.keep:
            for name in generations(client, ALIAS):
                client.indices.delete(index=name, ignore_unavailable=True)
    table = {
        name: {
            f"{what}_{share}": round(percentile(values, p) * 1000, 1)
            for what, values in times.items()
            for share, p in (("p50", 0.5), ("p90", 0.9))
        }
        | {"searches": len(times["wall"])}
        for name, times in results.items()
    }
    if args.json:
        print(json.dumps({"engine": engine_name(client), "documents": documents, "kinds": table}))
        return
    mode = args.hybrid.value if args.hybrid else "off (words only)"
    print(f"engine: {engine_name(client)}; {documents:,} papers in '{ALIAS}'; hybrid {mode}")
    print("| Queries | Searches | wall p50 | wall p90 | engine took p50 | engine took p90 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, row in table.items():
        print(
            f"| {name} | {row['searches']} | {row['wall_p50']:.1f} ms | {row['wall_p90']:.1f} ms "
            f"| {row['took_p50']:.1f} ms | {row['took_p90']:.1f} ms |"
        )


if __name__ == "__main__":
    main()
