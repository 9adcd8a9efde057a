"""The one Elasticsearch client Scholarflow uses, for every engine: Elasticsearch 8/9, OpenSearch
2.x clusters and the embedded engines, all through `EngineNode`
(scholarflow/engine/transport.py)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from elastic_transport import ConnectionTimeout, ObjectApiResponse, Transport
from elasticsearch import (
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
)
from elasticsearch import (
    ConnectionError as EsConnectionError,
)
from elasticsearch.serializer import OrjsonSerializer

from scholarflow.engine.transport import EngineNode
from scholarflow.errors import ScholarflowError
from scholarflow.redact import redact_url, remember, remember_basic
from scholarflow.run_scoped import PerRun
from scholarflow.settings import Settings

# orjson for every JSON body: bulk bodies and DOI-cache answers are most of an ingest's bytes,
# and the standard json module costs several times more per byte.
_SERIALIZERS = {"application/json": OrjsonSerializer()}


# Requests whose work grows with the index rather than with what is sent (a refresh after a bulk
# load with refresh off, a copy, a wait for shards) get this many times SCHOLARFLOW_ES_TIMEOUT.
SLOW_FACTOR = 10
_SLOW_ENDPOINTS = ("/_refresh", "/_flush", "/_forcemerge", "/_reindex")
# A bulk request gets SCHOLARFLOW_ES_TIMEOUT plus this much per line sent (an action or a
# document): 500 papers, 1,000 lines, wait 20 s longer.
BULK_SECONDS_PER_LINE = 0.02


class EngineError(ScholarflowError):
    """The search engine cannot be used: unreachable, or it refused our credentials."""


class RequestTimeout(ConnectionTimeout):
    """A request the engine did not answer in time, naming the request, the time waited and
    the setting that sizes it."""

    def __init__(self, method: str, target: str, seconds: float, cause: ConnectionTimeout):
        self.method, self.target, self.seconds = method, target.split("?")[0], seconds
        super().__init__(
            f"{method} {self.target} got no answer within {seconds:g} s "
            "(raise SCHOLARFLOW_ES_TIMEOUT: bulk requests wait it plus "
            f"{BULK_SECONDS_PER_LINE * 1000:g} ms a line, refresh and copies {SLOW_FACTOR}x it)",
            errors=cause.errors,
        )

    def __str__(self) -> str:
        return self.message


class SizedTransport(Transport):
    """The client's transport, with each request's timeout sized from what it asks for: the
    client passes SCHOLARFLOW_ES_TIMEOUT (or a caller's own, longer value) to every request."""

    def perform_request(self, method: str, target: str, **kwargs: Any) -> Any:
        given = kwargs.get("request_timeout")
        if isinstance(given, int | float):
            kwargs["request_timeout"] = seconds = max(given, _sized(given, target, kwargs))
        else:
            seconds = None
        try:
            return super().perform_request(method, target, **kwargs)
        except ConnectionTimeout as exc:
            if seconds is None or isinstance(exc, RequestTimeout):
                raise
            raise RequestTimeout(method, target, seconds, exc) from exc


def _sized(base: float, target: str, kwargs: dict[str, Any]) -> float:
    path = target.split("?")[0]
    if path.endswith(_SLOW_ENDPOINTS) or path.startswith("/_cluster/health"):
        return base * SLOW_FACTOR
    body = kwargs.get("body")
    if path.endswith("/_bulk") and isinstance(body, list | tuple):
        return base + len(body) * BULK_SECONDS_PER_LINE
    return base


# The client each run's batches use in this process: the writer run's own in the flow's process
# (scholarflow/stores/writer.py puts it here), one made on first use in a worker process.
RUN_CLIENTS: PerRun[Elasticsearch] = PerRun(close=lambda client: client.close())


def run_client(settings: Settings, run_id: str) -> Elasticsearch:
    """The run's client in this process: a batch neither reconnects nor probes the engine."""
    return RUN_CLIENTS.get(run_id, lambda: connect(settings))


def connect(settings: Settings, *, start: bool = True) -> Elasticsearch:
    """A client for the configured cluster, or for the embedded engine (started when needed)."""
    options: dict[str, Any] = {
        "node_class": EngineNode,
        "transport_class": SizedTransport,
        "request_timeout": settings.es_timeout,
        "serializers": _SERIALIZERS,
    }
    if settings.embedded:
        from scholarflow.engine import embedded_engine

        engine = embedded_engine(settings)
        state = engine.ensure() if start else engine.status()
        if state is None:
            raise EngineError(f"the embedded engine is not running (home {settings.home_dir})")
        return Elasticsearch(state.urls, **options)
    options |= {"retry_on_timeout": True, "http_compress": settings.es_http_compress}
    urls, user_info = [], None
    for address in node_urls(settings.es_url or ""):
        bare, found = split_user_info(address)
        urls.append(bare)
        user_info = user_info or found
    if settings.es_api_key:
        options["api_key"] = settings.es_api_key.get_secret_value()
        remember(options["api_key"])
    elif settings.es_username and settings.es_password:
        options["basic_auth"] = (settings.es_username, settings.es_password.get_secret_value())
    elif user_info:
        options["basic_auth"] = user_info
    if "basic_auth" in options:
        remember_basic(*options["basic_auth"])
    if settings.es_ca_file:
        options["ca_certs"] = str(settings.es_ca_file)
    return Elasticsearch(urls, **options)


def node_urls(es_url: str) -> list[str]:
    """The nodes of SCHOLARFLOW_ES_URL: one address, or several separated by commas (a
    cluster's nodes; the client spreads requests over them, and a request a node cannot
    answer goes to the next while that node rests, marked dead, and is tried again later)."""
    return [part.strip() for part in es_url.split(",") if part.strip()]


def split_user_info(url: str) -> tuple[str, tuple[str, str] | None]:
    """`https://user:pass@host` as the address without user-info and the user and password
    (percent-decoded), so that the credentials travel as `basic_auth` (where the explicit
    settings override them) and the client never holds an address that shows them."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    remember(parts.password)  # as written (percent-encoded), as well as decoded below
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    bare = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return bare, (user, password) if user or password else None


def check(client: Elasticsearch, where: str) -> ObjectApiResponse[Any]:
    """`info()`, with the failure turned into one line an operator can act on; `where` (the
    configured address, as the callers pass it) is shown redacted."""
    where = ",".join(redact_url(part) for part in node_urls(where)) or where
    try:
        return client.info()
    except AuthenticationException as exc:
        raise EngineError(f"{where}: the engine refused the credentials (401)") from exc
    except AuthorizationException as exc:
        raise EngineError(f"{where}: the credentials lack permission (403)") from exc
    except EsConnectionError as exc:
        raise EngineError(f"{where}: cannot reach the engine ({_short(exc)})") from exc


def _short(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    text = str(errors[0] if errors else exc)
    return text.split(": ", 1)[-1][:160]
