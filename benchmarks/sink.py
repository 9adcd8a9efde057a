"""Sinks that answer the index stage's requests at once, to time the pipeline without an engine.

`SinkLogic` answers what an ingest run asks of Elasticsearch: `info`, the alias, template and
mapping calls (every index has every declared field), the writer lock's lease document, `_mget`
(documents: never found; the DOI cache's works: the warm cache of the corpus), `_search`
(nothing found: a batch's cached Crossmark notices, a record without a DOI looking for its
paper in another language, the saved searches), `_bulk` (every item succeeds) and `_refresh`.
Two ways to reach it:
- `NullNode`: an elastic_transport node that calls it in-process, with no socket at all (the
  null sink: what the pipeline costs by itself);
- `HttpSink`: a threaded HTTP server on 127.0.0.1 (what our client costs on the wire).
"""

from __future__ import annotations

import gzip
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
from elastic_transport import ApiResponseMeta, BaseNode, HttpHeaders
from elastic_transport._node import NodeApiResponse

from benchmarks.corpus import FETCHED_AT, Corpus, registry_templates
from scholarflow.registry import Lookup
from scholarflow.registry.cache import WORKS_INDEX, cache_entry, works_entry
from scholarflow.stores.templates import MAPPINGS_DIR, load_mapping_file
from tests.local_http import LocalHttpServer, QuietHandler

_JSON = HttpHeaders({"content-type": "application/json", "x-elastic-product": "Elasticsearch"})
_FRESH = timedelta(days=3650)  # the warm cache never expires during a benchmark
_ID_MARK, _TITLE_MARK = "@@sfb-id@@", "@@sfb-title@@"
_ID, _TITLE = orjson.dumps(_ID_MARK), orjson.dumps(_TITLE_MARK)
_BULK_ITEM = b'{"index":{"status":201,"result":"created"}}'
_INFO = orjson.dumps(
    {
        "name": "sink",
        "cluster_name": "sink",
        "version": {"number": "9.0.0", "build_flavor": "default"},
        "tagline": "You Know, for Search",
    }
)
Response = tuple[int, bytes]


class SinkLogic:
    """Success for everything the pipeline writes; the warm DOI cache for what it reads."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus
        self.requests: Counter[str] = Counter()
        self.bulk_items = 0
        self.bulk_bytes = 0
        self._lock = threading.Lock()
        self._found = [_works_document(body) for body in registry_templates()]
        self._not_found = _works_document(None)
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            ("POST", re.compile(r"^/(?:[^/]+/)?_bulk$"), self._bulk),
            ("PUT", re.compile(r"^/(?:[^/]+/)?_bulk$"), self._bulk),
            ("POST", re.compile(r"^/([^/]+)/_mget$"), self._mget),
            ("GET", re.compile(r"^/([^/]+)/_mget$"), self._mget),
            ("GET", re.compile(r"^/_alias/([^/]+)$"), self._alias),
            ("GET", re.compile(r"^/$"), lambda _m, _b: (200, _INFO)),
            ("HEAD", re.compile(r"^/[^/_][^/]*$"), lambda _m, _b: (200, b"")),
            ("PUT", re.compile(r"^/_(?:component|index)_template/[^/]+$"), _acknowledged),
            ("PUT", re.compile(r"^/[^/_][^/]*(?:/_settings)?$"), _acknowledged),
            ("GET", re.compile(r"^/[^/]+/_settings(?:/[^/]+)?$"), lambda _m, _b: (200, b"{}")),
            ("POST", re.compile(r"^/[^/]+/_refresh$"), _acknowledged),
            ("PUT", re.compile(r"^/[^/_][^/]*/_doc/([^/]+)$"), _written),  # the writer lock
            ("DELETE", re.compile(r"^/[^/_][^/]*/_doc/([^/]+)$"), _written),
            ("GET", re.compile(r"^/[^/]+/_refresh$"), _acknowledged),
            ("GET", re.compile(r"^/([^/]+)/_mapping$"), _mapping),
            ("POST", re.compile(r"^/[^/]+/_search$"), _nothing_found),
            ("GET", re.compile(r"^/[^/]+/_search$"), _nothing_found),
        ]

    def handle(self, method: str, target: str, body: bytes | None) -> Response:
        path = target.partition("?")[0]
        for verb, pattern, answer in self._routes:
            if verb == method and (match := pattern.match(path)):
                with self._lock:
                    self.requests[answer.__name__.strip("_") or "other"] += 1
                return answer(match, body or b"")
        with self._lock:
            self.requests[f"unexpected {method} {path}"] += 1
        return 400, orjson.dumps({"error": {"type": "sink", "reason": f"{method} {path}"}})

    def _bulk(self, _match: re.Match[str], body: bytes) -> Response:
        items = body.count(b"\n") // 2  # index actions: an action line and a source line
        with self._lock:
            self.bulk_items += items
            self.bulk_bytes += len(body)
        return 200, b'{"took":0,"errors":false,"items":[' + b",".join([_BULK_ITEM] * items) + b"]}"

    def _mget(self, match: re.Match[str], body: bytes) -> Response:
        index = match.group(1)
        request = orjson.loads(body)
        ids = request.get("ids") or [d["_id"] for d in request.get("docs", [])]
        docs = [self._cached(doc_id) if index == WORKS_INDEX else None for doc_id in ids]
        parts = [
            doc or orjson.dumps({"_index": index, "_id": doc_id, "found": False})
            for doc_id, doc in zip(ids, docs, strict=True)
        ]
        return 200, b'{"docs":[' + b",".join(parts) + b"]}"

    def _cached(self, doi: str) -> bytes | None:
        """The works document for a corpus DOI, as the engine returns it."""
        number = self.corpus.registry_number(doi)
        if number is None:
            return None
        if not self.corpus.registry_found(number):
            return self._not_found.replace(_ID, orjson.dumps(doi))
        title = orjson.dumps(self.corpus.english_title(number))
        found = self._found[number % len(self._found)]
        return found.replace(_ID, orjson.dumps(doi)).replace(_TITLE, title)

    def _alias(self, match: re.Match[str], _body: bytes) -> Response:
        alias = match.group(1)
        return 200, orjson.dumps({f"{alias}-000001": {"aliases": {alias: {}}}})


def _written(match: re.Match[str], _body: bytes) -> Response:
    """One document written (the writer lock's lease: taken, renewed, released)."""
    return 200, orjson.dumps({"_id": match.group(1), "_seq_no": 0, "_primary_term": 1})


def _works_document(template: bytes | None) -> bytes:
    """A works entry as an `_mget` item, with placeholders for the DOI and the title."""
    body = None
    if template is not None:
        body = orjson.loads(template)
        work = body.get("message", body)
        work["DOI"], work["title"] = _ID_MARK, [_TITLE_MARK]
    fetched = datetime.fromisoformat(FETCHED_AT)
    lookup = Lookup(_ID_MARK, "found" if body else "not_found", "crossref", body, fetched)
    source = works_entry(cache_entry(lookup, _FRESH))
    return orjson.dumps({"_index": WORKS_INDEX, "_id": _ID_MARK, "found": True, "_source": source})


def _declared_fields() -> dict[str, Any]:
    """Every top-level field any mappings file declares (the papers' and each store's)."""
    fields: dict[str, Any] = {}
    for path in MAPPINGS_DIR.glob("*.mappings.json"):
        mappings = load_mapping_file(path.name)
        fields |= mappings.get("template", {}).get("mappings", mappings)["properties"]
    return fields


_DECLARED = _declared_fields()


def _mapping(match: re.Match[str], _body: bytes) -> Response:
    """An index that has every declared field already: a run has none to add."""
    return 200, orjson.dumps({match.group(1): {"mappings": {"properties": _DECLARED}}})


def _nothing_found(_match: re.Match[str], _body: bytes) -> Response:
    """A search: nothing indexed matches."""
    return 200, b'{"took":0,"hits":{"total":{"value":0,"relation":"eq"},"hits":[]}}'


def _acknowledged(_match: re.Match[str], _body: bytes) -> Response:
    return 200, b'{"acknowledged":true}'


class NullNode(BaseNode):
    """A transport node that hands requests to a `SinkLogic` (`logic`, set on a subclass)."""

    logic: SinkLogic

    def perform_request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        request_timeout: Any = None,
    ) -> NodeApiResponse:
        started = time.perf_counter()
        status, data = self.logic.handle(method, target, body)
        meta = ApiResponseMeta(
            status=status,
            http_version="1.1",
            headers=_JSON,
            duration=time.perf_counter() - started,
            node=self.config,
        )
        return NodeApiResponse(meta, data)


def null_node_class(logic: SinkLogic) -> type[NullNode]:
    return type("BoundNullNode", (NullNode,), {"logic": logic})


class _Handler(QuietHandler):
    protocol_version = "HTTP/1.1"
    logic: SinkLogic

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        status, data = self.logic.handle(self.command, self.path, body)
        self.send_reply(status, data, dict(_JSON))

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer


class HttpSink(LocalHttpServer):
    """The sink on 127.0.0.1, a thread per connection; `url` once started."""

    def __init__(self, logic: SinkLogic) -> None:
        super().__init__(type("BoundHandler", (_Handler,), {"logic": logic}))


def serve(seed: int) -> None:
    """Run the HTTP sink until terminated, printing its URL first (for a parent process)."""
    with HttpSink(SinkLogic(Corpus(seed))) as sink:
        sys.stdout.write(sink.url + "\n")
        sys.stdout.flush()
        threading.Event().wait()


if __name__ == "__main__":
    serve(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
