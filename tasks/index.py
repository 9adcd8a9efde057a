"""Index: write a batch of papers to the live index with the bulk API, accounting for each record.

Per record, one outcome: `indexed` (written), `merged` (a duplicate folded into another record's
document), `unchanged` (its content is already in the index: nothing is written), or `rejected`
(the engine refused the document). Each document remembers the hashes of the records it was built
from, which is what makes a re-run of the same input write nothing.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from elasticsearch import Elasticsearch, helpers
from prefect import task
from prefect.cache_policies import NO_CACHE

from scholarflow.merge import merge_duplicates
from scholarflow.models import Outcome, Paper, Rejection, Stage
from scholarflow.search_client import connect
from scholarflow.settings import Settings

BULK_CHUNK_DOCS = 500
BULK_CHUNK_BYTES = 8 * 1024 * 1024
_NOT_CONTENT = {"provenance": True, "enrichment": {"from_cache", "detail"}}


@dataclass
class IndexResult:
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    written: int = 0


@dataclass
class _Group:
    """Records of one batch that share an id, merged into one document."""

    paper: Paper
    hashes: list[str]
    records: int = 1


def record_hash(paper: Paper) -> str:
    """Content hash of one record's paper. Left out: provenance, so a moved file is no change;
    whether the registry answer came from the DOI cache (the same answer either way); and the
    enrichment's wording of why a lookup had no answer (two offline runs are the same run)."""
    content = paper.model_dump(mode="json", exclude=_NOT_CONTENT)
    digest = hashlib.blake2b(orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=16)
    return digest.hexdigest()


def to_document(paper: Paper, hashes: list[str], run_id: str, now: str) -> dict[str, Any]:
    doc = paper.model_dump(mode="json")
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
    client: Elasticsearch, index: str, papers: list[Paper], run_id: str
) -> IndexResult:
    result = IndexResult()
    groups: dict[str, _Group] = {}
    for paper in papers:
        digest = record_hash(paper)
        group = groups.get(paper.id)
        if group is None:
            groups[paper.id] = _Group(paper, [digest])
        else:
            group.paper = merge_duplicates(group.paper, paper)
            group.hashes.append(digest)
            group.records += 1
            result.outcomes[Outcome.MERGED] += 1
    if not groups:
        return result

    existing = _existing(client, index, list(groups))
    now = datetime.now(UTC).isoformat()
    to_write: dict[str, tuple[dict[str, Any], Outcome]] = {}
    for doc_id, group in groups.items():
        current = existing.get(doc_id)
        if current is None:
            outcome = Outcome.INDEXED
        elif set(group.hashes) <= set(current.get("record_hashes") or []):
            result.outcomes[Outcome.UNCHANGED] += 1
            continue
        elif current.get("run_id") == run_id or _other_source(current, group.paper):
            # Another record already made this document: fold this one into it.
            base = Paper.model_validate(paper_fields(current))
            group.paper = merge_duplicates(base, group.paper)
            group.hashes = list(dict.fromkeys([*current["record_hashes"], *group.hashes]))
            outcome = Outcome.MERGED
        else:
            outcome = Outcome.INDEXED  # the same record, changed at its source
        to_write[doc_id] = (to_document(group.paper, group.hashes, run_id, now), outcome)

    failures = _bulk(client, index, to_write)
    for doc_id, (doc, outcome) in to_write.items():
        if doc_id in failures:
            members = groups[doc_id].records
            result.outcomes[Outcome.MERGED] -= members - 1
            result.rejections.extend(_rejection(doc, failures[doc_id]) for _ in range(members))
        else:
            result.outcomes[outcome] += 1
            result.written += 1
    return result


@task(name="index", cache_policy=NO_CACHE)
def index_batch(settings: Settings, index: str, papers: list[Paper], run_id: str) -> IndexResult:
    return index_papers(connect(settings), index, papers, run_id)


def _existing(client: Elasticsearch, index: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored documents for these ids (one round trip, realtime)."""
    response = client.mget(index=index, ids=ids)
    return {d["_id"]: d["_source"] for d in response["docs"] if d.get("found")}


def _other_source(current: dict[str, Any], paper: Paper) -> bool:
    seen = {(p["source"], p["location"]) for p in current.get("provenance") or []}
    return not any((p.source, p.location) in seen for p in paper.provenance)


def paper_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The Paper fields of a stored document (without the index's own bookkeeping)."""
    return {name: doc[name] for name in Paper.model_fields if name in doc}


def _actions(index: str, docs: dict[str, tuple[dict[str, Any], Outcome]]) -> Iterator[dict]:
    for doc_id, (doc, _) in docs.items():
        yield {"_op_type": "index", "_index": index, "_id": doc_id, "_source": doc}


def _bulk(
    client: Elasticsearch, index: str, docs: dict[str, tuple[dict[str, Any], Outcome]]
) -> dict[str, str]:
    """Write the documents; returns id → reason for the items the engine refused."""
    failures: dict[str, str] = {}
    for ok, item in helpers.streaming_bulk(
        client,
        _actions(index, docs),
        chunk_size=BULK_CHUNK_DOCS,
        max_chunk_bytes=BULK_CHUNK_BYTES,
        raise_on_error=False,
        raise_on_exception=False,
        max_retries=3,
        initial_backoff=1,
    ):
        if not ok:
            info = next(iter(item.values()))
            error = info.get("error") or {}
            if isinstance(error, dict):
                reason = f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
            else:
                reason = str(error)
            failures[info.get("_id", "")] = f"engine refused the document ({reason})"
    return failures


def _rejection(doc: dict[str, Any], reason: str) -> Rejection:
    origin = (doc.get("provenance") or [{}])[0]
    return Rejection(
        Stage.INDEX, reason, origin.get("source", "?"), origin.get("location", "?"), doc
    )
