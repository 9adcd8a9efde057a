"""The writer run on the real engine: one client and the writer lock for the whole run, every
write preceded by a lease renewal (a run that lost the lock writes nothing more), the lock taken
per write for a run that does not hold it, and the end of a run: refresh, then the accounting
check, then the summary published once the lock is released; the ingest loop writes every
batch through the run, and the run's batches use its client."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from flows.ingest import load_records
from flows.running.observe import log_event
from scholarflow.engine.client import run_client
from scholarflow.paper.models import AccountingError, RunSummary
from scholarflow.settings import Settings
from scholarflow.stores.bulk import Action, BulkResult, expanded
from scholarflow.stores.deadletters import DeadLetterStore
from scholarflow.stores.indices import ensure_live_index
from scholarflow.stores.lock import LockLost, force_release, read_lease
from scholarflow.stores.writer import WriterRun
from tasks.fetch import read_records
from tests.conftest import SEED_RECORDS, assert_accounted
from tests.locking import make_lock

LOG = partial(log_event, logging.getLogger("scholarflow.test.writer"))


def docs(index: str, *ids: str) -> list[Action]:
    return expanded({"_index": index, "_id": i, "_source": {"title_en": i}} for i in ids)


def run_for(settings: Settings, **options: Any) -> WriterRun:
    return WriterRun(settings, flow="ingest", run_id="run-1", log=LOG, **options)


class Unbalanced:
    def check(self) -> None:
        raise AccountingError("2 records but accounted for 1")


def test_a_run_holds_the_lock_and_finishes_by_refreshing_then_checking(
    settings: Settings, es: Elasticsearch
) -> None:
    index = ensure_live_index(es, settings.alias)
    with run_for(settings) as run:
        assert read_lease(es, settings.alias).run_id == "run-1"
        assert run.write(docs(index, "a", "b")).written == 2
        with pytest.raises(AccountingError):
            run.finish(Unbalanced(), index)
        assert es.count(index=index)["count"] == 2  # refreshed before the check failed
    assert read_lease(es, settings.alias) is None


def test_a_run_that_lost_the_lock_writes_nothing_more(
    settings: Settings, es: Elasticsearch
) -> None:
    index = ensure_live_index(es, settings.alias)
    with run_for(settings) as run:
        force_release(es, settings.alias)
        make_lock(es, "run-2").acquire()  # another run takes the lock meanwhile
        with pytest.raises(LockLost):
            run.write(docs(index, "a"))
    es.indices.refresh(index=index)
    assert es.count(index=index)["count"] == 0
    assert read_lease(es, settings.alias).run_id == "run-2"


def test_a_run_without_the_lock_takes_it_for_each_write(
    settings: Settings, es: Elasticsearch
) -> None:
    index = ensure_live_index(es, settings.alias)
    with run_for(settings, hold_lock=False) as run:
        assert read_lease(es, settings.alias) is None
        with pytest.raises(RuntimeError, match="writes without the writer lock"):
            run.write(docs(index, "a"))
        with run.locked():
            assert read_lease(es, settings.alias).run_id == "run-1"
            assert run.write(docs(index, "a"), refresh=True).written == 1
        assert read_lease(es, settings.alias) is None
    assert es.count(index=index)["count"] == 1


class CountingRun(WriterRun):
    writes = 0

    def write(self, actions: Sequence[Action], **options: Any) -> BulkResult:
        self.writes += 1
        return super().write(actions, **options)


def test_the_ingest_loop_writes_every_batch_through_the_run(
    settings: Settings, es: Elasticsearch
) -> None:
    index = ensure_live_index(es, settings.alias)
    summary = RunSummary(run_id="run-1", alias=settings.alias, index=index)
    with CountingRun(settings, flow="ingest", run_id="run-1", log=LOG) as run:
        dead_letters = DeadLetterStore(run.client)
        records = read_records([str(SEED_RECORDS)])
        load_records(settings, records, index, summary, 10, dead_letters, run=run)
        run.finish(summary, index, dead_letters)
    assert_accounted(summary)
    assert run.writes == -(-summary.records_read // 10)  # one write per batch


class Balanced:
    def check(self) -> None:
        pass


def test_a_finished_run_publishes_its_summary_once_the_lock_is_released(
    settings: Settings, es: Elasticsearch
) -> None:
    published: list[tuple[object, object]] = []

    def publish(summary: object) -> None:
        published.append((summary, read_lease(es, settings.alias)))

    summary = Balanced()
    with run_for(settings, publish=publish) as run:
        run.finish(summary)
        assert published == []  # not while the run still holds the lock
    assert published == [(summary, None)]


def test_a_run_that_fails_its_check_or_never_finishes_publishes_nothing(
    settings: Settings,
) -> None:
    published: list[object] = []
    with pytest.raises(AccountingError), run_for(settings, publish=published.append) as run:
        run.finish(Unbalanced())
    with run_for(settings, publish=published.append):
        pass
    assert published == []


def test_the_runs_batches_use_its_client_in_its_process(settings: Settings) -> None:
    with run_for(settings) as run:
        assert run_client(settings, run.run_id) is run.client  # no reconnect, no probe
    after = run_client(settings, run.run_id)  # a worker process: made once, then reused
    assert after is not run.client
    assert run_client(settings, run.run_id) is after
