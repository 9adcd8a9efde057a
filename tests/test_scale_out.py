"""Scale-out gives the same index: decode + enrich on a two-worker Dask cluster, and ingest runs
on a Prefect process work pool served by two workers, each against one in-process run."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from elasticsearch import Elasticsearch, helpers
from prefect.settings import PREFECT_API_URL
from prefect.task_runners import ProcessPoolTaskRunner

from flows.ingest import ingest, run_ingest
from flows.running.batches import THREAD_TASK_RECORDS, batches_per_task
from flows.running.runners import PlainRunner, stage_runner
from flows.serving.deployments import deploy_to_pool
from scholarflow.engine.client import connect
from scholarflow.settings import Settings
from tests.conftest import SEED_RECORDS
from tests.ops import wait_for
from tests.serving import PrefectApi
from tests.shared_engine import SharedEngine

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]
VOLATILE = ("run_id", "indexed_at", "record_hashes")


def _documents(client: Elasticsearch, alias: str) -> dict[str, tuple[tuple[str, ...], str]]:
    """id → (its record hashes, a digest of its content) for every document behind `alias`."""
    client.indices.refresh(index=alias)
    documents = {}
    for hit in helpers.scan(client, index=alias, query={"query": {"match_all": {}}}):
        source = hit["_source"]
        content = {k: v for k, v in source.items() if k not in VOLATILE}
        digest = hashlib.blake2b(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
        documents[hit["_id"]] = (tuple(sorted(source["record_hashes"])), digest)
    return documents


@pytest.fixture
def reference(engine: SharedEngine, flow_env, settings: Settings) -> dict:
    """The seeds ingested by one in-process run, prepared on one thread; the engine is emptied
    again for the run the test compares with it."""
    flow_env(stage_workers=1)
    assert ingest(paths=[str(SEED_RECORDS)])["records_read"] == 33
    documents = _documents(connect(settings), "papers")
    engine.wipe()
    return documents


def test_a_task_takes_several_batches_in_a_flow_run():
    threads = Settings(_env_file=None, stage_workers=3)
    assert batches_per_task(threads, 500, orchestrated=True) == THREAD_TASK_RECORDS // 500 > 1
    assert batches_per_task(threads, 5000, orchestrated=True) == 1
    processes = Settings(_env_file=None, task_runner="processes", remote_task_records=2000)
    assert batches_per_task(processes, 500, orchestrated=True) == 4
    assert batches_per_task(processes, 5000, orchestrated=True) == 1  # never part of a batch
    assert batches_per_task(processes, 500, orchestrated=False) == 1  # plain calls, threads


def test_stage_runner_is_a_bounded_pool_or_a_local_dask_cluster():
    threads = stage_runner(Settings(_env_file=None, stage_workers=3))
    assert threads._max_workers == 3
    processes = stage_runner(Settings(_env_file=None, task_runner="processes", stage_workers=2))
    assert isinstance(processes, ProcessPoolTaskRunner) and processes._max_workers == 2
    plain = stage_runner(Settings(_env_file=None, stage_workers=3), orchestrated=False)
    assert isinstance(plain, PlainRunner)
    dask = stage_runner(Settings(_env_file=None, task_runner="dask", stage_workers=2))
    assert dask.cluster_kwargs["n_workers"] == 2
    assert dask.cluster_kwargs["threads_per_worker"] == 1


def test_two_worker_processes_give_the_same_index_as_one_thread(settings, flow_env, reference):
    flow_env(task_runner="processes", stage_workers=2, batch_size=4)
    summary = ingest(paths=[str(SEED_RECORDS)])
    assert summary["records_read"] == 33
    assert _documents(connect(settings), "papers") == reference


def test_a_run_outside_a_flow_gives_the_same_index(settings, reference):
    """Plain calls (no flow run, no task runs): what the benchmarks compare the flow with."""
    summary = run_ingest(settings, [str(SEED_RECORDS)], 4)
    assert summary.records_read == 33 and summary.accounted() == 33
    assert _documents(connect(settings), "papers") == reference


def test_two_dask_workers_give_the_same_index_as_one_thread(settings, flow_env, reference):
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as dask,
    ):
        flow_env(
            task_runner="dask",
            dask_address=cluster.scheduler_address,
            batch_size=4,
            remote_task_records=4,
        )
        summary = ingest(paths=[str(SEED_RECORDS)])
        executed = dask.run(lambda dask_worker: dask_worker.state.executed_count)
    assert summary["records_read"] == 33
    assert sum(executed.values()) == 9  # 33 records in batches of 4: one task per batch
    assert all(count > 0 for count in executed.values()), executed  # both workers took part
    assert _documents(connect(settings), "papers") == reference


def test_a_process_work_pool_with_two_workers_gives_the_same_index(
    settings, flow_env, reference, tmp_path: Path
):
    api_url = PREFECT_API_URL.value()
    flow_env()
    deploy_to_pool(settings, "scale-out-test")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {
        "PREFECT_API_URL": api_url,
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    workers = []
    for name in ("worker-a", "worker-b"):
        command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", "scale-out-test"]
        command += ["--type", "process", "--name", name, "--limit", "1"]
        out = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 (closed with the worker)
        workers.append((subprocess.Popen(command, env=env, stdout=out, stderr=out), out))
    api = PrefectApi(api_url)
    try:
        online = wait_for(
            lambda: _online_workers(api, "scale-out-test") >= 2 or None, 90, "two workers online"
        )
        assert online
        deployment = api.deployment("ingest", "ingest")
        assert deployment["work_pool_name"] == "scale-out-test"
        files = sorted(str(p) for p in SEED_RECORDS.iterdir())
        # the seeds' one duplicate DOI spans the halves: the second run must merge it
        text = [f for f in files if f.endswith(".txt")]
        halves = [text, [f for f in files if f not in text]]
        runs = [api.run_deployment(deployment["id"], {"paths": half}) for half in halves]
        finished = [_wait(api, run, tmp_path) for run in runs]
    finally:
        for process, out in workers:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:  # slow to stop: what the runs did says more
                process.kill()
                process.wait(30)
            out.close()
    assert [run["state_type"] for run in finished] == ["COMPLETED", "COMPLETED"]
    assert all(run["work_pool_name"] == "scale-out-test" for run in finished)
    assert _documents(connect(settings), "papers") == reference


def _online_workers(api: PrefectApi, pool: str) -> int:
    response = api.http.post(f"work_pools/{pool}/workers/filter", json={})
    return sum(1 for worker in response.json() if worker["status"] == "ONLINE")


def _wait(api: PrefectApi, run_id: str, logs: Path) -> dict:
    def final() -> dict | None:
        run = api.flow_run(run_id)
        return run if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED") else None

    try:
        return wait_for(final, 240, f"flow run {run_id}", every=1.0)
    except AssertionError as exc:
        tails = "\n".join(p.read_text(errors="replace")[-2000:] for p in logs.glob("worker-*"))
        raise AssertionError(f"{exc}\n{tails}") from None
