"""The writer lock: one run at a time writes behind an alias (an ingest, a re-index, a replay,
a re-enrichment batch).

An ingest resolves the alias's index when it starts and writes there; a re-index that moves the
alias meanwhile would leave those writes in the old index. Prefect's per-deployment concurrency
limit does not see the command line or the other deployment, so the lock lives in the engine
itself, which every way of running shares: a lease document in `scholarflow-locks`, id = alias.

- taking it is `op_type=create`: of two takers exactly one creates the document;
- the holder renews the lease (a background thread, and the flows before each write) with
  `if_seq_no`/`if_primary_term`, so a renewal after someone else took the lease over fails
  instead of overwriting it, and the holder learns it lost the lock;
- a lease that was not renewed in time (a crashed run) may be taken over, again guarded by the
  sequence number read with it, so two runs cannot both take over the same expired lease;
- release deletes the document, guarded the same way, also when the run fails.
Expiry compares the taker's clock with the one that wrote the lease: hosts must agree on the
time to well within the lease (minutes).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, TypedDict

from elasticsearch import ApiError, ConflictError, Elasticsearch, NotFoundError
from elasticsearch import TransportError as EsTransportError

from scholarflow.engine.leases import LOCK_INDEX
from scholarflow.errors import ScholarflowError
from scholarflow.settings import Settings
from scholarflow.stores.indices import ensure_index
from scholarflow.stores.templates import load_mapping_file

LOCK_MAPPINGS_FILE = "locks.mappings.json"  # its fields, in index_mappings/
POLL_SECONDS = 2.0
EXPIRED = "expired: the next run takes it over"


class EventLog(Protocol):
    """`flows.running.observe.log_event` bound to a logger: `log("lock taken", alias=…)`."""

    def __call__(self, event: str, *, level: str = "INFO", **fields: Any) -> None: ...


class LockHeld(ScholarflowError):
    """Another run held the writer lock for longer than this run would wait."""


class LockLost(ScholarflowError):
    """The lease was taken over or removed while this run held it: it must stop writing."""


@dataclass(frozen=True)
class Lease:
    """The lease document as stored, with the sequence number that guards changing it."""

    alias: str
    flow: str
    run_id: str
    host: str
    pid: int
    token: str
    taken_at: str
    renewed_at: str
    expires_at: str
    seq_no: int = -1
    primary_term: int = -1

    @classmethod
    def from_hit(cls, hit: Any) -> Lease:
        return cls(**hit["_source"], seq_no=hit["_seq_no"], primary_term=hit["_primary_term"])

    def expired(self, now: datetime | None = None) -> bool:
        return datetime.fromisoformat(self.expires_at) <= (now or datetime.now(UTC))

    def describe(self) -> str:
        return (
            f"{self.flow} run {self.run_id} (host {self.host}, pid {self.pid}) "
            f"since {self.taken_at}, lease until {self.expires_at}"
        )

    def document(self) -> dict[str, Any]:
        body = asdict(self)
        del body["seq_no"], body["primary_term"]
        return body


def read_lease(client: Elasticsearch, alias: str) -> Lease | None:
    """The lease on `alias`, or None when nobody holds the lock."""
    try:
        return Lease.from_hit(client.get(index=LOCK_INDEX, id=alias))
    except NotFoundError:  # no document, or no lock index yet
        return None


def force_release(client: Elasticsearch, alias: str) -> Lease | None:
    """Remove the lease whoever holds it (an operator's fix for a stale lock); returns it."""
    lease = read_lease(client, alias)
    if lease is not None:
        try:
            client.delete(
                index=LOCK_INDEX, id=alias, refresh=True, **_guard(lease.seq_no, lease.primary_term)
            )
        except (ConflictError, NotFoundError):
            return force_release(client, alias)  # it changed hands meanwhile: that one goes
    return lease


def writer_lock(
    client: Elasticsearch, settings: Settings, *, flow: str, run_id: str, log: EventLog
) -> WriterLock:
    """The lock on the settings' alias, with their wait and lease."""
    return WriterLock(
        client,
        settings.alias,
        flow=flow,
        run_id=run_id,
        log=log,
        wait_seconds=settings.lock_wait,
        lease_seconds=settings.lock_lease,
    )


class WriterLock:
    """The writer lock on one alias, as a context manager: waits for it, holds it renewed
    while the block runs, and releases it however the block ends."""

    def __init__(
        self,
        client: Elasticsearch,
        alias: str,
        *,
        flow: str,
        run_id: str,
        log: EventLog,
        wait_seconds: float,
        lease_seconds: float,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.client = client
        self.alias = alias
        self.flow = flow
        self.run_id = run_id
        self.log = log
        self.wait_seconds = wait_seconds
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.token = uuid.uuid4().hex  # tells our own lease from another taker's
        self.lease: Lease | None = None
        self.lost: LockLost | None = None
        self._mutex = threading.Lock()  # one guarded write at a time: they share the seq_no
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # --- taking ---------------------------------------------------------------------------

    def acquire(self) -> Lease:
        """Take the lock, waiting up to `wait_seconds` for its holder; raises LockHeld."""
        ensure_index(self.client, LOCK_INDEX, load_mapping_file(LOCK_MAPPINGS_FILE))
        begun = time.monotonic()
        reported: str | None = None
        while True:
            if self._create():
                break
            current = read_lease(self.client, self.alias)
            if current is None:
                continue  # released between our attempt and the read
            if current.token == self.token:
                self.lease = current  # our own create, answered 409 after a retry
                break
            if current.expired():
                if self._take_over(current):
                    break
                continue
            waited = time.monotonic() - begun
            if waited >= self.wait_seconds:
                raise LockHeld(
                    f"the writer lock on alias '{self.alias}' is held by {current.describe()}; "
                    f"gave up after waiting {waited:.0f} s (SCHOLARFLOW_LOCK_WAIT). Run again "
                    "when it has finished; if that run is dead, its lease expires by itself, or "
                    "`scholarflow lock release --force` frees it now"
                )
            if reported != current.token:
                reported = current.token
                self.log("lock waiting", **self._fields(), **_holder(current))
            time.sleep(min(self.poll_seconds, self.wait_seconds - waited))
        self.log("lock taken", **self._fields(), waited=round(time.monotonic() - begun, 1))
        return self.lease  # type: ignore[return-value]

    def _new_lease(self, taken_at: str | None = None) -> Lease:
        now = datetime.now(UTC)
        return Lease(
            alias=self.alias,
            flow=self.flow,
            run_id=self.run_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            token=self.token,
            taken_at=taken_at or now.isoformat(),
            renewed_at=now.isoformat(),
            expires_at=(now + timedelta(seconds=self.lease_seconds)).isoformat(),
        )

    def _create(self) -> bool:
        lease = self._new_lease()
        try:
            response = self.client.index(
                index=LOCK_INDEX, id=self.alias, document=lease.document(), op_type="create"
            )
        except ConflictError:
            return False
        self.lease = _stored(lease, response)
        return True

    def _take_over(self, expired: Lease) -> bool:
        lease = self._new_lease()
        try:
            response = self._write_over(expired, lease)
        except (ConflictError, NotFoundError):
            return False  # another taker was first
        self.lease = _stored(lease, response)
        self.log("lock taken over", level="WARNING", **self._fields(), **_holder(expired))
        return True

    def _write_over(self, current: Lease, lease: Lease) -> Any:
        """Store `lease` in place of `current`: a ConflictError (or NotFoundError) when the
        stored lease is no longer `current`."""
        return self.client.index(
            index=LOCK_INDEX,
            id=self.alias,
            document=lease.document(),
            **_guard(current.seq_no, current.primary_term),
        )

    # --- holding --------------------------------------------------------------------------

    def renew(self) -> None:
        """Extend the lease; raises LockLost when it is no longer ours (stop writing)."""
        if self.lost is not None:
            raise self.lost
        with self._mutex:
            held = self.lease
            if held is None:
                raise LockLost(f"the writer lock on alias '{self.alias}' is not held")
            lease = self._new_lease(held.taken_at)
            try:
                response = self._write_over(held, lease)
            except (ConflictError, NotFoundError):
                current = read_lease(self.client, self.alias)
                if current is not None and current.token == self.token:
                    self.lease = current  # our write landed; the answer was lost and retried
                    return
                self.lost = LockLost(
                    f"{self.flow} run {self.run_id} lost the writer lock on alias "
                    f"'{self.alias}' (now: {current.describe() if current else 'nobody'}); "
                    "it stopped writing: run it again"
                )
                self.log("lock lost", level="ERROR", **self._fields())
                raise self.lost from None
            self.lease = _stored(lease, response)

    def _renew_periodically(self) -> None:
        """Renew a third of the way through each lease, so one missed renewal is harmless."""
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.renew()
            except LockLost:
                return
            except (ApiError, EsTransportError) as exc:  # engine away or busy: try again later
                self.log("lock renewal failed", level="WARNING", **self._fields(), error=exc)

    # --- releasing ------------------------------------------------------------------------

    def release(self) -> None:
        """Delete our lease; one that was taken over stays with its new holder."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with self._mutex:
            held, self.lease = self.lease, None
            if held is None or self.lost is not None:
                return
            try:
                self.client.delete(
                    index=LOCK_INDEX,
                    id=self.alias,
                    refresh=True,
                    **_guard(held.seq_no, held.primary_term),
                )
            except (ConflictError, NotFoundError):
                self.log("lock lost", level="ERROR", **self._fields())
                return
        self.log("lock released", **self._fields())

    def __enter__(self) -> WriterLock:
        self.acquire()
        self._renewer = threading.Thread(
            target=self._renew_periodically, name=f"lock-{self.alias}", daemon=True
        )
        self._renewer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.release()
        except (ApiError, EsTransportError) as exc:
            # The lease expires by itself; never hide the run's own error behind this one.
            self.log("lock release failed", level="WARNING", **self._fields(), error=exc)

    def _fields(self) -> dict[str, Any]:
        return {"alias": self.alias, "flow": self.flow, "run_id": self.run_id}


class _Guard(TypedDict):
    """The optimistic-concurrency arguments of a write that must not overwrite a newer lease."""

    if_seq_no: int
    if_primary_term: int


def _guard(seq_no: int, primary_term: int) -> _Guard:
    return {"if_seq_no": seq_no, "if_primary_term": primary_term}


def _stored(lease: Lease, response: Any) -> Lease:
    return Lease(
        **lease.document(), seq_no=response["_seq_no"], primary_term=response["_primary_term"]
    )


def _holder(lease: Lease) -> dict[str, Any]:
    return {
        "holder_flow": lease.flow,
        "holder_run_id": lease.run_id,
        "holder_host": lease.host,
        "holder_pid": lease.pid,
        "holder_since": lease.taken_at,
        "holder_expires": lease.expires_at,
    }
