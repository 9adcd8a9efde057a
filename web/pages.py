"""The pages a person reads: the search page (`/`) and a paper's page (`/papers/{id}`).

Server-rendered, complete without JavaScript: the search box is a form, facets and pages are
links, filters are links and a checkbox. `hl` chooses the interface language (`en`, `zh`);
the search parameters are the API's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from web import cite, words
from web.papers import find_paper
from web.searching import read_query, search_page
from web.templating import templates

router = APIRouter(include_in_schema=False)
# The facets the page offers as filters, in this order; the parameter each one sets.
FACET_FILTERS = {
    "year": "year",
    "language": "lang",
    "journal": "journal",
    "correction": "correction",
}


def _reader(request: Request) -> tuple[str, dict[str, str]]:
    hl = words.reader_language(
        request.query_params.get("hl"), request.headers.get("accept-language")
    )
    return hl, words.LABELS[hl]


def _context(request: Request, **extra: Any) -> dict[str, Any]:
    hl, labels = _reader(request)
    params = list(request.query_params.multi_items())
    return {
        "request": request,
        "hl": hl,
        "L": labels,
        "params": params,
        "other_hl": "en" if hl == "zh" else "zh",
        **extra,
    }


@router.get("/", response_class=HTMLResponse)
def search_view(request: Request) -> Response:
    service = request.app.state.service
    get = request.query_params.get
    text = (get("q") or "").strip()
    result = None
    chosen: dict[str, list[str]] = {
        name: request.query_params.getlist(name) for name in ("journal", "lang", "correction")
    }
    if text:
        query = read_query(
            text,
            page=_int(get("page"), 1),
            size=_int(get("size"), 10),
            year=get("year"),
            journal=chosen["journal"],
            lang=chosen["lang"],
            correction=chosen["correction"],
            hide_retracted=get("hide_retracted") in ("1", "true", "on"),
            facets=True,
            cursor=get("cursor"),
        )
        result = search_page(service.client, service.alias, query, service.hybrid)
    context = _context(
        request,
        q=text,
        result=result,
        chosen=chosen,
        year=get("year") or "",
        hide_retracted=get("hide_retracted") in ("1", "true", "on"),
        facet_filters=FACET_FILTERS,
    )
    return templates.TemplateResponse(request, "search.html", context)


@router.get("/papers/{paper_id:path}", response_class=HTMLResponse)
def paper_view(request: Request, paper_id: str) -> Response:
    service = request.app.state.service
    found = find_paper(service.client, service.alias, paper_id)
    if found.moved_to is not None:
        target = "/papers/" + quote(found.moved_to, safe="/")
        if request.url.query:
            target += f"?{request.url.query}"
        return RedirectResponse(target, status_code=308)
    if found.paper is None:
        _, labels = _reader(request)
        return error_page(request, 404, labels["not_found"])
    paper = found.paper
    context = _context(
        request,
        paper=paper,
        cite_path="/api/papers/" + quote(paper["id"], safe="/") + "/cite",
        formats=list(cite.EXTENSIONS),
    )
    return templates.TemplateResponse(request, "paper.html", context)


def error_page(request: Request, status: int, message: str) -> Response:
    """The one line of an error, on a page in the reader's language."""
    context = _context(request, status=status, message=message, q=request.query_params.get("q"))
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


def _int(value: str | None, default: int) -> int:
    """A page number as typed in an address; what is not a number is the default."""
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
