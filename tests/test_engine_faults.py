"""Faults of a real engine that the index stage must ride out or report, never guess around.

- Too busy: a dedicated OpenSearch node with one write thread and a write queue of one answers
  the bulk items it has no room for with 429 (`rejected_execution_exception`), as a busy
  cluster does. The index stage sends them again, with backoff, until each is written; past its
  last attempt a refused record is dead-lettered with a reason that says the engine was busy.
- Unreadable: an index the engine cannot read answers each `_mget` item with an error. The
  stage must not take those documents for missing (it would write them again from this batch
  alone, dropping what other records merged into them).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest
from elasticsearch import Elasticsearch
from prefect import flow

from flows.ingest import load_records
from flows.replay import replay
from scholarflow.engine import EmbeddedEngine, EngineKind, EngineState
from scholarflow.engine.client import EngineError, connect
from scholarflow.paper.models import Outcome, Paper, RawRecord, RunSummary
from scholarflow.settings import Settings
from scholarflow.stores.bulk import BulkRetry
from scholarflow.stores.deadletters import DeadLetterStore
from scholarflow.stores.indices import ensure_live_index
from tasks.decode import decode_record
from tasks.fetch import read_records
from tasks.index import IndexResult, index_papers
from tests.conftest import assert_accounted, settings_for
from tests.shared_engine import SharedEngine

pytestmark = pytest.mark.slow

TINY_WRITE_POOL = {"thread_pool.write.size": "1", "thread_pool.write.queue_size": "1"}
QUEUE_FULL = (
    "engine still refusing after 1 attempt: 429 es_rejected_execution_exception: "
    "rejected execution: write queue full (capacity 1)"
)
# Enough bulk requests in flight at once (each writer has two) that the queue overflows.
WRITERS = 4
PER_WRITER = 1000
# Beside an ingest: enough to refuse a good part of its load, few enough that the dead-letter
# store (which waits for the engine longer) gets its entries in.
OTHER_WRITERS = 2


@pytest.fixture(scope="module")
def busy_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedEngine]:
    engine = EmbeddedEngine(
        tmp_path_factory.mktemp("busy-engine"),
        kind=EngineKind.OPENSEARCH,
        node_settings=TINY_WRITE_POOL,
    )
    try:
        state = engine.ensure()
        # The node took the settings (an unknown or misspelt one would not have started it).
        pool = _node(state, "_nodes/thread_pool")["thread_pool"]["write"]
        assert (pool["size"], pool["queue_size"]) == (1, 1), pool
        yield SharedEngine(state)
    finally:
        engine.stop()


@pytest.fixture
def busy(busy_engine: SharedEngine, tmp_path: Path) -> Settings:
    """Settings for the busy engine, emptied for this test."""
    busy_engine.wipe()
    return settings_for(busy_engine.url, tmp_path / "home")


def _node(state: EngineState, path: str) -> dict:
    (node,) = httpx.get(f"{state.url}/{path}", timeout=30).json()["nodes"].values()
    return node


def write_rejections(state: EngineState) -> int:
    """How many write tasks the node has refused since it started (its own counter)."""
    return _node(state, "_nodes/stats/thread_pool")["thread_pool"]["write"]["rejected"]


def make_papers(prefix: str, count: int) -> list[Paper]:
    papers = []
    for n in range(count):
        payload = {"title": f"{prefix} paper {n} on leukopenia", "doi": f"10.5555/{prefix}.{n}"}
        paper = decode_record(RawRecord(f"{prefix}.jsonl", f"line {n + 1}", payload=payload))
        assert isinstance(paper, Paper)
        papers.append(paper)
    return papers


def test_concurrent_bulk_loads_are_retried_until_every_item_is_written(
    busy: Settings, busy_engine: SharedEngine
) -> None:
    """Writers loading one alias each at the same time (as scheduled ingests of several
    collections do): the engine refuses part of each load, and the stage writes it all."""
    client = connect(busy)
    aliases = [f"load{k}" for k in range(WRITERS)]
    indices = {alias: ensure_live_index(client, alias) for alias in aliases}
    batches = {alias: make_papers(alias, PER_WRITER) for alias in aliases}
    refused_before = write_rejections(busy_engine.state)

    def load(alias: str) -> IndexResult:
        return index_papers(
            connect(busy), indices[alias], batches[alias], "run", BulkRetry(20, 0.05)
        )

    with ThreadPoolExecutor(WRITERS) as pool:
        results = list(pool.map(load, aliases))

    retried = sum((r.retried for r in results), Counter())
    refused = write_rejections(busy_engine.state) - refused_before  # the node's own count
    assert refused > 0, "the engine refused nothing: the load is too light to test retries"
    assert retried[429] > 0  # what the stage reports: it sent the refused items again
    for alias, result in zip(aliases, results, strict=True):
        assert result.rejections == [], result.rejections[:3]
        assert result.outcomes == {Outcome.INDEXED: PER_WRITER}
        client.indices.refresh(index=indices[alias])
        assert client.count(index=alias)["count"] == PER_WRITER


def write_feed(path: Path, count: int) -> Path:
    with path.open("wb") as out:
        for n in range(count):
            record = {"title": f"Feed paper {n} on rituximab", "doi": f"10.5555/feed.{n}"}
            out.write(orjson.dumps(record) + b"\n")
    return path


def test_items_refused_past_the_last_attempt_are_dead_lettered_as_engine_busy(
    busy: Settings, prefect_harness: None, tmp_path: Path
) -> None:
    """An ingest's batches (the flow's own loop: decode, enrich, index, dead letters) with a
    single attempt per item, while other writers keep the engine busy: what the engine refused
    is dead-lettered with a reason that says so (the store itself waits out the refusals of
    its own writes), every record is accounted for, and a replay once the engine is quiet
    indexes it.

    The loop, not the whole ingest flow: a refused write of the flow's writer lock or source
    registry is sent again only at once (by the client, three times, with no backoff), and this
    engine refuses those often enough to fail the run at its start."""
    records = 4000
    feed = write_feed(tmp_path / "feed.jsonl", records)
    settings = busy.model_copy(update={"bulk_attempts": 1})
    client = connect(busy)
    index = ensure_live_index(client, busy.alias)
    others = ensure_live_index(client, "other")
    quiet = threading.Event()

    def keep_busy(k: int) -> None:
        """Another writer, patient as the index stage is, with new papers each round."""
        rounds = 0
        while not quiet.is_set():
            batch = make_papers(f"other{k}r{rounds}", 500)
            index_papers(connect(busy), others, batch, "other", BulkRetry(20, 0.05))
            rounds += 1

    @flow(name="load-busy-engine")
    def body() -> RunSummary:
        summary = RunSummary(run_id="busy-run", alias=busy.alias, index=index)
        dead_letters = DeadLetterStore(client)
        load_records(settings, read_records([str(feed)]), index, summary, 500, dead_letters)
        return summary

    with ThreadPoolExecutor(OTHER_WRITERS) as pool:
        load = [pool.submit(keep_busy, k) for k in range(OTHER_WRITERS)]
        try:
            summary = body()
        finally:
            quiet.set()
        for done in load:
            done.result()

    assert_accounted(summary)
    refused = summary.outcomes[Outcome.REJECTED]
    assert refused > 0, "the engine refused nothing: the load is too light to test this"
    assert summary.rejected_by_stage() == {
        "index": {"count": refused, "reasons": {QUEUE_FULL: refused}}
    }
    assert summary.outcomes[Outcome.INDEXED] == records - refused

    store = DeadLetterStore(client)
    store.refresh()
    page = store.page()
    assert (page.total, page.by_stage) == (refused, {"index": {QUEUE_FULL: refused}})
    entry = store.get([page.entries[0]["id"]])[page.entries[0]["id"]]
    assert entry["detail"].startswith("rejected_execution_exception: rejected execution of ")

    result = replay(busy, None, batch_size=500)
    assert (result.resolved, result.outcomes[Outcome.INDEXED]) == (refused, refused)
    assert client.count(index=busy.alias)["count"] == records
    assert store.page().total == 0


def test_documents_the_engine_cannot_read_are_never_overwritten_on_a_guess(
    es: Elasticsearch, settings: Settings
) -> None:
    """A read block makes the real engine answer every `_mget` item with an error (a restarted
    engine answers "no shard available" the same way until it has replayed its translog): the
    batch stops with one clear error, and the document two sources merged into is left as it
    was."""
    index = ensure_live_index(es, settings.alias)
    (first,) = make_papers("east", 1)
    (second,) = make_papers("west", 1)
    second = second.model_copy(update={"id": first.id, "doi": first.doi})
    merged = index_papers(es, index, [first], "run-1").outcomes
    merged += index_papers(es, index, [second], "run-2").outcomes
    assert merged == {Outcome.INDEXED: 1, Outcome.MERGED: 1}
    es.indices.put_settings(index=index, settings={"index.blocks.read": True})
    try:
        with pytest.raises(EngineError) as error:
            index_papers(es, index, [second.model_copy(update={"title_en": "Changed"})], "run-3")
    finally:
        es.indices.put_settings(index=index, settings={"index.blocks.read": None})
    assert str(error.value).startswith(
        f"{index}: the engine cannot read stored documents (cluster_block_exception: index "
        f"[{index}] blocked by: [FORBIDDEN/7/index read (api)];)"
    )
    stored = es.get(index=index, id=first.id)["_source"]
    assert [p["source"] for p in stored["provenance"]] == ["east.jsonl", "west.jsonl"]
    assert stored["run_id"] == "run-2"
