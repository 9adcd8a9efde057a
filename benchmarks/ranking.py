"""Ranking options measured on the judged queries: what each signal does to each kind of query.

Runs `relevance/judgments.json` against a copy of the index the alias serves, once per variant
of the query builder, and prints MRR@10, nDCG@10, recall@10 and Others@10 over the queries
judged before the ranking signals existed (221), nDCG@10 per new kind (phrase, year, citations,
recency), and the figures over all queries. The variants swap parts of `scholarflow/search/query.py`
and `scholarflow/search/ranking.py` for the alternatives measured against them:

- before: the query builder without any signal (quotes and years are words, no function_score);
- phrases in quotes, and years typed as a boost (several weights) or as a filter;
- citations as a multiplicative `function_score` (`field_value_factor`, log1p; several weights)
  or as an additive `rank_feature` clause (saturation and log; several boosts);
- recency as a multiplicative gauss decay on the publication date, or as an additive
  `distance_feature` clause.

Last, the engine's time (`took`) to answer all the judged queries, before the signals and
with them, in interleaved rounds.

The copy adds a `rank_feature` field (`citations_feature`), which needs the mapper-extras
module (the embedded engine loads it; stock Elasticsearch and OpenSearch distributions bundle
it). Build the seeds per analysis profile first (docs/search.md, "Which profile is measured").

    uv run python -m benchmarks.ranking [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from elasticsearch import Elasticsearch

import scholarflow.search.query as query_module
import scholarflow.search.query_text as query_text
import scholarflow.search.ranking as ranking
from scholarflow.engine.client import connect
from scholarflow.search import relevance
from scholarflow.search.query import SearchRequest
from scholarflow.settings import get_settings
from scholarflow.stores.indices import live_index

COPY_SUFFIX = "-ranking-bench"
NEW_KINDS = ("phrase", "year", "citations", "recency")
NEVER = re.compile(r"(?!)")
Ranked = Callable[..., dict[str, Any]]


def _text_only(query: dict[str, Any], **_: Any) -> dict[str, Any]:
    return query


def _additive(*clauses: dict[str, Any]) -> Ranked:
    """Signals as `should` clauses added to the text score, with the demotion kept."""

    def rank(query: dict[str, Any], **options: Any) -> dict[str, Any]:
        combined = {"bool": {"must": [query], "should": list(clauses)}}
        return ranking.ranked(combined, years=options.get("years"), demote=options["demote"])

    return rank


def _with_decay(weight: float, scale: str) -> Ranked:
    """The product ranking with a gauss decay on the publication date added to its sum."""

    def rank(query: dict[str, Any], **options: Any) -> dict[str, Any]:
        body = ranking.ranked(query, **options)
        inner = body["function_score"]
        if "functions" in inner and inner["score_mode"] == "multiply":
            inner = inner["query"]["function_score"]
        decay = {"gauss": {"published.value": {"origin": "now", "scale": scale, "decay": 0.5}}}
        inner["functions"].append({**decay, "weight": weight})
        return body

    return rank


def _year_filter(query: dict[str, Any], **options: Any) -> dict[str, Any]:
    years = options.pop("years", None)
    if years is not None:
        query["bool"]["filter"].append(ranking.year_range(*years))
    return ranking.ranked(query, **options)


def variants() -> dict[str, dict[str, Any]]:
    """Name → attributes to set on scholarflow.search.query, query_text and ranking modules."""
    none = {"CITATION_WEIGHT": 0.0}
    words = {"_QUOTES": NEVER, "_YEARS": NEVER}
    table: dict[str, dict[str, Any]] = {
        "before: no signals": {**none, **words, "ranked": _text_only},
        "phrases": {**none, "_YEARS": NEVER},
    }
    for weight in (2.0, 4.0, 10.0):
        table[f"phrases, years ×{weight:g}"] = {**none, "YEAR_WEIGHT": weight}
    table["phrases, years as a filter"] = {**none, "ranked": _year_filter}
    for weight in (0.1, 0.2, 0.3, 0.5, 1.0):
        table[f"… citations function_score {weight:g}"] = {"CITATION_WEIGHT": weight}
    for boost in (1.0, 5.0, 10.0):
        feature = {"field": "citations_feature", "saturation": {}, "boost": boost}
        table[f"… citations rank_feature saturation {boost:g}"] = {
            **none,
            "ranked": _additive({"rank_feature": feature}),
        }
        logged = {"field": "citations_feature", "log": {"scaling_factor": 1}, "boost": boost}
        table[f"… citations rank_feature log {boost:g}"] = {
            **none,
            "ranked": _additive({"rank_feature": logged}),
        }
    for weight, years in ((0.2, 10), (0.5, 10), (1.0, 10), (2.0, 5), (5.0, 5)):
        table[f"… citations 0.2, recency gauss {years}y {weight:g}"] = {
            "ranked": _with_decay(weight, f"{365 * years}d")
        }
    for boost in (1.0, 5.0, 20.0):
        recency = {"field": "published.value", "origin": "now", "pivot": "3650d", "boost": boost}
        table[f"… recency distance_feature {boost:g}"] = {
            **none,
            "ranked": _additive({"distance_feature": recency}),
        }
    return table


@contextmanager
def patched(attributes: dict[str, Any]) -> Iterator[None]:
    """Set module attributes for one variant; restore them afterwards."""
    modules = (query_module, query_text, ranking)
    saved = []
    for name, value in attributes.items():
        module = next(m for m in modules if hasattr(m, name))
        saved.append((module, name, getattr(module, name)))
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in reversed(saved):
            setattr(module, name, value)


def copy_with_features(client: Elasticsearch, source: str) -> str:
    """A copy of `source` with `citations_feature` (rank_feature), for the rank_feature runs."""
    target = source + COPY_SUFFIX
    client.indices.delete(index=target, ignore_unavailable=True)
    settings = client.indices.get_settings(index=source)[source]["settings"]["index"]
    mappings = client.indices.get_mapping(index=source)[source]["mappings"]
    mappings["properties"]["citations_feature"] = {"type": "rank_feature"}
    client.indices.create(
        index=target,
        settings={"analysis": settings["analysis"], "number_of_shards": 1},
        mappings=mappings,
    )
    operations: list[dict[str, Any]] = []
    for hit in client.search(index=source, size=10_000)["hits"]["hits"]:
        doc = hit["_source"]
        if doc.get("citations"):
            doc["citations_feature"] = doc["citations"]
        operations += [{"index": {"_index": target, "_id": hit["_id"]}}, doc]
    client.bulk(operations=operations, refresh=True)
    return target


def measure(client: Elasticsearch, index: str) -> dict[str, dict[str, Any]]:
    judged = relevance.load_judgments()
    results: dict[str, dict[str, Any]] = {}
    for name, attributes in variants().items():
        with patched(attributes):
            scored = relevance.evaluate(client, index, judged)
        older = [item for item in scored if item.judged.kind not in NEW_KINDS]
        results[name] = {
            "before_signals": relevance.summarize(older)[relevance.ALL],
            "kinds": relevance.summarize_kinds(scored),
            "all": relevance.summarize(scored)[relevance.ALL],
        }
    return results


def engine_time(client: Elasticsearch, index: str, rounds: int = 5) -> dict[str, float]:
    """Median engine time (`took`, ms) to answer every judged query, before the signals and
    with them, the two runs interleaved round by round so that the machine's load falls on
    both alike."""
    queries = [judged.query for judged in relevance.load_judgments()]
    plain = variants()["before: no signals"]
    totals: dict[str, list[int]] = {"before": [], "with the signals": []}
    for _ in range(rounds):
        for name, attributes in (("before", plain), ("with the signals", {})):
            with patched(attributes):
                took = sum(
                    client.search(
                        index=index, body=query_module.build_query(SearchRequest(text, size=10))
                    )["took"]
                    for text in queries
                )
            totals[name].append(took)
    return {name: statistics.median(values) for name, values in totals.items()}


def print_table(results: dict[str, dict[str, Any]]) -> None:
    head = "| Variant | 221 earlier: MRR / nDCG / recall / Others | "
    head += " | ".join(f"{kind} nDCG" for kind in NEW_KINDS)
    print(head + " | all: MRR / nDCG / recall / Others |")
    print("|---|---|" + "---:|" * len(NEW_KINDS) + "---|")
    for name, row in results.items():
        kinds = " | ".join(f"{row['kinds'][kind]['ndcg']:.3f}" for kind in NEW_KINDS)
        print(f"| {name} | {_four(row['before_signals'])} | {kinds} | {_four(row['all'])} |")


def _four(row: dict[str, float]) -> str:
    return f"{row['mrr']:.3f} / {row['ndcg']:.3f} / {row['recall']:.3f} / {row['others']:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object instead")
    args = parser.parse_args()
    settings = get_settings()
    client = connect(settings)
    source = live_index(client, settings.alias)
    if source is None:
        raise SystemExit(f"the alias '{settings.alias}' has no index yet: ingest the seeds first")
    copy = copy_with_features(client, source)
    try:
        results = measure(client, copy)
        took = engine_time(client, copy)
    finally:
        client.indices.delete(index=copy, ignore_unavailable=True)
    if args.json:
        print(json.dumps({"variants": results, "engine_ms": took}))
        return
    print_table(results)
    queries = len(relevance.load_judgments())
    print(
        f"\nengine time for the {queries} judged queries (median of 5 interleaved rounds): "
        + ", ".join(f"{name} {ms:.0f} ms" for name, ms in took.items())
    )


if __name__ == "__main__":
    main()
