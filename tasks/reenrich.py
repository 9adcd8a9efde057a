"""Re-enrich: look indexed papers up again and update their documents in place.

Which documents: those whose enrichment is in one of the given statuses (by default the ones
that had no answer: deferred, failed, cache_miss), and, with an age, those whose registry
answer was fetched longer ago than that (the cache is bypassed for answers that old).

How: the lookups first, with no lock held (they take as long as the registry does); then, under
the alias's writer lock taken for that batch alone, a bulk `update` with a partial `doc` holding
only the fields that changed (tasks/updates.py: guarded by the hit's sequence number, counted as
a conflict when an ingest rewrote the document meanwhile, as moved when a re-index replaced the
index). An update that changes a title or an abstract also drops the paper's `embedding_info`,
so the next embedding run gives it a vector of its new text.

`record_hashes` are left alone on purpose. They describe the source records the document was
built from, and the next ingest compares them to decide whether the source changed:
- the source is unchanged and the registry is still unreachable: the record hashes as before,
  the ingest sees "unchanged" and keeps the re-enriched document (rewriting the hashes to the
  re-enriched paper would make that ingest overwrite it with the unenriched record);
- the source is unchanged and the ingest now gets the registry answer (from the DOI cache this
  run filled): the hash differs, the document is rewritten from the same source and the same
  answer, i.e. the same content, once; the next ingest finds it unchanged;
- the source changed: the hash differs and the ingest rewrites the document, as it should.
A document is never left looking unchanged when its source changed, which is the mistake that
matters; the cost is at most one redundant write.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from scholarflow.embedding.mapping import INFO_FIELD
from scholarflow.embedding.passages import PASSAGE_FIELDS
from scholarflow.models import EnrichmentStatus, LookupStats, Paper
from scholarflow.ranking import citations
from scholarflow.registry import Lookup, Resolver
from scholarflow.settings import Settings
from tasks.enrich import apply_lookup, open_resolver
from tasks.index import paper_fields
from tasks.updates import guarded_update

DEFAULT_STATUSES = (
    EnrichmentStatus.DEFERRED,
    EnrichmentStatus.FAILED,
    EnrichmentStatus.CACHE_MISS,
)
# Statuses that are a registry's answer: a lookup without an answer never replaces them.
_ANSWERED = frozenset({EnrichmentStatus.ENRICHED, EnrichmentStatus.NOT_FOUND})


@dataclass
class ReenrichResult:
    """What happened to one batch of documents."""

    outcomes: Counter[str] = field(default_factory=Counter)  # updated, unchanged, kept, …
    enrichment: Counter[str] = field(default_factory=Counter)  # statuses after the batch
    errors: Counter[str] = field(default_factory=Counter)  # reasons of refused updates
    # Documents whose corrections an update changed, by their new status (`none`: no notice).
    corrections: Counter[str] = field(default_factory=Counter)
    stats: LookupStats = field(default_factory=LookupStats)
    updates: list[dict[str, Any]] = field(default_factory=list)  # bulk actions not yet written


def selection(statuses: list[EnrichmentStatus], older_than: timedelta | None) -> dict[str, Any]:
    """Documents with a DOI whose enrichment is in `statuses` or older than `older_than`."""
    should: list[dict[str, Any]] = []
    if statuses:
        should.append({"terms": {"enrichment.status": [s.value for s in statuses]}})
    if older_than is not None:
        cutoff = (datetime.now(UTC) - older_than).isoformat()
        should.append({"range": {"enrichment.fetched_at": {"lt": cutoff}}})
    return {
        "bool": {
            "filter": [{"exists": {"field": "doi"}}],
            "should": should or [{"match_none": {}}],
            "minimum_should_match": 1,
        }
    }


def plan_updates(
    hits: list[dict[str, Any]], resolver: Resolver, older_than: timedelta | None
) -> ReenrichResult:
    """Look the hits' DOIs up again; the partial updates for what changed, not yet written."""
    result = ReenrichResult()
    papers = [Paper.model_validate(paper_fields(hit["_source"])) for hit in hits]
    cutoff = datetime.now(UTC) - older_than if older_than is not None else None
    answers = resolver.resolve([p.doi for p in papers if p.doi], fetched_after=cutoff)
    for hit, paper in zip(hits, papers, strict=True):
        outcome, updated = _refreshed(paper, answers[paper.doi])
        result.enrichment[updated.enrichment.status.value] += 1
        changes = _changed_fields(paper, updated)
        if not changes:
            result.outcomes[outcome] += 1
            continue
        result.updates.append(guarded_update(hit, changes))
    result.stats = resolver.stats
    return result


def count_corrections(result: ReenrichResult, written: list[dict[str, Any]]) -> None:
    """Count the written updates that changed a document's correction, by its new status."""
    for action in written:
        if "correction" in action["doc"]:
            correction = action["doc"]["correction"] or {}
            result.corrections[correction.get("status") or "none"] += 1


@task(name="reenrich", cache_policy=NO_CACHE)
def reenrich_batch(
    settings: Settings, hits: list[dict[str, Any]], run_id: str, older_than: timedelta | None
) -> ReenrichResult:
    """The lookups of one batch (a task run each); the flow writes the updates under the lock."""
    with open_resolver(settings, run_id) as resolver:
        assert resolver is not None, "the flow checks that lookups are on"
        return plan_updates(hits, resolver, older_than)


def _refreshed(paper: Paper, lookup: Lookup) -> tuple[str, Paper]:
    """(outcome if nothing is written, the paper as it should be stored)."""
    answered = lookup.status in ("found", "not_found")
    if not answered and paper.enrichment.status in _ANSWERED:
        return "kept", paper  # a failed refresh never discards an earlier answer
    updated = apply_lookup(paper, lookup)
    if not answered and updated.enrichment.status is paper.enrichment.status:
        return "unchanged", paper  # still no answer: nothing new to record
    return "unchanged", updated


def _changed_fields(before: Paper, after: Paper) -> dict[str, Any]:
    """The top-level fields that differ, as the partial document of an update."""
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    changes = {name: value for name, value in new.items() if old[name] != value}
    if "published" in changes:
        changes["year"] = after.published.year if after.published else None
    if changes.keys() & {"citation_count", "cited_by_count"}:
        changes["citations"] = citations(after)
    if changes.keys() & set(PASSAGE_FIELDS):
        changes[INFO_FIELD] = None  # its vector was made from the old text
    return changes
