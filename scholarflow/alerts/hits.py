"""What each run found for each saved search: one document per saved search and run.

A run's matches for one saved search are bounded (`Settings.watch_max_events`): the document
keeps the first papers, how many matched in all, and how many were left out, so a saved search
that matches thousands costs one small document per run, not thousands. `watch show NAME --new`
reads the documents newer than what its owner last saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch, helpers

from scholarflow.stores.bulk import expanded, send
from scholarflow.stores.indices import ensure_index
from scholarflow.stores.templates import load_mapping_file

HITS_INDEX = "scholarflow-watch-hits"
HITS_MAPPINGS_FILE = "watch-hits.mappings.json"
# What a found paper is shown with (a stored hit, an event's payload).
PAPER_FIELDS = ("id", "doi", "title_en", "title_zh", "year")
SHOWN_RUNS = 20


@dataclass
class RunMatches:
    """One saved search's matches in one run: the first `cap` papers and the count of all."""

    watch: str
    cap: int
    matched: int = 0
    papers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def overflow(self) -> int:
        return self.matched - len(self.papers)

    def add(self, paper: dict[str, Any]) -> None:
        self.matched += 1
        if len(self.papers) < self.cap:
            self.papers.append({k: paper.get(k) for k in PAPER_FIELDS})


class WatchHits:
    def __init__(self, client: Elasticsearch) -> None:
        self.client = client

    def ensure(self) -> None:
        ensure_index(self.client, HITS_INDEX, load_mapping_file(HITS_MAPPINGS_FILE))

    def record(self, run_id: str, at: str, found: list[RunMatches]) -> int:
        """Store what the run found for each saved search that matched; returns how many
        documents were written (a run's documents are replaced if it is percolated again)."""
        if not found:
            return 0
        self.ensure()
        actions = [
            {
                "_index": HITS_INDEX,
                "_id": f"{m.watch}:{run_id}",
                "_source": {
                    "watch": m.watch,
                    "run_id": run_id,
                    "at": at,
                    "matched": m.matched,
                    "overflow": m.overflow,
                    "papers": m.papers,
                },
            }
            for m in found
        ]
        result = send(self.client, expanded(actions), refresh="wait_for")
        result.raise_refused(HITS_INDEX)
        return result.written

    def runs(self, watch: str, after: str | None = None) -> list[dict[str, Any]]:
        """The newest runs' finds for `watch` (those after `after` only), newest first."""
        if not self.client.indices.exists(index=HITS_INDEX):
            return []
        query: dict[str, Any] = {"bool": {"filter": [{"term": {"watch": watch}}]}}
        if after:
            query["bool"]["filter"].append({"range": {"at": {"gt": after}}})
        response = self.client.search(
            index=HITS_INDEX,
            query=query,
            size=SHOWN_RUNS,
            sort=[{"at": "desc"}, {"run_id": "asc"}],
            track_total_hits=False,
        )
        return [hit["_source"] for hit in response["hits"]["hits"]]

    def remove(self, watch: str) -> None:
        if self.client.indices.exists(index=HITS_INDEX):
            self.client.delete_by_query(
                index=HITS_INDEX,
                query={"term": {"watch": watch}},
                refresh=True,
                conflicts="proceed",
            )

    def forget(self, paper_ids: list[str]) -> int:
        """Take papers deleted from the index (a harvested source deleted them) out of the
        stored finds; returns how many finds changed."""
        if not paper_ids or not self.client.indices.exists(index=HITS_INDEX):
            return 0
        gone = set(paper_ids)
        actions = []
        for hit in helpers.scan(self.client, index=HITS_INDEX, query={"query": {"match_all": {}}}):
            found = hit["_source"]
            papers = found.get("papers") or []
            kept = [paper for paper in papers if paper.get("id") not in gone]
            if len(kept) != len(papers):
                matched = max(0, int(found.get("matched", 0)) - (len(papers) - len(kept)))
                doc = {"papers": kept, "matched": matched, "overflow": matched - len(kept)}
                actions.append(
                    {"_op_type": "update", "_index": HITS_INDEX, "_id": hit["_id"], "doc": doc}
                )
        if actions:
            send(self.client, expanded(actions), refresh="wait_for").raise_refused(HITS_INDEX)
        return len(actions)
