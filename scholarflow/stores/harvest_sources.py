"""Harvest sources: where records live (an OAI-PMH repository, Crossref, OpenAlex, …), named
and configured once, and how far each has been harvested.

A source's position (`harvested_until`) moves only when a window has been harvested completely:
every record read, written or dead-lettered, and the deletions applied. A harvest that breaks
leaves it where it was, so the next run asks for the same window again; records it had already
indexed come back `unchanged`. The store lives in the engine beside the papers, like the other
stores, so every worker and the scheduled deployments see the same sources.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from elasticsearch import Elasticsearch, NotFoundError
from pydantic import BaseModel, ConfigDict, Field

from scholarflow.errors import ScholarflowError
from scholarflow.stores.indices import ensure_index
from scholarflow.stores.templates import load_mapping_file

SOURCES_INDEX = "scholarflow-harvest-sources"
SOURCES_MAPPINGS_FILE = "harvest-sources.mappings.json"
SourceKind = Literal["oai-pmh", "crossref", "openalex", "pubmed", "files"]
KINDS: tuple[str, ...] = ("oai-pmh", "crossref", "openalex", "pubmed", "files")
# Kinds the ingest reads (their paths are in the ingest's registry, replayed from there).
READ_BY_INGEST: tuple[str, ...] = ("pubmed", "files")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class SourceError(ScholarflowError):
    """A source that is unknown, named twice, or configured in a way that cannot work."""


class HarvestSource(BaseModel):
    """One configured source and its position."""

    model_config = ConfigDict(extra="ignore")

    name: str
    kind: SourceKind
    url: str
    set: str | None = None
    prefix: str | None = None
    filters: list[str] = Field(default_factory=list)
    schedule: str | None = None
    # Windows of at most this many days (0: one window from the last position to the end).
    window_days: int = Field(0, ge=0)
    created: str | None = None
    # The aliases this source was harvested into (a replay re-index of one harvests it again).
    aliases: list[str] = Field(default_factory=list)
    harvested_until: str | None = None
    last_run: str | None = None
    last_run_at: str | None = None
    last_status: str | None = None
    last_error: str | None = None

    @property
    def origin(self) -> str:
        """What records of this source name as theirs (provenance, dead letters): the URL, and
        the set or filters that select from it."""
        selectors = [f"set={self.set}"] if self.set else []
        selectors += [f"filter={f}" for f in self.filters]
        return f"{self.url}?{'&'.join(selectors)}" if selectors else self.url


def new_source(name: str, kind: str, url: str, **options: Any) -> HarvestSource:
    """A source checked before it is stored: a name fit for a deployment, a kind we read."""
    if not _NAME.match(name):
        raise SourceError(
            f"{name!r}: a source name is lower-case letters, digits, '-' and '_' (at most 63)"
        )
    if kind not in KINDS:
        raise SourceError(f"{kind!r}: the kinds are {', '.join(KINDS)}")
    created = datetime.now(UTC).isoformat()
    return HarvestSource.model_validate(
        {"name": name, "kind": kind, "url": url.rstrip("/"), "created": created, **options}
    )


class HarvestSources:
    def __init__(self, client: Elasticsearch) -> None:
        self.client = client

    def ensure(self) -> None:
        ensure_index(self.client, SOURCES_INDEX, load_mapping_file(SOURCES_MAPPINGS_FILE))

    def add(self, source: HarvestSource) -> None:
        self.ensure()
        body = source.model_dump(exclude_none=True)
        try:
            self.client.create(index=SOURCES_INDEX, id=source.name, document=body, refresh=True)
        except Exception as exc:
            if getattr(exc, "status_code", None) == 409 or "conflict" in str(exc).lower():
                raise SourceError(f"a source named {source.name!r} exists already") from exc
            raise

    def get(self, name: str) -> HarvestSource:
        try:
            found = self.client.get(index=SOURCES_INDEX, id=name)
        except NotFoundError:
            raise SourceError(
                f"no source named {name!r} (scholarflow sources list shows them)"
            ) from None
        return HarvestSource.model_validate(found["_source"])

    def all(self) -> list[HarvestSource]:
        if not self.client.indices.exists(index=SOURCES_INDEX):
            return []
        found = self.client.search(index=SOURCES_INDEX, size=1000, sort=[{"name": "asc"}])
        return [HarvestSource.model_validate(hit["_source"]) for hit in found["hits"]["hits"]]

    def remove(self, name: str) -> None:
        self.get(name)
        self.client.delete(index=SOURCES_INDEX, id=name, refresh=True)

    def save_position(self, name: str, until: str, run_id: str) -> None:
        """The end of a window harvested completely: the next run starts after it."""
        self._update(name, {"harvested_until": until, "last_run": run_id})

    def note_run(
        self, name: str, run_id: str, status: str, error: str | None = None, alias: str = ""
    ) -> None:
        """How the last run ended, and the alias it wrote to (added to the source's aliases)."""
        at = datetime.now(UTC).isoformat()
        fields: dict[str, Any] = {"last_run": run_id, "last_run_at": at, "last_status": status}
        if alias:
            fields["aliases"] = sorted({*self.get(name).aliases, alias})
        self._update(name, {**fields, "last_error": error})

    def replayed_with(self, alias: str, index: str) -> list[HarvestSource]:
        """The sources a replay re-index of `alias` harvests again: those harvested into it,
        and those whose records its live `index` holds (harvested before aliases were noted).
        `files` and `pubmed` sources are not among them: the ingest's registry has their paths."""
        found: list[HarvestSource] = []
        for source in self.all():
            if source.kind in READ_BY_INGEST:
                continue
            if alias in source.aliases or _holds(self.client, index, source.origin):
                found.append(source)
        return found

    def _update(self, name: str, fields: dict[str, Any]) -> None:
        self.ensure()  # a store created before a field was added gains it first
        self.client.update(index=SOURCES_INDEX, id=name, doc=fields, refresh=True)


def _holds(client: Elasticsearch, index: str, origin: str) -> bool:
    query = {"term": {"provenance.source": origin}}
    return bool(client.count(index=index, query=query)["count"])
