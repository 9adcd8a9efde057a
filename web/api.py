"""The JSON API: search, suggestions, a paper, its citation, the index's status. Read-only.

`/api/search` answers as `scholarflow search --json` does (the same hits, highlights,
`matched_by` and `across_languages`), one page at a time.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import quote

from elasticsearch import NotFoundError
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from scholarflow.embedding.status import vector_status
from scholarflow.search.service import suggest_in
from scholarflow.status import engine_name, index_contents
from scholarflow.stores.indices import live_index
from web import cite, schemas
from web.papers import Lookup, find_paper
from web.searching import MAX_PAGE_SIZE, MAX_QUERY_CHARS, read_query, search_page

router = APIRouter(prefix="/api", tags=["search"])

Text = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="Words in English or Chinese, a phrase in quotes, years, or a DOI.",
    ),
]
Page = Annotated[int, Query(ge=1, le=10_000, description="Numbered page (see next_cursor).")]
Size = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Results per page.")]
Year = Annotated[str | None, Query(max_length=20, description="2021, 2020-2025, 2020-, -2015")]
Journal = Annotated[list[str] | None, Query(description="Journal name, English or Chinese.")]
Language = Annotated[list[Literal["en", "zh"]] | None, Query(description="Text in this language.")]
CorrectionStatus = Annotated[
    list[str] | None, Query(description="retracted, withdrawn, expression_of_concern, corrected")
]
HideRetracted = Annotated[bool, Query(description="Leave retracted and withdrawn papers out.")]
Facets = Annotated[bool, Query(description="Count the results per facet.")]
CursorParam = Annotated[str | None, Query(max_length=2048, description="A page's next_cursor.")]
PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.Problem, "description": "A parameter out of bounds, in one line."},
    429: {"model": schemas.Problem, "description": "Too many requests from this address."},
    503: {"model": schemas.Problem, "description": "The search engine is not answering."},
}


def _service(request: Request) -> Any:
    return request.app.state.service


@router.get("/search", response_model=schemas.SearchResult, responses=PROBLEMS)
def search(
    request: Request,
    q: Text,
    page: Page = 1,
    size: Size = 10,
    year: Year = None,
    journal: Journal = None,
    lang: Language = None,
    correction: CorrectionStatus = None,
    hide_retracted: HideRetracted = False,
    facets: Facets = False,
    cursor: CursorParam = None,
) -> dict[str, Any]:
    """Papers matching `q`, best first, with highlights and (asked) facet counts."""
    service = _service(request)
    query = read_query(
        q,
        page=page,
        size=size,
        year=year,
        journal=journal,
        lang=list(lang or []),
        correction=correction,
        hide_retracted=hide_retracted,
        facets=facets,
        cursor=cursor,
    )
    return search_page(service.client, service.alias, query, service.hybrid)


@router.get("/suggest", response_model=schemas.Suggestions, responses=PROBLEMS)
def suggest(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=100, description="A title's start.")],
    size: Annotated[int, Query(ge=1, le=20)] = 8,
) -> dict[str, Any]:
    """Titles that start (or have words that start) the way `q` does."""
    service = _service(request)
    return suggestions(service.client, service.alias, q, size)


@router.get(
    "/papers/{paper_id:path}/cite",
    responses={
        **PROBLEMS,
        200: {"content": {t.split(";")[0]: {} for t in cite.MEDIA_TYPES.values()}},
        404: {"model": schemas.Problem},
    },
    response_class=Response,
)
def citation(
    request: Request,
    paper_id: str,
    format: Annotated[cite.Format, Query(description="ris, bibtex or csl-json")] = "ris",
) -> Response:
    """The paper as RIS, BibTeX or CSL-JSON, as a file to save."""
    service = _service(request)
    found = find_paper(service.client, service.alias, paper_id)
    if found.paper is None:
        return _missing(found, request, "/cite")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", found.paper["id"])[:80]
    return Response(
        cite.cite(found.paper, format),
        media_type=cite.MEDIA_TYPES[format],
        headers={"content-disposition": f'attachment; filename="{name}.{cite.EXTENSIONS[format]}"'},
    )


@router.get(
    "/papers/{paper_id:path}",
    response_model=schemas.Paper,
    responses={**PROBLEMS, 404: {"model": schemas.Problem}, 308: {"description": "Moved."}},
)
def paper(request: Request, paper_id: str) -> Any:
    """One paper by its id or DOI (any spelling); an id that moved redirects (308)."""
    service = _service(request)
    found = find_paper(service.client, service.alias, paper_id)
    return found.paper if found.paper is not None else _missing(found, request, "")


@router.get("/status", response_model=schemas.Status, responses=PROBLEMS)
def status(request: Request) -> dict[str, Any]:
    """What the index holds and how it is searched; nothing about where the engine is."""
    service = _service(request)
    return public_status(service.client, service.alias, searching_by_meaning=bool(service.hybrid))


def _missing(found: Lookup, request: Request, suffix: str) -> Response:
    if found.moved_to is None:
        return JSONResponse({"error": "no paper has this id or DOI"}, status_code=404)
    target = f"/api/papers/{quote(found.moved_to, safe='/')}{suffix}"
    if request.url.query:
        target += f"?{request.url.query}"
    return RedirectResponse(target, status_code=308)


def suggestions(client: Any, alias: str, prefix: str, size: int) -> dict[str, Any]:
    """As `scholarflow suggest --json`, over the service's one client."""
    try:
        return suggest_in(client, alias, prefix, size=size)
    except NotFoundError:  # no index behind the alias yet
        return {"prefix": prefix, "suggestions": []}


def public_status(client: Any, alias: str, *, searching_by_meaning: bool) -> dict[str, Any]:
    """The index behind the alias, its size, freshness, corrections and vectors."""
    engine = engine_name(client.info()["version"])
    index = live_index(client, alias)
    contents = index_contents(client, index) if index else {}
    vectors = vector_status(client, index).get("vectors") or {}
    return {
        "engine": engine,
        "alias": alias,
        "index": index,
        "documents": contents.get("documents", 0),
        "last_indexed": contents.get("last_indexed"),
        "corrections": contents.get("corrections", {}),
        "vectors": {k: v for k, v in vectors.items() if isinstance(v, int)},
        "search": "words and meaning" if searching_by_meaning else "words",
    }
