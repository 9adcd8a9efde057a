"""The writer lock on the real embedded engine: one holder at a time, even under a race;
expired leases taken over (and logged); ingests wait for a re-index instead of writing to the
index it is about to replace; a re-index that cannot get the lock fails in one line."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from scholarflow.paper.models import RunSummary
from scholarflow.settings import Settings
from scholarflow.stores.indices import ensure_live_index, live_index
from scholarflow.stores.lock import (
    LockHeld,
    LockLost,
    WriterLock,
    read_lease,
)
from tasks.reindex import (
    copy_documents,
    create_target,
    plan_reindex,
    switch,
    verify,
)
from tests.cli_helpers import json_out, one_line_error, run_cli
from tests.conftest import SEED_RECORDS
from tests.locking import LOGGER, events, expire, in_thread, make_lock, wait_for_event


def test_one_holder_at_a_time_and_release_frees_it(es: Elasticsearch) -> None:
    first = make_lock(es, "run-1")
    first.acquire()
    with pytest.raises(LockHeld) as held:
        make_lock(es, "run-2", flow="reindex").acquire()
    message = str(held.value)
    assert "held by ingest run run-1" in message and "since " in message
    assert read_lease(es, "papers").run_id == "run-1"

    first.release()
    assert read_lease(es, "papers") is None
    second = make_lock(es, "run-2", flow="reindex")
    second.acquire()
    assert read_lease(es, "papers").run_id == "run-2"
    second.renew()  # still ours: no error
    second.release()
    assert read_lease(es, "papers") is None


@pytest.mark.parametrize("expired", [False, True], ids=["free", "expired lease"])
def test_a_race_has_exactly_one_winner(es: Elasticsearch, expired: bool) -> None:
    if expired:
        make_lock(es, "crashed").acquire()
        expire(es)
    takers = [make_lock(es, f"racer-{i}") for i in range(8)]
    start = threading.Barrier(len(takers))

    def take(lock: WriterLock) -> bool:
        start.wait()
        try:
            lock.acquire()
        except LockHeld:
            return False
        return True

    with ThreadPoolExecutor(len(takers)) as pool:
        won = list(pool.map(take, takers))
    assert won.count(True) == 1
    winner = takers[won.index(True)]
    assert read_lease(es, "papers").run_id == winner.run_id
    for loser in (t for t, w in zip(takers, won, strict=True) if not w):
        with pytest.raises(LockLost):
            loser.renew()


def test_an_expired_lease_is_taken_over_and_the_takeover_logged(
    es: Elasticsearch, caplog: pytest.LogCaptureFixture
) -> None:
    stalled = make_lock(es, "stalled-run")
    stalled.acquire()
    expire(es)  # it stopped renewing: a crash, or a pause longer than the lease
    with caplog.at_level(logging.INFO, logger=LOGGER):
        with make_lock(es, "next-run", flow="reindex"):
            assert read_lease(es, "papers").run_id == "next-run"
            with pytest.raises(LockLost, match="now: reindex run next-run"):
                stalled.renew()
            stalled.release()  # must not delete the new holder's lease
            assert read_lease(es, "papers").run_id == "next-run"
        assert read_lease(es, "papers") is None
    [taken_over] = events(caplog, "lock taken over")
    assert taken_over["holder_run_id"] == "stalled-run"
    assert taken_over["run_id"] == "next-run"
    assert [e["run_id"] for e in events(caplog, "lock released")] == ["next-run"]


def test_the_lock_is_released_when_the_run_fails(es: Elasticsearch) -> None:
    with pytest.raises(RuntimeError, match="boom"), make_lock(es, "failing-run"):
        raise RuntimeError("boom")
    assert read_lease(es, "papers") is None


def test_ingest_waits_for_the_lock_and_succeeds_once_released(
    es: Elasticsearch, ingest: Callable[..., RunSummary], caplog: pytest.LogCaptureFixture
) -> None:
    holder = make_lock(es, "reindex-run", flow="reindex")
    holder.acquire()
    with caplog.at_level(logging.INFO, logger="prefect.flow_runs"):
        thread, outcome = in_thread(ingest, SEED_RECORDS, batch_size=10)
        wait_for_event(caplog, "lock waiting", thread)
        assert thread.is_alive() and not outcome
        assert live_index(es, "papers") is None  # nothing was written while it waited
        holder.release()
        thread.join(timeout=300)
    [summary] = outcome
    assert isinstance(summary, RunSummary), summary
    assert summary.records_read == 33 and summary.outcomes
    [waiting] = events(caplog, "lock waiting")
    assert waiting["holder_run_id"] == "reindex-run" and waiting["holder_flow"] == "reindex"
    assert [e["run_id"] for e in events(caplog, "lock taken")] == [summary.run_id]
    assert [e["run_id"] for e in events(caplog, "lock released")] == [summary.run_id]
    assert read_lease(es, "papers") is None


def test_an_ingest_that_lost_the_lock_writes_no_further_batch(
    es: Elasticsearch, ingest: Callable[..., RunSummary]
) -> None:
    """A run frozen past its lease (a suspended machine) whose lease another run took over
    meanwhile: it learns so at the renewal before its next write, and writes nothing more."""
    from flows.ingest import progress_listener

    successor = make_lock(es, "successor", flow="reindex")
    written: list[int] = []

    def freeze_after_the_first_batch(summary: RunSummary) -> None:
        if not written:
            es.indices.refresh(index="papers")
            written.append(es.count(index="papers")["count"])
            expire(es)  # as if the run had stopped renewing for longer than the lease
            successor.acquire()  # takes the expired lease over

    with progress_listener(freeze_after_the_first_batch), pytest.raises(LockLost):
        ingest(SEED_RECORDS, batch_size=10)

    es.indices.refresh(index="papers")
    assert 0 < es.count(index="papers")["count"] == written[0] < 32  # the first batch alone
    assert read_lease(es, "papers").run_id == "successor"  # its lease was left alone
    successor.release()


def test_an_ingest_during_a_reindex_lands_in_the_new_live_index(
    settings: Settings,
    es: Elasticsearch,
    ingest: Callable[..., RunSummary],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The original bug: an ingest that resolved the live index before the re-index moved the
    alias kept writing to the old one. Under the lock it waits, then resolves the new one."""
    files = sorted(SEED_RECORDS.iterdir())
    first = ingest(*files[:3])
    old = first.index
    before = es.count(index=old)["count"]
    assert before > 0

    reindexing = make_lock(es, "reindex-run", flow="reindex")
    reindexing.acquire()
    plan = plan_reindex(es, settings, "copy", keep=2)
    with caplog.at_level(logging.INFO, logger="prefect.flow_runs"):
        thread, outcome = in_thread(ingest, SEED_RECORDS, batch_size=10)
        wait_for_event(caplog, "lock waiting", thread)
        # the re-index's own steps, while the ingest waits
        create_target(es, plan)
        copied = copy_documents(es, plan)
        es.indices.refresh(index=plan.target)
        verify(es, plan, copied, allow_removals=False)  # the live index did not change
        switch(es, plan)
        reindexing.release()
        thread.join(timeout=300)

    [summary] = outcome
    assert isinstance(summary, RunSummary), summary
    assert summary.index == plan.target == live_index(es, "papers")
    assert es.count(index=old)["count"] == before  # nothing went to the replaced index
    es.indices.refresh(index=plan.target)
    # every paper of the seeds is live: 33 records, one merged duplicate (as `make demo`)
    assert before < 32 == es.count(index="papers")["count"]


def test_a_reindex_with_the_lock_held_fails_in_one_line_naming_the_holder(
    settings: Settings,
    es: Elasticsearch,
    cli_env: dict[str, str],
    prefect_api_url: str,
    tmp_path: Path,
) -> None:
    index = ensure_live_index(es, "papers")
    es.index(index=index, id="a", document={"title_en": "kept"}, refresh=True)
    holder = make_lock(es, "nightly-42")
    holder.acquire()
    env = {**cli_env, "PREFECT_API_URL": prefect_api_url, "SCHOLARFLOW_LOCK_WAIT": "0"}

    line = one_line_error(run_cli("reindex", env=env, cwd=tmp_path))
    assert line.startswith("error: the writer lock on alias 'papers' is held by ingest run ")
    assert "nightly-42" in line and f"since {holder.lease.taken_at}" in line
    assert live_index(es, "papers") == index
    assert not es.indices.exists(index="papers-000002")  # nothing was built
    assert read_lease(es, "papers").run_id == "nightly-42"  # and the holder's lease is intact

    dry = json_out(run_cli("reindex", "--dry-run", "--json", env=env, cwd=tmp_path))
    assert dry["dry_run"] is True and dry["target"] == "papers-000002"  # takes no lock


def test_lock_show_and_forced_release(
    es: Elasticsearch, cli_env: dict[str, str], tmp_path: Path
) -> None:
    assert json_out(run_cli("lock", "show", "--json", env=cli_env, cwd=tmp_path)) == {
        "alias": "papers",
        "held": False,
    }
    holder = make_lock(es, "dead-run")
    holder.acquire()
    shown = json_out(run_cli("lock", "show", "--json", env=cli_env, cwd=tmp_path))
    assert shown["held"] is True and shown["expired"] is False
    assert shown["lease"]["run_id"] == "dead-run" and shown["lease"]["flow"] == "ingest"
    text = run_cli("lock", "show", env=cli_env, cwd=tmp_path).stdout
    assert "dead-run" in text and "held" in text
    status = json_out(run_cli("status", "--json", env=cli_env, cwd=tmp_path))
    assert status["writer_lock"] == holder.lease.describe()
    assert (status["index"], status["documents"], status["last_indexed"]) == (None, 0, None)
    assert status["enrichment"] == {} and status["dead_letters"] == 0  # nothing ingested yet
    expire(es)
    status = json_out(run_cli("status", "--json", env=cli_env, cwd=tmp_path))
    assert status["writer_lock"].endswith("; expired: the next run takes it over")

    refused = one_line_error(run_cli("lock", "release", env=cli_env, cwd=tmp_path), code=2)
    assert "--force" in refused
    assert read_lease(es, "papers") is not None

    released = run_cli("lock", "release", "--force", env=cli_env, cwd=tmp_path)
    assert released.returncode == 0, released.stderr
    assert released.stdout.startswith("released: ingest run dead-run")
    assert read_lease(es, "papers") is None
    with pytest.raises(LockLost):
        holder.renew()  # a holder that was alive after all learns it and stops writing
