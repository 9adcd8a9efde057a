"""One client, every engine: the official `elasticsearch` client, through Scholarflow's transport
node, speaks to the real embedded OpenSearch over HTTP exactly as it speaks to Elasticsearch.

Elasticsearch itself cannot run here, so a recording proxy on 127.0.0.1 stands in for it in front
of the real engine: it forwards every request unchanged and adds the one header Elasticsearch puts
on its answers (`X-Elastic-Product`). The same Scholarflow operations through both must send the
same requests and get the same results: nothing above the node knows which engine answered.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from elasticsearch import Elasticsearch, UnsupportedProductError

from scholarflow.search.service import search_papers
from scholarflow.settings import Settings
from scholarflow.status import index_status
from tests.conftest import settings_for
from tests.local_http import LocalHttpServer, QuietHandler
from tests.seeding import seed_index
from tests.shared_engine import SharedEngine

_HOP_HEADERS = {"connection", "content-length", "transfer-encoding", "content-encoding"}


class RecordingProxy(LocalHttpServer):
    """Forwards to `upstream`, noting (method, path, content type) of every request."""

    def __init__(self, upstream: str, *, as_elasticsearch: bool) -> None:
        self.requests: list[tuple[str, str, str]] = []
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                content_type = self.headers.get("Content-Type", "")
                proxy.requests.append((self.command, self.path, content_type))
                headers = {"Content-Type": content_type} if content_type else {}
                answer = httpx.request(
                    self.command, upstream + self.path, content=body, headers=headers, timeout=60
                )
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_HEADERS}
                if as_elasticsearch:
                    kept["X-Elastic-Product"] = "Elasticsearch"
                self.send_reply(answer.status_code, answer.content, kept)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

        super().__init__(Handler)


def _session(settings: Settings) -> dict:
    """What an operator's first hour does: index the seeds, search both languages, status."""
    seed_index(settings)
    searches = {
        text: [hit["id"] for hit in search_papers(settings, text)["hits"]]
        for text in ("leukopenia rituximab", "白细胞减少", "系統性紅斑狼瘡")
    }
    status = index_status(settings)
    return {"searches": searches, "documents": status["documents"], "index": status["index"]}


def test_the_official_client_alone_refuses_the_real_engine(engine: SharedEngine) -> None:
    with pytest.raises(UnsupportedProductError):
        Elasticsearch(engine.url).info()


def test_the_same_requests_and_results_as_against_elasticsearch(
    engine: SharedEngine, tmp_path: Path
) -> None:
    outcomes = {}
    recorded = {}
    for name, as_elasticsearch in (("opensearch", False), ("elasticsearch", True)):
        engine.wipe()
        with RecordingProxy(engine.url, as_elasticsearch=as_elasticsearch) as proxy:
            outcomes[name] = _session(settings_for(proxy.url, tmp_path / name))
        # Ids and timestamps in paths differ between runs; the shape of each request must not.
        recorded[name] = [(method, path.split("?")[0]) for method, path, _ in proxy.requests]
        content_types = {kind for _, _, kind in proxy.requests if kind}
        assert content_types <= {"application/json", "application/x-ndjson"}, content_types

    assert outcomes["opensearch"] == outcomes["elasticsearch"]
    assert outcomes["opensearch"]["documents"] == 32
    assert all(outcomes["opensearch"]["searches"].values())
    assert recorded["opensearch"] == recorded["elasticsearch"]
    assert len(recorded["opensearch"]) > 10
