"""The ingest flow: sources → raw records → papers → enriched papers → the live index.

Records stream through in batches; each stage runs as one Prefect task per batch (a task run
costs ~10 ms, a record a few microseconds), so the orchestration stays a rounding error.

Every record ends indexed, merged, unchanged or rejected; rejections go to the dead-letter store
after each batch, and the run fails loudly when the counts do not add up. Files the source
manifest says are already ingested are skipped (unless `full`); a file is noted in the manifest
once its last record has been through the whole pipeline.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.exceptions import MissingContextError
from prefect.runtime import flow_run

from scholarflow.deadletter import DeadLetterStore
from scholarflow.engine import EmbeddedEngine
from scholarflow.indices import ensure_live_index
from scholarflow.manifest import Completed, Fingerprint, SourceManifest, unchanged
from scholarflow.models import EnrichmentStatus, Outcome, RawRecord, RunSummary
from scholarflow.search_client import check, connect
from scholarflow.settings import Settings, get_settings
from scholarflow.sources import SourceRegistry
from tasks.decode import decode_batch
from tasks.enrich import enrich_batch, enrichment_counts
from tasks.fetch import batched, content_hash, expand_sources, is_url, new_digest, read_source
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
def ingest(paths: list[str], batch_size: int | None = None, full: bool = False) -> dict[str, Any]:
    """Ingest every record under `paths` (files, directories, globs, URLs) into the index.

    `full` reads every file, even those the source manifest says are already ingested.
    """
    settings = get_settings()
    summary = run_ingest(settings, paths, batch_size or settings.batch_size, full=full)
    publish_summary(summary)
    return summary.as_dict()


@dataclass
class _Source:
    path: str
    fingerprint: Fingerprint | None  # None for URLs, which the manifest does not track
    digest: Any = field(default_factory=new_digest)
    records: int = 0


class _Reader:
    """Streams the records of the sources to read, noting each source once it is read to the end
    (all its records are then in the current batch or an earlier one)."""

    def __init__(self, sources: list[_Source]) -> None:
        self.sources = sources
        self.finished: list[_Source] = []

    def records(self) -> Iterator[RawRecord]:
        for source in self.sources:
            for record in read_source(source.path, source.digest):
                source.records += 1
                yield record
            self.finished.append(source)

    def take_finished(self) -> list[Completed]:
        done, self.finished = self.finished, []
        return [
            Completed(s.fingerprint, s.digest.hexdigest(), s.records)
            for s in done
            if s.fingerprint is not None
        ]


def _logger() -> logging.Logger | logging.LoggerAdapter:
    """The flow run's logger inside a flow; a plain logger when called directly."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("scholarflow.ingest")


def _plan(
    paths: list[str], manifest: SourceManifest, full: bool, summary: RunSummary
) -> tuple[list[_Source], list[Completed]]:
    """The sources to read, and the skipped files whose manifest entries need new metadata."""
    sources = [_Source(p, None if is_url(p) else Fingerprint.of(p)) for p in expand_sources(paths)]
    if full:
        return sources, []
    entries = manifest.entries([s.fingerprint.path for s in sources if s.fingerprint])
    to_read: list[_Source] = []
    touched: list[Completed] = []
    for source in sources:
        seen = source.fingerprint
        entry = entries.get(seen.path) if seen else None
        digest = unchanged(seen, entry, content_hash) if seen and entry else None
        if digest is None:
            to_read.append(source)
            continue
        summary.sources_skipped += 1
        if (entry["size"], entry["mtime_ns"]) != (seen.size, seen.mtime_ns):
            touched.append(Completed(seen, digest, entry["records"]))  # touched, not changed
    return to_read, touched


def run_ingest(
    settings: Settings, paths: list[str], batch_size: int, *, full: bool = False
) -> RunSummary:
    logger = _logger()
    run_id = str(flow_run.get_id() or uuid.uuid4())
    client = connect(settings)
    check(client, settings.es_url or "embedded engine")
    index = ensure_live_index(client, settings.alias, settings.analysis_profile)
    SourceRegistry(client).record(settings.alias, paths, run_id)
    summary = RunSummary(run_id=run_id, alias=settings.alias, index=index)
    dead_letters = DeadLetterStore(client)
    manifest = SourceManifest(client, settings.alias, index)
    sources, touched = _plan(paths, manifest, full, summary)
    manifest.record(touched, run_id)
    summary.sources_read = len(sources)
    logger.info(
        "ingesting %s into %s (alias %s): %d files to read, %d already ingested",
        ", ".join(paths),
        index,
        settings.alias,
        len(sources),
        summary.sources_skipped,
    )

    reader = _Reader(sources)
    load_records(
        settings,
        reader.records(),
        index,
        summary,
        batch_size,
        dead_letters,
        after_batch=lambda: manifest.record(reader.take_finished(), run_id),
    )
    manifest.record(reader.take_finished(), run_id)  # the last file(s), seen ending just now

    client.indices.refresh(index=index)
    dead_letters.refresh()
    manifest.refresh()
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
    dead_letters: DeadLetterStore,
    after_batch: Callable[[], None] | None = None,
) -> None:
    """Decode, enrich and index records batch by batch into `index`, accounting in `summary`;
    every rejection goes to the dead-letter store before the next batch starts.

    The ingest flow loads the live index; a replay re-index loads the index it is building.
    """
    for batch in batched(records, batch_size):
        summary.records_read += len(batch)
        started = time.perf_counter()
        papers, rejected = decode_batch(batch)
        decoded = time.perf_counter()
        enrichment = enrich_batch(settings, papers, summary.run_id)
        papers = enrichment.papers
        summary.enrichment.update(enrichment_counts(papers))
        summary.doi_lookup.add(enrichment.stats)
        enriched = time.perf_counter()
        result = index_batch(settings, index, papers, summary.run_id)
        summary.outcomes.update(result.outcomes)
        rejected += result.rejections
        summary.add_rejections(rejected)
        raw = {(r.source, r.location): r for r in batch}
        summary.dead_lettered += dead_letters.add(rejected, raw, summary.run_id)
        if after_batch:
            after_batch()
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
        {"outcome": f"rejected at {stage}: {reason}", "records": count}
        for stage, group in data["rejected_by_stage"].items()
        for reason, count in group["reasons"].items()
    ]
    rows += [
        {"outcome": "files read", "records": data["sources_read"]},
        {"outcome": "files skipped (already ingested)", "records": data["sources_skipped"]},
    ]
    rows += [
        {"outcome": f"enrichment {status}", "records": count}
        for status, count in data["enrichment"].items()
    ]
    rows += [{"outcome": f"doi lookup {k}", "records": v} for k, v in data["doi_lookup"].items()]
    create_table_artifact(
        key="ingest-summary", table=rows, description=f"Ingest into {summary.index}"
    )
