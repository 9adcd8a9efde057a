"""The DOI cache: registry answers kept in the engine, keyed by normalised DOI, with a TTL.

Two indices in the same engine as the papers: every worker of every process shares them, they
survive restarts like the papers do, and they need no second store to operate.

- `scholarflow-doi-cache` keeps each registry's whole answer (2–30 kB: reference lists,
  affiliations, funders), for what may read more of it later.
- `scholarflow-doi-works` keeps what enrichment reads of it (`WORK_FIELDS`, about 2 kB), cut
  once when the answer is stored. Lookups read these whole: asking the engine to cut each stored
  answer at read time (`_source_includes`) cost it about 4 ms of CPU a DOI, more than indexing
  the paper, on the cores the embedded engine shares with the pipeline.

Negative answers (no registry knows the DOI) are kept too, with a shorter time to live, so
unknown DOIs are not asked for on every run either. Answers stored before the works index
existed, or cut with fewer `WORK_FIELDS` than now (`CUT`), are cut from the whole answer the
first time they are read, and kept cut from then on. A works entry also lists the DOIs its work
updates when it is a Crossmark notice (a retraction, a correction): `notices_for` finds the
notices of a batch's DOIs with one search.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.paper.corrections import updated_dois
from scholarflow.registry.lookup import Lookup
from scholarflow.settings import Settings
from scholarflow.stores.bulk import Fate, expanded, send
from scholarflow.stores.indices import ensure_index, stored_documents
from scholarflow.stores.templates import load_mapping_file

CACHE_INDEX = "scholarflow-doi-cache"  # whole answers
WORKS_INDEX = "scholarflow-doi-works"  # what enrichment reads of them
# What enrichment reads of a registry work (a Crossref `message`, or a CSL-JSON item). `DOI` is
# read by nothing, but every registry answer has one, so a found work is never empty.
WORK_FIELDS = (
    "DOI",
    "title",
    "abstract",
    "author.name",
    "author.literal",
    "author.given",
    "author.family",
    "author.ORCID",
    "container-title",
    "volume",
    "issue",
    "page",
    "ISSN",
    "publisher",
    "published",
    "issued",
    "subject",
    "categories",
    "license.URL",
    "references-count",
    "reference-count",
    "is-referenced-by-count",
    # Crossmark updates (scholarflow/paper/corrections.py): what a notice updates, the notices that
    # update a work, and the relation types read for unknown ones.
    "update-to",
    "updated-by",
    "relation",
)
# The version of `WORK_FIELDS` a works entry was cut with, stored beside it. Raised whenever a
# field is added: an entry cut before is cut again from the whole answer the first time it is
# read, as an answer stored before the works index existed is. (1: before the Crossmark
# updates; entries of that version carry no `cut`.)
CUT = 2
# Notices found for one batch of papers at most (a paper rarely has more than one or two).
NOTICES_PER_BATCH = 1000
CACHE_MAPPINGS_FILE = "doi-cache.mappings.json"  # their fields, in index_mappings/
WORKS_MAPPINGS_FILE = "doi-works.mappings.json"
# What an entry says besides the answer (the DOI, where from, when fetched, until when fresh).
_ENTRY_FIELDS = [n for n in load_mapping_file(CACHE_MAPPINGS_FILE)["properties"] if n != "body"]
# Reading an answer stored before the works index existed: the engine cuts it this once.
LEGACY_LOOKUP_FIELDS = [
    *_ENTRY_FIELDS,
    *(f"body.message.{name}" for name in WORK_FIELDS),
    *(f"body.{name}" for name in WORK_FIELDS),
]


def _field_tree(paths: Iterable[str]) -> dict[str, Any]:
    """`a.b` paths as nested dicts; None marks a field kept whole."""
    tree: dict[str, Any] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        if rest:
            sub = tree.setdefault(head, {})
            if sub is not None:
                sub.update(_field_tree([rest]))
        else:
            tree[head] = None
    return tree


_WORK_TREE = _field_tree(WORK_FIELDS)
# A bibliographic search's candidate: what matching reads besides (scholarflow/registry/
# matching.py), so an accepted candidate is also the DOI's cache entry.
_CANDIDATE_TREE = _field_tree(
    (*WORK_FIELDS, "score", "subtitle", "author.sequence", "published-print", "published-online")
)


def cut_work(body: dict[str, Any] | None) -> dict[str, Any] | None:
    """The work of a registry answer (a Crossref `message` or a CSL-JSON item) with only
    `WORK_FIELDS`, as the engine's source filtering cuts it: objects inside lists are cut key by
    key, and what is left empty goes."""
    if body is None:
        return None
    work = body.get("message", body)
    return _cut(work, _WORK_TREE) if isinstance(work, dict) else {}


def cut_candidate(item: dict[str, Any]) -> dict[str, Any]:
    """A search answer's item with only what matching and enrichment read."""
    return _cut(item, _CANDIDATE_TREE)


def _cut(value: dict[str, Any], tree: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, sub in tree.items():
        if key not in value:
            continue
        part = value[key] if sub is None else _cut_value(value[key], sub)
        if sub is None or part not in ({}, []):
            kept[key] = part
    return kept


def _cut_value(value: Any, tree: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return _cut(value, tree)
    if isinstance(value, list):
        cut = (_cut_value(item, tree) for item in value)
        return [item for item in cut if item not in ({}, [])]
    return {}  # a scalar where objects were expected: nothing under it is asked for


class DoiCache:
    def __init__(self, client: Elasticsearch, settings: Settings) -> None:
        self.client = client
        self.ttl = timedelta(days=settings.doi_cache_ttl_days)
        self.negative_ttl = timedelta(days=settings.doi_negative_ttl_days)

    def ensure(self) -> None:
        """Create the cache indices on first use (batches prepared at once may race to)."""
        ensure_index(self.client, CACHE_INDEX, load_mapping_file(CACHE_MAPPINGS_FILE))
        ensure_index(self.client, WORKS_INDEX, load_mapping_file(WORKS_MAPPINGS_FILE))

    def get_many(
        self, dois: Iterable[str], fetched_after: datetime | None = None, stale_ok: bool = False
    ) -> dict[str, Lookup]:
        """Fresh cached answers. Expired entries (unless `stale_ok`), and entries fetched before
        `fetched_after` (a re-enrichment refreshing old data), are left out so they get looked
        up again."""
        ids = list(dict.fromkeys(dois))
        if not ids:
            return {}
        return usable_lookups(self._works(ids), "work", fetched_after, stale_ok)

    def _works(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The works entries of `ids` that exist, carrying forward (cut, and stored cut) the
        answers stored before the works index existed or cut with fewer `WORK_FIELDS`."""
        entries = {
            doi: source
            for doi, source in stored_documents(self.client, WORKS_INDEX, ids).items()
            if source.get("cut", 1) >= CUT
        }
        missing = [doi for doi in ids if doi not in entries]
        if not missing:
            return entries
        older = stored_documents(
            self.client, CACHE_INDEX, missing, source_includes=LEGACY_LOOKUP_FIELDS
        )
        carried = {doi: works_entry(source) for doi, source in older.items()}
        if carried:
            # A work not stored cut is cut again next time: nothing is lost.
            self.ensure()
            send(self.client, expanded(_work_action(e) for e in carried.values()))
        return entries | carried

    def notices_for(self, dois: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """DOI → the cached works of the notices (retractions, corrections, …) whose
        `update-to` names it: the other half of a paper's Crossmark updates."""
        ids = list(dict.fromkeys(dois))
        if not ids:
            return {}
        self.ensure()
        response = self.client.search(
            index=WORKS_INDEX,
            query={"terms": {"updates": ids}},
            size=NOTICES_PER_BATCH,
            source_includes=["work"],
        )
        found: dict[str, list[dict[str, Any]]] = {}
        wanted = set(ids)
        for hit in response["hits"]["hits"]:
            work = hit["_source"].get("work") or {}
            for doi in wanted.intersection(updated_dois(work)):
                found.setdefault(doi, []).append(work)
        return found

    def put_many(self, lookups: Iterable[Lookup]) -> int:
        """Store answers worth keeping (found and not-found), whole and cut; returns how many
        were stored."""
        entries = [
            self._entry(lookup) for lookup in lookups if lookup.status in ("found", "not_found")
        ]
        if not entries:
            return 0
        self.ensure()
        actions = [
            action
            for entry in entries
            for action in (
                {"_index": CACHE_INDEX, "_id": entry["doi"], "_source": entry},
                _work_action(works_entry(entry)),
            )
        ]
        # A cache entry not stored is looked up again next time: nothing is lost.
        result = send(self.client, expanded(actions), refresh="wait_for")
        return sum(item.fate is Fate.WRITTEN for item in result.items[1::2])  # the works

    def import_entries(self, entries: Iterable[dict[str, Any]]) -> int:
        """Load recorded answers (one object per line: doi, source, status, fetched_at, body)."""
        lookups = [
            Lookup(
                e["doi"],
                "found" if e["status"] == 200 else "not_found",
                e.get("source", "crossref"),
                body=e.get("body"),
                fetched_at=datetime.fromisoformat(e["fetched_at"].replace("Z", "+00:00")),
            )
            for e in entries
        ]
        return self.put_many(lookups)

    def _entry(self, lookup: Lookup) -> dict[str, Any]:
        return cache_entry(lookup, self.ttl if lookup.status == "found" else self.negative_ttl)


def cache_entry(lookup: Lookup, ttl: timedelta) -> dict[str, Any]:
    """The cache index's document for a found or not-found answer, fresh for `ttl`."""
    fetched = lookup.fetched_at or datetime.now(UTC)
    # Recorded answers may be old: they stay usable for one TTL from when they are stored.
    expires = max(fetched, datetime.now(UTC)) + ttl
    return {
        "doi": lookup.doi,
        "source": lookup.source,
        "status": 200 if lookup.status == "found" else 404,
        "fetched_at": fetched.isoformat(),
        "expires_at": expires.isoformat(),
        "body": lookup.body,
    }


def usable_lookups(
    entries: dict[str, dict[str, Any]],
    body: str,
    fetched_after: datetime | None = None,
    stale_ok: bool = False,
) -> dict[str, Lookup]:
    """The stored entries as answers, the answer in the entry's field `body`; expired ones
    (unless `stale_ok`: then marked `expired`) and those fetched before `fetched_after` are
    left out."""
    now = datetime.now(UTC)
    found: dict[str, Lookup] = {}
    for key, entry in entries.items():
        fetched_at = datetime.fromisoformat(entry["fetched_at"])
        expired = datetime.fromisoformat(entry["expires_at"]) <= now
        if expired and not stale_ok:
            continue
        if fetched_after and fetched_at < fetched_after:
            continue
        found[key] = Lookup(
            entry["doi"],
            "found" if entry["status"] == 200 else "not_found",
            entry["source"],
            body=entry.get(body),
            fetched_at=fetched_at,
            from_cache=True,
            expired=expired,
        )
    return found


def works_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """The works index's document for a cache entry: the same fields, the work cut, the version
    of the cut, and the DOIs the work updates when it is a notice (searchable, unlike the
    work)."""
    fields = {name: entry[name] for name in _ENTRY_FIELDS}
    work = cut_work(entry.get("body"))
    return {**fields, "work": work, "cut": CUT, "updates": updated_dois(work)}


def _work_action(entry: dict[str, Any]) -> dict[str, Any]:
    return {"_index": WORKS_INDEX, "_id": entry["doi"], "_source": entry}
