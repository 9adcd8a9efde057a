"""The ingest's decode + enrich task, and what it receives and returns: batches of records sent
to wherever the task runs (a thread, a worker process, a Dask worker) and the documents that
come back, both cheap to move between processes.

In a flow run a task takes several batches; the index stage still writes them one batch at a
time. A task run on a thread costs Prefect about 10 ms of the flow's process, 2 s in a
100,000-record run of 500-record batches (6% of it): a task there takes `THREAD_TASK_RECORDS`.
On a runner of worker processes a task run costs about a tenth of a second (to submit it, the
settings are serialised each time; in the worker, each run makes its own API client, TLS
context and settings), so a task there takes up to `remote_task_records` (5,000 by default).
Outside a flow run a task is a plain call on one batch.
"""

from __future__ import annotations

import pickle
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.running.heap import batch_heap
from scholarflow.paper.models import LookupStats, Paper, RawRecord, Rejection
from scholarflow.settings import Settings
from tasks.decode import decode_records
from tasks.documents import Documents, prepare_documents, split_unsettled
from tasks.enrich import enrich_batch, enrichment_counts

# Records a decode + enrich task takes on threads. 100,000 records through the ingest flow
# against plain calls, CPU of our process and the Prefect server: 13.6% more at one 500-record
# batch a task, 7.0-9.9% more at 2,000 (three runs); two tasks in flight hold 4,000 records,
# the flow's peak RSS 767 -> 819-852 MB.
THREAD_TASK_RECORDS = 2_000


def batches_per_task(settings: Settings, batch_size: int, orchestrated: bool) -> int:
    """How many batches one decode + enrich task takes: `THREAD_TASK_RECORDS` on threads,
    `remote_task_records` on processes; one batch a plain call outside a flow run."""
    if not orchestrated:
        return 1
    records = (
        THREAD_TASK_RECORDS if settings.task_runner == "threads" else settings.remote_task_records
    )
    return max(1, records // batch_size)


@dataclass
class PreparedBatch:
    """One batch after decode + enrich: its documents ready to write (bytes, cheap to send back
    from a worker process), its papers whose id the index stage settles (tasks/documents.py:
    those without a DOI from their source, a tenth of a typical load), its rejections, its
    papers by enrichment status and by DOI search outcome, what the lookups cost, and the
    seconds each stage took."""

    documents: Documents
    loose: list[Paper]
    rejections: list[Rejection]
    lookups: LookupStats
    enrichment: Counter[str] = field(default_factory=Counter)
    doi_matching: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def __reduce__(self) -> tuple[Callable[..., PreparedBatch], tuple[Any, ...]]:
        # From a worker process: one C pickle (see `Batch`).
        state = (
            self.documents,
            self.loose,
            self.rejections,
            self.lookups,
            self.enrichment,
            self.doi_matching,
            self.seconds,
        )
        return _unpickled, (pickle.dumps(state, pickle.HIGHEST_PROTOCOL),)

    def release(self) -> None:
        """Drop the documents once indexed. A task run's future sits in a reference cycle with
        its done-callback, so the batch it returned would otherwise live on, documents and all,
        until the next full garbage collection: tens of thousands of them in a long run."""
        self.documents = Documents([])
        self.loose = []
        self.rejections = []


def _unpickled(state: bytes) -> PreparedBatch:
    return PreparedBatch(*pickle.loads(state))


class Batch:
    """The records of one or more batches as a task parameter Prefect does not walk: it searches
    parameters for futures item by item, which for a thousand records with their payloads costs
    more than decoding them. (`quote` does the same, but does not survive Dask's argument
    packing.)

    Sent to a worker process, it is one C pickle (the runners' cloudpickle visits every object
    in Python) in which a record parsed from a JSON line is that line: bytes cost next to
    nothing to pickle, and parsing them again in the worker (when the task reads `parts`) costs
    less than pickling the payload's objects there and back. Other records (repaired, or not
    parsed) travel whole."""

    __slots__ = ("_parts", "_shipped")

    def __init__(
        self, parts: list[list[RawRecord]] | None = None, shipped: list[list[Any]] | None = None
    ) -> None:
        self._parts, self._shipped = parts, shipped

    @property
    def parts(self) -> list[list[RawRecord]]:
        """The records, batch by batch."""
        if self._parts is None:
            self._parts = [[_record(item) for item in part] for part in self._shipped or []]
            self._shipped = None
        return self._parts

    def __reduce__(self) -> tuple[Callable[..., Batch], tuple[Any, ...]]:
        shipped = [
            [(r.source, r.location, r.line) if r.line is not None else r for r in part]
            for part in self.parts
        ]
        return _received, (pickle.dumps(shipped, pickle.HIGHEST_PROTOCOL),)


def _received(state: bytes) -> Batch:
    """A batch as a worker process receives it: its lines, parsed when they are read."""
    return Batch(shipped=pickle.loads(state))


def _record(item: Any) -> RawRecord:
    if isinstance(item, tuple):
        source, location, line = item
        return RawRecord(source, location, payload=orjson.loads(line))
    return item  # type: ignore[no-any-return]


@task(name="decode+enrich", cache_policy=NO_CACHE)
def prepare_batch(settings: Settings, batch: Batch, run_id: str) -> list[PreparedBatch]:
    """Decode and enrich each batch, and make its documents: the CPU- and lookup-bound part,
    safe to run anywhere."""
    with batch_heap():
        return [_prepared(settings, records, run_id) for records in batch.parts]


def _prepared(settings: Settings, records: list[RawRecord], run_id: str) -> PreparedBatch:
    started = time.perf_counter()
    papers, rejections = decode_records(records)
    decoded = time.perf_counter()
    enriched = enrich_batch.fn(settings, papers, run_id)
    papers = enriched.papers
    enrichment = enrichment_counts(papers)
    doi_matching = Counter(p.doi_match.status for p in papers if p.doi_match)
    settled, loose = split_unsettled(papers)
    documents = prepare_documents(settled, run_id)  # the index stage's CPU half
    seconds = {"decode": decoded - started, "enrich": time.perf_counter() - decoded}
    return PreparedBatch(
        documents, loose, rejections, enriched.stats, enrichment, doi_matching, seconds
    )
