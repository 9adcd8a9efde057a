"""Index: write a batch of papers to the live index with the bulk API, accounting for each record.

Per record, one outcome: `indexed` (written), `merged` (a duplicate folded into another record's
document), `unchanged` (its content is already in the index: nothing is written), or `rejected`
(the engine refused the document). Each document remembers the hashes of the records it was built
from, which is what makes a re-run of the same input write nothing.

The steps, each a function, on a batch's documents (tasks/documents.py: prepared, as bytes,
where the batch was prepared). `settle` gives the papers whose id is not settled theirs: a
record without a DOI takes the id of the paper it is in another language, or of the document
its own moved to (`join_same_papers`, scholarflow/paper/dedupe.py); the documents without a DOI that
papers whose DOI a search found take over are found (`find_moves`, scholarflow/paper/doi_moves.py).
`decide` gives each document its outcome from the stored hashes, `documents_to_write` folds the
documents that merge into stored ones and those moving to their DOI (the only papers this stage
rebuilds), the bulk policy sends them (scholarflow/stores/bulk.py: transient refusals retried,
permanent ones refused with the engine's reason), `account` gives each record its outcome, and
`delete_moved` deletes the moved documents once the documents they moved into are written.
`tasks/index_run.py` runs these steps for a whole run, one batch written while the next is
decided; `index_papers` for one batch on its own.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
from elasticsearch import Elasticsearch

from scholarflow.engine.client import EngineError
from scholarflow.paper.dedupe import FORMER_IDS, join_same_papers
from scholarflow.paper.doi_moves import Moves, find_moves
from scholarflow.paper.models import Outcome, Paper, Rejection, Stage
from scholarflow.stores.bulk import (
    BULK_IN_FLIGHT,
    Action,
    BulkResult,
    BulkRetry,
    Fate,
    item_error,
    send,
)
from tasks.documents import Document, Documents, folded, prepare_documents, split_unsettled

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


def index_papers(
    client: Elasticsearch,
    index: str,
    papers: list[Paper],
    run_id: str,
    retry: BulkRetry | None = None,
    write: Writer | None = None,
) -> IndexResult:
    """Index one batch on its own (seeding, a replay, a re-enrichment, tests); `write` sends the
    documents (default: the bulk policy on `client`, two requests in flight, with `retry`). What
    is stored is read in real time: nothing is assumed about what was written before."""
    settled, loose = split_unsettled(papers)
    documents, moves = settle(client, index, prepare_documents(settled, run_id), loose, run_id)
    result = IndexResult()
    if not documents.items:
        result.outcomes += Counter({Outcome.MERGED: documents.merged})
        return result
    stored = read_stored(client, index, [d.id for d in documents.items], DECISION_FIELDS)
    to_write = to_send(
        result, documents, stored, partial(read_stored, client, index), run_id, moves
    )
    write = write or plain_writer(client, retry)
    written = account(result, to_write, write(bulk_actions(index, to_write)))
    delete_moved(result, index, moves, written, write)
    return result


def plain_writer(client: Elasticsearch, retry: BulkRetry | None = None) -> Writer:
    """The bulk policy on `client`, two requests in flight: writes with no writer run around
    them (seeding, tests, a load that holds no lock)."""
    return partial(send, client, retry=retry, in_flight=BULK_IN_FLIGHT)


def settle(
    client: Elasticsearch, index: str, documents: Documents, loose: list[Paper], run_id: str
) -> tuple[Documents, Moves]:
    """The batch's documents with those of its unsettled papers (`loose`) added, each under the
    id it settles on; and the documents without a DOI that move to a DOI found for them. The
    run's memory of what it met (scholarflow/paper/dedupe.py) lives in this process: this runs in
    the run's process, batch after batch in their order. A settled paper's document and an
    unsettled one's of the same id merge with the settled record read first, whatever their
    order in the batch (a record carrying its DOI wins over one whose DOI a search found).
    Costs nothing for a batch in which every paper has its DOI from its source."""
    if not loose:
        return documents, {}
    papers = join_same_papers(client, index, loose, run_id)
    papers, moves = find_moves(client, index, papers, run_id)
    return documents.joined(prepare_documents(papers, run_id), run_id), moves


def to_send(
    result: IndexResult,
    documents: Documents,
    stored: dict[str, dict[str, Any]],
    read_whole: Callable[[list[str]], dict[str, dict[str, Any]]],
    run_id: str,
    moves: Moves,
) -> list[tuple[Document, Outcome]]:
    """The batch decided against what is stored under its ids (`stored`: at least
    `DECISION_FIELDS`), its own merges and its unchanged records counted in `result`; and the
    documents to send, those that merge into stored ones folded into them (`read_whole` reads
    those whole, by id)."""
    outcomes, unchanged = decide(stored, documents.items, run_id, moves)
    result.outcomes += Counter({Outcome.MERGED: documents.merged, Outcome.UNCHANGED: unchanged})
    merging = [doc_id for doc_id, outcome in outcomes.items() if outcome is Outcome.MERGED]
    bases = read_whole(merging) if merging else {}
    return documents_to_write(documents.items, outcomes, stored, bases, run_id, moves)


def decide(
    stored: dict[str, dict[str, Any]],
    documents: Iterable[Document],
    run_id: str,
    moves: Moves,
) -> tuple[dict[str, Outcome], int]:
    """Each document to write with its outcome, from what is stored under its id (at least
    `DECISION_FIELDS`); and how many are unchanged (not written). A document that documents
    without a DOI move into is written, as a merge; a record without a DOI never replaces a
    document that has one."""
    outcomes: dict[str, Outcome] = {}
    unchanged = 0
    for document in documents:
        current = stored.get(document.id)
        moving = document.id in moves
        if current is None:
            outcomes[document.id] = Outcome.MERGED if moving else Outcome.INDEXED
        elif not moving and set(document.hashes) <= set(current.get("record_hashes") or []):
            unchanged += 1
        elif (
            moving
            or current.get("run_id") == run_id
            or _other_source(current, document.members)
            or (current.get("doi") and not document.doi)
        ):
            outcomes[document.id] = Outcome.MERGED  # another record already made this document
        else:
            outcomes[document.id] = Outcome.INDEXED  # the same record, changed at its source
    return outcomes, unchanged


def documents_to_write(
    documents: Iterable[Document],
    outcomes: dict[str, Outcome],
    stored: dict[str, dict[str, Any]],
    bases: dict[str, dict[str, Any]],
    run_id: str,
    moves: Moves,
) -> list[tuple[Document, Outcome]]:
    """The documents to send, each with its outcome once written. Those that merge into a
    stored document (`bases`: whole stored documents by id) are folded into it, and the
    documents moving to them folded in after; one that replaces its stored document keeps the
    ids the stored one had without a DOI (`stored`: what `decide` read)."""
    to_write: list[tuple[Document, Outcome]] = []
    for document in documents:
        if document.id not in outcomes:
            continue  # unchanged
        base = bases.get(document.id)  # None too for a document gone since the first look
        movers = moves.get(document.id, [])
        if base is not None or movers:
            to_write.append((folded(document, base, movers, run_id), Outcome.MERGED))
            continue
        kept = (stored.get(document.id) or {}).get(FORMER_IDS) or []
        if not set(kept) <= set(document.former_ids):
            document = document.keeping(kept)
        to_write.append((document, Outcome.INDEXED))
    return to_write


def bulk_actions(index: str, to_write: list[tuple[Document, Outcome]]) -> list[Action]:
    """`index` actions, expanded; each document is JSON already (serialised once)."""
    return [({"index": {"_id": d.id, "_index": index}}, d.body) for d, _ in to_write]


def account(
    result: IndexResult, to_write: list[tuple[Document, Outcome]], sent: BulkResult
) -> list[str]:
    """Each written document counts once; a refused one rejects every record it was built
    from (the merges into it are undone). Returns the ids written."""
    result.retried.update(sent.retried)
    written = []
    for (document, outcome), item in zip(to_write, sent.items, strict=True):
        if item.fate is not Fate.WRITTEN:
            result.outcomes[Outcome.MERGED] -= len(document.members) - 1
            doc = orjson.loads(document.body)
            result.rejections.extend(
                Rejection(Stage.INDEX, item.reason, source, location, doc, item.detail)
                for source, location in document.members
            )
        else:
            result.outcomes[outcome] += 1
            result.written += 1
            written.append(document.id)
    return written


def delete_moved(
    result: IndexResult, index: str, moves: Moves, written: list[str], write: Writer
) -> list[str]:
    """Delete the documents that moved into a document now written, through the same writer;
    returns their ids. One the engine refuses to delete stays (folded already): the next run
    that reads its records moves it again."""
    gone = [old_id for doc_id in written for old_id, _ in moves.get(doc_id, [])]
    if not gone:
        return []
    sent = write([({"delete": {"_id": old_id, "_index": index}}, None) for old_id in gone])
    result.moved += sent.written
    for position, item in sent.failures():
        logging.getLogger(__name__).warning(
            "%s: moved to its DOI, not deleted (%s)", gone[position], item.reason
        )
    return gone


def report_retries(
    result: IndexResult, logger: logging.Logger | logging.LoggerAdapter[Any]
) -> None:
    """One warning line when the engine was busy and items were sent again."""
    if result.retried:
        statuses = ", ".join(f"{n} after {status}" for status, n in sorted(result.retried.items()))
        logger.warning("engine busy: bulk items sent again (%s)", statuses)


def read_stored(
    client: Elasticsearch,
    index: str,
    ids: list[str],
    fields: list[str] | None = None,
    *,
    realtime: bool = True,
) -> dict[str, dict[str, Any]]:
    """The stored documents for these ids, or only `fields` of them (one round trip). Real-time
    reads see every write; the others what the last refresh made visible, and cost the engine
    no refresh of its own (a real-time read of a document written since the last refresh makes
    the engine refresh first).

    An item the engine could not read (no primary shard yet, as right after a restart) is not
    a document that does not exist: taken for one, its record would overwrite what other records
    merged into the document. Such a batch waits for the index's primaries and asks again.
    """
    if not ids:
        return {}
    options: dict[str, Any] = {"source_includes": fields} if fields else {}
    if not realtime:
        options["realtime"] = False
    docs = client.mget(index=index, ids=ids, **options)["docs"]
    if any("error" in d for d in docs):
        client.options(ignore_status=408, request_timeout=SHARDS_WAIT + 30).cluster.health(
            index=index, wait_for_status="yellow", timeout=f"{SHARDS_WAIT}s"
        )
        docs = client.mget(index=index, ids=ids, **options)["docs"]
        unread = next((d for d in docs if "error" in d), None)
        if unread is not None:
            _, reason, _ = item_error({"status": 503, "error": unread["error"]})
            raise EngineError(
                f"{index}: the engine cannot read stored documents ({reason}); run the same "
                "command again once the index is available"
            )
    return {d["_id"]: d["_source"] for d in docs if d.get("found")}


def _other_source(current: dict[str, Any], members: list[tuple[str, str]]) -> bool:
    seen = {(p["source"], p["location"]) for p in current.get("provenance") or []}
    return not any(member in seen for member in members)
