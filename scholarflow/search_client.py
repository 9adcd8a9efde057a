"""The one Elasticsearch client Scholarflow uses, for a real cluster and the embedded engine alike.

The official client asks for `application/vnd.elasticsearch+json; compatible-with=9`, which the
embedded (OpenSearch-compatible) engine refuses; `PlainJsonNode` sends plain JSON content types
instead. Everything else is the same code path.
"""

from __future__ import annotations

from typing import Any

from elastic_transport import HttpHeaders, ObjectApiResponse, Urllib3HttpNode
from elasticsearch import (
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
)
from elasticsearch import (
    ConnectionError as EsConnectionError,
)
from elasticsearch.serializer import OrjsonSerializer

from scholarflow.settings import Settings

# orjson for every JSON body: bulk bodies and DOI-cache answers are most of an ingest's bytes,
# and the standard json module costs several times more per byte.
_SERIALIZERS = {"application/json": OrjsonSerializer()}

_PLAIN_TYPES = {
    "application/vnd.elasticsearch+json; compatible-with=9": "application/json",
    "application/vnd.elasticsearch+x-ndjson; compatible-with=9": "application/x-ndjson",
}


class PlainJsonNode(Urllib3HttpNode):
    """A transport node that sends `application/json` where the client would send its
    versioned media type."""

    def perform_request(self, method, target, body=None, headers=None, **kwargs):  # type: ignore[override]
        if headers:
            headers = HttpHeaders({k: _PLAIN_TYPES.get(v, v) for k, v in headers.items()})
        return super().perform_request(method, target, body=body, headers=headers, **kwargs)


class EngineError(RuntimeError):
    """The search engine cannot be used: unreachable, or it refused our credentials."""


def connect(settings: Settings, *, start: bool = True) -> Elasticsearch:
    """A client for the configured cluster, or for the embedded engine (started when needed)."""
    if settings.embedded:
        from scholarflow.engine import EmbeddedEngine

        engine = EmbeddedEngine(settings.home_dir)
        state = engine.ensure() if start else engine.status()
        if state is None:
            raise EngineError(f"the embedded engine is not running (home {settings.home_dir})")
        return Elasticsearch(
            state.url,
            node_class=PlainJsonNode,
            request_timeout=settings.es_timeout,
            serializers=_SERIALIZERS,
        )
    options: dict[str, Any] = {
        "request_timeout": settings.es_timeout,
        "retry_on_timeout": True,
        "serializers": _SERIALIZERS,
        "http_compress": settings.es_http_compress,
    }
    if settings.es_plain_json:
        options["node_class"] = PlainJsonNode
    if settings.es_api_key:
        options["api_key"] = settings.es_api_key.get_secret_value()
    elif settings.es_username and settings.es_password:
        options["basic_auth"] = (settings.es_username, settings.es_password.get_secret_value())
    if settings.es_ca_file:
        options["ca_certs"] = str(settings.es_ca_file)
    return Elasticsearch(settings.es_url, **options)


def check(client: Elasticsearch, where: str) -> ObjectApiResponse[Any]:
    """`info()`, with the failure turned into one line an operator can act on."""
    try:
        return client.info()
    except AuthenticationException as exc:
        raise EngineError(f"{where}: the engine refused the credentials (401)") from exc
    except AuthorizationException as exc:
        raise EngineError(f"{where}: the credentials lack permission (403)") from exc
    except EsConnectionError as exc:
        raise EngineError(f"{where}: cannot reach the engine ({_short(exc)})") from exc


def _short(exc: Exception) -> str:
    text = str(exc.errors[0] if getattr(exc, "errors", None) else exc)
    return text.split(": ", 1)[-1][:160]
