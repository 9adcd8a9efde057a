"""Deletions a source announced (`tasks/fetch/deletions.py`), applied to the live index and the
saved searches' finds.

Two kinds of id name what was deleted:
- a harvested record's identifier (an OAI-PMH deleted header), found by its provenance: the
  source that gave it (`provenance.source`) and its identifier there (`provenance.location`);
- a PMID PubMed withdrew (`DeleteCitation` in an update file, read by an ingest or a `pubmed`
  source), found by the paper's `pmid`; the paper's records from PubMed are those whose
  provenance platform is PubMed, whichever file gave them.
A document all of whose records are deleted ones is deleted (by id, through the writer run and
so the one bulk policy); one that another source (or another record) also gave us stays, and is
counted as `held`: another source still says it exists. An id we never indexed is `absent`.
Every deletion ends in exactly one of the three.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.alerts.hits import WatchHits
from scholarflow.stores.bulk import Action, BulkResult, expanded
from tasks.decode.medline import PUBMED

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

    def query(chunk: list[str]) -> dict[str, Any]:
        return {
            "bool": {
                "filter": [
                    {"term": {"provenance.source": origin}},
                    {"terms": {"provenance.location": chunk}},
                ]
            }
        }

    def claims(doc: dict[str, Any], wanted: set[str]) -> tuple[set[str], bool]:
        provenance = doc.get("provenance") or []
        mine = {p.get("location") for p in provenance if p.get("source") == origin}
        others = any(
            p.get("source") != origin or p.get("location") not in wanted for p in provenance
        )
        return {m for m in mine if m in wanted}, others

    return _apply(client, write, index, ids, query, claims)


def apply_withdrawn_pmids(
    client: Elasticsearch, write: Callable[..., BulkResult], index: str, pmids: Sequence[str]
) -> DeletionCounts:
    """Delete the papers whose PMIDs PubMed withdrew, unless another source gives them too."""

    def query(chunk: list[str]) -> dict[str, Any]:
        return {"terms": {"pmid": chunk}}

    def claims(doc: dict[str, Any], wanted: set[str]) -> tuple[set[str], bool]:
        others = any(p.get("platform") != PUBMED for p in doc.get("provenance") or [])
        return {doc["pmid"]} & wanted if doc.get("pmid") else set(), others

    return _apply(client, write, index, pmids, query, claims)


def _apply(
    client: Elasticsearch,
    write: Callable[..., BulkResult],
    index: str,
    ids: Sequence[str],
    query: Callable[[list[str]], dict[str, Any]],
    claims: Callable[[dict[str, Any], set[str]], tuple[set[str], bool]],
) -> DeletionCounts:
    """The deletions `ids`, a chunk at a time: `query` finds the documents a chunk names,
    `claims` says which of the chunk's ids a document answers to and whether anything else
    holds it."""
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
        response = client.search(
            index=index, query=query(chunk), size=2 * len(chunk), source=["provenance", "pmid"]
        )
        doomed: list[str] = []
        matched: set[str] = set()
        for hit in response["hits"]["hits"]:
            named, held = claims(hit["_source"], wanted)
            matched |= named
            if held:
                counts.held += len(named)
            else:
                doomed.append(hit["_id"])
                counts.removed += len(named)
        counts.absent += len(wanted - matched)
        if doomed:
            actions: list[Action] = expanded(
                {"_op_type": "delete", "_index": index, "_id": doc_id} for doc_id in doomed
            )
            # refresh=true, not wait_for: an index being built by a replay re-index does not
            # refresh by itself (refresh_interval -1), so wait_for would wait until it timed out.
            write(actions, refresh=True).raise_refused(index)
            deleted_papers += doomed
    WatchHits(client).forget(deleted_papers)
    return counts
