"""Ranking signals beyond the text: citations, a year typed in the query, and retracted papers
kept below the others. Each multiplies the text score, so it weighs the same whatever the
scale of a query's BM25 scores (a one-word query scores a few points, a whole title hundreds).

    score = text × (1 + CITATION_WEIGHT · log10(1 + citations))
                 × YEAR_WEIGHT      when the paper's year is in the range typed
                 × DEMOTED_WEIGHT   when the paper is retracted or withdrawn

Everything here is stock `function_score` (`field_value_factor`, `weight` with a `filter`):
no scripts, no plugin, so it runs alike on Elasticsearch, OpenSearch and the embedded engine.
Which signals, and these weights, were measured on the judged queries (docs/search.md,
"Ranking signals"; `python -m benchmarks.ranking` prints the comparison): `rank_feature` and
`distance_feature` clauses, and recency as a decay on the publication date, were measured too
and are not used.
"""

from __future__ import annotations

from typing import Any

from scholarflow.paper.models import CorrectionStatus, Paper

# log10(1 + citations) counts this much: 10 citations ×1.2, 100 ×1.4, 1,000 ×1.6.
CITATION_WEIGHT = 0.2
# A paper from the years typed in the query (`lizards 2019`) counts this much more.
YEAR_WEIGHT = 4.0
# Retracted and withdrawn papers: below every other match unless their text scores a thousand
# times higher (text scores of one query's matches differ by far less).
DEMOTED_WEIGHT = 0.001
DEMOTED = (CorrectionStatus.RETRACTED.value, CorrectionStatus.WITHDRAWN.value)


def citations(paper: Paper) -> int | None:
    """The paper's citation count for ranking: the larger of the source's count and the
    registry's (`is-referenced-by-count`), which count different citing works."""
    counts = [n for n in (paper.citation_count, paper.cited_by_count) if n is not None]
    return max(counts) if counts else None


def year_range(year_from: int | None, year_to: int | None) -> dict[str, Any]:
    """A `range` on the paper's year, open at an end that is None."""
    bounds = {"gte": year_from, "lte": year_to}
    return {"range": {"year": {k: v for k, v in bounds.items() if v is not None}}}


def ranked(
    query: dict[str, Any],
    *,
    years: tuple[int | None, int | None] | None = None,
    demote: bool = True,
) -> dict[str, Any]:
    """`query` with the signals applied: citations always, the typed `years` when given, and
    the demotion of retracted and withdrawn papers unless `demote` is off (a search that asks
    for them)."""
    scored = {
        "function_score": {
            "query": query,
            "functions": [
                {"weight": 1},
                {
                    "field_value_factor": {
                        "field": "citations",
                        "modifier": "log1p",
                        "missing": 0,
                    },
                    "weight": CITATION_WEIGHT,
                },
            ],
            "score_mode": "sum",
            "boost_mode": "multiply",
        }
    }
    factors: list[dict[str, Any]] = []
    if years is not None:
        factors.append({"filter": year_range(*years), "weight": YEAR_WEIGHT})
    if demote:
        factors.append(
            {"filter": {"terms": {"correction.status": list(DEMOTED)}}, "weight": DEMOTED_WEIGHT}
        )
    if not factors:
        return scored
    return {
        "function_score": {
            "query": scored,
            "functions": factors,
            "score_mode": "multiply",
            "boost_mode": "multiply",
        }
    }
