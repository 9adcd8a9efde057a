"""Documents: what a batch's papers become before the index stage decides them.

`prepare_documents` groups a batch's records by document id (duplicates merged, the one read
first winning), hashes each record, and serialises each document once. It runs where the batch
is prepared (a stage thread, a worker process), so what travels to the index stage is bytes; the
index stage rebuilds a paper only for the few documents it folds into stored ones (`folded`).

A paper whose id is not settled yet goes to the index stage as a paper instead: one without a
DOI (it may join the document of the same paper in another language) and one whose DOI a search
found (the document it had without one moves to it). Both are decided against the run's
memory, which lives in the run's process (`split_unsettled`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from scholarflow.paper.dedupe import FORMER_IDS, MATCH_FIELD, document_key
from scholarflow.paper.merging import merge_duplicates
from scholarflow.paper.models import Paper
from scholarflow.search.ranking import citations

# Of the enrichment: where and when the registry answer was fetched is not what it says (two
# batches prepared at once may each fetch a DOI they share).
_NOT_CONTENT = frozenset({"from_cache", "fetched_at", "detail"})


@dataclass(slots=True)
class Document:
    """One document to write: the records of a batch that share its id, merged; the content
    hash of each; where each came from (source, location), so a refused document rejects each
    record by name; the document as JSON; whether it has a DOI, and the ids it had without one."""

    id: str
    hashes: list[str]
    members: list[tuple[str, str]]
    body: bytes
    doi: bool = False
    former_ids: list[str] = field(default_factory=list)

    def paper(self) -> Paper:
        """The paper again: for the few documents the index stage folds into others."""
        return Paper.model_validate(paper_fields(orjson.loads(self.body)))

    def keeping(self, former_ids: Iterable[str]) -> Document:
        """The document with these ids it had without a DOI kept (a stored document's)."""
        kept = sorted({*self.former_ids, *former_ids})
        doc = orjson.loads(self.body)
        doc[FORMER_IDS] = kept
        return Document(self.id, self.hashes, self.members, orjson.dumps(doc), self.doi, kept)


@dataclass
class Documents:
    """A batch's documents, and how many of its records merged into another of its records."""

    items: list[Document]
    merged: int = 0

    def __reduce__(self) -> tuple[Any, ...]:
        # Plain tuples: the runners' pickling of a slotted object per document costs more.
        items = [(d.id, d.hashes, d.members, d.body, d.doi, d.former_ids) for d in self.items]
        return _documents, (items, self.merged)

    def joined(self, other: Documents, run_id: str) -> Documents:
        """These documents and `other`'s, one per id: a document of both folds `other`'s into
        this one's (this one read first), each of its records counted as merged."""
        mine = {d.id: d for d in self.items}
        merged = self.merged + other.merged
        for document in other.items:
            first = mine.get(document.id)
            if first is None:
                mine[document.id] = document
                continue
            paper = merge_duplicates(first.paper(), document.paper())
            hashes = list(dict.fromkeys([*first.hashes, *document.hashes]))
            former = {*first.former_ids, *document.former_ids}
            body = serialised(paper, hashes, run_id, _now(), former_ids=former)
            members = [*first.members, *document.members]
            mine[document.id] = Document(
                document.id, hashes, members, body, bool(paper.doi), sorted(former)
            )
            merged += len(document.members)
        return Documents(list(mine.values()), merged)


def _documents(items: list[tuple[Any, ...]], merged: int) -> Documents:
    return Documents([Document(*item) for item in items], merged)


def split_unsettled(papers: Iterable[Paper]) -> tuple[list[Paper], list[Paper]]:
    """The papers whose document id is settled, and those whose id is decided in the run's
    process: without a DOI (it may join another document), or with one a search found (the
    document it had without one may move to it)."""
    settled: list[Paper] = []
    loose: list[Paper] = []
    for paper in papers:
        (loose if not paper.doi or paper.former_id is not None else settled).append(paper)
    return settled, loose


def record_hash(doc: dict[str, Any]) -> str:
    """Content hash of one record's paper, from its JSON form (`model_dump(mode="json")`, made
    once per paper and reused for the document). Left out: provenance, so a moved file is no
    change, except the source of a record read from a URL (a harvested repository, a feed):
    the same paper from another source is news, which the document's provenance records;
    whether the registry answer came from the DOI cache and when it was fetched (the
    same answer either way); and the enrichment's wording of why a lookup had no answer (two
    offline runs are the same run)."""
    content = {k: v for k, v in doc.items() if k != "provenance"}
    remote = [
        p["source"]
        for p in doc.get("provenance") or []
        if str(p.get("source", "")).startswith(("http://", "https://"))
    ]
    if remote:
        content["provenance"] = remote
    if isinstance(enrichment := content.get("enrichment"), dict):
        content["enrichment"] = {k: v for k, v in enrichment.items() if k not in _NOT_CONTENT}
    digest = hashlib.blake2b(orjson.dumps(content, option=orjson.OPT_SORT_KEYS), digest_size=16)
    return digest.hexdigest()


def serialised(
    paper: Paper,
    hashes: list[str],
    run_id: str,
    now: str,
    dump: dict[str, Any] | None = None,
    former_ids: Iterable[str] = (),
) -> bytes:
    """The paper's document, as the JSON the bulk request carries. `dump`: the paper's JSON form
    when the caller has made it already (it becomes the document); `former_ids`: the ids the
    document had before it moved to its DOI."""
    doc = dump if dump is not None else paper.model_dump(mode="json")
    doc["year"] = paper.published.year if paper.published else None
    doc["citations"] = citations(paper)
    # Every title the paper has, for language-agnostic matching and both suggesters.
    titles = [title for title in (paper.title_en, paper.title_zh) if title]
    doc["title"] = titles
    doc["suggest"] = {"input": titles}
    if key := document_key(paper):
        doc[MATCH_FIELD] = key  # how a record of it in another language finds it
    if former := sorted(set(former_ids)):
        doc[FORMER_IDS] = former  # how a record of it without its DOI finds it
    doc["record_hashes"] = hashes
    doc["run_id"] = run_id
    doc["indexed_at"] = now
    return orjson.dumps(doc)


def prepare_documents(papers: Iterable[Paper], run_id: str) -> Documents:
    """The batch's documents: records that share an id merged (the one read first wins), each
    record hashed, each document serialised once. `indexed_at` is when the batch was prepared."""
    groups: dict[str, tuple[Paper, list[str], list[tuple[str, str]], dict[str, Any] | None]] = {}
    former: dict[str, set[str]] = {}
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
        if paper.former_id:
            former.setdefault(paper.id, set()).add(paper.former_id)
    now = _now()
    items = []
    for doc_id, (paper, hashes, members, dump) in groups.items():
        ids = former.get(doc_id, set())
        body = serialised(paper, hashes, run_id, now, dump, ids)
        items.append(Document(doc_id, hashes, members, body, bool(paper.doi), sorted(ids)))
    return Documents(items, merged)


def folded(
    document: Document,
    base: dict[str, Any] | None,
    movers: list[tuple[str, dict[str, Any]]],
    run_id: str,
) -> Document:
    """`document` folded into the stored one under its id (`base`, which wins conflicts), and
    the stored documents without a DOI that move into it folded in after (filling its gaps);
    their records' hashes and the ids they had united."""
    paper = document.paper()
    hashes = document.hashes
    former = set(document.former_ids)
    if base is not None:
        paper = merge_duplicates(Paper.model_validate(paper_fields(base)), paper)
        hashes = list(dict.fromkeys([*base["record_hashes"], *hashes]))
        former.update(base.get(FORMER_IDS) or ())
    for old_id, old in movers:
        paper = merge_duplicates(paper, Paper.model_validate(paper_fields(old)))
        hashes = list(dict.fromkeys([*old["record_hashes"], *hashes]))
        former.update([old_id, *(old.get(FORMER_IDS) or ())])
    body = serialised(paper, hashes, run_id, _now(), former_ids=former)
    return Document(document.id, hashes, document.members, body, bool(paper.doi), sorted(former))


def paper_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The Paper fields of a stored document (without the index's own bookkeeping)."""
    return {name: doc[name] for name in Paper.model_fields if name in doc}


def _now() -> str:
    return datetime.now(UTC).isoformat()
