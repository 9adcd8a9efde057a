"""Where the decode + enrich stage runs: a bounded thread pool, a pool of processes, or a Dask
cluster (scale-out); outside a flow run, plain calls on a thread pool."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from prefect import Task
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from scholarflow.settings import Settings


class PlainRunner:
    """The stage runner of a run outside any flow: the same batches on the same number of
    threads, each a plain call of the task's function (no task run, no API call)."""

    def __init__(self, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="stage")

    def __enter__(self) -> PlainRunner:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._pool.shutdown(wait=True)

    def submit(self, task: Task[..., Any], parameters: dict[str, Any]) -> Future[Any]:
        return self._pool.submit(task.fn, **parameters)


def stage_runner(settings: Settings, orchestrated: bool = True) -> TaskRunner | PlainRunner:
    """A fresh (not yet started) runner for one run's decode + enrich batches.

    `processes` decodes on `stage_workers` worker processes of this machine; `dask` starts a
    local cluster of that many single-threaded worker processes (or joins the cluster at
    `dask_address`), so decoding uses every core. `orchestrated=False` (a run outside a flow)
    calls the task functions directly.
    """
    if not orchestrated:
        return PlainRunner(settings.stage_workers)
    if settings.task_runner == "processes":
        return ProcessPoolTaskRunner(max_workers=settings.stage_workers)
    if settings.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if settings.dask_address:
            return DaskTaskRunner(address=settings.dask_address)
        return DaskTaskRunner(
            cluster_kwargs={
                "n_workers": settings.stage_workers,
                "threads_per_worker": 1,
                "processes": True,
                "dashboard_address": None,
            }
        )
    return ThreadPoolTaskRunner(max_workers=settings.stage_workers)
