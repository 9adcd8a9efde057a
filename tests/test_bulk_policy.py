"""The one bulk policy (scholarflow/stores/bulk.py): each action's outcome in order, transient
refusals sent again, permanent ones final; and the stores that write through it: a refused write of
the sources registry or the manifest fails in one line, the DOI cache lets it go, a dead letter that
cannot be stored fails the run.

Item refusals on demand come from `tests/bulk_server.py`; write blocks from the real engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch

from scholarflow.engine.client import connect
from scholarflow.paper.models import RawRecord, Rejection, Stage
from scholarflow.registry.cache import CACHE_INDEX, WORKS_INDEX, DoiCache
from scholarflow.registry.lookup import Lookup
from scholarflow.settings import Settings
from scholarflow.stores import bulk
from scholarflow.stores.bulk import NO_ANSWER, BulkRetry, Fate, WriteRefused, expanded, send
from scholarflow.stores.deadletters import DEADLETTER_INDEX, DeadLetterError, DeadLetterStore
from scholarflow.stores.ingest_origins import SOURCES_INDEX, SourceRegistry
from scholarflow.stores.read_files import MANIFEST_INDEX, Completed, Fingerprint, SourceManifest
from tests.bulk_server import BulkServer


def actions(*ids: str) -> list:
    return expanded({"_index": "papers-1", "_id": i, "_source": {"n": i}} for i in ids)


def test_each_action_gets_its_outcome_in_order(tmp_path: Path) -> None:
    script = {"a": [429, 201], "b": [400], "c": [503], "d": [201]}
    with BulkServer(script) as server:
        client = connect(Settings(_env_file=None, es_url=server.url, home=tmp_path))
        result = send(client, actions("a", "b", "c", "d"), BulkRetry(2, 0.01))
    assert [item.fate for item in result.items] == [
        Fate.WRITTEN,
        Fate.REFUSED,
        Fate.TRANSIENT,
        Fate.WRITTEN,
    ]
    assert result.written == 2 and result.retried == {429: 1, 503: 1}
    refused, transient = result.items[1], result.items[2]
    assert refused.status == 400 and refused.kind == "mapper_parsing_exception"
    assert refused.reason.startswith("engine refused the document: mapper_parsing_exception")
    assert transient.reason == (
        "engine still refusing after 2 attempts: 503 unavailable_shards_exception: "
        "primary shard is not active"
    )
    assert [sorted(r.ids) for r in server.rounds] == [["a", "b", "c", "d"], ["a", "c"]]
    assert [i for i, _ in result.failures()] == [1, 2]


def test_a_request_the_engine_answers_too_late_is_sent_again_with_more_patience(
    tmp_path: Path,
) -> None:
    """A slow engine is waited for: the actions of a bulk request that got no answer in time go
    again, in smaller chunks with twice the time, and the run goes on."""
    # The client's transport tries a request to a cluster four times before it gives up on it.
    with BulkServer(slow_bulk=4, delay=1.5) as server:
        settings = Settings(_env_file=None, es_url=server.url, home=tmp_path, es_timeout=0.2)
        result = send(connect(settings), actions("a", "b", "c", "d"), BulkRetry(3, 0.01))
        attempts = dict(server.attempts)
    assert result.written == 4 and result.retried == {NO_ANSWER: 4}
    # index by id: sent again, still one document each
    assert set(attempts) == {"a", "b", "c", "d"} and len(set(attempts.values())) == 1
    assert attempts["a"] > 1


def test_an_engine_that_never_answers_in_time_leaves_the_items_unwritten_with_the_reason(
    tmp_path: Path,
) -> None:
    with BulkServer(slow_bulk=99, delay=1.5) as server:
        settings = Settings(_env_file=None, es_url=server.url, home=tmp_path, es_timeout=0.2)
        result = send(connect(settings), actions("a", "b"), BulkRetry(2, 0.01))
    assert result.written == 0 and {item.fate for item in result.items} == {Fate.TRANSIENT}
    reason = result.items[0].reason
    # the second attempt waited twice the first's 0.28 s (0.2 s and 20 ms a line), and its lines
    assert reason.startswith(
        "no answer from the engine after 2 attempts: PUT /_bulk got no answer within 0.64 s"
    ), reason
    assert "SCHOLARFLOW_ES_TIMEOUT" in reason


def test_the_wait_for_an_engine_that_never_answers_grows_only_so_far(tmp_path: Path) -> None:
    """An engine holding requests for a shard with no copy left answers no sooner for a longer
    wait: the timeout doubles `PATIENCE_DOUBLINGS` times, then stays, so the attempts end in
    seconds here (minutes on a real engine), not in hours."""
    with BulkServer(slow_bulk=99, delay=3.0) as server:
        settings = Settings(_env_file=None, es_url=server.url, home=tmp_path, es_timeout=0.05)
        once = connect(settings).options(max_retries=0)  # each attempt one request, not four
        result = send(once, actions("a", "b"), BulkRetry(5, 0.01))
    assert bulk.PATIENCE_DOUBLINGS == 3
    # 0.13 s, then 0.34, 0.76 and 1.6 s (each twice the last, with 20 ms a line), then 1.6 again
    assert len(server.rounds) == 5
    reason = result.items[0].reason
    assert reason.startswith(
        "no answer from the engine after 5 attempts: PUT /_bulk got no answer within 1.6 s"
    ), reason
    assert result.written == 0


def test_requests_end_at_a_count_or_a_size_with_bodies_sent_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document serialised already (bytes) goes as it is; a request ends at
    `BULK_CHUNK_DOCS` actions or `BULK_CHUNK_BYTES` bytes, whichever comes first, and a single
    larger action goes alone. Two requests are in flight: they may arrive in either order."""
    monkeypatch.setattr(bulk, "BULK_CHUNK_DOCS", 3)
    monkeypatch.setattr(bulk, "BULK_CHUNK_BYTES", 200)
    small = [({"index": {"_index": "papers-1", "_id": i}}, b'{"n":1}') for i in "abcd"]
    large = ({"index": {"_index": "papers-1", "_id": "big"}}, orjson.dumps({"text": "x" * 300}))
    with BulkServer() as server:
        client = connect(Settings(_env_file=None, es_url=server.url, home=tmp_path))
        result = send(client, [*small, large, small[0]], in_flight=2)
    assert result.written == 6
    assert sorted(r.ids for r in server.rounds) == [["a"], ["a", "b", "c"], ["big"], ["d"]]


def test_answers_are_read_as_filtered_with_each_action_in_order(es: Elasticsearch) -> None:
    """Against the real engine: index actions with bodies as bytes and as objects, a delete
    (no body line) among them; each answer's item read with only its status and error."""
    actions = [
        ({"index": {"_index": "scratch", "_id": "a"}}, b'{"n": 1}'),
        ({"index": {"_index": "scratch", "_id": "b"}}, {"n": 2}),
        ({"delete": {"_index": "scratch", "_id": "a"}}, None),
        ({"index": {"_index": "scratch", "_id": "c"}}, b'{"n": "not a number"}'),
    ]
    es.indices.create(index="scratch", mappings={"properties": {"n": {"type": "integer"}}})
    result = send(es, actions, refresh=True)
    assert [item.fate for item in result.items] == [Fate.WRITTEN] * 3 + [Fate.REFUSED]
    assert result.items[3].kind == "mapper_parsing_exception"
    assert sorted(hit["_id"] for hit in es.search(index="scratch")["hits"]["hits"]) == ["b"]


@pytest.fixture
def blocked(es: Elasticsearch) -> Iterator[Elasticsearch]:
    """Every store index created, then made read-only as a full disk makes it."""
    DeadLetterStore(es).ensure()
    SourceManifest(es, "papers", "papers-1").ensure()
    SourceRegistry(es).ensure()
    names = ",".join([DEADLETTER_INDEX, MANIFEST_INDEX, SOURCES_INDEX])
    es.indices.put_settings(index=names, settings={"index.blocks.write": True})
    try:
        yield es
    finally:
        es.indices.put_settings(index=names, settings={"index.blocks.write": None})


def test_a_refused_sources_registry_write_fails_in_one_line(blocked: Elasticsearch) -> None:
    with pytest.raises(WriteRefused) as refused:
        SourceRegistry(blocked).record("papers", ["/data/feed.jsonl"], "run")
    message = str(refused.value)
    assert message.startswith(f"{SOURCES_INDEX}: the engine refused 1 of 1 writes (")
    assert "cluster_block_exception" in message and "\n" not in message


def test_a_refused_manifest_write_fails_in_one_line(blocked: Elasticsearch) -> None:
    done = Completed(Fingerprint("/data/feed.jsonl", 10, 1), "hash", 3)
    with pytest.raises(WriteRefused, match=rf"^{MANIFEST_INDEX}: the engine refused 1 of 1"):
        SourceManifest(blocked, "papers", "papers-1").record([done], "run")


def test_a_dead_letter_that_cannot_be_stored_fails_the_run(blocked: Elasticsearch) -> None:
    rejection = Rejection(Stage.DECODE, "no title in any language", "feed.jsonl", "line 1")
    record = RawRecord("feed.jsonl", "line 1", payload={})
    with pytest.raises(DeadLetterError, match=r"^1 rejected records could not be stored"):
        DeadLetterStore(blocked).add([rejection], [record], "run")


def test_the_doi_cache_lets_a_refused_write_go(es: Elasticsearch, settings: Settings) -> None:
    cache = DoiCache(es, settings)
    cache.ensure()
    both = f"{CACHE_INDEX},{WORKS_INDEX}"
    es.indices.put_settings(index=both, settings={"index.blocks.write": True})
    try:
        assert cache.put_many([Lookup("10.1000/a", "not_found", "crossref")]) == 0
    finally:
        es.indices.put_settings(index=both, settings={"index.blocks.write": None})
