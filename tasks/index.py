"""Index: write a batch of papers to the live index with the bulk API, accounting for each record.

Per record, one outcome: `indexed` (written), `merged` (a duplicate folded into another record's
document), `unchanged` (its content is already in the index: nothing is written), or `rejected`
(the engine refused the document). Each document remembers the hashes of the records it was built
from, which is what makes a re-run of the same input write nothing.

Items the engine refuses for a transient reason (429 too many requests, 503 unavailable …) are
sent again with exponential backoff; items it refuses for good (a mapping error, a document too
large) are rejected at once, with the engine's reason, for the dead-letter store. Reasons read the
same whichever engine gave them (Elasticsearch, OpenSearch, osmem), so the store groups them as
one; the detail keeps the engine's own type and words.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from elasticsearch import Elasticsearch, helpers
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential_jitter

from scholarflow.merge import merge_duplicates
from scholarflow.models import Outcome, Paper, Rejection, Stage
from scholarflow.redact import redact_text
from scholarflow.search_client import EngineError, connect
from scholarflow.settings import Settings

# A bulk request ends at whichever comes first; two are in flight, so the engine works on one
# while the next is serialised and sent.
BULK_CHUNK_DOCS = 250
BULK_CHUNK_BYTES = 8 * 1024 * 1024
BULK_IN_FLIGHT = 2
# Of the enrichment: where and when the registry answer was fetched is not what it says (two
# batches prepared at once may each fetch a DOI they share).
_NOT_CONTENT = frozenset({"from_cache", "fetched_at", "detail"})
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
_Action = tuple[dict[str, Any], bytes]
# The engine's reason names the document and quotes the value; neither helps to group reasons.
# Elasticsearch 8.8+ also starts it with where in the source it stopped (`[1:27] `).
_REASON_NOISE = re.compile(
    r"^\[\d+:\d+\] | in document with id '[^']*'|\. Preview of field's value: .*", re.S
)
# A full thread pool names the task and the pool's live counters: the pool and its capacity say
# all that is the same from one refusal to the next.
_POOL_FULL = re.compile(
    r"^rejected execution of .* on \w+\[name = (?:[^,\]]*/)?([^,\]/]+), "
    r"queue capacity = (\d+)",
    re.S,
)
# One name for a refusal the engines name differently: Elasticsearch 8.8+ says
# document_parsing_exception where OpenSearch and osmem say mapper_parsing_exception; OpenSearch
# says rejected_execution_exception where Elasticsearch says es_rejected_execution_exception.
_KINDS = {
    "document_parsing_exception": "mapper_parsing_exception",
    "rejected_execution_exception": "es_rejected_execution_exception",
}
# How long (seconds) a batch waits for the index's primary shards after the engine said it has
# none (a restarted engine replays its translog before it serves the index).
SHARDS_WAIT = 60
# All that deciding a record's outcome reads of the stored document (`index_papers` and
# `_other_source`): on a re-run every paper is unchanged, and whole documents would be most of
# the bytes the lookup moves.
DECISION_FIELDS = ["record_hashes", "run_id", "provenance.source", "provenance.location"]


@dataclass(frozen=True)
class BulkRetry:
    """How often, and how patiently, transiently refused bulk items are sent again."""

    attempts: int = 5
    backoff: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> BulkRetry:
        return cls(settings.bulk_attempts, settings.bulk_backoff)


@dataclass
class IndexResult:
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    written: int = 0
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


def index_papers(
    client: Elasticsearch,
    index: str,
    papers: list[Paper],
    run_id: str,
    retry: BulkRetry | None = None,
) -> IndexResult:
    result = IndexResult()
    groups: dict[str, _Group] = {}
    for paper in papers:
        dump = paper.model_dump(mode="json")
        digest = record_hash(dump)
        origin = paper.provenance[0] if paper.provenance else None
        member = (origin.source, origin.location) if origin else ("?", "?")
        group = groups.get(paper.id)
        if group is None:
            groups[paper.id] = _Group(paper, [digest], [member], dump)
        else:
            group.paper, group.dump = merge_duplicates(group.paper, paper), None
            group.hashes.append(digest)
            group.members.append(member)
            result.outcomes[Outcome.MERGED] += 1
    if not groups:
        return result

    stored = _existing(client, index, list(groups), DECISION_FIELDS)
    outcomes: dict[str, Outcome] = {}
    for doc_id, group in groups.items():
        current = stored.get(doc_id)
        if current is None:
            outcomes[doc_id] = Outcome.INDEXED
        elif set(group.hashes) <= set(current.get("record_hashes") or []):
            result.outcomes[Outcome.UNCHANGED] += 1
        elif current.get("run_id") == run_id or _other_source(current, group.paper):
            outcomes[doc_id] = Outcome.MERGED  # another record already made this document
        else:
            outcomes[doc_id] = Outcome.INDEXED  # the same record, changed at its source

    # Whole documents only for the papers folded into them.
    merging = [doc_id for doc_id, outcome in outcomes.items() if outcome is Outcome.MERGED]
    bases = _existing(client, index, merging) if merging else {}
    now = datetime.now(UTC).isoformat()
    to_write: dict[str, tuple[dict[str, Any], Outcome]] = {}
    for doc_id in outcomes:
        group = groups[doc_id]
        current = bases.get(doc_id)  # None too for a document gone since the first look
        if current is not None:
            base = Paper.model_validate(paper_fields(current))
            group.paper, group.dump = merge_duplicates(base, group.paper), None
            group.hashes = list(dict.fromkeys([*current["record_hashes"], *group.hashes]))
        doc = to_document(group.paper, group.hashes, run_id, now, group.dump)
        to_write[doc_id] = (doc, Outcome.INDEXED if current is None else Outcome.MERGED)

    failures = _bulk(client, index, to_write, retry or BulkRetry(), result.retried)
    for doc_id, (doc, outcome) in to_write.items():
        if doc_id in failures:
            members = groups[doc_id].members
            result.outcomes[Outcome.MERGED] -= len(members) - 1
            reason, detail = failures[doc_id]
            result.rejections.extend(
                Rejection(Stage.INDEX, reason, source, location, doc, detail)
                for source, location in members
            )
        else:
            result.outcomes[outcome] += 1
            result.written += 1
    return result


@task(name="index", cache_policy=NO_CACHE)
def index_batch(settings: Settings, index: str, papers: list[Paper], run_id: str) -> IndexResult:
    result = index_papers(
        connect(settings), index, papers, run_id, BulkRetry.from_settings(settings)
    )
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
            _, reason, _ = _item_error({"status": 503, "error": unread["error"]})
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


def _actions(index: str, docs: dict[str, dict[str, Any]]) -> Iterator[_Action]:
    """`index` actions as (header, document), the form the bulk helpers expand actions to. The
    document is JSON already: the helpers pass bytes through their serializer's checks."""
    for doc_id, doc in docs.items():
        yield {"index": {"_id": doc_id, "_index": index}}, orjson.dumps(doc)


def _expanded(action: _Action) -> _Action:
    """The bulk helpers' expansion step for actions made expanded (it would copy each one)."""
    return action


def _bulk(
    client: Elasticsearch,
    index: str,
    docs: dict[str, tuple[dict[str, Any], Outcome]],
    retry: BulkRetry,
    retried: Counter[int],
) -> dict[str, tuple[str, str]]:
    """Write the documents; returns id → (reason, detail) for the items the engine refused, and
    counts in `retried` the items sent again.

    Each round sends the items still pending; transient refusals stay pending for the next
    round (after a backoff), permanent ones are final. Connection errors are not caught: a run
    that loses its engine stops, and is simply run again.
    """
    pending = {doc_id: doc for doc_id, (doc, _) in docs.items()}
    refused: dict[str, tuple[str, str]] = {}
    transient: dict[str, tuple[int, str, str]] = {}

    def send_round() -> dict[str, tuple[int, str, str]]:
        nonlocal transient
        retried.update(status for status, _, _ in transient.values())
        transient = {}
        for ok, item in helpers.parallel_bulk(
            client,
            _actions(index, pending),
            expand_action_callback=_expanded,
            thread_count=BULK_IN_FLIGHT,
            queue_size=BULK_IN_FLIGHT,
            chunk_size=BULK_CHUNK_DOCS,
            max_chunk_bytes=BULK_CHUNK_BYTES,
            raise_on_error=False,
            raise_on_exception=False,
        ):
            if ok:
                continue
            info = next(iter(item.values()))
            status, kind, detail = _item_error(info)
            if status in TRANSIENT_STATUSES:
                transient[info.get("_id", "")] = (status, kind, detail)
            else:
                refused[info.get("_id", "")] = (f"engine refused the document: {kind}", detail)
        for doc_id in list(pending):
            if doc_id not in transient:
                del pending[doc_id]
        return transient

    retrying = Retrying(
        stop=stop_after_attempt(retry.attempts),
        wait=wait_exponential_jitter(
            multiplier=retry.backoff, max=max(retry.backoff * 30, 1), jitter=retry.backoff
        ),
        retry=retry_if_result(bool),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else {},
    )
    still_failing = retrying(send_round)
    attempts = f"{retry.attempts} attempt{'s' if retry.attempts > 1 else ''}"
    for doc_id, (status, kind, detail) in still_failing.items():
        refused[doc_id] = (f"engine still refusing after {attempts}: {status} {kind}", detail)
    return refused


def _item_error(info: dict[str, Any]) -> tuple[int, str, str]:
    """(status, a short reason that groups well and reads the same on every engine, the
    engine's own type and full words) for a bulk item."""
    status = int(info.get("status") or 500)
    error = info.get("error")
    if not isinstance(error, dict):
        return status, f"HTTP {status}", redact_text(str(error))[:2000]
    engine_kind = str(error.get("type", "error"))
    kind = _KINDS.get(engine_kind, engine_kind)
    text = str(error.get("reason") or "")
    short = _REASON_NOISE.sub("", text).strip()
    if full := _POOL_FULL.match(short):
        short = f"rejected execution: {full[1]} queue full (capacity {full[2]})"
    cause = error.get("caused_by") or {}
    detail = f"{engine_kind}: {text}"
    if cause:
        detail += f" (caused by {cause.get('type')}: {cause.get('reason')})"
    reason = f"{kind}: {short}" if short else kind
    # An engine may quote an address or a key back: the dead-letter store must not keep it.
    return status, redact_text(reason)[:300], redact_text(detail)[:2000]
