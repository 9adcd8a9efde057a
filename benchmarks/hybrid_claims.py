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

from flows.judged_sets import ALIAS_PREFIX, documents_to_set_ids, engine_name
from scholarflow.embedding.model import load_embedder
from scholarflow.engine.client import connect
from scholarflow.paper.text import fold_query
from scholarflow.search import relevance
from scholarflow.search.hybrid import Hybrid, VectorPlan, fused_scores, near_enough
from scholarflow.search.query import SearchRequest, build_query, query_parts
from scholarflow.search.relevance import Judged, Scored
from scholarflow.settings import Fusion, HybridMode, VectorMapping, get_settings
from scholarflow.stores.vector_mapping import VECTOR_FIELD

OUT = Path(__file__).parent / "out"
DEEP = 100  # papers kept of each ranking
K = relevance.K


def record(set_name: str, path: Path) -> dict[str, Any]:
    """Every query's raw rankings from the set's kept index, written to `path`."""
    settings = get_settings()
    client = connect(settings)
    judged_set = relevance.load_set(set_name)
    alias = ALIAS_PREFIX + judged_set.name
    set_ids = documents_to_set_ids(client, alias, judged_set)
    embedder = load_embedder(settings.embed_max_tokens)
    hybrid = Hybrid(embedder, HybridMode.ALWAYS)
    queries = []
    for judged in judged_set.queries:
        request = SearchRequest(judged.query, size=DEEP)
        words, relaxed = _lexical(client, alias, request)
        vector = embedder.query(fold_query(judged.query))
        plan = VectorPlan(hybrid, VectorMapping.KNN, vector, "en", only_other=False)
        meaning = {}
        for name, size, k in (("deep", DEEP, DEEP * 5), ("k1", K, K), ("k5", K, K * 5)):
            body = plan.body(SearchRequest(judged.query, size=size))
            body["query"]["knn"][VECTOR_FIELD]["k"] = k
            body["_source"] = False
            hits = client.search(index=alias, body=body)["hits"]["hits"]
            meaning[name] = [[hit["_id"], hit["_score"]] for hit in hits]
        queries.append(
            {
                "id": judged.id,
                "parts": len(query_parts(judged.query)),
                "words": [[hit["_id"], hit["_score"]] for hit in words],
                "relaxed": relaxed,
                "meaning": meaning,
            }
        )
    data = {
        "engine": engine_name(client),
        "set": judged_set.name,
        "papers": client.count(index=alias)["count"],
        "set_ids": set_ids,
        "queries": queries,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return data


def _lexical(client: Any, alias: str, request: SearchRequest) -> tuple[list[dict[str, Any]], bool]:
    """The lexical hits as `search_index` gets them by words alone (the relaxed query when
    nothing matched), and whether they are the relaxed query's."""
    hits = client.search(index=alias, body=build_query(request))["hits"]["hits"]
    if hits:
        return list(hits), False
    loose = build_query(request, loose=True)
    return list(client.search(index=alias, body=loose)["hits"]["hits"]), True


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


def variants() -> Iterator[Variant]:
    yield Variant("words only", vectors=False)
    yield Variant("meaning only, k = 5 x 10", words=False, floor=None, margin=None)
    yield Variant("meaning only, k = 10", words=False, floor=None, margin=None, meaning="k1")
    yield Variant("meaning only, 100 asked", words=False, floor=None, margin=None, meaning="deep")
    for weight in (0.3, 0.5, 1.0, 2.0):
        yield Variant(f"always, weighted {weight}, floor 0.74, margin 0.05", weight=weight)
    for weight in (0.5, 1.0, 2.0):
        yield Variant(f"always, rrf {weight}, floor 0.74, margin 0.05", Fusion.RRF, weight=weight)
    for weight in (0.5, 1.0, 2.0, 3.0):
        for floor, margin in ((0.74, None), (None, None), (0.8, None), (None, 0.1)):
            yield Variant(
                f"always, weighted {weight}, floor {floor}, margin {margin}",
                weight=weight,
                floor=floor,
                margin=margin,
            )
    for weight in (0.5, 1.0, 2.0):
        yield Variant(f"always, rrf {weight}, no floor", Fusion.RRF, weight=weight, floor=None)
    for depth in (10, 20, 50, 100):
        for weight in (1.0, 2.0, 3.0):
            yield Variant(
                f"always, weighted {weight}, no floor/margin, {depth} of each fused",
                weight=weight,
                floor=None,
                margin=None,
                lexical=depth,
                meaning="deep",
                candidates=depth,
            )
        for weight in (1.0, 2.0):
            yield Variant(
                f"always, rrf {weight}, no floor/margin, {depth} of each fused",
                Fusion.RRF,
                weight=weight,
                floor=None,
                margin=None,
                lexical=depth,
                meaning="deep",
                candidates=depth,
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
        yield Variant(
            f"always, weighted {weight}, no floor/margin, 50 fused, nothing asked again",
            weight=weight,
            floor=None,
            margin=None,
            lexical=50,
            meaning="deep",
            candidates=50,
            strict=True,
        )
    for parts in (2, 3, 4, 5, 6, 8):
        for depth in (10, 50):
            yield Variant(
                f"queries of {parts}+ parts, weighted 2, no floor/margin, {depth} fused",
                weight=2.0,
                floor=None,
                margin=None,
                min_parts=parts,
                lexical=depth,
                meaning="deep",
                candidates=depth,
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
    return list(fused_scores(words, meaning, variant.fusion, variant.weight))[:K]


def measure(data: dict[str, Any], judged: dict[str, Judged]) -> list[dict[str, Any]]:
    set_ids: dict[str, list[str]] = data["set_ids"]
    rows = []
    for variant in variants():
        scored = []
        for query in data["queries"]:
            docs = ranked(variant, query)
            scored.append(
                Scored(judged[query["id"]], [i for d in docs for i in set_ids.get(d, [d])])
            )
        rows.append(
            {
                "variant": variant.name,
                "ndcg": round(fmean(s.ndcg for s in scored), 4),
                "recall": round(fmean(s.recall for s in scored), 4),
                "mrr": round(fmean(s.reciprocal_rank for s in scored), 4),
                "empty": sum(not s.ranked for s in scored),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="scifact-train", dest="set_name")
    parser.add_argument("--again", action="store_true", help="search again, not the saved file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    path = OUT / f"hybrid-claims-{Path(args.set_name).name}.json"
    if args.again or not path.is_file():
        data = record(args.set_name, path)
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
    judged = {j.id: j for j in relevance.load_set(args.set_name).queries}
    rows = measure(data, judged)
    if args.json:
        print(json.dumps({k: data[k] for k in ("engine", "set", "papers")} | {"rows": rows}))
        return
    print(
        f"engine: {data['engine']}; set {data['set']}: {len(data['queries'])} queries, "
        f"{data['papers']:,} papers"
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
