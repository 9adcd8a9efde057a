"""The re-index flow on a real Prefect server: zero downtime, rollback on failure, dry run."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from elasticsearch import NotFoundError

from flows.ingest import ingest, progress_listener
from flows.reindex import ReindexParameters, reindex
from scholarflow.engine.client import connect
from scholarflow.paper.models import RunSummary
from scholarflow.search.service import search_papers
from scholarflow.settings import Settings, get_settings
from scholarflow.stores.indices import ReindexError, generations, live_index
from scholarflow.stores.ingest_origins import SourceRegistry
from scholarflow.stores.lock import LockLost, read_lease
from tasks.fetch import SourceError
from tests.locking import expire, make_lock

LUPUS = "10.1080/25785826.2025.2563427"


@pytest.fixture
def flow_settings(
    seeded_settings: Settings, monkeypatch: pytest.MonkeyPatch, prefect_harness: None
) -> Iterator[Settings]:
    """The seeded engine clone, as the flows see it (they read SCHOLARFLOW_* settings)."""
    for name, value in {
        "ES_URL": seeded_settings.es_url,
        "HOME": str(seeded_settings.home),
        "DOI_LOOKUP": "cache-only",
        "CROSSREF_URL": seeded_settings.crossref_url,
    }.items():
        monkeypatch.setenv(f"SCHOLARFLOW_{name}", value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@dataclass
class Searcher:
    """Searches without pause in a thread, recording every answer and every error."""

    settings: Settings
    query: str = "白细胞减少"
    answers: list[tuple[int, str | None, str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                result = search_papers(self.settings, self.query, size=3)
                first = result["hits"][0] if result["hits"] else {}
                self.answers.append((result["total"], first.get("id"), first.get("index")))
            except Exception as exc:  # every failure is the finding
                self.errors.append(repr(exc))
            time.sleep(0.002)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 30
        while len(self.answers) + len(self.errors) < count and time.monotonic() < deadline:
            time.sleep(0.01)


@pytest.mark.slow
def test_searches_never_fail_while_a_replay_reindex_switches_the_alias(
    flow_settings: Settings, tmp_path: Path
) -> None:
    searcher = Searcher(flow_settings)
    thread = threading.Thread(target=searcher.run, daemon=True)
    thread.start()
    searcher.wait_for(20)
    before = len(searcher.answers)
    try:
        result = reindex(parameters=ReindexParameters(mode="replay", batch_size=8))
        after = len(searcher.answers)
        searcher.wait_for(len(searcher.answers) + 20)
    finally:
        searcher.stop.set()
        thread.join(10)

    assert searcher.errors == []
    assert after - before > 20, "the searches must overlap the re-index"
    assert all(total > 0 and first == LUPUS for total, first, _ in searcher.answers)
    served_by = [index for _, _, index in searcher.answers]
    assert served_by[0] == "papers-000001" and served_by[-1] == "papers-000002"
    switch = served_by.index("papers-000002")
    assert set(served_by[switch:]) == {"papers-000002"}  # one switch, never back

    client = connect(flow_settings)
    assert live_index(client, "papers") == "papers-000002"
    assert result["load"]["replay"]["records_read"] == 33
    assert result["verification"]["documents"] == 32
    assert result["kept"] == ["papers-000001"] and result["deleted"] == []

    # Ingest after a re-index writes into the new live index.
    record = tmp_path / "new.jsonl"
    record.write_text(json.dumps({"title": "Rituximab for refractory neutropenia"}) + "\n")
    summary = ingest(paths=[str(record)])
    assert summary["index"] == "papers-000002" and summary["indexed"] == 1
    found = search_papers(flow_settings, "refractory neutropenia")["hits"][0]
    assert found["index"] == "papers-000002"
    with pytest.raises(NotFoundError):
        client.get(index="papers-000001", id=found["id"])
    assert str(record) in SourceRegistry(client).sources("papers")  # a later replay reads it


@pytest.mark.slow
def test_a_failure_mid_replay_deletes_the_new_index_and_keeps_the_alias(
    flow_settings: Settings, tmp_path: Path
) -> None:
    client = connect(flow_settings)
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress(b'{"title": "fine"}\n')[:-12] + b"not gzip any more")
    SourceRegistry(client).record("papers", [str(broken)], "run-2")  # read after the seeds

    with pytest.raises(SourceError, match=r"broken\.jsonl\.gz: cannot read"):
        reindex(parameters=ReindexParameters(mode="replay", batch_size=5))

    assert live_index(client, "papers") == "papers-000001"
    assert generations(client, "papers") == ["papers-000001"]  # the half-built one is gone
    assert search_papers(flow_settings, "白细胞减少")["hits"][0]["id"] == LUPUS


@pytest.mark.slow
def test_a_replay_that_loses_the_lock_stops_loading_and_rolls_back(
    flow_settings: Settings,
) -> None:
    """Its lease taken over once the first batch is reported (the run was frozen past it): the
    replay fails at the next renewal, deletes what it built, leaves the alias. (The batch after
    it, written while the first was reported, renewed the lease before it was taken over.)"""
    client = connect(flow_settings)
    successor = make_lock(client, "successor")
    batches: list[int] = []

    def take_over_after_the_first_batch(summary: RunSummary) -> None:
        batches.append(summary.records_read)
        if len(batches) == 1:
            expire(client)
            successor.acquire()

    with progress_listener(take_over_after_the_first_batch), pytest.raises(LockLost):
        reindex(parameters=ReindexParameters(mode="replay", batch_size=5))

    assert len(batches) <= 2  # of seven: none was loaded after the takeover
    assert live_index(client, "papers") == "papers-000001"
    assert generations(client, "papers") == ["papers-000001"]  # the half-built one is gone
    assert read_lease(client, "papers").run_id == "successor"
    successor.release()


@pytest.mark.slow
def test_a_copy_the_new_mapping_refuses_rolls_back(flow_settings: Settings) -> None:
    client = connect(flow_settings)
    # The live index carries a field that the current (strict) mapping no longer has.
    client.indices.put_mapping(index="papers-000001", properties={"legacy": {"type": "keyword"}})
    client.update(index="papers-000001", id=LUPUS, doc={"legacy": "x"}, refresh=True)

    with pytest.raises(ReindexError, match=r"1 documents refused, first 10\.1080"):
        reindex(parameters=ReindexParameters(mode="copy"))

    assert live_index(client, "papers") == "papers-000001"
    assert generations(client, "papers") == ["papers-000001"]


@pytest.mark.slow
def test_dry_run_changes_nothing(flow_settings: Settings) -> None:
    client = connect(flow_settings)
    before = client.indices.get(index="*").body
    result = reindex(parameters=ReindexParameters(mode="replay", dry_run=True))
    assert result["dry_run"] is True
    assert (result["live"], result["target"]) == ("papers-000001", "papers-000002")
    assert client.indices.get(index="*").body == before
