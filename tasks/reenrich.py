"""Re-enrich: look indexed papers up again and update their documents in place.

Which documents: those whose enrichment is in one of the given statuses (by default the ones
that had no answer: deferred, failed, cache_miss), and, with an age, those whose registry
answer was fetched longer ago than that (the cache is bypassed for answers that old).

Documents without a DOI are searched for one (tasks/doi_match.py: the same acceptance rule,
client, cache, limiter and lookup mode as an ingest): those whose search ended in one of the
given statuses, those never searched (indexed with lookups off, or before the search existed)
while a status of no answer is asked for, all that a search could still match with `no_doi`,
and with an age those whose search was answered (refused, no answer) longer ago than that.
A document whose DOI is found moves to it as in an ingest (scholarflow/paper/doi_moves.py): it is
folded into the DOI's document and deleted, through the index stage, under the writer lock, unless
it changed since it was read (a conflict).

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
from functools import partial
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from scholarflow.embedding.passages import PASSAGE_FIELDS
from scholarflow.paper.models import EnrichmentStatus, LookupStats, Outcome, Paper
from scholarflow.registry import Lookup, Resolver
from scholarflow.search.ranking import citations
from scholarflow.settings import Settings
from scholarflow.stores.indices import live_index
from scholarflow.stores.vector_mapping import INFO_FIELD
from scholarflow.stores.writer import WriterRun
from tasks.documents import paper_fields
from tasks.enrich import apply_lookup, enrich_papers, open_resolver
from tasks.index import index_papers
from tasks.updates import guarded_update

DEFAULT_STATUSES = (
    EnrichmentStatus.DEFERRED,
    EnrichmentStatus.FAILED,
    EnrichmentStatus.CACHE_MISS,
)
# Statuses that are a registry's answer: a lookup without an answer never replaces them.
_ANSWERED = frozenset({EnrichmentStatus.ENRICHED, EnrichmentStatus.NOT_FOUND})
# A DOI search's outcomes with no answer, and with one (a search could still match either).
_UNANSWERED_SEARCH = ("deferred", "cache_miss", "failed")
_ANSWERED_SEARCH = ("refused", "no_answer")


@dataclass
class ReenrichResult:
    """What happened to one batch of documents."""

    outcomes: Counter[str] = field(default_factory=Counter)  # updated, unchanged, kept, …
    enrichment: Counter[str] = field(default_factory=Counter)  # statuses after the batch
    errors: Counter[str] = field(default_factory=Counter)  # reasons of refused updates
    # Documents whose corrections an update changed, by their new status (`none`: no notice).
    corrections: Counter[str] = field(default_factory=Counter)
    doi_matching: Counter[str] = field(default_factory=Counter)  # DOI searches by outcome
    stats: LookupStats = field(default_factory=LookupStats)
    updates: list[dict[str, Any]] = field(default_factory=list)  # bulk actions not yet written
    # Documents whose DOI a search found, not yet moved to it: (hit, paper with its DOI).
    matched: list[tuple[dict[str, Any], Paper]] = field(default_factory=list)
    moved_to_doi: int = 0  # documents without a DOI folded into a DOI's document


def selection(statuses: list[EnrichmentStatus], older_than: timedelta | None) -> dict[str, Any]:
    """Documents with a DOI whose enrichment is in `statuses` or older than `older_than`, and
    documents without one to search a DOI for (see the module docstring)."""
    should: list[dict[str, Any]] = []
    if statuses:
        should.append({"terms": {"enrichment.status": [s.value for s in statuses]}})
    if older_than is not None:
        cutoff = (datetime.now(UTC) - older_than).isoformat()
        should.append({"range": {"enrichment.fetched_at": {"lt": cutoff}}})
    with_doi = {
        "bool": {
            "filter": [{"exists": {"field": "doi"}}],
            "should": should or [{"match_none": {}}],
            "minimum_should_match": 1,
        }
    }
    return {"bool": {"should": [with_doi, _without_doi(statuses, older_than)]}}


def _without_doi(statuses: list[EnrichmentStatus], older_than: timedelta | None) -> dict[str, Any]:
    """Documents without a DOI whose search for one the selection asks to make again."""
    names = {s.value for s in statuses}
    everything = EnrichmentStatus.NO_DOI.value in names
    searches = {s for s in _UNANSWERED_SEARCH if everything or s in names}
    if everything or older_than is not None:
        searches.update(_ANSWERED_SEARCH)  # the search cache tells which answers are old
    should: list[dict[str, Any]] = [{"terms": {"doi_match.status": sorted(searches)}}]
    if everything or names & set(_UNANSWERED_SEARCH):
        should.append({"bool": {"must_not": [{"exists": {"field": "doi_match.status"}}]}})
    return {
        "bool": {
            "filter": [{"term": {"enrichment.status": EnrichmentStatus.NO_DOI.value}}],
            "must_not": [{"exists": {"field": "doi"}}],
            "should": should,
            "minimum_should_match": 1,
        }
    }


def plan_updates(
    hits: list[dict[str, Any]], resolver: Resolver, older_than: timedelta | None
) -> ReenrichResult:
    """Look the hits' DOIs up again, and search DOIs for the hits without one; the partial
    updates for what changed, and the papers whose DOI was found, not yet written."""
    result = ReenrichResult()
    papers = [Paper.model_validate(paper_fields(hit["_source"])) for hit in hits]
    cutoff = datetime.now(UTC) - older_than if older_than is not None else None
    answers = resolver.resolve([p.doi for p in papers if p.doi], fetched_after=cutoff)
    loose = [i for i, paper in enumerate(papers) if not paper.doi]
    found = enrich_papers([papers[i] for i in loose], resolver, cutoff)
    searched = dict(zip(loose, found, strict=True))
    for i, (hit, paper) in enumerate(zip(hits, papers, strict=True)):
        if i in searched:
            outcome, updated = "unchanged", searched[i]
            if updated.doi_match:
                result.doi_matching[updated.doi_match.status] += 1
            if updated.doi:
                result.enrichment[updated.enrichment.status.value] += 1
                result.matched.append((hit, updated))
                continue
        else:
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


def move_matched(run: WriterRun, alias: str, result: ReenrichResult) -> None:
    """Move the documents whose DOI was found to it, through the index stage (fold, write,
    delete). The caller holds the writer lock: a document unchanged since it was read stays
    so until the move is written; one changed meanwhile is left (a conflict) for the next run."""
    matched, result.matched = result.matched, []
    live = live_index(run.client, alias)
    current = [(hit, paper) for hit, paper in matched if hit["_index"] == live]
    result.outcomes["moved"] += len(matched) - len(current)
    if not current:
        return
    docs = run.client.mget(index=live, ids=[hit["_id"] for hit, _ in current], source=False)
    versions = {d["_id"]: (d.get("_seq_no"), d.get("_primary_term")) for d in docs["docs"]}
    still = [
        paper
        for hit, paper in current
        if versions.get(hit["_id"]) == (hit["_seq_no"], hit["_primary_term"])
    ]
    result.outcomes["conflicts"] += len(current) - len(still)
    if not still:
        return
    moved = index_papers(
        run.client, str(live), still, run.run_id, write=partial(run.write, in_flight=1)
    )
    # One outcome per paper (the index stage counts each): written under its DOI, or refused.
    result.outcomes["matched"] += moved.outcomes[Outcome.MERGED] + moved.outcomes[Outcome.INDEXED]
    result.outcomes["unchanged"] += moved.outcomes[Outcome.UNCHANGED]
    result.outcomes["refused"] += len(moved.rejections)
    result.errors.update(r.reason for r in moved.rejections)
    result.moved_to_doi += moved.moved


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
