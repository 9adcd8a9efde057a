"""Harvest: read the records where they live, only what changed since the last harvest, and
what the source deleted.

- items.py: what a harvest yields besides records (`Deletion`), windows, failures.
- windows.py: which windows a run asks for (after the last complete one, up to `--until`).
- http.py: polite, retried, time-bounded requests (the DOI lookups' rate limiter and breaker).
- oai.py: OAI-PMH `ListRecords` with resumption tokens, sets, deleted headers (`oai_dc`,
  `datacite`).
- datacite.py: DataCite XML (the `datacite` prefix) read into plain data for its decoder.
- cursor.py: cursor paging, the one loop the Crossref and OpenAlex APIs share.
- crossref.py: Crossref REST works by filter, cursor paging.
- openalex.py: OpenAlex snapshot folders (`updated_date=…`, gzip JSON Lines) and the API cursor.
- deletions.py: deletions applied to the index and the saved searches' finds, counted.

Records go through the ingest's own decode → enrich → index path (flows/harvest.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from scholarflow.paper.models import RawRecord
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import HarvestSource
from tasks.harvest.crossref import CrossrefWorks
from tasks.harvest.http import HarvestHttp
from tasks.harvest.items import Deletion, Harvest, HarvestError, Window
from tasks.harvest.oai import OaiPmh
from tasks.harvest.openalex import OpenAlexWorks

__all__ = ["Connector", "Deletion", "Harvest", "HarvestError", "Window", "connector_for"]


class Connector(Protocol):
    def windows(self, full: bool, until: datetime | None) -> list[Window]: ...

    def records(self, harvest: Harvest) -> Iterator[RawRecord | Deletion]: ...

    def probe(self) -> str | None:
        """Why the source cannot be harvested now, in a few words; None when it answers."""
        ...


def connector_for(source: HarvestSource, http: HarvestHttp, settings: Settings) -> Connector:
    if source.kind == "oai-pmh":
        return OaiPmh(source, http, settings)
    if source.kind == "crossref":
        return CrossrefWorks(source, http, settings)
    if source.kind == "openalex":
        return OpenAlexWorks(source, http, settings)
    raise HarvestError(
        f"source {source.name}: kind {source.kind!r} has no connector "
        "(`files` and `pubmed` sources are read by the ingest: flows/harvest.py)"
    )
