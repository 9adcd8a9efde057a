"""The index stage against an engine that refuses items: transient refusals are retried with
backoff, permanent ones are rejected at once with the engine's reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from scholarflow.indices import ensure_live_index
from scholarflow.models import Outcome, Paper, RawRecord, Stage
from scholarflow.search_client import connect
from scholarflow.settings import Settings
from tasks.decode import decode_record
from tasks.index import BulkRetry, index_papers
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
    settings = Settings(_env_file=None, es_url=server.url, es_plain_json=True, home=tmp_path)
    return connect(settings)


def test_transient_refusals_are_retried_with_backoff_until_they_succeed(tmp_path: Path) -> None:
    script = {"10.1000/a": [429, 429, 201], "10.1000/b": [503, 201]}
    with BulkServer(script) as server:
        result = index_papers(
            client_for(server, tmp_path), "papers-1", three(), "run", BulkRetry(5, 0.05)
        )
    assert result.outcomes[Outcome.INDEXED] == 3 and result.rejections == []
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
    from scholarflow.search_client import EngineError, check

    with BulkServer(status=status) as server, pytest.raises(EngineError) as error:
        check(client_for(server, tmp_path), server.url)
    assert f"({status})" in str(error.value) and server.url in str(error.value)
