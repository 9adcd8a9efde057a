"""Index: write a batch of papers to the live index with the bulk API, accounting for each record.

Per record, one outcome: `indexed` (written), `merged` (a duplicate folded into another record's
document), `unchanged` (its content is already in the index: nothing is written), or `rejected`
(the engine refused the document). Each document remembers the hashes of the records it was built
from, which is what makes a re-run of the same input write nothing.

The steps, each a function. Where the batch is prepared (a stage thread, a worker process):
`prepare_documents` groups the batch's records by document id, merging duplicates, hashes each
record and serialises each document once, so what travels to the index stage is bytes. There:
`decide` gives each document its outcome from the stored hashes, `documents_to_write` folds the
documents that merge into stored ones (the only papers the index stage rebuilds), the bulk policy
sends them (scholarflow/bulk.py: transient refusals retried, permanent ones refused with the
engine's reason), and `account` gives each record its outcome. `tasks/index_run.py` runs these
steps for a whole run, one batch written while the next is decided.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from elasticsearch import Elasticsearch

from scholarflow.bulk import BULK_IN_FLIGHT, Action, BulkResult, BulkRetry, Fate, item_error, send
from scholarflow.merge import merge_duplicates
from scholarflow.models import Outcome, Paper, Rejection, Stage
from scholarflow.search_client import EngineError

# Of the enrichment: where and when the registry answer was fetched is not what it says (two
# batches prepared at once may each fetch a DOI they share).
_NOT_CONTENT = frozenset({"from_cache", "fetched_at", "detail"})
# How long (seconds) a batch waits for the index's primary shards after the engine said it has
# none (a restarted engine replays its translog before it serves the index).
SHARDS_WAIT = 60
# All that deciding a record's outcome reads of the stored document (`decide` and
# `_other_source`): on a re-run every paper is unchanged, and whole documents would be most of
# the bytes the lookup moves.
DECISION_FIELDS = ["record_hashes", "run_id", "provenance.source", "provenance.location"]
# Sends a batch's actions and says what became of each: the bulk policy on a client, or a
# writer run's `write` (which renews the writer lock first).
Writer = Callable[[Sequence[Action]], BulkResult]


@dataclass
class IndexResult:
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    written: int = 0
    # Bulk items sent again, by the status of the refusal that made them wait (429, 503 …).
    retried: Counter[int] = field(default_factory=Counter)


@dataclass(slots=True)
class Document:
    """One document to write: the records of a batch that share its id, merged; the content
    hash of each; where each came from (source, location), so a refused document rejects each
    record by name; and the document as JSON."""

    id: str
    hashes: list[str]
    members: list[tuple[str, str]]
    body: bytes

    def paper(self) -> Paper:
        """The paper again: for the few documents the index stage merges with stored ones."""
        return Paper.model_validate(paper_fields(orjson.loads(self.body)))


@dataclass
class Documents:
    """A batch's documents, and how many of its records merged into another of its records."""

    items: list[Document]
    merged: int = 0

    def __reduce__(self) -> tuple[Any, ...]:
        # Plain tuples: the runners' pickling of a slotted object per document costs more.
        return _documents, ([(d.id, d.hashes, d.members, d.body) for d in self.items], self.merged)


def _documents(items: list[tuple[Any, ...]], merged: int) -> Documents:
    return Documents([Document(*item) for item in items], merged)


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
    paper: Paper, hashes: list[str], run_id: str, now: str, dump: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`dump`: the paper's JSON form when the caller has made it already (it becomes the
    document)."""
    doc = dump if dump is not None else paper.model_dump(mode="json")
    doc["year"] = paper.published.year if paper.published else None
    # Every title the paper has, for language-agnostic matching and both suggesters.
    titles = [title for title in (paper.title_en, paper.title_zh) if title]
    doc["title"] = titles
    doc["suggest"] = {"input": titles}
    doc["record_hashes"] = hashes
    doc["run_id"] = run_id
    doc["indexed_at"] = now
    return doc


def prepare_documents(papers: Iterable[Paper], run_id: str) -> Documents:
    """The batch's documents: records that share an id merged (the one read first wins), each
    record hashed, each document serialised once. `indexed_at` is when the batch was prepared."""
    groups: dict[str, tuple[Paper, list[str], list[tuple[str, str]], dict[str, Any] | None]] = {}
    merged = 0
    for paper in papers:
        dump = paper.model_dump(mode="json")
        digest = record_hash(dump)
        origin = paper.provenance[0] if paper.provenance else None
        member = (origin.source, origin.location) if origin else ("?", "?")
        group = groups.get(paper.id)
        if group is None:
            groups[paper.id] = (paper, [digest], [member], dump)
        else:
            first, hashes, members, _ = group
            groups[paper.id] = (merge_duplicates(first, paper), hashes, members, None)
            hashes.append(digest)
            members.append(member)
            merged += 1
    now = datetime.now(UTC).isoformat()
    return Documents(
        [
            Document(doc_id, hashes, members, _serialised(paper, hashes, run_id, now, dump))
            for doc_id, (paper, hashes, members, dump) in groups.items()
        ],
        merged,
    )


def _serialised(
    paper: Paper, hashes: list[str], run_id: str, now: str, dump: dict[str, Any] | None = None
) -> bytes:
    return orjson.dumps(to_document(paper, hashes, run_id, now, dump))


def index_papers(
    client: Elasticsearch,
    index: str,
    papers: list[Paper],
    run_id: str,
    retry: BulkRetry | None = None,
    write: Writer | None = None,
) -> IndexResult:
    """Index one batch on its own (seeding, a replay, tests); `write` sends the documents
    (default: the bulk policy on `client`, two requests in flight, with `retry`). What is stored
    is read in real time: nothing is assumed about what was written before."""
    documents = prepare_documents(papers, run_id)
    result = IndexResult()
    if not documents.items:
        result.outcomes += Counter({Outcome.MERGED: documents.merged})
        return result
    ids = [d.id for d in documents.items]
    outcomes = decided(result, documents, read_stored(client, index, ids, DECISION_FIELDS), run_id)
    merging = [doc_id for doc_id, outcome in outcomes.items() if outcome is Outcome.MERGED]
    bases = read_stored(client, index, merging) if merging else {}
    to_write = documents_to_write(documents.items, outcomes, bases, run_id)
    sent = (write or plain_writer(client, retry))(bulk_actions(index, to_write))
    account(result, to_write, sent)
    return result


def plain_writer(client: Elasticsearch, retry: BulkRetry | None = None) -> Writer:
    """The bulk policy on `client`, two requests in flight: writes with no writer run around
    them (seeding, tests, a load that holds no lock)."""
    return partial(send, client, retry=retry, in_flight=BULK_IN_FLIGHT)


def decided(
    result: IndexResult, documents: Documents, stored: dict[str, dict[str, Any]], run_id: str
) -> dict[str, Outcome]:
    """`decide`, with the batch's own merges and the unchanged records counted in `result`."""
    outcomes, unchanged = decide(stored, documents.items, run_id)
    result.outcomes += Counter({Outcome.MERGED: documents.merged, Outcome.UNCHANGED: unchanged})
    return outcomes


def decide(
    stored: dict[str, dict[str, Any]], documents: Iterable[Document], run_id: str
) -> tuple[dict[str, Outcome], int]:
    """Each document to write with its outcome, from what is stored under its id (at least
    `DECISION_FIELDS`); and how many are unchanged (not written)."""
    outcomes: dict[str, Outcome] = {}
    unchanged = 0
    for document in documents:
        current = stored.get(document.id)
        if current is None:
            outcomes[document.id] = Outcome.INDEXED
        elif set(document.hashes) <= set(current.get("record_hashes") or []):
            unchanged += 1
        elif current.get("run_id") == run_id or _other_source(current, document.members):
            outcomes[document.id] = Outcome.MERGED  # another record already made this document
        else:
            outcomes[document.id] = Outcome.INDEXED  # the same record, changed at its source
    return outcomes, unchanged


def documents_to_write(
    documents: Iterable[Document],
    outcomes: dict[str, Outcome],
    bases: dict[str, dict[str, Any]],
    run_id: str,
) -> list[tuple[Document, Outcome]]:
    """The documents to send, each with its outcome once written; those that merge into a
    stored document (`bases`: whole stored documents by id) are folded into it first."""
    to_write: list[tuple[Document, Outcome]] = []
    for document in documents:
        if document.id not in outcomes:
            continue  # unchanged
        base = bases.get(document.id)  # None too for a document gone since the first look
        if base is None:
            to_write.append((document, Outcome.INDEXED))
        else:
            to_write.append((merged_into(base, document, run_id), Outcome.MERGED))
    return to_write


def merged_into(stored: dict[str, Any], document: Document, run_id: str) -> Document:
    """`document` folded into the stored one (the stored record wins conflicts)."""
    paper = merge_duplicates(Paper.model_validate(paper_fields(stored)), document.paper())
    hashes = list(dict.fromkeys([*stored["record_hashes"], *document.hashes]))
    body = _serialised(paper, hashes, run_id, datetime.now(UTC).isoformat())
    return Document(document.id, hashes, document.members, body)


def bulk_actions(index: str, to_write: list[tuple[Document, Outcome]]) -> list[Action]:
    """`index` actions, expanded; each document is JSON already (serialised once)."""
    return [({"index": {"_id": d.id, "_index": index}}, d.body) for d, _ in to_write]


def account(
    result: IndexResult, to_write: list[tuple[Document, Outcome]], sent: BulkResult
) -> None:
    """Each written document counts once; a refused one rejects every record it was built
    from (the merges into it are undone)."""
    result.retried.update(sent.retried)
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


def paper_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The Paper fields of a stored document (without the index's own bookkeeping)."""
    return {name: doc[name] for name in Paper.model_fields if name in doc}
