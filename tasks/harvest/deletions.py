"""Deletions a source announced, applied to the live index and the saved searches' finds.

A deleted record is found by its provenance: the source that gave it (`provenance.source`) and
its identifier there (`provenance.location`). A document all of whose records came from deleted
records of this source is deleted (by id, through the writer run and so the one bulk policy);
one that another source (or another record of this source) also gave us stays, and is counted
as `held`: another source still says it exists. An identifier we never indexed is `absent`.
Every deletion ends in exactly one of the three.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.alerts.hits import WatchHits
from scholarflow.stores.bulk import Action, BulkResult, expanded

CHUNK = 500


@dataclass
class DeletionCounts:
    removed: int = 0  # the paper's document was deleted
    held: int = 0  # the document stays: another source (or record) holds it
    absent: int = 0  # nothing indexed under that identifier

    @property
    def total(self) -> int:
        return self.removed + self.held + self.absent

    def add(self, other: DeletionCounts) -> None:
        self.removed += other.removed
        self.held += other.held
        self.absent += other.absent

    def as_dict(self) -> dict[str, int]:
        return {"removed": self.removed, "held": self.held, "absent": self.absent}


def apply_deletions(
    client: Elasticsearch,
    write: Callable[..., BulkResult],
    index: str,
    origin: str,
    ids: Sequence[str],
) -> DeletionCounts:
    """Delete what `ids` (identifiers at `origin`) gave the index; returns how each ended."""
    counts = DeletionCounts()
    if not ids:
        return counts
    client.indices.refresh(index=index)  # documents this run wrote are found too
    deleted_papers: list[str] = []
    unique = list(dict.fromkeys(ids))
    counts.absent += len(ids) - len(unique)  # a repeat: nothing left to delete the second time
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start : start + CHUNK]
        wanted = set(chunk)
        found = _holders(client, index, origin, chunk)
        doomed: list[str] = []
        matched: set[str] = set()
        for doc_id, provenance in found.items():
            mine = {p.get("location") for p in provenance if p.get("source") == origin}
            hit = mine & wanted
            matched |= hit
            others = [
                p
                for p in provenance
                if p.get("source") != origin or p.get("location") not in wanted
            ]
            if others:
                counts.held += len(hit)
            else:
                doomed.append(doc_id)
                counts.removed += len(hit)
        counts.absent += len(wanted - matched)
        if doomed:
            actions: list[Action] = expanded(
                {"_op_type": "delete", "_index": index, "_id": doc_id} for doc_id in doomed
            )
            write(actions, refresh="wait_for").raise_refused(index)
            deleted_papers += doomed
    WatchHits(client).forget(deleted_papers)
    return counts


def _holders(
    client: Elasticsearch, index: str, origin: str, locations: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Documents with a record of `origin` at one of `locations`: their provenance, by id."""
    query = {
        "bool": {
            "filter": [
                {"term": {"provenance.source": origin}},
                {"terms": {"provenance.location": locations}},
            ]
        }
    }
    response = client.search(
        index=index, query=query, size=2 * len(locations), source=["provenance"]
    )
    return {
        hit["_id"]: list(hit["_source"].get("provenance") or []) for hit in response["hits"]["hits"]
    }
