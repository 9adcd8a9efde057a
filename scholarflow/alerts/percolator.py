"""The percolator store: the saved searches as stored queries, matched against papers.

The stock percolator (Elasticsearch and OpenSearch alike) parses a stored query against the
mappings of the index that stores it, and matches a paper by indexing it there in memory. So
each paper index gets a percolator index of its own, `scholarflow-percolator-<paper index>`,
created with the paper index's own fields and analysis beside the percolator field
(`index_mappings/percolator.mappings.json`): a saved search matches a paper exactly where a
search of that index would find it. A re-index builds the new paper index's percolator store
from the saved searches' definitions before the alias moves; one whose paper index is gone is
dropped.

`sync` brings a store up to date with the definitions: a stored query carries the hash of the
query the builder makes today, so a changed definition, builder or mapping is re-indexed, and a
removed saved search is deleted.

An engine without a percolator (the in-memory fallback, osmem) keeps the saved searches but
cannot match them: `unmatched_reason` says so in one line, which the ingest summary, the `watch`
commands and `status` print. The papers are indexed all the same, and the saved searches are
matched once the index lives on an engine with a percolator (`scholarflow engine migrate`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from elasticsearch import Elasticsearch, helpers

from scholarflow.alerts.watches import SavedSearch
from scholarflow.errors import ScholarflowError
from scholarflow.stores.bulk import expanded, send
from scholarflow.stores.indices import ensure_index
from scholarflow.stores.templates import load_mapping_file

PERCOLATOR_PREFIX = "scholarflow-percolator-"
PERCOLATOR_MAPPINGS_FILE = "percolator.mappings.json"
QUERY_FIELD = "saved_query"
# Field types no saved search queries, which a percolator store could not host without the
# plugin that defines them (vectors).
SKIPPED_TYPES = frozenset({"knn_vector", "dense_vector", "sparse_vector"})
# Saved searches asked for per percolate request (paged by name).
SEARCHES_PAGE = 1000
# The fallback engine names itself in its build hash; it accepts a percolator mapping, and
# refuses the percolate query.
_NO_PERCOLATOR_BUILDS = {"osmem": "the in-memory fallback engine osmem has no percolator"}
UNMATCHED = "saved searches cannot be matched on this engine"


class PercolatorError(ScholarflowError):
    """Saved searches a paper index's mappings refuse (a field they use is gone)."""


@dataclass
class SyncResult:
    stored: int = 0  # saved searches in the store after the sync
    written: int = 0  # added or rebuilt
    removed: int = 0


def unmatched_reason(client: Elasticsearch) -> str | None:
    """One line saying why this engine cannot match saved searches; None when it can."""
    build = str(client.info()["version"].get("build_hash", ""))
    why = _NO_PERCOLATOR_BUILDS.get(build)
    if why is None:
        return None
    return f"{UNMATCHED}: {why} (papers are indexed; alerts need OpenSearch or Elasticsearch)"


def percolator_index(papers_index: str) -> str:
    return f"{PERCOLATOR_PREFIX}{papers_index}"


def query_hash(query: dict[str, Any]) -> str:
    return hashlib.blake2b(
        orjson.dumps(query, option=orjson.OPT_SORT_KEYS), digest_size=12
    ).hexdigest()


def ensure_percolator(client: Elasticsearch, papers_index: str) -> str:
    """The paper index's percolator store, created with its fields and analysis if missing;
    stores of paper indices that no longer exist are dropped then."""
    name = percolator_index(papers_index)
    if client.indices.exists(index=name):
        return name
    mappings = dict(load_mapping_file(PERCOLATOR_MAPPINGS_FILE))
    papers = client.indices.get_mapping(index=papers_index)[papers_index]["mappings"]
    fields = {
        key: spec
        for key, spec in papers.get("properties", {}).items()
        if spec.get("type") not in SKIPPED_TYPES
    }
    mappings["properties"] = {**fields, **mappings["properties"]}
    settings = client.indices.get_settings(index=papers_index)[papers_index]["settings"]
    analysis = settings.get("index", {}).get("analysis", {})
    ensure_index(client, name, mappings, {"analysis": analysis} if analysis else None)
    _drop_orphans(client)
    return name


def _drop_orphans(client: Elasticsearch) -> None:
    stores = client.indices.get(index=f"{PERCOLATOR_PREFIX}*", expand_wildcards="open").body
    for store in stores:
        papers = store.removeprefix(PERCOLATOR_PREFIX)
        if not client.indices.exists(index=papers):
            client.indices.delete(index=store, ignore_unavailable=True)


def sync(client: Elasticsearch, store: str, searches: Iterable[SavedSearch]) -> SyncResult:
    """Make the store hold exactly these saved searches, each as the builder makes it today.
    Raises PercolatorError naming the saved searches the store's mappings refuse."""
    wanted = {s.name: s for s in searches}
    stored = {
        hit["_id"]: hit["_source"]["saved_search"]["query_hash"]
        for hit in helpers.scan(
            client,
            index=store,
            query={"query": {"match_all": {}}, "_source": ["saved_search.query_hash"]},
        )
    }
    actions: list[dict[str, Any]] = []
    for name, search in wanted.items():
        query = search.query()
        digest = query_hash(query)
        if stored.get(name) != digest:
            source = {QUERY_FIELD: query, "saved_search": {"name": name, "query_hash": digest}}
            actions.append({"_index": store, "_id": name, "_source": source})
    written = len(actions)
    gone = [name for name in stored if name not in wanted]
    actions += [{"_op_type": "delete", "_index": store, "_id": name} for name in gone]
    if actions:
        result = send(client, expanded(actions), refresh="wait_for")
        refused = [
            f"{actions[i]['_id']} ({outcome.reason})"
            for i, outcome in result.failures()
            if actions[i].get("_op_type") != "delete"
        ]
        if refused:
            raise PercolatorError(
                f"{store} refuses {len(refused)} saved searches: {', '.join(refused[:3])}"
            )
    return SyncResult(stored=len(wanted), written=written, removed=len(gone))


def fields_read(client: Elasticsearch, store: str, searches: Iterable[SavedSearch]) -> set[str]:
    """The papers' top-level fields that the saved searches name: all a paper needs to carry to
    be matched. Matching indexes each paper in memory, field by field: a suggester's shingles
    or an abstract no saved search reads would be most of the cost."""
    properties = client.indices.get_mapping(index=store)[store]["mappings"]["properties"]
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for key, value in node.items():
                names = value if key == "fields" and isinstance(value, list) else [key]
                if key == "field" and isinstance(value, str):
                    names = [value]
                for name in names:
                    top = str(name).split("^")[0].split(".")[0]
                    if top in properties and top not in (QUERY_FIELD, "saved_search"):
                        found.add(top)
                walk(value)

    for search in searches:
        walk(search.query())
    return found


def percolate(
    client: Elasticsearch, store: str, documents: list[dict[str, Any]]
) -> dict[str, list[int]]:
    """Saved-search name → the positions in `documents` of the papers it matches."""
    if not documents:
        return {}
    found: dict[str, list[int]] = defaultdict(list)
    after: list[Any] | None = None
    while True:
        page = client.search(
            index=store,
            query={"percolate": {"field": QUERY_FIELD, "documents": documents}},
            size=SEARCHES_PAGE,
            sort=[{"saved_search.name": "asc"}],
            source_includes=["saved_search.name"],
            search_after=after,
        )
        hits = page["hits"]["hits"]
        for hit in hits:
            slots = hit.get("fields", {}).get("_percolator_document_slot", [])
            found[hit["_source"]["saved_search"]["name"]].extend(slots)
        if len(hits) < SEARCHES_PAGE:
            return dict(found)
        after = hits[-1]["sort"]
