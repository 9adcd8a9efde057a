"""A run's index stage (tasks/index_run.py) against the real engine: one batch is decided while
the one before it is written, yet a duplicate across the two still merges into the document the
first one wrote; stored documents are read without real-time refreshes; what the run remembers
is bounded; a load refreshes the index itself and gives the index its refresh back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from elasticsearch import Elasticsearch

from scholarflow.engine.transport import EngineNode
from scholarflow.paper.models import Outcome, Paper, Provenance
from scholarflow.settings import Settings
from scholarflow.stores.bulk import Action, BulkResult, send
from scholarflow.stores.indices import (
    INGEST_REFRESH,
    create_for_load,
    ensure_live_index,
    is_loading,
    refresh_interval,
    set_refresh_interval,
)
from tasks import index_run
from tasks.documents import prepare_documents
from tasks.index import IndexResult
from tasks.index_run import IndexRun
from tests.ops import wait_for


def paper(doi: str, source: str, **fields: Any) -> Paper:
    origin = [Provenance(source=source, location="line 1")]
    defaults = {"id": doi, "doi": doi, "title_en": f"Paper {doi}", "languages": ["en"]}
    return Paper(**{**defaults, **fields, "provenance": origin})


def recording(url: str) -> tuple[Elasticsearch, list[tuple[str, dict[str, list[str]], list[str]]]]:
    """A client of the engine that notes each `_mget` (its query and the ids it asked for)."""
    mgets: list[tuple[str, dict[str, list[str]], list[str]]] = []

    class Recording(EngineNode):
        def perform_request(self, method, target, body=None, headers=None, **kwargs):  # type: ignore[override]
            url = urlsplit(target)
            if url.path.endswith("/_mget"):
                mgets.append((url.path, parse_qs(url.query), orjson.loads(body)["ids"]))
            return super().perform_request(method, target, body=body, headers=headers, **kwargs)

    return Elasticsearch(url, node_class=Recording), mgets


class Writer:
    """The bulk policy, each write noted; with `hold`, the first write waits until the engine
    was asked for `hold`'s stored document, so it is still in flight while the next batch is
    read: the overlap the stage exists for."""

    def __init__(self, client: Elasticsearch, asked: list[Any], hold: str | None = None) -> None:
        self.client, self.asked, self.hold = client, asked, hold
        self.batches: list[list[str]] = []

    def __call__(self, actions: Sequence[Action]) -> BulkResult:
        if self.hold and not self.batches:
            wait_for(lambda: any(self.hold in ids for *_, ids in self.asked) or None, 10, "read")
        self.batches.append([next(iter(header.values()))["_id"] for header, _ in actions])
        return send(self.client, actions)


def outcomes(results: list[IndexResult]) -> Counter[Outcome]:
    return sum((r.outcomes for r in results), Counter())


def test_a_duplicate_of_a_document_still_being_written_merges_into_it(
    settings: Settings,
) -> None:
    client, mgets = recording(str(settings.es_url))
    index = ensure_live_index(client, settings.alias)
    first = [paper("10.1000/a", "one.jsonl"), paper("10.1000/b", "one.jsonl")]
    second = [
        paper("10.1000/a", "two.jsonl", title_zh="蜘蛛", abstract_en="Eight legs."),
        paper("10.1000/c", "two.jsonl"),
    ]
    third = [paper("10.1000/b", "three.jsonl", abstract_en="Six legs.")]
    writer = Writer(client, mgets, hold="10.1000/c")
    with IndexRun(client, index, "run-1", writer) as stage:
        assert stage.submit(prepare_documents(first, "run-1")) == []  # written in the background
        done = stage.submit(prepare_documents(second, "run-1"))
        done += stage.submit(prepare_documents(third, "run-1"))
        done += stage.finish()
    assert writer.batches == [["10.1000/a", "10.1000/b"], ["10.1000/a", "10.1000/c"], ["10.1000/b"]]
    assert [r.written for r in done] == [2, 2, 1]
    assert outcomes(done) == {Outcome.INDEXED: 3, Outcome.MERGED: 2}
    merged = client.get(index=index, id="10.1000/a")["_source"]
    assert merged["title_en"] == "Paper 10.1000/a"  # the record read first wins
    assert (merged["title_zh"], merged["abstract_en"]) == ("蜘蛛", "Eight legs.")  # gaps filled
    assert [p["source"] for p in merged["provenance"]] == ["one.jsonl", "two.jsonl"]
    assert len(merged["record_hashes"]) == 2
    # Stored documents are read as the last refresh left them (no real-time read, which would
    # make the engine refresh first): the decisions' fields, for the ids the run did not write
    # yet. What it wrote (the bases of both merges) comes from what it remembers.
    assert [ids for _, _, ids in mgets] == [["10.1000/a", "10.1000/b"], ["10.1000/a", "10.1000/c"]]
    assert all(query.get("realtime") == ["false"] for _, query, _ in mgets)
    assert all("_source_includes" in query for _, query, _ in mgets)


def test_a_document_refused_in_one_batch_is_new_to_the_next(settings: Settings) -> None:
    client, _ = recording(str(settings.es_url))
    index = ensure_live_index(client, settings.alias)
    refused = paper("10.1000/big", "one.jsonl", citation_count=10**12)  # beyond the mapping
    again = paper("10.1000/big", "two.jsonl")
    with IndexRun(client, index, "run-1", Writer(client, [])) as stage:
        done = stage.submit(prepare_documents([refused], "run-1"))
        done += stage.submit(prepare_documents([again], "run-1"))
        done += stage.finish()
    assert [len(r.rejections) for r in done] == [1, 0]
    assert outcomes(done) == {Outcome.INDEXED: 1}
    stored = client.get(index=index, id="10.1000/big")["_source"]
    assert [p["source"] for p in stored["provenance"]] == ["two.jsonl"]


def test_the_run_forgets_what_it_wrote_past_its_bound_and_still_merges(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `RECENT_BYTES` the run refreshes the index and forgets: an old document is then read
    from the engine, and a duplicate of it merges all the same."""
    monkeypatch.setattr(index_run, "RECENT_BYTES", 1)
    client, mgets = recording(str(settings.es_url))
    index = ensure_live_index(client, settings.alias)
    batches = [[paper("10.1000/a", "one.jsonl")], [paper("10.1000/b", "one.jsonl")]]
    batches.append([paper("10.1000/a", "two.jsonl", abstract_en="Eight legs.")])
    done: list[IndexResult] = []
    with IndexRun(client, index, "run-1", Writer(client, [])) as stage:
        for batch in batches:
            done += stage.submit(prepare_documents(batch, "run-1"))
        done += stage.finish()
    assert outcomes(done) == {Outcome.INDEXED: 2, Outcome.MERGED: 1}
    assert "10.1000/a" in mgets[-2][2]  # forgotten: asked of the engine again
    merged = client.get(index=index, id="10.1000/a")["_source"]
    assert merged["abstract_en"] == "Eight legs."
    assert [p["source"] for p in merged["provenance"]] == ["one.jsonl", "two.jsonl"]


def test_a_failed_write_stops_the_run_after_the_write_ended(settings: Settings) -> None:
    client, _ = recording(str(settings.es_url))
    index = ensure_live_index(client, settings.alias)
    ended: list[str] = []

    def failing(actions: Sequence[Action]) -> BulkResult:
        ended.append("write")
        raise ConnectionError("engine gone")

    stage = IndexRun(client, index, "run-1", failing)
    with pytest.raises(ConnectionError, match="engine gone"), stage:
        stage.submit(prepare_documents([paper("10.1000/a", "one.jsonl")], "run-1"))
        stage.submit(prepare_documents([paper("10.1000/b", "one.jsonl")], "run-1"))
    assert ended == ["write"]  # the second batch was never written


def test_a_load_trades_the_engines_refresh_for_its_own_and_restores_it(
    settings: Settings,
) -> None:
    client, _ = recording(str(settings.es_url))
    index = ensure_live_index(client, settings.alias)
    assert refresh_interval(client, index) == "1s"  # the live index serves with the template's
    seen: list[str | None] = []

    def noting(actions: Sequence[Action]) -> BulkResult:
        seen.append(refresh_interval(client, index))
        return send(client, actions)

    with IndexRun(client, index, "run-1", noting) as stage:
        for n in range(3):
            stage.submit(prepare_documents([paper(f"10.1000/{n}", "one.jsonl")], "run-1"))
        stage.finish()
    assert seen == ["1s", INGEST_REFRESH, INGEST_REFRESH]  # from its second batch on
    assert refresh_interval(client, index) == "1s"


def test_a_refresh_interval_left_by_a_run_that_died_is_put_back(settings: Settings) -> None:
    client, _ = recording(str(settings.es_url))
    index = ensure_live_index(client, settings.alias)
    set_refresh_interval(client, index, INGEST_REFRESH)
    with IndexRun(client, index, "run-2", Writer(client, [])) as stage:
        assert refresh_interval(client, index) == "1s"
        stage.submit(prepare_documents([paper("10.1000/a", "one.jsonl")], "run-2"))
        stage.finish()
    assert refresh_interval(client, index) == "1s"


def test_an_index_being_built_keeps_its_refresh_off(settings: Settings) -> None:
    client, _ = recording(str(settings.es_url))
    ensure_live_index(client, settings.alias)
    create_for_load(client, "papers-000002")
    with IndexRun(client, "papers-000002", "run-1", Writer(client, [])) as stage:
        for n in range(3):
            stage.submit(prepare_documents([paper(f"10.1000/{n}", "one.jsonl")], "run-1"))
        stage.finish()
    assert refresh_interval(client, "papers-000002") == "-1"
    assert is_loading(client, "papers-000002")


def test_a_paper_without_a_doi_joins_and_moves_within_one_run(settings: Settings) -> None:
    """Papers whose id the run settles (tasks/documents.py) are settled batch after batch: a
    record without a DOI is written under its own id; a later batch's record whose DOI a search
    found waits for that write, moves the document to the DOI and deletes it; a third batch's
    record without a DOI joins the DOI's document, not the deleted one (ordinary reads still
    see that until the next refresh)."""
    client, mgets = recording(str(settings.es_url))
    index = ensure_live_index(client, settings.alias)
    fields: dict[str, Any] = {
        "id": "sf-silk",
        "title_en": "Silk proteins of orb-weaving spiders",
        "published": {"value": "2015-01-01", "precision": "year"},
        "authors": [{"name": "Ann Lee"}, {"name": "Bo Chen"}],
        "languages": ["en"],
    }

    def record(source: str, **more: Any) -> Paper:
        origin = [Provenance(source=source, location="line 1")]
        return Paper.model_validate({**fields, **more, "provenance": origin})

    loose = record("one.jsonl")
    found = record(
        "two.jsonl",
        id="10.1000/silk",
        doi="10.1000/silk",
        doi_source="matched",
        former_id="sf-silk",
    )
    again = record("three.jsonl", abstract_en="Dragline.")
    writer = Writer(client, mgets)
    with IndexRun(client, index, "run-1", writer) as stage:
        done = stage.submit(prepare_documents([], "run-1"), [loose])
        done += stage.submit(prepare_documents([], "run-1"), [found])
        done += stage.submit(prepare_documents([], "run-1"), [again])
        done += stage.finish()
    # Written, moved (then deleted), joined.
    assert writer.batches == [["sf-silk"], ["10.1000/silk"], ["sf-silk"], ["10.1000/silk"]]
    assert sum(r.moved for r in done) == 1
    assert outcomes(done) == {Outcome.INDEXED: 1, Outcome.MERGED: 2}
    client.indices.refresh(index=index)
    assert not client.exists(index=index, id="sf-silk")
    moved = client.get(index=index, id="10.1000/silk")["_source"]
    assert moved["former_ids"] == ["sf-silk"] and moved["abstract_en"] == "Dragline."
    assert [p["source"] for p in moved["provenance"]] == ["two.jsonl", "one.jsonl", "three.jsonl"]
