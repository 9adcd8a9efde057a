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

from flows.running.observe import log_event
from scholarflow.paper.models import AccountingError, Outcome, RawRecord, Stage
from scholarflow.settings import Settings
from scholarflow.stores.deadletters import DeadLetterStore, entry_id, raw_data
from scholarflow.stores.indices import ensure_live_index
from scholarflow.stores.writer import WriterRun
from tasks.decode import decode_records
from tasks.enrich import enrich_batch
from tasks.fetch import reparse
from tasks.index import index_papers

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

    def check(self) -> None:
        """Every record of the replayed entries has exactly one outcome."""
        if sum(self.outcomes.values()) != self.records:
            raise AccountingError(
                f"replay {self.run_id}: {self.records} records but accounted for "
                f"{sum(self.outcomes.values())} ({dict(self.outcomes)})"
            )

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
            format=body.get("format"),
        )
    ]


def replay(settings: Settings, ids: list[str] | None, batch_size: int) -> ReplayResult:
    """Replay the entries with these ids, or every entry when `ids` is None."""
    result = ReplayResult(run_id=f"replay-{uuid.uuid4()}")
    log = partial(log_event, logger)
    with WriterRun(settings, flow="replay", run_id=result.run_id, log=log) as run:
        return _replay(settings, run, ids, batch_size, result)


def _replay(
    settings: Settings,
    run: WriterRun,
    ids: list[str] | None,
    batch_size: int,
    result: ReplayResult,
) -> ReplayResult:
    """Under the writer lock, like an ingest: it writes to the index the alias points at."""
    client = run.client
    index = ensure_live_index(
        client, settings.alias, settings.analysis_profile, settings.vector_mapping
    )
    store = DeadLetterStore(client)
    wanted = iter(dict.fromkeys(ids) if ids is not None else list(store.all_ids()))

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
        # The run renews the lock right before writing: one that lost it writes nothing more.
        indexed = index_papers(client, index, papers, result.run_id, write=run.write)
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

    run.finish(result, index, store)
    return result
