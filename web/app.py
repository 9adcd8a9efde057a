"""The search service's application: one engine client for the process, reused by every
request; the vector half of searches loaded once; errors as one line; limits and headers.

Endpoints are plain (`def`) functions: FastAPI runs them on its bounded thread pool, so the
engine client's blocking calls never hold up the event loop.

Why FastAPI and uvicorn: FastAPI (on Starlette) serves the OpenAPI schema of the API from the
same models that shape its answers, validates and bounds every parameter, and renders Jinja2
pages from the same process; uvicorn is its reference ASGI server. Prefect already depends on
both, so the service adds no new code to the environment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scholarflow.engine.client import EngineError, connect
from scholarflow.search.hybrid import Hybrid
from scholarflow.search.service import hybrid_search
from scholarflow.settings import Settings
from web import api, pages
from web.limits import RateLimit
from web.searching import BadRequest
from web.templating import STATIC

logger = logging.getLogger(__name__)

ENGINE_DOWN = "the search engine is not answering; try again in a moment"
# Scripts and styles from this service only; no frames, no plugins, no inline script.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
        b"frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


@dataclass
class Service:
    """What every request shares: the settings, the one client, the vector half of searches."""

    settings: Settings
    client: Elasticsearch
    hybrid: Hybrid | None
    limit: RateLimit = field(init=False)

    def __post_init__(self) -> None:
        self.limit = RateLimit(self.settings.web_rate_per_minute)

    @property
    def alias(self) -> str:
        return self.settings.alias


def create_app(settings: Settings, client: Elasticsearch | None = None) -> FastAPI:
    """The application over `settings`' alias; `client` (or one made here, starting the
    embedded engine when no URL is set) serves every request."""
    service = Service(settings, client or connect(settings), hybrid_search(settings))
    app = FastAPI(
        title="Scholarflow search",
        summary="Bilingual (English and Chinese) search over Scholarflow's live index.",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url=None,  # the hosted documentation pages load scripts from a CDN
        redoc_url=None,
    )
    app.state.service = service
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(BadRequest, _bad_request)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(TransportError, _engine_down)
    app.add_exception_handler(ApiError, _engine_down)
    app.add_exception_handler(EngineError, _engine_down)
    if settings.web_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.web_cors_origins,
            allow_methods=["GET"],
            allow_credentials=False,
        )
    app.add_middleware(Guard, limit=service.limit)
    return app


class Guard:
    """Requests per minute per address (429 with `Retry-After` beyond), and the security
    headers on every answer. Static files are not counted."""

    def __init__(self, app: ASGIApp, limit: RateLimit) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not scope["path"].startswith("/static/"):
            address = (scope.get("client") or ("unknown", 0))[0]
            wait = self.limit.take(address)
            if wait:
                seconds = max(1, round(wait + 0.5))
                answer = _problem(429, f"too many requests; try again in {seconds} s")
                answer.headers["retry-after"] = str(seconds)
                await answer(scope, receive, _with_headers(send))
                return
        await self.app(scope, receive, _with_headers(send))


def _with_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
        await send(message)

    return sending


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _answer(request: Request, status: int, message: str) -> Response:
    """JSON for the API, a page for a person."""
    if request.url.path.startswith("/api/"):
        return _problem(status, message)
    return pages.error_page(request, status, message)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return _answer(request, 400, str(exc))


async def _invalid(request: Request, exc: Exception) -> Response:
    errors: Any = exc.errors() if isinstance(exc, RequestValidationError) else []
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
    return _answer(request, 400, f"{where}: {first.get('msg', 'invalid')}")


async def _engine_down(request: Request, exc: Exception) -> Response:
    logger.warning("search engine error on %s: %s", request.url.path, exc)
    return _answer(request, 503, ENGINE_DOWN)
