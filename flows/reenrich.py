"""The re-enrichment flow: look papers up again whose enrichment is missing or old.

Ingest runs defer lookups when a registry is unreachable (and index the records anyway); this
flow finds those documents in the live index, in batches, looks their DOIs up again and updates
them in place (tasks/reenrich.py explains which documents and how).

Each batch's updates are written under the alias's writer lock, taken for that write alone: a
nightly run never holds off the scheduled ingests for long, and never writes into an index a
re-index is copying or has just replaced.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run
from pydantic import Field

from flows.running.credentials import flow_settings
from flows.running.observe import batch_lock_event
from scholarflow.errors import ScholarflowError
from scholarflow.paper.models import AccountingError, EnrichmentStatus, LookupStats
from scholarflow.settings import DoiLookup, Settings
from scholarflow.stores.indices import live_index
from scholarflow.stores.writer import WriterRun
from tasks.reenrich import (
    DEFAULT_STATUSES,
    count_corrections,
    move_matched,
    reenrich_batch,
    selection,
)
from tasks.updates import stale_documents, write_updates

# What can become of a selected document; each gets exactly one. `matched`: a document without
# a DOI whose DOI a search found, moved to it.
OUTCOMES = ("updated", "matched", "unchanged", "kept", "conflicts", "moved", "refused")
# Taken and released once a batch: routine, so quieter than waiting for it or losing it.
ROUTINE_LOCK_EVENTS = frozenset({"lock taken", "lock released"})


class LookupsOff(ScholarflowError):
    """Re-enrichment was asked for while DOI lookups are switched off."""


@dataclass
class ReenrichSummary:
    run_id: str
    alias: str
    index: str | None = None
    statuses: list[str] = field(default_factory=list)
    older_than_days: float | None = None
    selected: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    enrichment: Counter[str] = field(default_factory=Counter)
    corrections: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    doi_matching: Counter[str] = field(default_factory=Counter)
    moved_to_doi: int = 0
    doi_lookup: LookupStats = field(default_factory=LookupStats)
    seconds: float = 0.0

    def check(self) -> None:
        """Every selected document has exactly one outcome."""
        if sum(self.outcomes.values()) != self.selected:
            raise AccountingError(
                f"re-enrichment {self.run_id}: selected {self.selected} documents but accounted "
                f"for {sum(self.outcomes.values())} ({dict(self.outcomes)})"
            )

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "alias": self.alias,
            "index": self.index,
            "statuses": self.statuses,
            "older_than_days": self.older_than_days,
            "selected": self.selected,
            **{outcome: self.outcomes[outcome] for outcome in OUTCOMES},
            "errors": dict(self.errors),
            "enrichment": dict(self.enrichment.most_common()),
            "corrections": dict(self.corrections.most_common()),
            "doi_matching": dict(self.doi_matching.most_common()),
            "moved_to_doi": self.moved_to_doi,
            "doi_lookup": self.doi_lookup.as_dict(),
            "seconds": round(self.seconds, 3),
        }


@flow(name="reenrich", log_prints=False)
def reenrich(
    older_than_days: Annotated[float | None, Field(gt=0)] = None,
    statuses: list[EnrichmentStatus] | None = None,
    batch_size: Annotated[int | None, Field(ge=1, le=10_000)] = None,
) -> dict[str, Any]:
    """Look up again documents in `statuses` (default: deferred, failed, cache_miss) and those
    whose registry answer is older than `older_than_days`; update them in place."""
    settings = flow_settings()
    summary = run_reenrich(
        settings,
        list(DEFAULT_STATUSES) if statuses is None else statuses,
        timedelta(days=older_than_days) if older_than_days else None,
        batch_size or settings.batch_size,
    )
    return summary.as_dict()


def publish_summary(summary: ReenrichSummary) -> None:
    """The outcomes as a table artifact on the flow run in the Prefect UI."""
    create_table_artifact(
        key="reenrich-summary",
        table=[{"outcome": k, "documents": v} for k, v in _table_rows(summary.as_dict())],
        description=f"Re-enrichment of {summary.index}",
    )


def run_reenrich(
    settings: Settings,
    statuses: list[EnrichmentStatus],
    older_than: timedelta | None,
    batch_size: int,
) -> ReenrichSummary:
    if settings.doi_lookup is DoiLookup.OFF:
        raise LookupsOff("DOI lookups are off: set SCHOLARFLOW_DOI_LOOKUP to on or cache-only")
    run_id = str(flow_run.get_id() or uuid.uuid4())
    log = partial(batch_lock_event, get_run_logger())
    # The lock is taken for each batch's write alone (`run.locked()`), not for the whole run.
    with WriterRun(
        settings, flow="reenrich", run_id=run_id, log=log, hold_lock=False, publish=publish_summary
    ) as run:
        return _reenrich(settings, run, statuses, older_than, batch_size)


def _reenrich(
    settings: Settings,
    run: WriterRun,
    statuses: list[EnrichmentStatus],
    older_than: timedelta | None,
    batch_size: int,
) -> ReenrichSummary:
    logger = get_run_logger()
    client, run_id = run.client, run.run_id
    summary = ReenrichSummary(
        run_id=run_id,
        alias=settings.alias,
        index=live_index(client, settings.alias),
        statuses=[s.value for s in statuses],
        older_than_days=older_than.total_seconds() / 86400 if older_than else None,
    )
    if summary.index is None:
        logger.info("no live index behind alias %s: nothing to re-enrich", settings.alias)
        run.finish(summary, persist=False)
        return summary
    started = time.perf_counter()
    query = selection(statuses, older_than)
    for hits in stale_documents(client, settings.alias, query, batch_size):
        summary.selected += len(hits)
        result = reenrich_batch(settings, hits, run_id, older_than)
        if result.updates or result.matched:
            with run.locked():
                count_corrections(result, write_updates(run, settings.alias, result))
                move_matched(run, settings.alias, result)
        summary.outcomes.update(result.outcomes)
        summary.enrichment.update(result.enrichment)
        summary.corrections.update(result.corrections)
        summary.errors.update(result.errors)
        summary.doi_matching.update(result.doi_matching)
        summary.moved_to_doi += result.moved_to_doi
        summary.doi_lookup.add(result.stats)
    summary.seconds = time.perf_counter() - started
    # Nothing to save when nothing was written: no update, and no answer put in the DOI cache.
    written = summary.outcomes["updated"] or summary.outcomes["matched"]
    run.finish(summary, summary.index, persist=bool(written or summary.doi_lookup.requests))
    counts = ", ".join(f"{summary.outcomes[outcome]} {outcome}" for outcome in OUTCOMES)
    logger.info("re-enrichment: %d selected, %s", summary.selected, counts)
    if summary.doi_lookup.breaker_open:
        logger.warning("DOI registry unreachable: lookups stopped; run again later")
    return summary


def _table_rows(data: dict[str, Any]) -> list[tuple[str, Any]]:
    rows = [(k, data[k]) for k in ("selected", *OUTCOMES)]
    rows += [(f"enrichment {k}", v) for k, v in data["enrichment"].items()]
    rows += [(f"corrections now {k}", v) for k, v in data["corrections"].items()]
    rows += [(f"doi search {k}", v) for k, v in data["doi_matching"].items()]
    rows += [("documents moved to their DOI", data["moved_to_doi"])] if data["moved_to_doi"] else []
    rows += [(f"doi lookup {k}", v) for k, v in data["doi_lookup"].items()]
    return rows
