"""The ingest flow: sources → raw records → papers → enriched papers → the live index.

Records stream through in batches. Decode + enrich (and the documents) run as tasks of a few
batches each on the stage runner (threads, worker processes or a Dask cluster), a bounded
number of tasks ahead (flows/running/batches.py); the index stage writes the batches in read order,
each while the next is decided (tasks/index_run.py), so the result is the same however many
workers prepared them. A task run costs ~10 ms on a thread, and takes 2,000 records or more,
so the orchestration stays a few per cent of a run.

Every record ends indexed, merged, unchanged or rejected; rejections go to the dead-letter store
after each batch, and the run fails loudly when the counts do not add up. Files the source
manifest says are already ingested are skipped (unless `full`); a file is noted in the manifest
once its last record has been through the whole pipeline.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from flows.running.batches import Batch, PreparedBatch, batches_per_task, prepare_batch
from flows.running.credentials import flow_settings
from flows.running.heap import load_heap
from flows.running.observe import RunProgress, log_event
from flows.running.runners import stage_runner
from scholarflow.paper.models import (
    EnrichmentStatus,
    Outcome,
    RawRecord,
    RunSummary,
)
from scholarflow.settings import Settings
from scholarflow.stores.bulk import BulkRetry
from scholarflow.stores.deadletters import DeadLetterStore
from scholarflow.stores.indices import ensure_live_index
from scholarflow.stores.ingest_origins import SourceRegistry
from scholarflow.stores.layout import index_layout
from scholarflow.stores.read_files import Completed, Fingerprint, SourceManifest, unchanged
from scholarflow.stores.writer import WriterRun
from tasks.fetch import (
    Deletion,
    batched,
    content_hash,
    expand_sources,
    is_url,
    new_digest,
    read_source,
)
from tasks.fetch.text_files import FileFormat
from tasks.harvest.deletions import apply_withdrawn_pmids
from tasks.index import IndexResult, plain_writer, report_retries
from tasks.index_run import IndexRun
from tasks.percolate import WatchReport, percolate_run, percolate_task

ProgressListener = Callable[[RunSummary], None]
_Prepared = PrefectFuture[list[PreparedBatch]] | Future[list[PreparedBatch]]
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
def ingest(
    paths: list[str],
    batch_size: int | None = None,
    full: bool = False,
    then_embed: bool = False,
    format: FileFormat | None = None,
) -> dict[str, Any]:
    """Ingest every record under `paths` (files, directories, globs, URLs) into the index.

    `full` reads every file, even those the source manifest says are already ingested.
    `format` reads every file in that format instead of the one its name or lines suggest.
    `then_embed` makes the new papers' vectors once they are indexed (and searchable by their
    words), after the ingest's writer lock is released (flows/embed.py).
    """
    settings = flow_settings()
    summary = run_ingest(
        settings, paths, batch_size or settings.batch_size, full=full, format=format
    ).as_dict()
    if then_embed:
        from flows.embed import run_embed

        summary["embedding"] = run_embed(settings, False, settings.embed_batch_size).as_dict()
    return summary


@dataclass
class _Source:
    path: str
    fingerprint: Fingerprint | None  # None for URLs, which the manifest does not track
    digest: Any = field(default_factory=new_digest)
    records: int = 0


class _Reader:
    """Streams the records of the sources to read, remembering where in the stream each source
    ended, so a source is released to the manifest only once all its records are accounted for
    (batches are prepared ahead of indexing, so reading a source to its end is not enough)."""

    def __init__(self, sources: list[_Source], format: str | None = None) -> None:
        self.sources = sources
        self.format = format
        self.read = 0
        self.ended: deque[tuple[int, _Source]] = deque()
        # What PubMed update files withdraw (`DeleteCitation`): applied once the records are in.
        self.deletions: list[Deletion] = []

    def records(self) -> Iterator[RawRecord]:
        for source in self.sources:
            records = read_source(source.path, source.digest, self.format, self.deletions)
            for record in records:
                source.records += 1
                self.read += 1
                yield record
            self.ended.append((self.read, source))

    def take_finished(self, accounted: int) -> list[Completed]:
        """The tracked sources whose every record is among the first `accounted`."""
        done: list[_Source] = []
        while self.ended and self.ended[0][0] <= accounted:
            done.append(self.ended.popleft()[1])
        return [
            Completed(s.fingerprint, s.digest.hexdigest(), s.records)
            for s in done
            if s.fingerprint is not None
        ]


def _plan(
    paths: list[str],
    manifest: SourceManifest,
    full: bool,
    summary: RunSummary,
    format: str | None = None,
) -> tuple[list[_Source], list[Completed]]:
    """The sources to read, and the skipped files whose manifest entries need new metadata."""
    found = expand_sources(paths, any_suffix=format is not None)
    sources = [_Source(p, None if is_url(p) else Fingerprint.of(p)) for p in found]
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
    settings: Settings,
    paths: list[str],
    batch_size: int,
    *,
    full: bool = False,
    format: str | None = None,
) -> RunSummary:
    """One ingest run. Inside a flow run the batches are task runs and progress is published;
    called outside one (a script, the benchmarks) the same code runs as plain function calls,
    and publishes no artifact."""
    run_id = str(flow_run.get_id() or uuid.uuid4())
    # The lock before the index: a re-index holding it may be about to move the alias.
    log = partial(log_event, _logger())
    publish = publish_summary if flow_run.get_id() else None
    with WriterRun(settings, flow="ingest", run_id=run_id, log=log, publish=publish) as run:
        return _ingest(settings, run, paths, batch_size, full, format)


def _ingest(
    settings: Settings,
    run: WriterRun,
    paths: list[str],
    batch_size: int,
    full: bool,
    format: str | None = None,
) -> RunSummary:
    """The run itself, under the writer lock: the alias cannot move until it returns."""
    logger = _logger()
    client, run_id = run.client, run.run_id
    index = ensure_live_index(
        client,
        settings.alias,
        settings.analysis_profile,
        settings.vector_mapping,
        index_layout(client, settings),
    )
    SourceRegistry(client).record(settings.alias, paths, run_id)
    summary = RunSummary(run_id=run_id, alias=settings.alias, index=index)
    dead_letters = DeadLetterStore(client)
    dead_letters.ensure()  # before the load: see DeadLetterStore.ensure
    manifest = SourceManifest(client, settings.alias, index)
    sources, touched = _plan(paths, manifest, full, summary, format)
    manifest.record(touched, run_id)
    summary.sources_read = len(sources)
    progress = RunProgress(s.path for s in sources)
    log_event(
        logger,
        "ingest started",
        run_id=run_id,
        index=index,
        sources=len(sources),
        already_ingested=summary.sources_skipped,
    )
    started = time.perf_counter()

    reader = _Reader(sources, format)

    def after_batch(summary: RunSummary, last: RawRecord) -> None:
        progress.update(summary, last)
        manifest.record(reader.take_finished(summary.accounted()), run_id)

    load_records(
        settings, reader.records(), index, summary, batch_size, dead_letters, after_batch, run
    )
    apply_file_deletions(run, index, summary, reader.deletions, logger)
    manifest.record(reader.take_finished(summary.accounted()), run_id)  # sources with no records
    run.finish(summary, index, dead_letters, manifest)
    summary.watches = _percolate(settings, run, index).as_dict()
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
    dead_letters: DeadLetterStore,
    on_batch: Callable[[RunSummary, RawRecord], None] | None = None,
    run: WriterRun | None = None,
) -> None:
    """Decode, enrich and index records batch by batch into `index`, accounting in `summary`;
    every rejection goes to the dead-letter store before the next batch starts.

    The ingest flow loads the live index; a replay re-index loads the index it is building.
    At most `stage_workers` tasks (a batch each outside a flow run, a few in one,
    flows/running/batches.py) are being prepared while one batch is indexed, so memory stays
    bounded; `on_batch` hears of each indexed batch with its last record. The writer `run` writes
    each batch with its one client, renewing its lock right before: a run that lost it (frozen past
    its lease while another run took it over) stops before writing, not after. Without one, batches
    are written straight through the bulk policy (the stores' client).
    """
    logger = _logger()
    orchestrated = flow_run.get_id() is not None
    client = run.client if run else dead_letters.client
    write = run.write if run else plain_writer(client, BulkRetry.from_settings(settings))
    # Batches handed to the index stage and not yet written, in order, with their records.
    writing: deque[tuple[list[RawRecord], PreparedBatch]] = deque()

    def account(result: IndexResult) -> None:
        batch, prepared = writing.popleft()
        summary.outcomes.update(result.outcomes)
        summary.moved_to_doi += result.moved
        rejected = prepared.rejections + result.rejections
        summary.add_rejections(rejected)
        summary.dead_lettered += dead_letters.add(rejected, batch, summary.run_id)
        report_retries(result, logger)
        prepared.release()
        collect_garbage()
        if on_batch:
            on_batch(summary, batch[-1])
        log_event(logger, "batch done", level="DEBUG", run_id=summary.run_id, **_counts(summary))
        for listener in _listeners:
            listener(summary)

    def finish(batches: list[list[RawRecord]], future: _Prepared) -> None:
        for batch, prepared in zip(batches, future.result(), strict=True):
            summary.enrichment.update(prepared.enrichment)
            summary.doi_matching.update(prepared.doi_matching)
            summary.doi_lookup.add(prepared.lookups)
            for step, seconds in prepared.seconds.items():
                summary.seconds[step] += seconds
            writing.append((batch, prepared))
            begun = time.perf_counter()
            written = stage.submit(prepared.documents, prepared.loose)
            summary.seconds["index"] += time.perf_counter() - begun
            for result in written:
                account(result)

    per_task = batches_per_task(settings, batch_size, orchestrated)
    pending: deque[tuple[list[list[RawRecord]], _Prepared]] = deque()
    with (
        load_heap() as collect_garbage,
        stage_runner(settings, orchestrated) as runner,
        IndexRun(client, index, summary.run_id, write) as stage,
    ):

        def submit(group: list[list[RawRecord]]) -> None:
            parameters = {"settings": settings, "batch": Batch(group), "run_id": summary.run_id}
            pending.append((group, runner.submit(prepare_batch, parameters)))
            if len(pending) > settings.stage_workers:
                finish(*pending.popleft())

        batches = batched(records, batch_size)
        group: list[list[RawRecord]] = []
        while batch := _timed(summary, "fetch", batches):
            summary.records_read += len(batch)
            group.append(batch)
            if len(group) == per_task:
                submit(group)
                group = []
        if group:
            submit(group)
        while pending:
            finish(*pending.popleft())
        begun = time.perf_counter()
        written = stage.finish()
        summary.seconds["index"] += time.perf_counter() - begun
        for result in written:
            account(result)


def _percolate(settings: Settings, run: WriterRun, index: str) -> WatchReport:
    """The saved searches against the papers the run wrote: a task run that publishes events
    and an artifact inside a flow run, a plain call (stored finds only) outside one. The lease
    is renewed before each page, as before each batch."""
    if flow_run.get_id() is not None:
        return percolate_task(
            quote(run.client), index, run.run_id, settings.watch_max_events, quote(run.renew)
        )
    return percolate_run(
        run.client, index, run.run_id, settings.watch_max_events, between_pages=run.renew
    )


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The flow run's logger, or the module's outside a flow run."""
    return get_run_logger() if flow_run.get_id() else logging.getLogger(__name__)


def apply_file_deletions(
    run: WriterRun,
    index: str,
    summary: RunSummary,
    deletions: list[Deletion],
    logger: logging.Logger | logging.LoggerAdapter,
) -> None:
    """The PMIDs PubMed update files withdrew (`DeleteCitation`), applied once the run's records
    are written (an ingest's, or a replay re-index's: the files are read in their order, so a
    paper an update file withdrew stays withdrawn in the new index): each removed, held by
    another source, or absent (tasks/harvest/deletions.py), counted and named in the log."""
    for deletion in deletions:
        counts = apply_withdrawn_pmids(run.client, run.write, index, deletion.ids)
        summary.deletions_read += len(deletion.ids)
        summary.deletions.update(counts.as_dict())
        log_event(
            logger,
            "deletions applied",
            source=deletion.source,
            location=deletion.location,
            ids=" ".join(deletion.ids[:50]) + (" …" if len(deletion.ids) > 50 else ""),
            **counts.as_dict(),
        )


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
        {"measure": f"rejected at {stage}: {reason}", "value": count}
        for stage, group in data["rejected_by_stage"].items()
        for reason, count in group["reasons"].items()
    ]
    if data["deletions_read"]:
        rows.append({"measure": "deletions read", "value": data["deletions_read"]})
        rows += [{"measure": f"deletions {k}", "value": v} for k, v in data["deletions"].items()]
    rows += [
        {"measure": "files read", "value": data["sources_read"]},
        {"measure": "files skipped (already ingested)", "value": data["sources_skipped"]},
    ]
    rows += [
        {"measure": f"enrichment {status}", "value": count}
        for status, count in data["enrichment"].items()
    ]
    rows += [
        {"measure": f"doi search {status}", "value": count}
        for status, count in data["doi_matching"].items()
    ]
    if data["moved_to_doi"]:
        rows.append({"measure": "documents moved to their DOI", "value": data["moved_to_doi"]})
    rows += [{"measure": f"doi lookup {k}", "value": v} for k, v in data["doi_lookup"].items()]
    rows += [
        {"measure": f"seconds {stage}", "value": seconds}
        for stage, seconds in data["seconds"].items()
    ]
    create_table_artifact(
        key="ingest-summary", table=rows, description=f"Ingest into {summary.index}"
    )
