"""The scale-out case: the ingest flow with decode + enrich on one worker process and on two,
through each runner that ships batches to other processes (Prefect's process pool, a local Dask
cluster), into the HTTP sink under a temporary Prefect server.

A run starts its runner's workers, so their start (a fresh interpreter importing Prefect and
Scholarflow) is inside the clock, as it is for every scheduled run. The CPU each part of the
run used is reported beside the wall clock: this process (fetch, index, bulk bodies), the
workers, and the sink, because on a machine with few cores they all share them.
"""

from __future__ import annotations

import os
import resource
import time

from benchmarks.measure import Params, Row, flow_into_sink, mbytes

RUNNERS = ("processes", "dask")
WORKERS = (1, 2)


def scaleout(p: Params) -> dict[str, Row]:
    """Rows `scaleout_<runner>_<workers>`, best of `p.repeat` each."""
    from flows.ingest import ingest
    from scholarflow.settings import get_settings

    rows: dict[str, Row] = {}
    with flow_into_sink(p.seed) as (_settings, sink):
        ingest([str(p.warmup or p.corpus)], p.batch_size, full=True)  # Prefect's one-off costs
        for runner in RUNNERS:
            for workers in WORKERS:
                os.environ["SCHOLARFLOW_TASK_RUNNER"] = runner
                os.environ["SCHOLARFLOW_STAGE_WORKERS"] = str(workers)
                get_settings.cache_clear()
                best: Row | None = None
                for _ in range(p.repeat):
                    before = _cpu(sink.cpu_seconds())
                    started = time.perf_counter()
                    count = ingest([str(p.corpus)], p.batch_size, full=True)["records_read"]
                    seconds = time.perf_counter() - started
                    used = {k: round(v - before[k], 3) for k, v in _cpu(sink.cpu_seconds()).items()}
                    if best is None or seconds < best.seconds:
                        best = Row(
                            f"ingest flow, {workers} {runner} worker{'s' * (workers > 1)}",
                            count,
                            seconds,
                            "wall",
                            mbytes(p.corpus),
                            detail=_detail(used, count),
                            cpu=used,
                        )
                assert best is not None
                rows[f"scaleout_{runner}_{workers}"] = best
    for name in ("SCHOLARFLOW_TASK_RUNNER", "SCHOLARFLOW_STAGE_WORKERS"):
        os.environ.pop(name, None)
    return rows


def _cpu(sink: float) -> dict[str, float]:
    """CPU seconds so far: this process, its ended children (the runner's workers: a run stops
    them), and the sink (a child still running, so not among the ended ones)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    ended = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "client": own.ru_utime + own.ru_stime,
        "workers": ended.ru_utime + ended.ru_stime,
        "sink": sink,
    }


def _detail(cpu: dict[str, float], records: int) -> str:
    per_record = ", ".join(f"{k} {v / records * 1e6:,.0f}" for k, v in cpu.items())
    return f"CPU µs a record: {per_record}; {os.cpu_count()} cores"
