"""The writer run: what every run that writes behind an alias does around its batches.

An ingest, a replay re-index, a dead-letter replay and a re-enrichment differ only in how they
prepare a batch. Around that, each connects once (one client for the whole run, probed once),
holds the alias's writer lock, renews the lease right before each write so a run that lost the
lock writes nothing more, sends every write through the one bulk policy
(scholarflow/stores/bulk.py),
and when done refreshes what it wrote, saves the embedded engine, checks that every record
(or document) it took on has exactly one outcome, and publishes the summary once the lock is
released (`publish`: the flow's table artifact; the log line and `--json` read the same summary).
The run's client is also the one its batches use in this process (`engine.client.run_client`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, Self

from elasticsearch import Elasticsearch

from scholarflow.engine import embedded_engine
from scholarflow.engine.client import RUN_CLIENTS, check, connect
from scholarflow.settings import Settings
from scholarflow.stores.bulk import BULK_IN_FLIGHT, Action, BulkResult, BulkRetry, send
from scholarflow.stores.lock import EventLog, WriterLock, writer_lock


class Accounting(Protocol):
    """A run's summary: `check` raises AccountingError unless every item has one outcome."""

    def check(self) -> None: ...


class Refreshable(Protocol):
    """A store the run wrote to (dead letters, the manifest): `refresh` makes its writes
    visible to searches."""

    def refresh(self) -> None: ...


class WriterRun:
    """One writing run, as a context manager: connects, checks the engine answers and (with
    `hold_lock`) takes the writer lock for the whole block. A run that writes rarely (a
    re-enrichment, which waits on the registry between writes) passes `hold_lock=False` and
    takes the lock for each write with `locked()`."""

    def __init__(
        self,
        settings: Settings,
        *,
        flow: str,
        run_id: str,
        log: EventLog,
        hold_lock: bool = True,
        publish: Callable[[Any], None] | None = None,
    ) -> None:
        self.settings = settings
        self.flow = flow
        self.run_id = run_id
        self.log = log
        self.hold_lock = hold_lock
        self.retry = BulkRetry.from_settings(settings)
        self.publish = publish
        self.client: Elasticsearch = connect(settings)
        self._lock: WriterLock | None = None
        self._finished: Accounting | None = None

    def __enter__(self) -> Self:
        check(self.client, self.settings.es_url or "embedded engine")
        RUN_CLIENTS.put(self.run_id, self.client)
        if self.hold_lock:
            self._lock = self._new_lock().__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        RUN_CLIENTS.drop(self.run_id)
        lock, self._lock = self._lock, None
        if lock is not None and self.hold_lock:
            lock.__exit__(*exc_info)
        if exc_info[0] is None and self._finished is not None and self.publish is not None:
            self.publish(self._finished)

    @contextmanager
    def locked(self) -> Iterator[WriterRun]:
        """The writer lock for one block: the run's own, or (without `hold_lock`) taken for
        the block alone."""
        if self.hold_lock:
            yield self
            return
        with self._new_lock() as lock:
            self._lock = lock
            try:
                yield self
            finally:
                self._lock = None

    def write(
        self, actions: Sequence[Action], *, in_flight: int = BULK_IN_FLIGHT, **request: Any
    ) -> BulkResult:
        """Renew the lease (raises LockLost once another run took it over), then send."""
        if self._lock is None:
            raise RuntimeError(f"{self.flow} run {self.run_id} writes without the writer lock")
        self._lock.renew()
        return send(self.client, actions, self.retry, in_flight=in_flight, **request)

    def renew(self) -> None:
        """Renew the lease between steps that are not writes (a re-index's alias switch)."""
        if self._lock is not None:
            self._lock.renew()

    def persist(self) -> None:
        """Save the embedded engine's state (the fallback engine keeps it in memory)."""
        if self.settings.embedded:
            embedded_engine(self.settings).persist()

    def finish(
        self,
        accounting: Accounting,
        index: str | None = None,
        *stores: Refreshable,
        persist: bool = True,
    ) -> None:
        """The end of a run that wrote: refresh `index` and `stores` (so the next read sees
        the writes), save the embedded engine, then check the accounting; a run that passes
        the check publishes `accounting` when it ends."""
        if index is not None:
            self.client.indices.refresh(index=index)
        for store in stores:
            store.refresh()
        if persist:
            self.persist()
        accounting.check()
        self._finished = accounting

    def _new_lock(self) -> WriterLock:
        return writer_lock(
            self.client, self.settings, flow=self.flow, run_id=self.run_id, log=self.log
        )
