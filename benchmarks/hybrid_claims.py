"""The vector side on a judged set's questions: every way of fusing it, measured on one index.

Runs against a set's kept index with vectors (`scholarflow eval --set NAME --embed --keep`
first): each query is searched once by words (the query builder's own query, the relaxed second
query when the first finds nothing, up to 100 papers) and once by meaning (the `knn` query of
`scholarflow/search/hybrid.py`, up to 100 papers; and with the engine asked for 1x and 5x the 10
papers wanted, to see what `k` changes), and the raw rankings are kept in
`benchmarks/out/hybrid-claims-<set>.json`. Every variant then fuses those rankings with the
product's own functions (`near_enough`, `fused_scores`), so a variant costs no search: words
only, meaning only, `weighted` and `rrf` at several weights, floors and margins, by query length
(the vector side only for queries of N parts or more), and how many papers of each ranking are
fused. Printed: nDCG@10, recall@10, MRR@10 and the queries that got nothing, per variant.

    uv run python -m benchmarks.hybrid_claims [--set scifact-train] [--again] [--json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Any

from elasticsearch import helpers

from flows.judged_sets import ALIAS_PREFIX, ANCHOR_PREFIX, documents_to_set_ids, engine_name
from scholarflow.embedding.model import load_embedder
from scholarflow.engine.client import connect
from scholarflow.paper.text import fold_query
from scholarflow.search import relevance
from scholarflow.search.anchor import anchor_query, build_anchor
from scholarflow.search.hybrid import Hybrid, VectorPlan, fused_scores, near_enough
from scholarflow.search.query import SearchRequest, build_query, query_parts
from scholarflow.search.relevance import Judged, Scored
from scholarflow.settings import Fusion, HybridMode, VectorMapping, get_settings
from scholarflow.stores.vector_mapping import VECTOR_FIELD

OUT = Path(__file__).parent / "out"
DEEP = 100  # papers kept of each ranking
K = relevance.K


def record(set_name: str, path: Path, sample: bool = False) -> dict[str, Any]:
    """Every query's raw rankings from the set's kept index, written to `path`. `sample`: only
    the papers that have a vector so far, and the queries all of whose judged papers are among
    them (see `--sample`)."""
    settings = get_settings()
    client = connect(settings)
    judged_set = relevance.load_set(set_name)
    alias = ALIAS_PREFIX + judged_set.name
    set_ids = documents_to_set_ids(client, alias, judged_set)
    queries = judged_set.queries
    within: dict[str, Any] | None = None
    anchor_within: dict[str, Any] | None = None
    if sample:
        have = {
            hit["_id"]
            for hit in helpers.scan(
                client,
                index=alias,
                query={"query": {"exists": {"field": VECTOR_FIELD}}, "_source": False},
            )
        }
        sampled = {i for doc in have for i in set_ids.get(doc, [])}
        queries = [j for j in queries if set(j.relevant) <= sampled]
        within = {"ids": {"values": sorted(have)}}
        anchor_within = {"ids": {"values": sorted(sampled)}}
    anchor_index = ANCHOR_PREFIX + judged_set.name
    if not client.indices.exists(index=anchor_index):  # `eval` builds it after the vectors
        build_anchor(client, anchor_index, judged_set.papers())
    embedder = load_embedder(settings.embed_max_tokens)
    hybrid = Hybrid(embedder, HybridMode.ALWAYS)
    recorded = []
    for judged in queries:
        request = SearchRequest(judged.query, size=DEEP)
        words, relaxed = _lexical(client, alias, request, within)
        vector = embedder.query(fold_query(judged.query))
        plan = VectorPlan(hybrid, VectorMapping.KNN, vector, "en", only_other=False)
        meaning = {}
        for name, size, k in (("deep", DEEP, DEEP * 5), ("k1", K, K), ("k5", K, K * 5)):
            body = plan.body(SearchRequest(judged.query, size=size))
            knn = body["query"]["knn"][VECTOR_FIELD]
            knn["k"] = k
            if within:
                knn["filter"]["bool"]["filter"].append(within)
            body["_source"] = False
            hits = client.search(index=alias, body=body)["hits"]["hits"]
            meaning[name] = [[hit["_id"], hit["_score"]] for hit in hits]
        anchor = anchor_query(judged.query, K)
        if anchor_within:
            anchor["query"] = {"bool": {"must": [anchor["query"]], "filter": [anchor_within]}}
        anchored = client.search(index=anchor_index, body=anchor)
        recorded.append(
            {
                "id": judged.id,
                "parts": len(query_parts(judged.query)),
                "words": [[hit["_id"], hit["_score"]] for hit in words],
                "relaxed": relaxed,
                "meaning": meaning,
                "anchor": [hit["_id"] for hit in anchored["hits"]["hits"]],
            }
        )
    data = {
        "engine": engine_name(client),
        "set": judged_set.name,
        "papers": len(within["ids"]["values"]) if within else client.count(index=alias)["count"],
        "sample": sample,
        "set_ids": set_ids,
        "queries": recorded,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return data


def _lexical(
    client: Any, alias: str, request: SearchRequest, within: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """The lexical hits as `search_index` gets them by words alone (the relaxed query when
    nothing matched), and whether they are the relaxed query's; `within`: only those papers."""
    for loose in (False, True):
        body = build_query(request, loose=loose)
        if within:
            body["query"] = {"bool": {"must": [body["query"]], "filter": [within]}}
        hits = client.search(index=alias, body=body)["hits"]["hits"]
        if hits:
            return list(hits), loose
    return [], True


@dataclass(frozen=True)
class Variant:
    name: str
    vectors: bool = True  # the vector side at all
    words: bool = True  # the lexical side at all
    fusion: Fusion = Fusion.WEIGHTED
    weight: float = 1.0
    floor: float | None = 0.74
    margin: float | None = 0.05
    min_parts: int = 0  # the vector side only for queries of this many parts or more
    lexical: int = K  # lexical papers fused
    meaning: str = "k5"  # which vector ranking: k5 (10 asked, k = 50), k1, deep
    candidates: int = K  # vector papers fused (of `meaning`)
    strict: bool = False  # no relaxed lexical query when the vector side found papers
    minmax: bool = False  # each ranking's scores scaled to 0-1 per query (not in the product)


def fused_deep(name: str, depth: int, **changes: Any) -> Variant:
    """A variant fusing `depth` papers of each ranking, the vector one from the deep search,
    with no floor or margin."""
    return Variant(
        name, floor=None, margin=None, lexical=depth, meaning="deep", candidates=depth, **changes
    )


def variants() -> Iterator[Variant]:
    yield Variant("words only", vectors=False)
    yield Variant("meaning only, k = 5 x 10", words=False, floor=None, margin=None)
    yield Variant("meaning only, k = 10", words=False, floor=None, margin=None, meaning="k1")
    yield Variant("meaning only, 100 asked", words=False, floor=None, margin=None, meaning="deep")
    for weight in (0.3, 0.5, 1.0, 2.0):
        yield Variant(f"always, weighted {weight}, floor 0.74, margin 0.05", weight=weight)
    for weight in (0.5, 1.0, 2.0):
        yield Variant(
            f"always, rrf {weight}, floor 0.74, margin 0.05", fusion=Fusion.RRF, weight=weight
        )
    for weight in (0.5, 1.0, 2.0, 3.0):
        for floor, margin in ((0.74, None), (None, None), (0.8, None), (None, 0.1)):
            yield Variant(
                f"always, weighted {weight}, floor {floor}, margin {margin}",
                weight=weight,
                floor=floor,
                margin=margin,
            )
    for weight in (0.5, 1.0, 2.0):
        yield Variant(
            f"always, rrf {weight}, no floor", fusion=Fusion.RRF, weight=weight, floor=None
        )
    for depth in (10, 20, 50, 100):
        for weight in (1.0, 2.0, 3.0):
            yield fused_deep(
                f"always, weighted {weight}, no floor/margin, {depth} of each fused",
                depth,
                weight=weight,
            )
        for weight in (1.0, 2.0):
            yield fused_deep(
                f"always, rrf {weight}, no floor/margin, {depth} of each fused",
                depth,
                fusion=Fusion.RRF,
                weight=weight,
            )
    for meaning, k in (("k1", "k = 10"), ("k5", "k = 50"), ("deep", "k = 500")):
        yield Variant(
            f"always, weighted 2, no floor/margin, 10 of each fused, {k}",
            weight=2.0,
            floor=None,
            margin=None,
            meaning=meaning,
        )
    for weight in (1.0, 2.0):
        yield fused_deep(
            f"always, weighted {weight}, no floor/margin, 50 fused, nothing asked again",
            50,
            weight=weight,
            strict=True,
        )
    for depth in (20, 50, 100):
        for weight in (0.5, 1.0, 1.5, 2.0):
            yield fused_deep(
                f"always, min-max scaled per query, vector weight {weight}, {depth} of each fused",
                depth,
                weight=weight,
                minmax=True,
            )
    for parts in (3, 4, 5, 6, 8, 10):
        for weight in (1.5, 2.0, 2.5):
            yield fused_deep(
                f"queries of {parts}+ parts, weighted {weight}, no floor/margin, 50 of each fused",
                50,
                weight=weight,
                min_parts=parts,
            )
        for weight in (0.75, 1.0, 1.25):
            yield Variant(
                f"queries of {parts}+ parts, rrf {weight}, floor 0.74, margin 0.05, "
                "10 of each fused",
                fusion=Fusion.RRF,
                weight=weight,
                min_parts=parts,
            )
        for weight in (1.5, 2.0, 2.5):
            yield Variant(
                f"queries of {parts}+ parts, weighted {weight}, floor 0.74, margin 0.05, "
                "10 of each fused",
                weight=weight,
                min_parts=parts,
            )


def ranked(variant: Variant, query: dict[str, Any]) -> list[str]:
    words = [{"_id": i, "_score": s} for i, s in query["words"][: variant.lexical]]
    use_vectors = variant.vectors and query["parts"] >= variant.min_parts
    if not variant.words or (use_vectors and variant.strict and query["relaxed"]):
        words = []
    if not use_vectors:
        return [hit["_id"] for hit in words[:K]]
    meaning = [{"_id": i, "_score": s} for i, s in query["meaning"][variant.meaning]]
    meaning = near_enough(meaning[: variant.candidates], None, variant.floor, variant.margin)
    if variant.minmax:
        return _convex(words, meaning, variant.weight)
    return list(fused_scores(words, meaning, variant.fusion, variant.weight))[:K]


def _convex(words: list[dict[str, Any]], meaning: list[dict[str, Any]], weight: float) -> list[str]:
    """The convex combination with each ranking's scores scaled to 0-1 within the query (min to
    max), a paper missing from a ranking scoring 0 there: measured here only, as an
    alternative to the product's fixed scales."""
    scores: dict[str, float] = {}
    for hits, factor in ((words, 1.0), (meaning, weight)):
        if not hits:
            continue
        values = [hit["_score"] for hit in hits]
        low, high = min(values), max(values)
        for hit in hits:
            scaled = (hit["_score"] - low) / (high - low) if high > low else 1.0
            scores[hit["_id"]] = scores.get(hit["_id"], 0.0) + factor * scaled
    return sorted(scores, key=lambda doc_id: -scores[doc_id])[:K]


def measure(data: dict[str, Any], judged: dict[str, Judged]) -> list[dict[str, Any]]:
    set_ids: dict[str, list[str]] = data["set_ids"]
    anchor = [Scored(judged[query["id"]], query["anchor"]) for query in data["queries"]]
    rows = [_row("textbook BM25 anchor (same engine, same papers)", anchor)]
    for variant in variants():
        scored = []
        for query in data["queries"]:
            docs = ranked(variant, query)
            scored.append(
                Scored(judged[query["id"]], [i for d in docs for i in set_ids.get(d, [d])])
            )
        rows.append(_row(variant.name, scored))
    return rows


def _row(name: str, scored: list[Scored]) -> dict[str, Any]:
    return {
        "variant": name,
        "ndcg": round(fmean(s.ndcg for s in scored), 4),
        "recall": round(fmean(s.recall for s in scored), 4),
        "mrr": round(fmean(s.reciprocal_rank for s in scored), 4),
        "empty": sum(not s.ranked for s in scored),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="scifact-train", dest="set_name")
    parser.add_argument("--again", action="store_true", help="search again, not the saved file")
    parser.add_argument(
        "--sample",
        action="store_true",
        help="only the papers with a vector so far, and the queries whose judged papers all are",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    suffix = "-sample" if args.sample else ""
    path = OUT / f"hybrid-claims-{Path(args.set_name).name}{suffix}.json"
    if args.again or not path.is_file():
        data = record(args.set_name, path, args.sample)
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
    judged = {j.id: j for j in relevance.load_set(args.set_name).queries}
    rows = measure(data, judged)
    if args.json:
        keys = ("engine", "set", "papers", "sample")
        print(json.dumps({k: data.get(k) for k in keys} | {"rows": rows}))
        return
    sampled = (
        " (the papers with a vector, and the queries they answer)" if data.get("sample") else ""
    )
    print(
        f"engine: {data['engine']}; set {data['set']}: {len(data['queries'])} queries, "
        f"{data['papers']:,} papers{sampled}"
    )
    print("| Variant | nDCG@10 | Recall@10 | MRR@10 | No hits |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['variant']} | {row['ndcg']:.3f} | {row['recall']:.3f} | "
            f"{row['mrr']:.3f} | {row['empty']} |"
        )


if __name__ == "__main__":
    main()
