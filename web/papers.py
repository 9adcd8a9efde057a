"""One paper of the live alias by its id or DOI, following ids that moved.

A paper indexed without a DOI has an id made from its title, author and year; when a later run
found its DOI, the document moved to the DOI and lists the old id in `former_ids`
(scholarflow/paper/doi_moves.py). A link or a citation made before then still names the old
id: the service answers it with a permanent redirect to the current one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from scholarflow.paper.dedupe import FORMER_IDS
from scholarflow.paper.doi import normalize_doi

# What a reader or a program gets of a paper: its bibliographic record, without the index's
# bookkeeping (record hashes, vectors, the source files' paths on the server).
FIELDS = (
    "id",
    "doi",
    "title_en",
    "title_zh",
    "abstract_en",
    "abstract_zh",
    "authors",
    "journal",
    "year",
    "published",
    "languages",
    "publication_type",
    "open_access",
    "pdf_url",
    "source_url",
    "license_url",
    "subjects",
    "citations",
    "references_count",
    "correction",
    FORMER_IDS,
)
MAX_ID_CHARS = 1024


@dataclass(frozen=True)
class Lookup:
    """A paper found (`paper`), moved to another id (`moved_to`), or neither."""

    paper: dict[str, Any] | None = None
    moved_to: str | None = None


def find_paper(client: Elasticsearch, alias: str, wanted: str) -> Lookup:
    """The paper whose id or DOI is `wanted` (a DOI in any spelling: URL, `doi:`, any case)."""
    wanted = wanted.strip()
    if not wanted or len(wanted) > MAX_ID_CHARS:
        return Lookup()
    doi = normalize_doi(wanted)
    candidates = [wanted] + ([doi] if doi and doi != wanted else [])
    clauses: list[dict[str, Any]] = [{"ids": {"values": candidates}}]
    if doi:
        clauses.append({"term": {"doi": doi}})
    try:
        response = client.search(
            index=alias,
            size=1,
            query={"bool": {"should": clauses}},
            source_includes=list(FIELDS),
        )
        if hits := response["hits"]["hits"]:
            return Lookup(paper=paper_view(hits[0]["_source"], hits[0]["_id"]))
        moved = client.search(
            index=alias,
            size=1,
            query={"terms": {FORMER_IDS: candidates}},
            source_includes=["id"],
        )["hits"]["hits"]
    except NotFoundError:  # no index behind the alias yet
        return Lookup()
    return Lookup(moved_to=moved[0]["_id"]) if moved else Lookup()


def paper_view(source: dict[str, Any], doc_id: str) -> dict[str, Any]:
    """The paper's fields a reader sees, every one present (None or empty when unknown)."""
    view = {name: source.get(name) for name in FIELDS}
    view["id"] = doc_id
    view["authors"] = [
        {"name": a.get("name") or "", "orcid": a.get("orcid")} for a in source.get("authors") or []
    ]
    journal = source.get("journal") or {}
    view["journal"] = {
        key: journal.get(key)
        for key in ("name", "name_zh", "volume", "issue", "pages", "publisher")
    } | {"issn": list(journal.get("issn") or [])}
    correction = source.get("correction") or {}
    view["correction"] = (
        {
            "status": correction["status"],
            "notice_doi": correction.get("notice_doi"),
            "notice_date": correction.get("notice_date"),
        }
        if correction.get("status")
        else None
    )
    for name in ("languages", "subjects", FORMER_IDS):
        view[name] = list(view[name] or [])
    return view
