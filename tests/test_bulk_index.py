"""The index stage against an engine that refuses items: transient refusals are retried with
backoff, permanent ones are rejected at once with the engine's reason, worded the same whichever
engine gave it.

Refusals the real engine cannot be made to give on demand, or that only Elasticsearch gives
(Elasticsearch itself cannot run here), come from `tests/bulk_server.py`, a real HTTP server on
127.0.0.1 answering with the recorded shapes; the rest come from the real OpenSearch.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from scholarflow.engine.client import EngineError, connect
from scholarflow.paper.models import Outcome, Paper, RawRecord, Stage
from scholarflow.settings import Settings
from scholarflow.stores.bulk import BulkRetry
from scholarflow.stores.deadletters import DeadLetterStore
from scholarflow.stores.indices import ensure_live_index
from tasks.decode import decode_record
from tasks.index import index_papers
from tests.bulk_server import BulkServer


def papers(*payloads: dict) -> list[Paper]:
    decoded = [
        decode_record(RawRecord("feed.jsonl", f"line {n}", payload=p))
        for n, p in enumerate(payloads, start=1)
    ]
    assert all(isinstance(p, Paper) for p in decoded)
    return decoded


def three() -> list[Paper]:
    return papers(*({"title": f"Paper {k}", "doi": f"10.1000/{k}"} for k in "abc"))


def client_for(server: BulkServer, tmp_path: Path) -> Elasticsearch:
    settings = Settings(_env_file=None, es_url=server.url, home=tmp_path)
    return connect(settings)


def test_transient_refusals_are_retried_with_backoff_until_they_succeed(tmp_path: Path) -> None:
    script = {"10.1000/a": [429, 429, 201], "10.1000/b": [503, 201]}
    with BulkServer(script) as server:
        result = index_papers(
            client_for(server, tmp_path), "papers-1", three(), "run", BulkRetry(5, 0.05)
        )
    assert result.outcomes[Outcome.INDEXED] == 3 and result.rejections == []
    assert result.retried == {429: 2, 503: 1}  # what the stage reports of its retries
    assert [sorted(r.ids) for r in server.rounds] == [
        ["10.1000/a", "10.1000/b", "10.1000/c"],
        ["10.1000/a", "10.1000/b"],  # only the refused items go again
        ["10.1000/a"],
    ]
    first, second, third = (r.at for r in server.rounds)
    assert second - first >= 0.05  # backoff: 0.05 s, then 0.1 s (plus jitter)
    assert third - second >= 0.1


def test_item_still_refused_after_every_attempt_is_rejected_with_its_reason(
    tmp_path: Path,
) -> None:
    with BulkServer({"10.1000/b": [503]}) as server:
        result = index_papers(
            client_for(server, tmp_path), "papers-1", three(), "run", BulkRetry(3, 0.01)
        )
    assert server.attempts["10.1000/b"] == 3
    assert result.outcomes[Outcome.INDEXED] == 2
    (rejection,) = result.rejections
    assert rejection.stage is Stage.INDEX
    assert (rejection.source, rejection.location) == ("feed.jsonl", "line 2")
    assert rejection.reason == (
        "engine still refusing after 3 attempts: 503 unavailable_shards_exception: "
        "primary shard is not active"
    )


# Elasticsearch 8.8+ answers a value its mapping refuses like this (a recorded bulk item error):
# `document_parsing_exception`, and the reason starts with where in the source it stopped.
ES_DOCUMENT_PARSING = {
    "type": "document_parsing_exception",
    "reason": "[1:412] failed to parse field [cited_by_count] of type [integer] in document with "
    "id '10.1000/big'. Preview of field's value: '3000000000'",
    "caused_by": {
        "type": "input_coercion_exception",
        "reason": "Numeric value (3000000000) out of range of int (-2147483648 - 2147483647)",
    },
}
# And a full write queue like this (a recorded item of a 429); OpenSearch names the same refusal
# `rejected_execution_exception` (tests/test_engine_faults.py gets real ones).
ES_QUEUE_FULL = {
    "type": "es_rejected_execution_exception",
    "reason": "rejected execution of org.elasticsearch.action.support.replication."
    "TransportWriteAction$1/WrappedActionListener{org.elasticsearch.action.support.replication."
    "ReplicationOperation$$Lambda$7002/0x0000000801b2b3d0@16e9faf7} on EsThreadPoolExecutor["
    "name = es-data-0/write, queue capacity = 10000, org.elasticsearch.common.util.concurrent."
    "EsThreadPoolExecutor@499b0f50[Running, pool size = 2, active threads = 2, queued tasks = "
    "10000, completed tasks = 11472149]]",
}
MAPPING_REFUSAL = (
    "engine refused the document: mapper_parsing_exception: "
    "failed to parse field [cited_by_count] of type [integer]"
)


def too_many_citations() -> list[Paper]:
    """A paper whose registry answer counts more citations than the mapping's integer holds."""
    (paper,) = papers({"title": "Cited beyond range", "doi": "10.1000/big"})
    return [paper.model_copy(update={"cited_by_count": 3_000_000_000})]


def test_mapping_refusals_read_the_same_on_elasticsearch_and_opensearch(
    es: Elasticsearch, tmp_path: Path
) -> None:
    with BulkServer({"10.1000/big": [400]}, errors={"10.1000/big": ES_DOCUMENT_PARSING}) as server:
        on_es = index_papers(
            client_for(server, tmp_path), "papers-1", too_many_citations(), "run"
        ).rejections
    on_opensearch = index_papers(
        es, ensure_live_index(es, "papers"), too_many_citations(), "run"
    ).rejections
    assert [r.reason for r in on_es] == [r.reason for r in on_opensearch] == [MAPPING_REFUSAL]
    (es_detail,), (os_detail,) = [r.detail for r in on_es], [r.detail for r in on_opensearch]
    # The detail keeps each engine's own type and words.
    assert es_detail.startswith("document_parsing_exception: [1:412] failed to parse field")
    assert "out of range of int" in es_detail
    assert os_detail.startswith("mapper_parsing_exception: failed to parse field [cited_by_count]")
    assert "out of range of int" in os_detail

    # In the dead-letter store, the two engines' refusals are one reason.
    store = DeadLetterStore(es)
    rejections = [on_es[0], replace(on_opensearch[0], location="line 2")]
    assert store.add(rejections, [], "run") == 2
    store.refresh()
    assert store.page().by_stage == {"index": {MAPPING_REFUSAL: 2}}


def test_a_full_write_queue_reads_the_same_as_on_opensearch(tmp_path: Path) -> None:
    with BulkServer({"10.1000/b": [429]}, errors={"10.1000/b": ES_QUEUE_FULL}) as server:
        result = index_papers(
            client_for(server, tmp_path), "papers-1", three(), "run", BulkRetry(2, 0.01)
        )
    (rejection,) = result.rejections
    assert rejection.reason == (
        "engine still refusing after 2 attempts: 429 es_rejected_execution_exception: "
        "rejected execution: write queue full (capacity 10000)"
    )
    assert result.retried == {429: 1}
    assert "completed tasks = 11472149" in (rejection.detail or "")


def test_documents_the_engine_cannot_read_yet_are_waited_for_not_taken_as_new(
    tmp_path: Path,
) -> None:
    """Right after a restart the engine answers `_mget` items with "no shard available" until it
    has recovered the index: the batch waits for the primaries instead of deciding that the
    documents do not exist (which would overwrite what other records merged into them)."""
    with BulkServer(unreadable=1) as server:
        result = index_papers(client_for(server, tmp_path), "papers-1", three(), "run")
    assert server.health_checks == 1 and len(server.rounds) == 1
    assert result.outcomes[Outcome.INDEXED] == 3


def test_documents_the_engine_never_reads_fail_the_batch_before_any_write(
    tmp_path: Path,
) -> None:
    with BulkServer(unreadable=2) as server, pytest.raises(EngineError) as error:
        index_papers(client_for(server, tmp_path), "papers-1", three(), "run")
    assert server.rounds == []  # nothing written on a guess
    assert str(error.value) == (
        "papers-1: the engine cannot read stored documents (no_shard_available_action_exception: "
        "No shard available for [get [papers-1][_doc][10.1000/a]: routing [null]]); run the same "
        "command again once the index is available"
    )


def test_permanent_refusals_are_not_retried(tmp_path: Path) -> None:
    script = {"10.1000/a": [400], "10.1000/b": [429, 201], "10.1000/c": [413]}
    with BulkServer(script) as server:
        result = index_papers(
            client_for(server, tmp_path), "papers-1", three(), "run", BulkRetry(5, 0.01)
        )
    assert server.attempts == {"10.1000/a": 1, "10.1000/b": 2, "10.1000/c": 1}
    assert result.outcomes[Outcome.INDEXED] == 1
    reasons = {r.location: r.reason for r in result.rejections}
    assert reasons == {
        "line 1": "engine refused the document: mapper_parsing_exception: "
        "failed to parse field [year] of type [integer]",
        "line 3": "engine refused the document: illegal_argument_exception: document too large",
    }


def test_a_bulk_request_refused_as_a_whole_rejects_each_of_its_documents(tmp_path: Path) -> None:
    with BulkServer(refuse_bulk=400) as server:
        result = index_papers(client_for(server, tmp_path), "papers-1", three(), "run")
    assert result.written == 0
    assert [(r.stage, r.reason, r.location) for r in result.rejections] == [
        (Stage.INDEX, "engine refused the document: HTTP 400", f"line {n}") for n in (1, 2, 3)
    ]


def test_real_mapping_refusal_is_rejected_and_the_rest_indexed(es: Elasticsearch) -> None:
    index = ensure_live_index(es, "papers")
    batch = papers(
        {"title": "Fine", "doi": "10.1000/fine"},
        {"title": "Impossible impact", "doi": "10.1000/inf", "PeriodicalIF": 1e300},
    )
    result = index_papers(es, index, batch, "run")
    assert result.outcomes[Outcome.INDEXED] == 1
    (rejection,) = result.rejections
    assert rejection.location == "line 2"
    assert rejection.reason == (
        "engine refused the document: mapper_parsing_exception: "
        "failed to parse field [impact_factor] of type [float]"
    )
    assert "finite" in rejection.detail  # the engine's own words are kept
    es.indices.refresh(index=index)
    assert es.count(index=index)["count"] == 1


def test_refused_merged_document_rejects_each_of_its_records(es: Elasticsearch) -> None:
    index = ensure_live_index(es, "papers")
    batch = papers(
        {"title": "Twice", "doi": "10.1000/twice", "PeriodicalIF": 1e300},
        {"title": "Twice again", "doi": "https://doi.org/10.1000/TWICE"},
    )
    result = index_papers(es, index, batch, "run")
    assert result.outcomes[Outcome.MERGED] == 0 and result.outcomes[Outcome.INDEXED] == 0
    assert sorted(r.location for r in result.rejections) == ["line 1", "line 2"]


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_fail_the_run_clearly(tmp_path: Path, status: int) -> None:
    from scholarflow.engine.client import EngineError, check

    with BulkServer(status=status) as server, pytest.raises(EngineError) as error:
        check(client_for(server, tmp_path), server.url)
    assert f"({status})" in str(error.value) and server.url in str(error.value)
