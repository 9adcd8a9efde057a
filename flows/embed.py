"""The embedding flow: vectors for the papers that have none, after they are indexed.

It never slows an ingest: papers are searchable by their words once indexed, and this flow
follows on its own schedule (the `embed` deployment), after an ingest that asks for it
(`scholarflow ingest --embed`), or by hand (`scholarflow embed`). Batches are prepared on the
stage runner, a bounded number ahead (threads, worker processes or a Dask cluster: the model
loads once per process), and each batch's updates are written under the alias's writer lock
taken for that write alone, as re-enrichment does, so a long run never holds off an ingest.
Every selected paper ends updated, unchanged, changed meanwhile (conflicts), moved by a
re-index, or refused; the run fails if the counts do not add up.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from pydantic import Field

from flows.running.credentials import flow_settings
from flows.running.observe import batch_lock_event, log_event
from flows.running.runners import stage_runner
from scholarflow.embedding.model import MODEL_ID, embedder_for
from scholarflow.embedding.vectors import READ_FIELDS, selection
from scholarflow.paper.models import AccountingError
from scholarflow.settings import Settings, VectorMapping
from scholarflow.stores.indices import live_index
from scholarflow.stores.vector_mapping import DESCRIPTIONS, index_mapping
from scholarflow.stores.writer import WriterRun
from tasks.embed import EmbedResult, embed_batch
from tasks.updates import stale_documents, write_updates

# What can become of a selected paper; each gets exactly one.
OUTCOMES = ("updated", "unchanged", "conflicts", "moved", "refused")
# How its vector came about (a paper updated has one of the first three).
VECTORS = ("embedded", "cached", "empty", "truncated")
_Pending = PrefectFuture[EmbedResult] | Future[EmbedResult]


@dataclass
class EmbedSummary:
    run_id: str
    alias: str
    index: str | None = None
    vector_mapping: str = VectorMapping.NONE.value
    model: str = MODEL_ID
    selected: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    vectors: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    model_seconds: float = 0.0
    seconds: float = 0.0

    def add(self, result: EmbedResult) -> None:
        self.outcomes.update(result.outcomes)
        self.vectors.update(result.vectors)
        self.errors.update(result.errors)
        self.model_seconds += result.model_seconds

    def check(self) -> None:
        """Every selected paper has exactly one outcome."""
        if sum(self.outcomes.values()) != self.selected:
            raise AccountingError(
                f"embedding {self.run_id}: selected {self.selected} papers but accounted for "
                f"{sum(self.outcomes.values())} ({dict(self.outcomes)})"
            )

    def as_dict(self) -> dict[str, Any]:
        embedded = self.vectors["embedded"]
        return {
            "run_id": self.run_id,
            "alias": self.alias,
            "index": self.index,
            "vector_mapping": self.vector_mapping,
            "model": self.model,
            "selected": self.selected,
            **{outcome: self.outcomes[outcome] for outcome in OUTCOMES},
            **{kind: self.vectors[kind] for kind in VECTORS},
            "errors": dict(self.errors),
            "model_cpu_seconds": round(self.model_seconds, 3),
            "embedded_per_cpu_second": round(embedded / self.model_seconds, 2)
            if embedded and self.model_seconds
            else None,
            "seconds": round(self.seconds, 3),
        }


@flow(name="embed", log_prints=False)
def embed(
    everything: bool = False,
    batch_size: Annotated[int | None, Field(ge=1, le=2000)] = None,
) -> dict[str, Any]:
    """Vectors for the papers that have none (or were made by another model); `everything`
    checks every paper's text against its vector's."""
    settings = flow_settings()
    return run_embed(settings, everything, batch_size or settings.embed_batch_size).as_dict()


def run_embed(settings: Settings, everything: bool, batch_size: int) -> EmbedSummary:
    """One embedding run, inside a flow run (batches are task runs) or outside one (plain
    calls)."""
    run_id = str(flow_run.get_id() or uuid.uuid4())
    log = partial(batch_lock_event, _logger())
    publish = publish_summary if flow_run.get_id() else None
    with WriterRun(
        settings, flow="embed", run_id=run_id, log=log, hold_lock=False, publish=publish
    ) as run:
        return _embed(settings, run, everything, batch_size)


def _embed(settings: Settings, run: WriterRun, everything: bool, batch_size: int) -> EmbedSummary:
    logger = _logger()
    client = run.client
    summary = EmbedSummary(run_id=run.run_id, alias=settings.alias)
    summary.index = live_index(client, settings.alias)
    if summary.index is None:
        logger.info("no live index behind alias %s: nothing to embed", settings.alias)
        run.finish(summary, persist=False)
        return summary
    mapping = index_mapping(client, summary.index)
    summary.vector_mapping = mapping.value
    if mapping is VectorMapping.NONE:
        logger.warning("vectors: %s; nothing to embed", DESCRIPTIONS[mapping])
        run.finish(summary, persist=False)
        return summary
    embedder_for(settings)  # a model that cannot load stops the run here, in one line
    started = time.perf_counter()
    orchestrated = flow_run.get_id() is not None
    pending: deque[_Pending] = deque()

    def finish(future: _Pending) -> None:
        result = future.result()
        if result.updates:
            with run.locked():
                write_updates(run, settings.alias, result)
        summary.add(result)
        log_event(logger, "batch embedded", level="DEBUG", run_id=run.run_id, **result.vectors)

    query = selection(everything=everything)
    pages = stale_documents(client, settings.alias, query, batch_size, READ_FIELDS)
    with stage_runner(settings, orchestrated) as runner:
        for hits in pages:
            summary.selected += len(hits)
            parameters = {"settings": settings, "hits": hits, "run_id": run.run_id}
            pending.append(runner.submit(embed_batch, parameters))
            if len(pending) > settings.stage_workers:
                finish(pending.popleft())
        while pending:
            finish(pending.popleft())
    summary.seconds = time.perf_counter() - started
    run.finish(summary, persist=bool(summary.outcomes["updated"]))
    counts = ", ".join(f"{summary.outcomes[o]} {o}" for o in OUTCOMES)
    made = ", ".join(f"{summary.vectors[v]} {v}" for v in VECTORS)
    logger.info("embedding: %d selected, %s; vectors: %s", summary.selected, counts, made)
    return summary


def publish_summary(summary: EmbedSummary) -> None:
    """The outcomes as a table artifact on the flow run in the Prefect UI."""
    data = summary.as_dict()
    rows = [{"measure": k, "value": data[k]} for k in ("selected", *OUTCOMES, *VECTORS)]
    rows += [{"measure": k, "value": data[k]} for k in ("model_cpu_seconds", "seconds")]
    create_table_artifact(
        key="embed-summary", table=rows, description=f"Vectors for {summary.index}"
    )


def _logger() -> Any:
    return get_run_logger() if flow_run.get_id() else logging.getLogger(__name__)
