"""Where the decode + enrich stage runs: a bounded thread pool, or a Dask cluster (scale-out)."""

from __future__ import annotations

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from scholarflow.settings import Settings


def stage_runner(settings: Settings) -> TaskRunner:
    """A fresh (not yet started) task runner for one run's decode + enrich batches.

    `dask` starts a local cluster of `stage_workers` single-threaded worker processes for the
    run (or joins the cluster at `dask_address`), so decoding uses every core.
    """
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
