"""The index stage of a run: each batch is decided while the batch before it is being written.

Written one batch at a time, the engine would wait between two batches while the run reads the
next batch's stored documents and decides it. Here the next batch's stored documents are read
while the previous batch's bulk requests are in flight, so the engine always has work.

A decision must still see every earlier write of the run: a duplicate across two batches is
merged into the document the first one wrote, never written over it. Reading in real time would
see them, but a real-time read of a document written since the last refresh makes the engine
refresh the index first (a small segment, and a merge later) on nearly every batch. So:

- the run refreshes the index once when it starts: everything written before it (the writer
  lock keeps every other writer out while the run holds it) is visible to ordinary reads;
- it remembers the documents it wrote itself since its last refresh (`recent`), and decides a
  document it wrote from that memory, never from the engine;
- a batch waits for the write in flight before it decides its documents that the write carries;
- the memory is bounded (`RECENT_BYTES`): past it, the run refreshes the index and forgets.

A run of more than one batch is a load, and the engine's own refresh every second (on the
embedded engine, 40% of what indexing a document costs it) gives way to the run's refreshes:
from the second batch on, the index's refresh interval is `INGEST_REFRESH` until the run ends,
so searches still see the load progress, a few thousand documents at a time. An index being
built (refresh off already) is left as it is.

A batch's unsettled papers (tasks/documents.py) are settled here, in the run's process and in
the batches' order, so the run's memory of the papers it met joins records across batches. A
batch in which a search found a DOI waits for the write in flight first: the document that moves
to the DOI may be in it. The documents that moved are deleted once the batch is written, and
forgotten.

Batches finish (written, their results back) in the order they were given.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Self

import orjson
from elasticsearch import Elasticsearch

from scholarflow.paper.doi_moves import Moves
from scholarflow.paper.models import Outcome, Paper
from scholarflow.stores.bulk import BulkResult, Fate
from scholarflow.stores.indices import (
    INGEST_REFRESH,
    LOAD_SETTINGS,
    refresh_interval,
    serving_settings,
    set_refresh_interval,
)
from tasks.documents import Document, Documents
from tasks.index import (
    DECISION_FIELDS,
    IndexResult,
    Writer,
    account,
    bulk_actions,
    delete_moved,
    read_stored,
    settle,
    to_send,
)

# The documents the run remembers it wrote (their JSON) before it refreshes the index and
# forgets them: about 10,000 papers. Each refresh makes a segment, and many small ones make the
# engine merge them during the load (at 16 MB, four merges in a 100k-record load); what is
# remembered costs the run's memory about 1.4 times its size (at 64 MB, a 20k-record run peaked
# 86 MB higher than at 16 MB).
RECENT_BYTES = 32 * 1024 * 1024


@dataclass
class _Writing:
    result: IndexResult
    to_write: list[tuple[Document, Outcome]]
    sent: Future[BulkResult]
    moves: Moves


class IndexRun:
    """A run's index stage on one index, as a context manager (which waits for the last write
    before the run goes on, so nothing is written after the run let go of its writer lock)."""

    def __init__(self, client: Elasticsearch, index: str, run_id: str, write: Writer) -> None:
        self.client, self.index, self.run_id, self.write = client, index, run_id, write
        self.recent: dict[str, bytes] = {}
        # Documents the run deleted (moved to their DOI) since its last refresh: ordinary reads
        # still see them.
        self._gone: set[str] = set()
        self._recent_bytes = 0
        self._writing: _Writing | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="index-write")
        self._interval: str | None = None  # the index's refresh interval before the run
        self._relaxed = False

    def __enter__(self) -> Self:
        self._interval = refresh_interval(self.client, self.index)
        if self._interval == INGEST_REFRESH:  # left by a run that died during a load
            self._interval = serving_settings()["refresh_interval"]
            set_refresh_interval(self.client, self.index, self._interval)
        self.refresh()
        return self

    def __exit__(self, failed: type[BaseException] | None, *_exc: object) -> None:
        self._pool.shutdown(wait=True)
        if self._relaxed:
            try:
                set_refresh_interval(self.client, self.index, self._interval)
            except Exception:
                if failed is None:
                    raise  # else the run's own error says more; the next run puts it back

    def submit(self, documents: Documents, loose: Sequence[Paper] = ()) -> list[IndexResult]:
        """Decide a batch (its documents, and its papers whose id is not settled) and start
        writing it; returns the results of the batches whose writes finished meanwhile (the one
        before, if any), in order."""
        if self._writing is not None:
            self._relax()  # a second batch: this is a load
        if self._recent_bytes > RECENT_BYTES:
            self.refresh()  # a write in flight is not remembered yet: it stays remembered
        finished = self._written() if any(p.former_id for p in loose) else []
        documents, moves = settle(self.client, self.index, documents, list(loose), self.run_id)
        ids = [d.id for d in documents.items]
        unseen = [doc_id for doc_id in ids if doc_id not in self.recent]
        stored = read_stored(self.client, self.index, unseen, DECISION_FIELDS, realtime=False)
        finished += self._written()  # the batch in flight: now remembered
        for gone in self._gone.intersection(stored):
            del stored[gone]
        mine = {
            doc_id: orjson.loads(self.recent[doc_id]) for doc_id in ids if doc_id in self.recent
        }

        def read_whole(ids: list[str]) -> dict[str, dict[str, Any]]:
            elsewhere = [doc_id for doc_id in ids if doc_id not in mine]
            whole = read_stored(self.client, self.index, elsewhere, realtime=False)
            return whole | {doc_id: mine[doc_id] for doc_id in ids if doc_id in mine}

        result = IndexResult()
        to_write = to_send(result, documents, stored | mine, read_whole, self.run_id, moves)
        if not to_write:
            return [*finished, result]
        sent = self._pool.submit(self.write, bulk_actions(self.index, to_write))
        self._writing = _Writing(result, to_write, sent, moves)
        return finished

    def finish(self) -> list[IndexResult]:
        """The result of the last batch, once its write has finished."""
        return self._written()

    def refresh(self) -> None:
        """Make every finished write visible to ordinary reads, and forget them."""
        self.client.indices.refresh(index=self.index)
        self.recent.clear()
        self._recent_bytes = 0
        self._gone.clear()

    def _relax(self) -> None:
        """A load: from now on the run refreshes the index, not the engine each second."""
        if not self._relaxed and self._interval != LOAD_SETTINGS["refresh_interval"]:
            set_refresh_interval(self.client, self.index, INGEST_REFRESH)
            self._relaxed = True

    def _written(self) -> list[IndexResult]:
        writing, self._writing = self._writing, None
        if writing is None:
            return []
        sent = writing.sent.result()
        written = account(writing.result, writing.to_write, sent)
        for (document, _), item in zip(writing.to_write, sent.items, strict=True):
            if item.fate is Fate.WRITTEN:
                self.recent[document.id] = document.body
                self._recent_bytes += len(document.body)
        for gone in delete_moved(writing.result, self.index, writing.moves, written, self.write):
            self.recent.pop(gone, None)
            self._gone.add(gone)
        return [writing.result]
