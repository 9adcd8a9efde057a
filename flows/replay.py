"""Replay: run dead-lettered records through the pipeline again, after a fix to the code, the
mapping or the engine, and remove the entries whose records now get through.

Entries go through the same functions as an ingest (decode → enrich → index); a fetch-stage entry
is first read again from the exact text (or bytes) its source held. A record that fails again is
stored again, under the stage where it failed now, so the store always says where each record
stands. Works in batches (bounded memory) and needs no Prefect server: it is a maintenance
command, run by hand.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import Any

from elasticsearch import Elasticsearch

from flows.observe import log_event
from scholarflow.deadletter import DeadLetterStore, entry_id, raw_data
from scholarflow.engine import embedded_engine
from scholarflow.indices import ensure_live_index
from scholarflow.lock import WriterLock, writer_lock
from scholarflow.models import AccountingError, Outcome, RawRecord, Stage
from scholarflow.search_client import check, connect
from scholarflow.settings import Settings
from tasks.decode import decode_records
from tasks.enrich import enrich_batch
from tasks.fetch import reparse
from tasks.index import BulkRetry, index_papers

logger = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    run_id: str
    entries: int = 0  # entries found and replayed
    missing: list[str] = field(default_factory=list)  # ids asked for but not in the store
    records: int = 0  # records those entries held
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    resolved: int = 0  # entries removed: every record of theirs got through
    # (stage, reason) → records that failed again
    still_failing: Counter[tuple[str, str]] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "entries": self.entries,
            "missing": self.missing,
            "records": self.records,
            **{outcome.value: self.outcomes[outcome] for outcome in Outcome},
            "resolved": self.resolved,
            "still_failing": self.entries - self.resolved,
            "failures": [
                {"stage": stage, "reason": reason, "count": count}
                for (stage, reason), count in self.still_failing.most_common()
            ],
        }


def entry_records(entry: dict[str, Any]) -> list[RawRecord]:
    """The raw record(s) an entry holds, as fetch would hand them to decode."""
    body = entry.get("record") or {}
    source, location = entry["source"], entry["location"]
    if entry["stage"] == Stage.FETCH:
        return reparse(source, location, raw_data(entry), body.get("extras") or {})
    payload = body.get("payload")
    if not isinstance(payload, dict):
        return [RawRecord(source, location, error="the entry holds no record to replay")]
    return [
        RawRecord(
            source,
            location,
            payload=payload,
            extras=body.get("extras") or {},
            flags=body.get("flags") or [],
        )
    ]


def replay(settings: Settings, ids: list[str] | None, batch_size: int) -> ReplayResult:
    """Replay the entries with these ids, or every entry when `ids` is None."""
    client = connect(settings)
    check(client, settings.es_url or "embedded engine")
    result = ReplayResult(run_id=f"replay-{uuid.uuid4()}")
    log = partial(log_event, logger)
    with writer_lock(client, settings, flow="replay", run_id=result.run_id, log=log) as lock:
        return _replay(settings, client, lock, ids, batch_size, result)


def _replay(
    settings: Settings,
    client: Elasticsearch,
    lock: WriterLock,
    ids: list[str] | None,
    batch_size: int,
    result: ReplayResult,
) -> ReplayResult:
    """Under the writer lock, like an ingest: it writes to the index the alias points at."""
    index = ensure_live_index(client, settings.alias, settings.analysis_profile)
    store = DeadLetterStore(client)
    wanted = iter(dict.fromkeys(ids) if ids is not None else list(store.all_ids()))
    retry = BulkRetry.from_settings(settings)

    while chunk := list(islice(wanted, batch_size)):
        entries = store.get(chunk)
        result.missing += [i for i in chunk if i not in entries]
        records: list[RawRecord] = []
        owner: dict[tuple[str, str], str] = {}
        for key, entry in entries.items():
            for record in entry_records(entry):
                records.append(record)
                owner[(record.source, record.location)] = key
        papers, rejected = decode_records(records)
        papers = enrich_batch.fn(settings, papers, result.run_id).papers
        lock.renew()  # right before writing: a run that lost the lock writes nothing more
        indexed = index_papers(client, index, papers, result.run_id, retry)
        rejected += indexed.rejections

        result.entries += len(entries)
        result.records += len(records)
        result.outcomes.update(indexed.outcomes)
        result.outcomes[Outcome.REJECTED] += len(rejected)
        result.still_failing.update((r.stage.value, r.reason) for r in rejected)
        stored = store.add(rejected, records, result.run_id)
        if stored != len(rejected):
            raise AccountingError(f"replay stored {stored} of {len(rejected)} rejections")
        failed = {owner.get((r.source, r.location)) for r in rejected}
        result.resolved += sum(1 for key in entries if key not in failed)
        kept = {entry_id(r.source, r.location, r.stage) for r in rejected}
        store.delete(key for key in entries if key not in kept)

    if sum(result.outcomes.values()) != result.records:
        raise AccountingError(
            f"replay {result.run_id}: {result.records} records but accounted for "
            f"{sum(result.outcomes.values())} ({dict(result.outcomes)})"
        )
    client.indices.refresh(index=index)
    store.refresh()
    if settings.embedded:
        embedded_engine(settings).persist()
    return result
