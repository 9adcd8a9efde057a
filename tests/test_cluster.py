"""Scholarflow on a real three-node cluster (three embedded OpenSearch 2.19.6 JVMs, 512 MB heap
each), with nodes killed by SIGKILL in the middle of the work: nothing is lost, nothing is
written twice.

- the client's node pool: a dead node is marked dead and its requests go to the others;
- the layout: primaries on every node, one replica of each, the stores replicated;
- a data node holding primaries killed during an ingest: the run finishes, every record is
  accounted for, and the count is exact once the cluster is green again;
- the elected cluster manager killed during an ingest: another is elected, the run goes on;
- a node killed during a re-index: the alias moves only to a verified index, or stays;
- a node restarted during a saved-search percolation and during an embedding run.

Run them alone with `pytest -m cluster`.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.embed import run_embed
from flows.ingest import run_ingest
from scholarflow.alerts.watches import WatchStore, new_saved_search
from scholarflow.embedding.status import vector_status
from scholarflow.paper.models import Outcome
from scholarflow.stores.deadletters import DEADLETTER_INDEX
from scholarflow.stores.indices import live_index
from scholarflow.stores.layout import AUTO_REPLICAS
from scholarflow.stores.lock import LOCK_INDEX
from tasks.percolate import PERCOLATE_BATCH, percolate_run
from tests.cli_helpers import SCHOLARFLOW
from tests.conftest import assert_accounted
from tests.local_cluster import (
    NODES,
    Background,
    LocalCluster,
    ids_in,
    indexed_total,
    start_cluster,
    wait_until,
    write_corpus,
)

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(900)]

FILES, PER_FILE = 3, 2000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    started = start_cluster(tmp_path_factory.mktemp("cluster-home"))
    try:
        yield started
    finally:
        started.engine.stop()


@pytest.fixture
def fresh(cluster: LocalCluster) -> LocalCluster:
    cluster.wipe()
    return cluster


def test_engine_status_names_each_node_and_the_cluster_health(fresh: LocalCluster) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SCHOLARFLOW_")},
        "SCHOLARFLOW_HOME": str(fresh.home),
    }
    shown = subprocess.run(
        [str(SCHOLARFLOW), "engine", "status"], env=env, capture_output=True, text=True, check=True
    ).stdout
    for node in fresh.state.cluster_nodes:
        assert f"{node.name}: {node.address} (pid {node.pid})" in shown
    assert "(elected cluster manager)" in shown
    assert f"cluster: green, {NODES} nodes ({NODES} data)" in shown


def test_a_dead_node_is_marked_dead_and_its_requests_go_to_the_others(
    fresh: LocalCluster, caplog: pytest.LogCaptureFixture
) -> None:
    client = fresh.client()
    pool = client.transport.node_pool
    assert len(pool.all()) == NODES  # every node's address, sniffing off
    victim = fresh.state.cluster_nodes[1]
    fresh.kill(victim.name)
    try:
        answered = [client.info()["cluster_name"] for _ in range(3 * NODES)]
        assert len(answered) == 3 * NODES  # none failed: the pool routed around the dead node
        # The client said which node it put to rest, and no other.
        rested = [r.getMessage() for r in caplog.records if "timeout" in r.getMessage()]
        assert rested and all(victim.address in message for message in rested), rested
    finally:
        fresh.restart(victim.name)


def test_indices_are_laid_out_over_the_nodes_with_a_replica(
    fresh: LocalCluster, tmp_path: Path
) -> None:
    settings = fresh.settings(tmp_path)
    dois, _ = write_corpus(tmp_path / "corpus", 1, 300)
    summary = run_ingest(settings, [str(tmp_path / "corpus")], 100)
    assert_accounted(summary)
    fresh.wait_green()
    client = fresh.client()
    index = live_index(client, settings.alias)
    assert index
    wanted = f"{index},{LOCK_INDEX},{DEADLETTER_INDEX}"
    found = client.indices.get_settings(index=wanted, ignore_unavailable=True).body
    papers = found[index]["settings"]["index"]
    assert (papers["number_of_shards"], papers["auto_expand_replicas"]) == ("3", AUTO_REPLICAS)
    assert papers["number_of_replicas"] == "1"  # expanded: more than one data node
    assert set(fresh.primary_nodes(index)) == {n.name for n in fresh.state.cluster_nodes}
    assert LOCK_INDEX in found  # a store every run writes
    for store in (LOCK_INDEX, DEADLETTER_INDEX):
        if store in found:
            assert found[store]["settings"]["index"]["number_of_replicas"] == "1"
    assert sorted(ids_in(client, index)) == sorted(dois)


def _ingest_with_a_kill(
    cluster: LocalCluster, tmp_path: Path, victim_of: str
) -> tuple[set[str], int, str]:
    """Ingest the corpus while a node (`data`: one holding primaries, not the cluster
    manager; `manager`: the elected one) is killed part-way; the run must finish with every
    record accounted for. (distinct DOIs, broken lines, the node killed)."""
    settings = cluster.settings(tmp_path)
    corpus = tmp_path / "corpus"
    dois, broken = write_corpus(corpus, FILES, PER_FILE)
    client = cluster.client()
    run = Background(lambda: run_ingest(settings, [str(corpus)], 500))
    index = "papers-000001"
    under_way = wait_until(lambda: indexed_total(client, index) >= 1000, 240, run)
    assert under_way, f"the ingest ended before the kill: {run.error or run.result}"
    if victim_of == "manager":
        victim = cluster.manager()
    else:
        manager = cluster.manager()
        holders = [name for name in cluster.primary_nodes(index) if name != manager]
        victim = holders[0]
    cluster.kill(victim)
    killed_at = indexed_total(client, index)
    summary = run.wait(600)
    assert run.error is None, f"the run failed: {run.error}"
    assert killed_at < len(dois), "killed after the load, not during it"
    assert_accounted(summary)
    assert summary.records_read == FILES * PER_FILE
    # The only rejections are the broken lines: no record was dead-lettered for the kill.
    assert summary.outcomes[Outcome.REJECTED] == broken
    assert summary.outcomes[Outcome.INDEXED] == len(dois)
    return dois, broken, victim


def _exact_once_green(cluster: LocalCluster, dois: set[str], victim: str) -> None:
    cluster.restart(victim)
    assert cluster.wait_green()["status"] == "green"
    ids = ids_in(cluster.client(), "papers")
    assert len(ids) == len(set(ids)) == len(dois)  # no duplicate, no loss
    assert set(ids) == dois


def test_a_data_node_holding_primaries_killed_during_an_ingest_loses_nothing(
    fresh: LocalCluster, tmp_path: Path
) -> None:
    dois, _, victim = _ingest_with_a_kill(fresh, tmp_path, "data")
    # Still one node short: every paper is served by the promoted replicas already.
    client = fresh.client()
    client.indices.refresh(index="papers")
    assert client.count(index="papers")["count"] == len(dois)
    _exact_once_green(fresh, dois, victim)


def test_the_elected_cluster_manager_killed_during_an_ingest_is_replaced(
    fresh: LocalCluster, tmp_path: Path
) -> None:
    dois, _, victim = _ingest_with_a_kill(fresh, tmp_path, "manager")
    assert fresh.manager() not in ("", None, victim)  # a new one was elected
    _exact_once_green(fresh, dois, victim)
    # The next run of the same sources writes nothing again.
    again = run_ingest(fresh.settings(tmp_path), [str(tmp_path / "corpus")], 500)
    assert_accounted(again)
    assert (again.sources_skipped, again.records_read) == (FILES, 0)


def test_a_node_killed_during_a_reindex_leaves_the_alias_on_a_complete_index(
    fresh: LocalCluster, tmp_path: Path, prefect_harness: None
) -> None:
    from prefect import flow

    from flows.reindex import ReindexParameters, run_reindex

    settings = fresh.settings(tmp_path)
    dois, _ = write_corpus(tmp_path / "corpus", 1, 2000)
    assert_accounted(run_ingest(settings, [str(tmp_path / "corpus")], 500))
    client = fresh.client()
    before = live_index(client, settings.alias)
    target = "papers-000002"

    @flow(name="reindex-cluster-test")
    def body() -> dict:
        return run_reindex(settings, ReindexParameters(mode="copy"))

    run = Background(body)
    started = wait_until(lambda: client.indices.exists(index=target).body, 240, run)
    assert started, f"the re-index ended before its index existed: {run.error or run.result}"
    holders = fresh.primary_nodes(target) or {fresh.state.cluster_nodes[2].name: 1}
    victim = sorted(holders)[-1]
    fresh.kill(victim)
    fresh.restart(victim)
    run.wait(280)
    now = live_index(client, settings.alias)
    if run.error is None:
        assert now == target  # moved, to a verified index
    else:  # failed with one line; the half-built index is gone and the alias stayed
        assert "\n" not in str(run.error), run.error
        assert now == before
        assert not client.indices.exists(index=target)
    assert client.cluster.health(index=now)["status"] == "green"
    ids = ids_in(client, settings.alias)
    assert len(ids) == len(set(ids)) == len(dois) and set(ids) == dois


def test_a_node_restarted_during_percolation_misses_no_match(
    fresh: LocalCluster, tmp_path: Path
) -> None:
    settings = fresh.settings(tmp_path)
    client = fresh.client()
    WatchStore(client).add(new_saved_search("leukopenia", "leukopenia rituximab"))
    dois, _ = write_corpus(tmp_path / "corpus", 1, 3 * PERCOLATE_BATCH + 50)
    summary = run_ingest(settings, [str(tmp_path / "corpus")], 500)
    assert_accounted(summary)
    index = live_index(client, settings.alias)
    assert index
    victims = iter(node.name for node in fresh.state.cluster_nodes[1:2])
    pages = []

    def restart_a_node() -> None:
        pages.append(len(pages))
        if len(pages) == 2:  # the second page: the scan and the store are under way
            victim = next(victims)
            fresh.kill(victim)
            fresh.restart(victim)

    report = percolate_run(client, index, summary.run_id, 20, between_pages=restart_a_node)
    assert report.error is None
    assert len(pages) >= 3
    assert report.papers == len(dois)
    assert report.matches == len(dois)  # each paper matches the saved search once


def test_a_node_restarted_during_an_embedding_run_gives_each_paper_its_vector(
    fresh: LocalCluster, tmp_path: Path
) -> None:
    settings = fresh.settings(tmp_path, embed_batch_size=6)
    dois, _ = write_corpus(tmp_path / "corpus", 1, 24)
    assert_accounted(run_ingest(settings, [str(tmp_path / "corpus")], 500))
    client = fresh.client()
    index = live_index(client, settings.alias)
    assert index
    run = Background(lambda: run_embed(settings, everything=False, batch_size=6))

    def some_embedded() -> bool:
        try:
            client.indices.refresh(index=index)
            return int(vector_status(client, index)["vectors"]["embedded"]) >= 6
        except Exception:  # polled while the run writes
            return False

    assert wait_until(some_embedded, 400, run), f"ended first: {run.error or run.result}"
    victim = fresh.state.cluster_nodes[2].name
    fresh.kill(victim)
    fresh.restart(victim)
    first = run.wait(400)
    if run.error is not None:  # allowed: one clear line, and the next run finishes the rest
        assert "\n" not in str(run.error)
    else:  # a page some shard copy did not answer was asked again: no paper left waiting
        assert first.vectors["embedded"] == len(dois), first
    second = run_embed(settings, everything=False, batch_size=6)
    client.indices.refresh(index=index)
    status = vector_status(client, index)["vectors"]
    assert status["embedded"] == len(dois), (status, first, second)
    if run.error is None:
        assert second.vectors["embedded"] == 0, second  # nothing twice
    assert ids_in(client, index) and len(ids_in(client, index)) == len(dois)
