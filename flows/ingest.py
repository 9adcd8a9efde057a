"""The ingest flow: sources → raw records → papers → enriched papers → the live index.

Records stream through in batches. Decode + enrich run as one task per batch on the stage
runner (threads, or a Dask cluster), a bounded number of batches ahead; the index stage writes
the batches in read order, so the result is the same however many workers prepared them. A task
run costs ~10 ms, a record a few microseconds, so the orchestration stays a rounding error.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run

from flows.credentials import flow_settings
from flows.observe import RunProgress, log_event
from flows.runners import stage_runner
from scholarflow.engine import EmbeddedEngine
from scholarflow.indices import ensure_live_index
from scholarflow.models import (
    EnrichmentStatus,
    LookupStats,
    Outcome,
    Paper,
    RawRecord,
    Rejection,
    RunSummary,
)
from scholarflow.search_client import check, connect
from scholarflow.settings import Settings
from scholarflow.sources import SourceRegistry
from tasks.decode import decode_records
from tasks.enrich import enrich_batch, enrichment_counts
from tasks.fetch import batched, read_records
from tasks.index import index_batch

ProgressListener = Callable[[RunSummary], None]
_listeners: list[ProgressListener] = []


@contextmanager
def progress_listener(listener: ProgressListener) -> Iterator[None]:
    """Call `listener` with the running summary after every batch (the CLI's progress bar)."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


@dataclass
class PreparedBatch:
    """One batch after decode + enrich, with the seconds each stage took."""

    papers: list[Paper]
    rejections: list[Rejection]
    lookups: LookupStats
    seconds: dict[str, float] = field(default_factory=dict)


@task(name="decode+enrich", cache_policy=NO_CACHE)
def prepare_batch(settings: Settings, records: list[RawRecord], run_id: str) -> PreparedBatch:
    """Decode and enrich one batch: the CPU- and lookup-bound half, safe to run anywhere."""
    started = time.perf_counter()
    papers, rejections = decode_records(records)
    decoded = time.perf_counter()
    enriched = enrich_batch.fn(settings, papers, run_id)
    seconds = {"decode": decoded - started, "enrich": time.perf_counter() - decoded}
    return PreparedBatch(enriched.papers, rejections, enriched.stats, seconds)


@flow(name="ingest", log_prints=False)
def ingest(paths: list[str], batch_size: int | None = None) -> dict[str, Any]:
    """Ingest every record under `paths` (files, directories, globs, URLs) into the index."""
    settings = flow_settings()
    summary = run_ingest(settings, paths, batch_size or settings.batch_size)
    publish_summary(summary)
    return summary.as_dict()


def run_ingest(settings: Settings, paths: list[str], batch_size: int) -> RunSummary:
    logger = get_run_logger()
    run_id = str(flow_run.get_id() or uuid.uuid4())
    client = connect(settings)
    check(client, settings.es_url or "embedded engine")
    index = ensure_live_index(client, settings.alias, settings.analysis_profile)
    SourceRegistry(client).record(settings.alias, paths, run_id)
    summary = RunSummary(run_id=run_id, alias=settings.alias, index=index)
    progress = RunProgress(paths)
    log_event(logger, "ingest started", run_id=run_id, index=index, sources=len(progress))
    started = time.perf_counter()
    load_records(settings, read_records(paths), index, summary, batch_size, progress.update)

    client.indices.refresh(index=index)
    if settings.embedded:
        EmbeddedEngine(settings.home_dir).persist()
    summary.check()
    summary.seconds["total"] = time.perf_counter() - started
    progress.finish(summary)
    log_event(logger, "ingest finished", run_id=run_id, index=index, **_counts(summary))
    for (stage, reason), count in summary.rejections.most_common():
        log_event(logger, "rejected", level="WARNING", stage=stage, reason=reason, count=count)
    if summary.doi_lookup.breaker_open:
        logger.warning(
            "DOI registry unreachable: lookups stopped, %d records indexed with enrichment "
            "deferred (scholarflow reenrich looks them up again)",
            summary.enrichment[EnrichmentStatus.DEFERRED],
        )
    return summary


def load_records(
    settings: Settings,
    records: Iterable[RawRecord],
    index: str,
    summary: RunSummary,
    batch_size: int,
    on_batch: Callable[[RunSummary, RawRecord], None] | None = None,
) -> None:
    """Decode, enrich and index records batch by batch into `index`, accounting in `summary`.

    The ingest flow loads the live index; a replay re-index loads the index it is building.
    At most `stage_workers` batches are being prepared while one is indexed, so memory stays
    bounded; `on_batch` hears of each indexed batch with its last record.
    """
    logger = get_run_logger()

    def finish(batch: list[RawRecord], future: PrefectFuture[PreparedBatch]) -> None:
        prepared = future.result()
        summary.add_rejections(prepared.rejections)
        summary.enrichment.update(enrichment_counts(prepared.papers))
        summary.doi_lookup.add(prepared.lookups)
        summary.seconds.update(prepared.seconds)
        begun = time.perf_counter()
        result = index_batch(settings, index, prepared.papers, summary.run_id)
        summary.seconds["index"] += time.perf_counter() - begun
        summary.outcomes.update(result.outcomes)
        summary.add_rejections(result.rejections)
        if on_batch:
            on_batch(summary, batch[-1])
        log_event(logger, "batch done", level="DEBUG", run_id=summary.run_id, **_counts(summary))
        for listener in _listeners:
            listener(summary)

    pending: deque[tuple[list[RawRecord], PrefectFuture[PreparedBatch]]] = deque()
    with stage_runner(settings) as runner:
        batches = batched(records, batch_size)
        while batch := _timed(summary, "fetch", batches):
            summary.records_read += len(batch)
            parameters = {"settings": settings, "records": batch, "run_id": summary.run_id}
            pending.append((batch, runner.submit(prepare_batch, parameters)))
            if len(pending) > settings.stage_workers:
                finish(*pending.popleft())
        while pending:
            finish(*pending.popleft())


def _timed(summary: RunSummary, stage: str, batches: Iterator[list[RawRecord]]) -> list[RawRecord]:
    """The next batch ([] at the end), its reading time added to the stage's seconds."""
    begun = time.perf_counter()
    batch = next(batches, [])
    summary.seconds[stage] += time.perf_counter() - begun
    return batch


def _counts(summary: RunSummary) -> dict[str, int]:
    return {"read": summary.records_read} | {o.value: summary.outcomes[o] for o in Outcome}


def publish_summary(summary: RunSummary) -> None:
    """The run summary as a table artifact on the flow run in the Prefect UI: counts, rejection
    reasons, enrichment statuses and the seconds spent per stage."""
    data = summary.as_dict()
    rows = [
        {"measure": k, "value": data[k]}
        for k in ("records_read", "indexed", "duplicates_merged", "unchanged", "rejected")
    ]
    rows += [
        {"measure": f"rejected at {r['stage']}: {r['reason']}", "value": r["count"]}
        for r in data["rejections"]
    ]
    rows += [
        {"measure": f"enrichment {status}", "value": count}
        for status, count in data["enrichment"].items()
    ]
    rows += [{"measure": f"doi lookup {k}", "value": v} for k, v in data["doi_lookup"].items()]
    rows += [
        {"measure": f"seconds {stage}", "value": seconds}
        for stage, seconds in data["seconds"].items()
    ]
    create_table_artifact(
        key="ingest-summary", table=rows, description=f"Ingest into {summary.index}"
    )
