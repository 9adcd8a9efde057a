"""A search request's parameters, bounded, and one page of its results.

Pages are numbered from the top while they lie within `NUMBERED_DEPTH` results: page n is the
n-th slice of one search for the first n pages, so the lexical and the vector rankings are fused
exactly as `scholarflow search` fuses them. Past that depth a page continues from the last one
with `search_after` on the lexical ranking (score, then id: a total order, which the numbered
pages keep too, so ties fall the same way on both sides of the boundary), never further than
the engine's window (`index.max_result_window`, 10,000 by default): a reader wanting more
narrows the search. The cursor carries where the last page ended and how many papers the
vectors added on the numbered pages (they count in the total).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson
from elasticsearch import Elasticsearch, NotFoundError

from scholarflow.search.hybrid import Hybrid
from scholarflow.search.query import (
    CORRECTIONS,
    LANGUAGES,
    Filters,
    SearchRequest,
    build_query,
    parse_year_range,
)
from scholarflow.search.service import describe_bucket, describe_hit, search_index

MAX_QUERY_CHARS = 300
MAX_PAGE_SIZE = 50
MAX_FILTER_VALUES = 20
# Results reachable by page number; past them, `next_cursor`.
NUMBERED_DEPTH = 100
# The engine's default `index.max_result_window`: no page reaches past it.
ENGINE_WINDOW = 10_000
# A total order for `search_after`: the score, then the paper's id (a keyword field).
SORT = [{"_score": {"order": "desc"}}, {"id": {"order": "asc"}}]


class BadRequest(ValueError):
    """A request the service refuses, in one line a reader can act on (HTTP 400)."""


@dataclass(frozen=True)
class Cursor:
    """Where a page past the numbered ones starts: after this (score, id), as page `page`."""

    after: tuple[float, str]
    page: int
    extra: int = 0  # papers the vectors added on the numbered pages

    def encode(self) -> str:
        raw = orjson.dumps([self.after[0], self.after[1], self.page, self.extra])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            score, doc_id, page, extra = orjson.loads(raw)
        except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError) as exc:
            raise BadRequest("cursor: not a cursor this service gave out") from exc
        valid = (
            isinstance(score, int | float)
            and isinstance(doc_id, str)
            and len(doc_id) <= 1024
            and isinstance(page, int)
            and isinstance(extra, int)
            and page > 1
            and 0 <= extra <= ENGINE_WINDOW
        )
        if not valid:
            raise BadRequest("cursor: not a cursor this service gave out")
        return cls((float(score), doc_id), page, extra)


@dataclass(frozen=True)
class Query:
    """What one search asks for, checked: text, page, size, filters, facets, cursor."""

    text: str
    page: int = 1
    size: int = 10
    filters: Filters = field(default_factory=Filters)
    facets: bool = False
    cursor: Cursor | None = None
    numbered_depth: int = NUMBERED_DEPTH


def read_query(
    text: str,
    *,
    page: int = 1,
    size: int = 10,
    year: str | None = None,
    journal: list[str] | None = None,
    lang: list[str] | None = None,
    correction: list[str] | None = None,
    hide_retracted: bool = False,
    facets: bool = False,
    cursor: str | None = None,
    numbered_depth: int = NUMBERED_DEPTH,
) -> Query:
    """The parameters as a `Query`, or `BadRequest` naming the one that is wrong."""
    text = text.strip()
    if not text:
        raise BadRequest("q: type some words, a phrase in quotes, or a DOI")
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequest(f"q: at most {MAX_QUERY_CHARS} characters (this one has {len(text)})")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise BadRequest(f"size: between 1 and {MAX_PAGE_SIZE}")
    if page < 1:
        raise BadRequest("page: 1 or more")
    for name, values in (("journal", journal), ("lang", lang), ("correction", correction)):
        if len(values or ()) > MAX_FILTER_VALUES:
            raise BadRequest(f"{name}: at most {MAX_FILTER_VALUES} values")
    if bad := [v for v in lang or [] if v not in LANGUAGES]:
        raise BadRequest(f"lang: {bad[0]!r} is not one of {', '.join(LANGUAGES)}")
    if bad := [v for v in correction or [] if v not in CORRECTIONS]:
        raise BadRequest(f"correction: {bad[0]!r} is not one of {', '.join(CORRECTIONS)}")
    try:
        start, end = parse_year_range(year) if year and year.strip() else (None, None)
    except ValueError as exc:
        raise BadRequest(f"year: {exc}") from exc
    filters = Filters(
        year_from=start,
        year_to=end,
        journals=tuple(j[:512] for j in journal or () if j.strip()),
        languages=tuple(lang or ()),
        corrections=tuple(correction or ()),
        hide_retracted=hide_retracted,
    )
    decoded = Cursor.decode(cursor) if cursor else None
    if decoded:
        page = decoded.page
    if page * size > ENGINE_WINDOW:
        raise BadRequest(f"page: no page reaches past result {ENGINE_WINDOW:,}; narrow the search")
    if decoded is None and page * size > numbered_depth:
        raise BadRequest(
            f"page: pages past result {numbered_depth} are reached with the previous "
            "page's next_cursor"
        )
    return Query(text, page, size, filters, facets, decoded, numbered_depth)


def search_page(
    client: Elasticsearch, alias: str, query: Query, hybrid: Hybrid | None
) -> dict[str, Any]:
    """One page of results: total, hits, facets (when asked), and how to reach the next page."""
    try:
        if query.cursor:
            return _continued(client, alias, query, query.cursor)
        return _numbered(client, alias, query, hybrid)
    except NotFoundError:  # the alias has no index yet: nothing is searchable
        return _page(query, 0, [], {} if query.facets else None, None)


def _numbered(
    client: Elasticsearch, alias: str, query: Query, hybrid: Hybrid | None
) -> dict[str, Any]:
    depth = query.page * query.size
    request = SearchRequest(query.text, size=depth, filters=query.filters, facets=query.facets)
    result = search_index(client, alias, request, hybrid, order=SORT)
    found = [_marked(hit) for hit in result["hits"]]
    hits = found[(query.page - 1) * query.size :]
    cursor = None
    last_numbered = depth + query.size > query.numbered_depth
    if len(hits) == query.size and depth < result["total"] and last_numbered:
        cursor = _cursor_after(client, alias, query, found)
    return _page(query, result["total"], hits, result.get("facets"), cursor)


def _cursor_after(
    client: Elasticsearch, alias: str, query: Query, shown: list[dict[str, Any]]
) -> str | None:
    """The cursor past the numbered pages: after the last paper shown of the lexical ranking
    (papers found by meaning alone are not in it)."""
    extra = sum("words" not in hit["matched_by"] for hit in shown)
    lexical = len(shown) - extra
    if lexical == 0:
        return None
    body = build_query(SearchRequest(query.text, size=1, filters=query.filters))
    body.pop("highlight", None)
    body |= {"from": lexical - 1, "sort": SORT, "_source": False, "track_total_hits": False}
    hits = client.search(index=alias, body=body)["hits"]["hits"]
    if not hits:
        return None
    score, doc_id = hits[0]["sort"]
    return Cursor((score, doc_id), query.page + 1, extra).encode()


def _continued(client: Elasticsearch, alias: str, query: Query, cursor: Cursor) -> dict[str, Any]:
    request = SearchRequest(query.text, size=query.size, filters=query.filters, facets=query.facets)
    body = build_query(request)
    body |= {"sort": SORT, "search_after": list(cursor.after), "track_scores": True}
    response = client.search(index=alias, body=body)
    raw = response["hits"]["hits"]
    hits = [_marked(describe_hit(hit)) for hit in raw]
    total = response["hits"]["total"]["value"] + cursor.extra
    facets = None
    if query.facets:
        facets = {
            name: [describe_bucket(b) for b in agg["buckets"]]
            for name, agg in response.get("aggregations", {}).items()
        }
    following = None
    reached = query.page * query.size
    if len(raw) == query.size and reached < total and reached + query.size <= ENGINE_WINDOW:
        score, doc_id = raw[-1]["sort"]
        following = Cursor((score, doc_id), query.page + 1, cursor.extra).encode()
    return _page(query, total, hits, facets, following)


def _marked(hit: dict[str, Any]) -> dict[str, Any]:
    """Every hit says how it matched, also where the vectors did not take part."""
    hit.setdefault("matched_by", ["words"])
    hit.setdefault("across_languages", False)
    return hit


def _page(
    query: Query,
    total: int,
    hits: list[dict[str, Any]],
    facets: dict[str, Any] | None,
    cursor: str | None,
) -> dict[str, Any]:
    reachable = min(total, query.numbered_depth)
    page: dict[str, Any] = {
        "query": query.text,
        "total": total,
        "page": query.page,
        "size": query.size,
        "numbered_pages": -(-reachable // query.size),
        "next_cursor": cursor,
        "hits": hits,
    }
    if facets is not None:
        page["facets"] = facets
    return page
