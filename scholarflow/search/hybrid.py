"""Hybrid ranking: the lexical query, and the papers nearest the query's meaning, fused.

Words cannot cross languages: a Chinese query finds nothing in a paper that has only English
text. The query's vector (multilingual-e5-small, `query: ` prefix) can: the engine returns the
papers whose vectors are nearest (`knn` on OpenSearch's k-NN plugin, `knn` search on
Elasticsearch), in one `_msearch` round trip with the lexical query, and the two rankings
become one here.

- **When.** `questions` (the default): an English question or claim (a query of
  `SCHOLARFLOW_QUESTION_PARTS` parts or more, not written in Chinese) takes every paper, 50
  papers of each ranking fused without floor or margin, the vector one counting
  `SCHOLARFLOW_QUESTION_WEIGHT`; every other query as `cross-script` (docs/hybrid-questions.md).
  `cross-script`: the vector ranking only takes papers without text in the query's language (a
  Han query: papers with no Chinese; a Latin one: papers with no English), the papers words
  cannot reach; everything else is ranked by words. `always`: every paper. `off`: words only.
  A DOI, or a short query mixing both scripts, is searched by words alone (a question of both
  scripts takes every paper). A query's vector is remembered for the next
  `SCHOLARFLOW_QUERY_VECTORS_KEPT` queries: the same search again is not embedded again.
- **Fusion.** Reciprocal rank fusion (`rrf`: 1/(60 + rank) from each ranking, the vector one
  times `SCHOLARFLOW_VECTOR_WEIGHT`), or a weighted sum (`weighted`: the lexical score over the
  best one, plus the weight times the vector similarity above the floor). Papers nearer than
  the floor (`MIN_SIMILARITY`), too far below the nearest (`NEAREST_MARGIN`), or, across
  scripts, too far below the query's best match in any language (`ANY_LANGUAGE_MARGIN`), are
  not taken.
- **Translated words.** An English keyword query also searches, in the same round trip, the
  papers that hold its words translated into Chinese (`scholarflow/search/translate.py`), a
  third ranking scored against the best direct match (`TRANSLATED_AGAINST_WORDS`) and weighted
  by `SCHOLARFLOW_TRANSLATION_WEIGHT`.
- **What a result says.** `matched_by`: `words`, `meaning`, `translation`, or several;
  `across_languages`: found by meaning or translated words in a paper without text in the
  query's language. `score` is the fused score when
  the vector ranking took any paper, the engine's own otherwise.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.embedding.model import Embedder
from scholarflow.engine.client import EngineError
from scholarflow.paper.doi import looks_like_doi_query
from scholarflow.paper.text import fold_query, has_han
from scholarflow.search.query import SOURCE_EXCLUDES, SearchRequest, query_parts
from scholarflow.search.translate import translated_query
from scholarflow.settings import Fusion, HybridMode, VectorMapping
from scholarflow.stores.vector_mapping import VECTOR_FIELD, index_mapping

# Cosine similarity below which a paper is not near the query at all, and how far below the
# nearest paper one may be (multilingual-e5-small puts every text somewhat near every other).
# Chosen on real papers (relevance/sets/csl-xling-dev, 66 English keyword queries over 1,000
# Chinese-only CSL papers; docs/search.md, "Cross-lingual on real papers"): recall@10 0.326 at
# the former floor 0.78 (15 queries got nothing), 0.508 from 0.74 down to no floor at all, 0.492
# at 0.75; the margin (0.05, 0.08 or none) changed nothing there. 0.74 keeps what no floor finds
# and still leaves out a paper far from every query.
MIN_SIMILARITY = 0.74
NEAREST_MARGIN = 0.05
RRF_RANK_CONSTANT = 60
# Candidates the HNSW search looks at per result (Elasticsearch's num_candidates).
CANDIDATES_PER_RESULT = 10
# OpenSearch's k-NN query has no num_candidates: it asks each segment's HNSW graph for `k`
# neighbours. Asking for five per result wanted (then keeping the best `size`) is as good as an
# exact search on the development set (recall@10 0.470 with k = size, 0.508 with 5x, 10x, 20x
# and 100x alike).
NEIGHBOURS_PER_RESULT = 5
# In `cross-script`, a paper of the other language is also dropped when it lies more than this
# below the nearest paper of any language (one more `knn` of size 1 in the same `_msearch`): a
# Chinese query whose own papers are near does not take an English-only paper that is merely
# less far than the rest. On the seeds the one English-only paper (cosine 0.75-0.77) no longer
# follows `白细胞减少` (the lupus paper lies above 0.85); on the real papers 0.08 and 0.10 changed
# nothing, 0.05 lost a tenth of recall (an English query's nearest is an English paper).
ANY_LANGUAGE_MARGIN: float | None = 0.10
# The translated words' hits are scored against the best of their own and of the direct
# (lexical) matches: where the query's own words found papers, a translated match counts as much
# as a direct match of the same BM25 score, not as much as the best direct match. Measured on
# csl-xling-dev with 300 SciFact papers added (docs/search.md): English claims kept their nDCG.
TRANSLATED_AGAINST_WORDS = 1.0
# Translated-word hits asked for per result wanted: on csl-xling-dev `en-to-zh` recall@10 0.742
# with 1, 0.773 with 2, 0.788 with 5 (a paper near in meaning and a little way down the
# translated ranking adds up).
TRANSLATED_PER_RESULT = 5
# A question or a claim (`questions` mode) fuses this many papers of each ranking (words and
# meaning), with no floor or margin, then keeps the first `size`. On SciFact's 809 train claims
# (docs/hybrid-questions.md), weighted sum at weight 2: nDCG@10 0.719 fusing 10 of each, 0.724
# fusing 50, 0.725 fusing 100; rrf peaked at 0.723 at weight 1 exactly and lost 0.02-0.04 at
# 0.75 or 1.25 (too sharp to choose).
QUESTION_DEPTH = 50
# A query mixing scripts counts as one language when that script has at least this many times
# the other's characters: `大腹园蛛毒腺对Hela细胞作用的初步探究` is Chinese, `SLE 白细胞` both.
DOMINANT_SCRIPT = 3


@dataclass
class Hybrid:
    """How searches add the vector ranking: the loaded model, the mode, the fusion."""

    embedder: Embedder
    mode: HybridMode = HybridMode.CROSS_SCRIPT
    fusion: Fusion = Fusion.RRF
    weight: float = 1.0
    translation_weight: float = 0.0  # 0: no translated words (scholarflow/search/translate.py)
    question_parts: int = 5
    question_weight: float = 2.0
    vectors_kept: int = 1024  # query vectors remembered (SCHOLARFLOW_QUERY_VECTORS_KEPT)
    _mappings: dict[str, VectorMapping] = field(default_factory=dict)
    _vectors: OrderedDict[str, Any] = field(default_factory=OrderedDict)
    _vectors_lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, client: Elasticsearch, index: str, request: SearchRequest) -> VectorPlan | None:
        """The vector half of a search, or None when the search is by words alone."""
        if self.mode is HybridMode.OFF or looks_like_doi_query(request.text):
            return None
        text = fold_query(request.text)
        language = query_language(text)
        question = self.is_question(request.text)
        everywhere = self.mode is HybridMode.ALWAYS or question
        if language is None and not everywhere:
            return None
        if index not in self._mappings:
            self._mappings[index] = index_mapping(client, index)
        mapping = self._mappings[index]
        if mapping is VectorMapping.NONE:
            return None
        translated = None
        if self.translation_weight and language == "en":
            translated = translated_query(text)
        vector = self.vector(text)
        plan = VectorPlan(self, mapping, vector, language, not everywhere, translated)
        if question:
            plan.floor = plan.margin = None
            plan.depth, plan.weight = QUESTION_DEPTH, self.question_weight
        return plan

    def is_question(self, text: str) -> bool:
        """In `questions` mode, whether a query is long enough to be a question or a claim, and
        not written in Chinese. A Chinese query of several parts is a title or a keyword list
        (its punctuation and numbers cut it into runs), and across scripts it is looking for
        the paper words cannot reach: taking every paper let its Chinese namesakes crowd that
        paper out (csl-xling-dev, Chinese titles of English-only papers: recall@10 0.867 ->
        0.400)."""
        if self.mode is not HybridMode.QUESTIONS:
            return False
        parts = query_parts(text)
        return len(parts) >= self.question_parts and query_language(fold_query(text)) != "zh"

    def vector(self, text: str) -> Any:
        """The query's vector, embedded once for the last `vectors_kept` queries (a relaxed
        second query, the same search again, another page; one set-up serves every thread of
        the search service)."""
        with self._vectors_lock:
            if text in self._vectors:
                self._vectors.move_to_end(text)
                return self._vectors[text]
        vector = self.embedder.query(text)
        with self._vectors_lock:
            self._vectors[text] = vector
            while len(self._vectors) > self.vectors_kept:
                self._vectors.popitem(last=False)
        return vector


@dataclass
class VectorPlan:
    hybrid: Hybrid
    mapping: VectorMapping
    vector: Any
    language: str | None  # the query's (None: both scripts)
    only_other: bool  # only papers without text in the query's language (cross-script)
    translated: dict[str, Any] | None = None  # the query's words in Chinese (a Latin query)
    floor: float | None = MIN_SIMILARITY
    margin: float | None = NEAREST_MARGIN
    depth: int = 0  # papers of each ranking fused (at least the request's size)
    weight: float | None = None  # the vector ranking's in the fusion (None: the hybrid's)

    def fused(self, request: SearchRequest) -> int:
        """How many papers of each ranking are fused for `request`."""
        return max(request.size, self.depth)

    def condition(self, request: SearchRequest) -> dict[str, Any]:
        """The request's filters, and (`cross-script`) no paper with text in the query's
        language."""
        excluded: list[dict[str, Any]] = []
        if self.only_other and self.language:
            excluded.append({"term": {"languages": self.language}})
        return {"bool": {"filter": request.filters.clauses(), "must_not": excluded}}

    def translated_body(self, request: SearchRequest) -> dict[str, Any] | None:
        """The papers that hold the query's words translated, under the same condition as the
        vector half; None when the dictionary translated nothing."""
        if self.translated is None:
            return None
        condition = self.condition(request)["bool"]
        return {
            "size": request.size * TRANSLATED_PER_RESULT,
            "_source": {"excludes": [*SOURCE_EXCLUDES, VECTOR_FIELD]},
            "query": {"bool": {"must": [self.translated], **condition}},
        }

    def body(self, request: SearchRequest) -> dict[str, Any]:
        """The nearest papers, under the request's filters."""
        condition = self.condition(request)
        k = self.fused(request)
        vector = [float(x) for x in self.vector]
        body: dict[str, Any] = {
            "size": k,
            "_source": {"excludes": [*SOURCE_EXCLUDES, VECTOR_FIELD]},
        }
        if self.mapping is VectorMapping.KNN:
            knn = {"vector": vector, "k": k * NEIGHBOURS_PER_RESULT, "filter": condition}
            body["query"] = {"knn": {VECTOR_FIELD: knn}}
        else:
            body["knn"] = {
                "field": VECTOR_FIELD,
                "query_vector": vector,
                "k": k,
                "num_candidates": k * CANDIDATES_PER_RESULT,
                "filter": condition,
            }
        return body

    def search(
        self, client: Elasticsearch, index: str, lexical: dict[str, Any], request: SearchRequest
    ) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        """(the lexical response, the near enough vector hits, the hits of the translated
        words), in one round trip."""
        lexical = lexical | {"size": self.fused(request)}
        searches = [{"index": index}, lexical, {"index": index}, self.body(request)]
        anywhere = self.only_other and ANY_LANGUAGE_MARGIN is not None
        if anywhere:
            searches += [{"index": index}, self.nearest_body(request)]
        translated = self.translated_body(request)
        if translated is not None:
            searches += [{"index": index}, translated]
        responses = client.msearch(searches=searches)["responses"]
        for response in responses:
            if "error" in response:
                error = response["error"]
                reason = error.get("reason", error) if isinstance(error, dict) else error
                raise EngineError(f"{index}: the engine refused the search: {reason}")
        words, meaning = responses[0], responses[1]
        best = None
        if anywhere and responses[2]["hits"]["hits"]:
            best = similarity(responses[2]["hits"]["hits"][0]["_score"])
        crossed = responses[-1]["hits"]["hits"] if translated is not None else []
        near = near_enough(meaning["hits"]["hits"], best, self.floor, self.margin)
        return words, near, crossed

    def nearest_body(self, request: SearchRequest) -> dict[str, Any]:
        """The nearest paper in any language, under the request's filters: how near the query's
        best match lies."""
        body = self.body(request)
        body["size"] = 1
        body["_source"] = False
        if self.mapping is VectorMapping.KNN:
            body["query"]["knn"][VECTOR_FIELD]["filter"] = {
                "bool": {"filter": request.filters.clauses()}
            }
        else:
            body["knn"]["filter"] = {"bool": {"filter": request.filters.clauses()}}
        return body

    def fuse(
        self,
        words: list[dict[str, Any]],
        meaning: list[dict[str, Any]],
        size: int,
        describe: Callable[[dict[str, Any]], dict[str, Any]],
        translated: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """One ranking of the raw hits of all three, each described and told how it matched."""
        hits: dict[str, dict[str, Any]] = {}
        matched: dict[str, list[str]] = {}
        crossed = translated or []
        for label, ranking in (("words", words), ("meaning", meaning), ("translation", crossed)):
            for hit in ranking:
                hits.setdefault(hit["_id"], hit)
                matched.setdefault(hit["_id"], []).append(label)
        weight = self.hybrid.weight if self.weight is None else self.weight
        scores = fused_scores(
            words, meaning, self.hybrid.fusion, weight, crossed, self.hybrid.translation_weight
        )
        ranked = list(scores)[:size]
        fused = []
        for doc_id in ranked:
            hit = describe(hits[doc_id])
            if meaning or crossed:  # otherwise the order is the lexical one: its scores say more
                hit["score"] = round(scores[doc_id], 6)
            hit["matched_by"] = matched[doc_id]
            hit["across_languages"] = "words" not in matched[doc_id] and self.crosses(hits[doc_id])
            fused.append(hit)
        return fused

    def crosses(self, hit: dict[str, Any]) -> bool:
        """Whether the paper has no text in the language the query is written in."""
        languages = hit["_source"].get("languages") or []
        return self.language is not None and self.language not in languages


def query_language(text: str) -> str | None:
    """`zh` for a query in Han characters, `en` for one in Latin letters, either for a mix whose
    one script has `DOMINANT_SCRIPT` times the other's characters, None for a balanced mix."""
    han = sum(1 for char in text if has_han(char))
    latin = sum(1 for char in text if char.isascii() and char.isalpha())
    if han and han >= DOMINANT_SCRIPT * latin:
        return "zh"
    if latin and latin >= DOMINANT_SCRIPT * han:
        return "en"
    return None


def near_enough(
    hits: list[dict[str, Any]],
    best: float | None = None,
    floor: float | None = MIN_SIMILARITY,
    margin: float | None = NEAREST_MARGIN,
) -> list[dict[str, Any]]:
    """The vector hits at least `floor` near the query and within `margin` of the nearest (and
    within `ANY_LANGUAGE_MARGIN` of `best`, the similarity of the nearest paper in any language,
    when given): E5 puts every text somewhat near every other, and how near differs from one
    query to the next. None: no floor, no margin."""
    if not hits:
        return []
    bounds = [-1.0]
    if floor is not None:
        bounds.append(floor)
    if margin is not None:
        bounds.append(similarity(hits[0]["_score"]) - margin)
    if best is not None and ANY_LANGUAGE_MARGIN is not None:
        bounds.append(best - ANY_LANGUAGE_MARGIN)
    bottom = max(bounds)
    return [hit for hit in hits if similarity(hit["_score"]) >= bottom]


def fused_scores(
    words: list[dict[str, Any]],
    meaning: list[dict[str, Any]],
    fusion: Fusion,
    weight: float,
    translated: list[dict[str, Any]] | None = None,
    translation_weight: float = 0.0,
) -> dict[str, float]:
    """Each paper's fused score, highest first. `rrf`: 1/(60 + rank) from each ranking (the
    vector one times `weight`, the translated words' times `translation_weight`). `weighted`:
    the lexical score over the best one, plus `weight` times the similarity above
    `MIN_SIMILARITY` scaled to 0-1, plus `translation_weight` times a translated match's score
    over the best of its own and the direct matches' (`TRANSLATED_AGAINST_WORDS`)."""
    scores: dict[str, float] = {}
    crossed = translated or []
    best_words = max((h["_score"] or 0.0 for h in words), default=0.0)
    best_crossed = max(
        max((h["_score"] or 0.0 for h in crossed), default=0.0),
        TRANSLATED_AGAINST_WORDS * best_words,
    )

    def lexical(hit: dict[str, Any]) -> float:
        return (hit["_score"] or 0.0) / (best_words or 1.0)

    def near(hit: dict[str, Any]) -> float:
        return weight * (similarity(hit["_score"]) - MIN_SIMILARITY) / (1 - MIN_SIMILARITY)

    def across(hit: dict[str, Any]) -> float:
        return translation_weight * (hit["_score"] or 0.0) / (best_crossed or 1.0)

    rankings = (
        (words, 1.0, lexical),
        (meaning, weight, near),
        (crossed, translation_weight, across),
    )
    for ranking, rrf_weight, weighted in rankings:
        for rank, hit in enumerate(ranking, 1):
            if fusion is Fusion.RRF:
                gain = rrf_weight / (RRF_RANK_CONSTANT + rank)
            else:
                gain = weighted(hit)
            scores[hit["_id"]] = scores.get(hit["_id"], 0.0) + gain
    return dict(sorted(scores.items(), key=lambda item: -item[1]))


def similarity(score: float | None) -> float:
    """The cosine similarity behind a vector hit's score (both engines score (1 + cos) / 2)."""
    return 2 * (score or 0.0) - 1
