"""Documents that move to their DOI: a paper indexed without one, whose DOI a later run found.

A record without a DOI is indexed under an id made from its title, first author and year, or
under the id of the paper it joined (scholarflow/paper/dedupe.py). When a later run's search finds
its DOI (tasks/doi_match.py), the paper's id becomes the DOI, and the document it had would
stay beside the new one: the same paper twice. So the index stage (tasks/index.py) looks, for
each paper whose DOI was found, for the documents of the same paper without a DOI: the one
under the id the record had (`Paper.former_id`), and those its English title, year and authors
join by the dedupe rule. It folds them into the DOI's document (their values fill its gaps,
their provenance and record hashes are united, and the record counts as merged), and deletes
them in the same batch's write, once the DOI's document is written: a refused write leaves
them where they were.

The DOI's document lists the ids it absorbed (`former_ids`). A record of the paper that
comes again without its DOI (an offline run) joins it by them rather than making the old
document anew, and what refers to a paper by an old id finds it there: `follow_moves` gives
saved-search hits stored under an old id the paper's current id and DOI.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.paper.dedupe import (
    FORMER_IDS,
    authors_agree,
    document_key,
    names_of,
    run_keys,
    stored_by_key,
)
from scholarflow.paper.models import Paper

# id → stored document without a DOI, for each DOI document they fold into.
Moves = dict[str, list[tuple[str, dict[str, Any]]]]


def find_moves(
    client: Elasticsearch, index: str, papers: list[Paper], run_id: str
) -> tuple[list[Paper], Moves]:
    """The documents without a DOI that the batch's newly matched papers take over, by the
    DOI's id; and the papers, with a record of the batch that belongs to such a document
    sent to the DOI's document too (it would otherwise rewrite the document being deleted).
    Costs nothing for a batch without a newly matched paper."""
    matched = [paper for paper in papers if paper.former_id]
    if not matched:
        return papers, {}
    claims: dict[str, set[str]] = {}  # document without a DOI → the DOIs that claim it
    for paper in matched:
        claims.setdefault(str(paper.former_id), set()).add(paper.id)
    keys = {key: paper for paper in matched if (key := document_key(paper))}
    stored = stored_by_key(client, index, sorted(keys)) if keys else {}
    seen = run_keys(run_id)
    for key, paper in keys.items():
        for known in [*stored.get(key, []), *seen.get(key)]:
            if known.id != paper.id and authors_agree(list(names_of(paper)), list(known.authors)):
                claims.setdefault(known.id, set()).add(paper.id)
    # A document two DOIs claim is left where it is: which paper it is, is not clear.
    owner = {doc_id: next(iter(dois)) for doc_id, dois in claims.items() if len(dois) == 1}
    docs = client.mget(index=index, ids=sorted(owner))["docs"]
    moves: Moves = {}
    for doc in docs:
        if doc.get("found") and not doc["_source"].get("doi"):
            moves.setdefault(owner[doc["_id"]], []).append((doc["_id"], doc["_source"]))
    moved = {old: doi for doi, olds in moves.items() for old, _ in olds}
    for old, doi in moved.items():
        seen.add_moved(old, doi)  # the run's later records of it join the DOI's document
    papers = [
        p.model_copy(update={"id": moved[p.id]}) if not p.doi and p.id in moved else p
        for p in papers
    ]
    return papers, moves


def follow_moves(
    client: Elasticsearch, alias: str, papers: Iterable[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """For papers referred to by an id without a DOI (`{"id", "doi", …}`), those whose
    document moved to a DOI since: old id → `{"id", "doi"}` of the document now."""
    ids = sorted({p["id"] for p in papers if p.get("id") and not p.get("doi")})
    if not ids:
        return {}
    response = client.search(
        index=alias,
        query={"terms": {FORMER_IDS: ids}},
        source_includes=["id", "doi", FORMER_IDS],
        size=len(ids),
    )
    found: dict[str, dict[str, Any]] = {}
    for hit in response["hits"]["hits"]:
        now = {"id": hit["_id"], "doi": hit["_source"].get("doi")}
        found.update((old, now) for old in hit["_source"].get(FORMER_IDS) or () if old in ids)
    return found
