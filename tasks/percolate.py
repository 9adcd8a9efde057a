"""Percolate: after a run has written, find its new and changed papers that saved searches match.

The papers of a run are the live index's documents that carry its run id (written as new, or
rewritten because their record changed or another record merged into them; unchanged records
write nothing and alert no one). They are read back in pages, with the fields the saved searches
read, and matched against the saved searches by the engine's percolator
(scholarflow/alerts/percolator.py), a page of papers per request.

What is found is published three ways: stored per saved search and run (`watch show NAME
--new`, scholarflow/alerts/hits.py), a Prefect event per match (`scholarflow.watch.matched`, for
an automation to mail or post), and a table artifact on the flow run. A saved search that
matches thousands is bounded: at most `watch_max_events` papers per saved search and run are
stored and announced, the rest counted, and one `scholarflow.watch.overflow` event says how many
were left out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch
from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from scholarflow.alerts.hits import PAPER_FIELDS, RunMatches, WatchHits
from scholarflow.alerts.percolator import (
    ensure_percolator,
    fields_read,
    percolate,
    sync,
    unmatched_reason,
)
from scholarflow.alerts.watches import SavedSearch, WatchStore
from scholarflow.stores.bulk import item_error
from scholarflow.stores.paging import pages

logger = logging.getLogger(__name__)
# Papers matched per percolate request.
PERCOLATE_BATCH = 200
MATCHED_EVENT = "scholarflow.watch.matched"
OVERFLOW_EVENT = "scholarflow.watch.overflow"


@dataclass
class WatchReport:
    """What a run's percolation found, for the run summary and the artifact."""

    searches: int = 0  # saved searches percolated
    papers: int = 0  # the run's new and changed papers
    matches: int = 0  # (saved search, paper) pairs found
    published: int = 0  # of them stored and announced (the cap per saved search)
    overflow: int = 0  # of them counted only
    by_search: list[RunMatches] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "searches": self.searches,
            "papers": self.papers,
            "matches": self.matches,
            "published": self.published,
            "overflow": self.overflow,
            "by_search": {m.watch: m.matched for m in self.by_search},
        }
        return data | ({"error": self.error} if self.error else {})


def percolate_run(
    client: Elasticsearch,
    index: str,
    run_id: str,
    cap: int,
    announce: Callable[[str, RunMatches, SavedSearch], int] | None = None,
    between_pages: Callable[[], None] | None = None,
) -> WatchReport:
    """Match the run's papers in `index` against every saved search; store and `announce`
    (publish events for) what each found. `between_pages` runs before each page (a writer run
    renews its lease there). An engine that cannot percolate leaves the report's `error` set,
    one line saying why: the papers are indexed whatever the alerts make of them."""
    searches = WatchStore(client).all()
    report = WatchReport(searches=len(searches))
    if not searches:
        return report
    if why := unmatched_reason(client):
        report.error = why
        logger.warning("%s (run %s)", why, run_id)
        return report
    try:
        store = ensure_percolator(client, index)
        sync(client, store, searches)
        fields = fields_read(client, store, searches) | set(PAPER_FIELDS)
        found = {s.name: RunMatches(s.name, cap) for s in searches}
        for page in run_papers(client, index, run_id, sorted(fields)):
            if between_pages:
                between_pages()
            report.papers += len(page)
            for name, slots in percolate(client, store, page).items():
                for slot in slots:
                    found[name].add(page[slot])
    except ApiError as exc:
        error = exc.body.get("error") if isinstance(exc.body, dict) else None
        _, reason, _ = item_error({"status": exc.meta.status, "error": error or exc.message})
        report.error = f"saved searches not matched: {reason}"
        logger.warning("%s (run %s)", report.error, run_id)
        return report
    report.by_search = [m for m in found.values() if m.matched]
    WatchHits(client).record(run_id, datetime.now(UTC).isoformat(), report.by_search)
    by_name = {s.name: s for s in searches}
    for matches in report.by_search:
        report.matches += matches.matched
        report.published += len(matches.papers)
        report.overflow += matches.overflow
        if announce:
            announce(run_id, matches, by_name[matches.watch])
    return report


def run_papers(
    client: Elasticsearch, index: str, run_id: str, fields: list[str]
) -> Iterator[list[dict[str, Any]]]:
    """The documents the run wrote, in pages, with the fields the percolator reads; each page
    a search of its own, so a node lost part-way costs a page, not the read (a scroll's
    context dies with its node)."""
    query = {"term": {"run_id": run_id}}
    for hits in pages(client, index, query, fields, PERCOLATE_BATCH):
        yield [hit["_source"] for hit in hits]


def announce_events(run_id: str, matches: RunMatches, search: SavedSearch) -> int:
    """A Prefect event per published match, and one for the matches left out; returns how many
    events were emitted."""
    resource = {
        "prefect.resource.id": f"scholarflow.watch.{search.name}",
        "prefect.resource.name": search.name,
    }
    emitted = 0
    for paper in matches.papers:
        related = [
            {
                "prefect.resource.id": f"scholarflow.paper.{paper['id']}",
                "prefect.resource.role": "paper",
                "prefect.resource.name": paper.get("title_en") or paper.get("title_zh") or "",
            }
        ]
        payload = {"watch": search.name, "query": search.text, "run_id": run_id, "paper": paper}
        emitted += emit_event(MATCHED_EVENT, resource, related=related, payload=payload) is not None
    if matches.overflow:
        payload = {
            "watch": search.name,
            "query": search.text,
            "run_id": run_id,
            "matched": matches.matched,
            "published": len(matches.papers),
            "overflow": matches.overflow,
        }
        emitted += emit_event(OVERFLOW_EVENT, resource, payload=payload) is not None
    return emitted


@task(name="percolate", cache_policy=NO_CACHE)
def percolate_task(
    client: Elasticsearch,
    index: str,
    run_id: str,
    cap: int,
    between_pages: Callable[[], None] | None = None,
) -> WatchReport:
    """The percolate stage of a flow run: events are published, and the artifact."""
    report = percolate_run(client, index, run_id, cap, announce_events, between_pages)
    if report.searches and not report.error:
        publish_matches(report)
    return report


def publish_matches(report: WatchReport) -> None:
    """The run's finds as a table artifact: per saved search, how many matched, how many were
    announced, and the first papers."""
    rows = [
        {
            "saved search": m.watch,
            "matched": m.matched,
            "announced": len(m.papers),
            "left out": m.overflow,
            "first papers": "; ".join(str(p.get("doi") or p.get("id")) for p in m.papers[:5]),
        }
        for m in report.by_search
    ] or [{"saved search": "none matched", "matched": 0}]
    description = (
        f"{report.papers} new or changed papers against {report.searches} saved searches: "
        f"{report.matches} matches"
    )
    create_table_artifact(key="watch-matches", table=rows, description=description)
