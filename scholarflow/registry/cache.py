"""The DOI cache: registry answers kept in the engine, keyed by normalised DOI, with a TTL.

An index in the same engine as the papers: every worker of every process shares it, it
survives restarts like the papers do, and it needs
no second store to operate. Negative answers (no registry knows the DOI) are kept too, with a
shorter time to live, so unknown DOIs are not asked for on every run either.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from scholarflow.bulk import expanded, send
from scholarflow.indices import ensure_index, load_mapping_file
from scholarflow.registry.lookup import Lookup
from scholarflow.settings import Settings

CACHE_INDEX = "scholarflow-doi-cache"
# What enrichment reads of a registry work (a Crossref `message`, or a CSL-JSON item). Lookups
# ask for these alone: a whole answer is 2–30 kB (reference lists, affiliations, funders) and
# parsing it was most of enrichment's time. `DOI` is read by nothing, but every registry answer
# has one, so the body of a found entry never comes back empty.
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
)
CACHE_MAPPINGS_FILE = "doi-cache.mappings.json"  # its fields, in index_mappings/
LOOKUP_FIELDS = [
    *(name for name in load_mapping_file(CACHE_MAPPINGS_FILE)["properties"] if name != "body"),
    *(f"body.message.{name}" for name in WORK_FIELDS),
    *(f"body.{name}" for name in WORK_FIELDS),
]


class DoiCache:
    def __init__(self, client: Elasticsearch, settings: Settings) -> None:
        self.client = client
        self.ttl = timedelta(days=settings.doi_cache_ttl_days)
        self.negative_ttl = timedelta(days=settings.doi_negative_ttl_days)

    def ensure(self) -> None:
        """Create the cache index on first use (batches prepared at once may race to)."""
        ensure_index(self.client, CACHE_INDEX, load_mapping_file(CACHE_MAPPINGS_FILE))

    def get_many(
        self, dois: Iterable[str], fetched_after: datetime | None = None, stale_ok: bool = False
    ) -> dict[str, Lookup]:
        """Fresh cached answers. Expired entries (unless `stale_ok`), and entries fetched before
        `fetched_after` (a re-enrichment refreshing old data), are left out so they get looked
        up again."""
        ids = list(dict.fromkeys(dois))
        if not ids:
            return {}
        self.ensure()
        now = datetime.now(UTC)
        found: dict[str, Lookup] = {}
        response = self.client.mget(index=CACHE_INDEX, ids=ids, source_includes=LOOKUP_FIELDS)
        for doc in response["docs"]:
            if not doc.get("found"):
                continue
            entry = doc["_source"]
            fetched_at = datetime.fromisoformat(entry["fetched_at"])
            if not stale_ok and datetime.fromisoformat(entry["expires_at"]) <= now:
                continue
            if fetched_after and fetched_at < fetched_after:
                continue
            found[doc["_id"]] = Lookup(
                entry["doi"],
                "found" if entry["status"] == 200 else "not_found",
                entry["source"],
                body=entry.get("body"),
                fetched_at=fetched_at,
                from_cache=True,
            )
        return found

    def put_many(self, lookups: Iterable[Lookup]) -> int:
        """Store answers worth keeping (found and not-found); returns how many were stored."""
        actions = [
            self._action(lookup) for lookup in lookups if lookup.status in ("found", "not_found")
        ]
        if not actions:
            return 0
        self.ensure()
        # A cache entry not stored is looked up again next time: nothing is lost.
        return send(self.client, expanded(actions), refresh="wait_for").written

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

    def _action(self, lookup: Lookup) -> dict[str, Any]:
        ttl = self.ttl if lookup.status == "found" else self.negative_ttl
        return {"_index": CACHE_INDEX, "_id": lookup.doi, "_source": cache_entry(lookup, ttl)}


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
