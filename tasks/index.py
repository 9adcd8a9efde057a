"""Index: write a batch of papers to the live index with the bulk API, accounting for each record.

Per record, one outcome: `indexed` (written), `merged` (a duplicate folded into another record's
document), `unchanged` (its content is already in the index: nothing is written), or `rejected`
(the engine refused the document). Each document remembers the hashes of the records it was built
from, which is what makes a re-run of the same input write nothing.

The steps, each a function: give a record without a DOI the id of the paper it is in another
language, or of the document its own moved to (`join_same_papers`, scholarflow/dedupe.py); find
the documents without a DOI that papers whose DOI a search found take over (`find_moves`,
scholarflow/moves.py); group the batch's records by document id (`group_batch`), decide each
document's outcome from the stored hashes (`decide`), fold the new records and the documents
moving to their DOI into the stored documents they merge with (`documents_to_write`), send them
through the bulk policy (scholarflow/bulk.py: transient refusals retried, permanent ones refused
with the engine's reason), account for each record (`account`), and delete the moved documents
once the documents they moved into are written (`delete_moved`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from elasticsearch import Elasticsearch
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from scholarflow.bulk import (
    BULK_IN_FLIGHT,
    Action,
    BulkResult,
    BulkRetry,
    Fate,
    item_error,
    send,
)
from scholarflow.dedupe import FORMER_IDS, MATCH_FIELD, document_key, join_same_papers
from scholarflow.merge import merge_duplicates
from scholarflow.models import Outcome, Paper, Rejection, Stage
from scholarflow.moves import Moves, find_moves
from scholarflow.ranking import citations
from scholarflow.search_client import EngineError

# Of the enrichment: where and when the registry answer was fetched is not what it says (two
# batches prepared at once may each fetch a DOI they share).
_NOT_CONTENT = frozenset({"from_cache", "fetched_at", "detail"})
# How long (seconds) a batch waits for the index's primary shards after the engine said it has
# none (a restarted engine replays its translog before it serves the index).
SHARDS_WAIT = 60
# All that deciding a record's outcome reads of the stored document (`decide` and
# `_other_source`; the DOI, which a record without one never replaces; the ids a document had
# before it moved to its DOI, kept when it is rewritten): on a re-run every paper is unchanged,
# and whole documents would be most of the bytes the lookup moves.
DECISION_FIELDS = [
    "record_hashes",
    "run_id",
    "provenance.source",
    "provenance.location",
    "doi",
    FORMER_IDS,
]
# Sends a batch's actions and says what became of each: the bulk policy on a client, or a
# writer run's `write` (which renews the writer lock first).
Writer = Callable[[Sequence[Action]], BulkResult]


@dataclass
class IndexResult:
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    written: int = 0
    # Documents without a DOI folded into the document of the DOI a search found, and deleted.
    moved: int = 0
    # Bulk items sent again, by the status of the refusal that made them wait (429, 503 …).
    retried: Counter[int] = field(default_factory=Counter)


@dataclass
class _Group:
    """Records of one batch that share an id, merged into one document; `members` are the
    (source, location) of each record, so a refused document rejects each record by name."""

    paper: Paper
    hashes: list[str]
    members: list[tuple[str, str]]
    dump: dict[str, Any] | None  # the paper's JSON form, until a merge changes the paper
    former_ids: set[str] = field(default_factory=set)  # ids the document had without a DOI


def record_hash(doc: dict[str, Any]) -> str:
    """Content hash of one record's paper, from its JSON form (`model_dump(mode="json")`, made
    once per paper and reused for the document). Left out: provenance, so a moved file is no
    change; whether the registry answer came from the DOI cache and when it was fetched (the
    same answer either way); and the enrichment's wording of why a lookup had no answer (two
    offline runs are the same run)."""
    content = {k: v for k, v in doc.items() if k != "provenance"}
    if isinstance(enrichment := content.get("enrichment"), dict):
        content["enrichment"] = {k: v for k, v in enrichment.items() if k not in _NOT_CONTENT}
    digest = hashlib.blake2b(orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=16)
    return digest.hexdigest()


def to_document(
    paper: Paper,
    hashes: list[str],
    run_id: str,
    now: str,
    dump: dict[str, Any] | None = None,
    former_ids: set[str] | None = None,
) -> dict[str, Any]:
    """`dump`: the paper's JSON form when the caller has made it already (it becomes the
    document); `former_ids`: the ids the document had before it moved to its DOI."""
    doc = dump if dump is not None else paper.model_dump(mode="json")
    doc["year"] = paper.published.year if paper.published else None
    doc["citations"] = citations(paper)
    # Every title the paper has, for language-agnostic matching and both suggesters.
    titles = [title for title in (paper.title_en, paper.title_zh) if title]
    doc["title"] = titles
    doc["suggest"] = {"input": titles}
    if key := document_key(paper):
        doc[MATCH_FIELD] = key  # how a record of it in another language finds it
    if former_ids:
        doc[FORMER_IDS] = sorted(former_ids)  # how a record of it without its DOI finds it
    doc["record_hashes"] = hashes
    doc["run_id"] = run_id
    doc["indexed_at"] = now
    return doc


def index_papers(
    client: Elasticsearch,
    index: str,
    papers: list[Paper],
    run_id: str,
    retry: BulkRetry | None = None,
    write: Writer | None = None,
) -> IndexResult:
    """Index one batch; `write` sends the documents (default: the bulk policy on `client`,
    two requests in flight, with `retry`)."""
    result = IndexResult()
    papers = join_same_papers(client, index, papers, run_id)
    papers, moves = find_moves(client, index, papers, run_id)
    groups, merged = group_batch(papers)
    if not groups:
        return result
    outcomes, unchanged = decide(client, index, groups, run_id, moves)
    result.outcomes += Counter({Outcome.MERGED: merged, Outcome.UNCHANGED: unchanged})  # no 0s
    to_write = documents_to_write(client, index, groups, outcomes, run_id, moves)
    write = write or plain_writer(client, retry)
    sent = write([_action(index, doc_id, doc) for doc_id, (doc, _) in to_write.items()])
    written = account(result, groups, to_write, sent)
    delete_moved(result, index, moves, written, write)
    return result


def plain_writer(client: Elasticsearch, retry: BulkRetry | None = None) -> Writer:
    """The bulk policy on `client`, two requests in flight: writes with no writer run around
    them (seeding, tests, a load that holds no lock)."""
    return partial(send, client, retry=retry, in_flight=BULK_IN_FLIGHT)


def group_batch(papers: list[Paper]) -> tuple[dict[str, _Group], int]:
    """The batch's records by document id, duplicates merged; and how many were merged."""
    groups: dict[str, _Group] = {}
    merged = 0
    for paper in papers:
        dump = paper.model_dump(mode="json")
        digest = record_hash(dump)
        origin = paper.provenance[0] if paper.provenance else None
        member = (origin.source, origin.location) if origin else ("?", "?")
        group = groups.get(paper.id)
        if group is None:
            group = groups[paper.id] = _Group(paper, [digest], [member], dump)
        else:
            group.paper, group.dump = merge_duplicates(group.paper, paper), None
            group.hashes.append(digest)
            group.members.append(member)
            merged += 1
        if paper.former_id:
            group.former_ids.add(paper.former_id)
    return groups, merged


def decide(
    client: Elasticsearch,
    index: str,
    groups: dict[str, _Group],
    run_id: str,
    moves: Moves | None = None,
) -> tuple[dict[str, Outcome], int]:
    """Each document to write with its outcome, from the stored hashes; and how many are
    unchanged (not written). A document that documents without a DOI move into is written,
    as a merge; a record without a DOI never replaces a document that has one."""
    moves = moves or {}
    stored = _existing(client, index, list(groups), DECISION_FIELDS)
    outcomes: dict[str, Outcome] = {}
    unchanged = 0
    for doc_id, group in groups.items():
        current = stored.get(doc_id)
        moving = doc_id in moves
        if current is None:
            outcomes[doc_id] = Outcome.MERGED if moving else Outcome.INDEXED
            continue
        group.former_ids.update(current.get(FORMER_IDS) or [])
        if not moving and set(group.hashes) <= set(current.get("record_hashes") or []):
            unchanged += 1
        elif (
            moving
            or current.get("run_id") == run_id
            or _other_source(current, group.paper)
            or (current.get("doi") and not group.paper.doi)
        ):
            outcomes[doc_id] = Outcome.MERGED  # another record already made this document
        else:
            outcomes[doc_id] = Outcome.INDEXED  # the same record, changed at its source
    return outcomes, unchanged


def documents_to_write(
    client: Elasticsearch,
    index: str,
    groups: dict[str, _Group],
    outcomes: dict[str, Outcome],
    run_id: str,
    moves: Moves | None = None,
) -> dict[str, tuple[dict[str, Any], Outcome]]:
    """id → (document, outcome once written); the papers that merge into a stored document
    are folded into it (whole documents are read for those alone), and the documents without
    a DOI that move to it are folded in after them, filling its gaps."""
    moves = moves or {}
    merging = [doc_id for doc_id, outcome in outcomes.items() if outcome is Outcome.MERGED]
    bases = _existing(client, index, merging) if merging else {}
    now = datetime.now(UTC).isoformat()
    to_write: dict[str, tuple[dict[str, Any], Outcome]] = {}
    for doc_id in outcomes:
        group = groups[doc_id]
        current = bases.get(doc_id)  # None too for a document gone since the first look
        if current is not None:
            _fold(group, current, base=True)
        for old_id, old in moves.get(doc_id, []):
            _fold(group, old)
            group.former_ids.update([old_id, *(old.get(FORMER_IDS) or [])])
        doc = to_document(group.paper, group.hashes, run_id, now, group.dump, group.former_ids)
        merged = current is not None or doc_id in moves
        to_write[doc_id] = (doc, Outcome.MERGED if merged else Outcome.INDEXED)
    return to_write


def _fold(group: _Group, stored: dict[str, Any], base: bool = False) -> None:
    """A stored document folded into the group: as the base (the document under its id), or
    filling the group's gaps (a document moving to it); their records' hashes united."""
    other = Paper.model_validate(paper_fields(stored))
    first, second = (other, group.paper) if base else (group.paper, other)
    group.paper, group.dump = merge_duplicates(first, second), None
    group.hashes = list(dict.fromkeys([*stored["record_hashes"], *group.hashes]))


def account(
    result: IndexResult,
    groups: dict[str, _Group],
    to_write: dict[str, tuple[dict[str, Any], Outcome]],
    sent: BulkResult,
) -> list[str]:
    """Each written document counts once; a refused one rejects every record it was built
    from (the merges into it are undone). Returns the ids written."""
    result.retried.update(sent.retried)
    written = []
    for (doc_id, (doc, outcome)), item in zip(to_write.items(), sent.items, strict=True):
        if item.fate is not Fate.WRITTEN:
            members = groups[doc_id].members
            result.outcomes[Outcome.MERGED] -= len(members) - 1
            result.rejections.extend(
                Rejection(Stage.INDEX, item.reason, source, location, doc, item.detail)
                for source, location in members
            )
        else:
            result.outcomes[outcome] += 1
            result.written += 1
            written.append(doc_id)
    return written


def delete_moved(
    result: IndexResult, index: str, moves: Moves, written: list[str], write: Writer
) -> None:
    """Delete the documents that moved into a document now written, through the same writer.
    One the engine refuses to delete stays (folded already): the next run that reads its
    records moves it again."""
    gone = [old_id for doc_id in written for old_id, _ in moves.get(doc_id, [])]
    if not gone:
        return
    sent = write([({"delete": {"_id": old_id, "_index": index}}, None) for old_id in gone])
    result.moved += sent.written
    for position, item in sent.failures():
        logging.getLogger(__name__).warning(
            "%s: moved to its DOI, not deleted (%s)", gone[position], item.reason
        )


@task(name="index", cache_policy=NO_CACHE)
def index_batch(
    client: Elasticsearch,
    index: str,
    papers: list[Paper],
    run_id: str,
    write: Writer,
) -> IndexResult:
    """The index stage of a run: reads with the run's client, writes through its `write`."""
    result = index_papers(client, index, papers, run_id, write=write)
    if result.retried:
        logger = get_run_logger() if flow_run.get_id() else logging.getLogger(__name__)
        statuses = ", ".join(f"{n} after {status}" for status, n in sorted(result.retried.items()))
        logger.warning("engine busy: bulk items sent again (%s)", statuses)
    return result


def _existing(
    client: Elasticsearch, index: str, ids: list[str], fields: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The stored documents for these ids, or only `fields` of them (one round trip, realtime).

    An item the engine could not read (no primary shard yet, as right after a restart) is not
    a document that does not exist: taken for one, its record would overwrite what other records
    merged into the document. Such a batch waits for the index's primaries and asks again.
    """
    docs = client.mget(index=index, ids=ids, source_includes=fields)["docs"]
    if any("error" in d for d in docs):
        client.options(ignore_status=408, request_timeout=SHARDS_WAIT + 30).cluster.health(
            index=index, wait_for_status="yellow", timeout=f"{SHARDS_WAIT}s"
        )
        docs = client.mget(index=index, ids=ids, source_includes=fields)["docs"]
        unread = next((d for d in docs if "error" in d), None)
        if unread is not None:
            _, reason, _ = item_error({"status": 503, "error": unread["error"]})
            raise EngineError(
                f"{index}: the engine cannot read stored documents ({reason}); run the same "
                "command again once the index is available"
            )
    return {d["_id"]: d["_source"] for d in docs if d.get("found")}


def _other_source(current: dict[str, Any], paper: Paper) -> bool:
    seen = {(p["source"], p["location"]) for p in current.get("provenance") or []}
    return not any((p.source, p.location) in seen for p in paper.provenance)


def paper_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The Paper fields of a stored document (without the index's own bookkeeping)."""
    return {name: doc[name] for name in Paper.model_fields if name in doc}


def _action(index: str, doc_id: str, doc: dict[str, Any]) -> Action:
    """An `index` action, expanded; the document is JSON already (orjson, once)."""
    return {"index": {"_id": doc_id, "_index": index}}, orjson.dumps(doc)
