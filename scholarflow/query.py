"""Search queries built from what a user types, in one place.

User text only ever reaches `match`-family queries and `term` lookups: never a query parser
(`query_string`) that would interpret operators, field names or regular expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scholarflow.doi import looks_like_doi_query, normalize_doi
from scholarflow.text import fold_query, has_han

ENGLISH_FIELDS = ["title_en^3", "abstract_en", "journal.name"]
CHINESE_FIELDS = ["title_zh^3", "abstract_zh", "journal.name_zh"]
SHARED_FIELDS = ["authors.name^2"]
HIGHLIGHT_FIELDS = ("title_en", "title_zh", "abstract_en", "abstract_zh")
# The language the query is written in counts this much more than the other one.
LANGUAGE_BOOST = 2.0
# Chinese text becomes overlapping unigrams and bigrams: without a floor, one shared character
# would make a paper match.
MINIMUM_MATCH = "60%"


@dataclass
class SearchRequest:
    text: str
    size: int = 10
    filters: list[dict[str, Any]] = field(default_factory=list)


def build_query(request: SearchRequest) -> dict[str, Any]:
    """The `_search` body for a user's query."""
    body: dict[str, Any] = {
        "size": request.size,
        "track_total_hits": True,
        "_source": {"excludes": ["abstract_en", "abstract_zh", "record_hashes"]},
        "highlight": {
            "pre_tags": ["«"],
            "post_tags": ["»"],
            "fields": {
                name: {"number_of_fragments": 1, "fragment_size": 160} for name in HIGHLIGHT_FIELDS
            },
        },
    }
    doi = normalize_doi(request.text) if looks_like_doi_query(request.text) else None
    if doi:
        query: dict[str, Any] = {"term": {"doi": doi}}
    else:
        query = _text_query(fold_query(request.text))
    body["query"] = {"bool": {"must": [query], "filter": request.filters}}
    return body


def _text_query(text: str) -> dict[str, Any]:
    chinese = has_han(text)
    primary, secondary = (
        (CHINESE_FIELDS, ENGLISH_FIELDS) if chinese else (ENGLISH_FIELDS, CHINESE_FIELDS)
    )
    phrase_fields = ["title_zh", "abstract_zh"] if chinese else ["title_en", "abstract_en"]
    return {
        "bool": {
            "should": [
                {
                    "multi_match": {
                        "query": text,
                        "fields": primary + SHARED_FIELDS,
                        "type": "best_fields",
                        "boost": LANGUAGE_BOOST,
                        "minimum_should_match": MINIMUM_MATCH,
                    }
                },
                {
                    "multi_match": {
                        "query": text,
                        "fields": secondary,
                        "type": "best_fields",
                        "minimum_should_match": MINIMUM_MATCH,
                    }
                },
                {
                    "multi_match": {
                        "query": text,
                        "fields": phrase_fields,
                        "type": "phrase",
                        "slop": 2,
                        "boost": LANGUAGE_BOOST,
                    }
                },
            ],
            "minimum_should_match": 1,
        }
    }
