"""The ingest flow: sources → raw records → papers → enriched papers → the live index.

Records stream through in batches; each stage runs as one Prefect task per batch (a task run
costs ~10 ms, a record a few microseconds), so the orchestration stays a rounding error.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from scholarflow.engine import EmbeddedEngine
from scholarflow.indices import ensure_live_index
from scholarflow.models import EnrichmentStatus, Outcome, RawRecord, RunSummary
from scholarflow.search_client import check, connect
from scholarflow.settings import Settings, get_settings
from scholarflow.sources import SourceRegistry
from tasks.decode import decode_batch
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


@flow(name="ingest", log_prints=False)
def ingest(paths: list[str], batch_size: int | None = None) -> dict[str, Any]:
    """Ingest every record under `paths` (files, directories, globs, URLs) into the index."""
    settings = get_settings()
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
    logger.info("ingesting %s into %s (alias %s)", ", ".join(paths), index, settings.alias)
    load_records(settings, read_records(paths), index, summary, batch_size)
    client.indices.refresh(index=index)
    if settings.embedded:
        EmbeddedEngine(settings.home_dir).persist()
    summary.check()
    logger.info(
        "read %d: %d indexed, %d merged, %d unchanged, %d rejected",
        summary.records_read,
        summary.outcomes[Outcome.INDEXED],
        summary.outcomes[Outcome.MERGED],
        summary.outcomes[Outcome.UNCHANGED],
        summary.outcomes[Outcome.REJECTED],
    )
    for (stage, reason), count in summary.rejections.most_common():
        logger.warning("rejected %d at %s: %s", count, stage, reason)
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
) -> None:
    """Decode, enrich and index records batch by batch into `index`, accounting in `summary`.

    The ingest flow loads the live index; a replay re-index loads the index it is building.
    """
    for batch in batched(records, batch_size):
        summary.records_read += len(batch)
        started = time.perf_counter()
        papers, rejected = decode_batch(batch)
        summary.add_rejections(rejected)
        decoded = time.perf_counter()
        enrichment = enrich_batch(settings, papers, summary.run_id)
        papers = enrichment.papers
        summary.enrichment.update(enrichment_counts(papers))
        summary.doi_lookup.add(enrichment.stats)
        enriched = time.perf_counter()
        result = index_batch(settings, index, papers, summary.run_id)
        summary.outcomes.update(result.outcomes)
        summary.add_rejections(result.rejections)
        summary.seconds.update(
            {
                "decode": decoded - started,
                "enrich": enriched - decoded,
                "index": time.perf_counter() - enriched,
            }
        )
        for listener in _listeners:
            listener(summary)


def publish_summary(summary: RunSummary) -> None:
    """The run summary as a table artifact on the flow run in the Prefect UI."""
    data = summary.as_dict()
    rows = [
        {"outcome": k, "records": data[k]}
        for k in ("records_read", "indexed", "duplicates_merged", "unchanged", "rejected")
    ]
    rows += [
        {"outcome": f"rejected at {r['stage']}: {r['reason']}", "records": r["count"]}
        for r in data["rejections"]
    ]
    rows += [
        {"outcome": f"enrichment {status}", "records": count}
        for status, count in data["enrichment"].items()
    ]
    rows += [{"outcome": f"doi lookup {k}", "records": v} for k, v in data["doi_lookup"].items()]
    create_table_artifact(
        key="ingest-summary", table=rows, description=f"Ingest into {summary.index}"
    )
