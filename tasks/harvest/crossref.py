"""Crossref REST works by filter: `/works?filter=…&cursor=*`, following `next-cursor` until a
page has no items (tasks/harvest/cursor.py pages it).

A window is `from-update-date`/`until-update-date` (days), added to the source's own filters
(`prefix:10.5281`, `member:…`, `issn:…`, `type:journal-article`). Requests carry the polite
`mailto` and go through the rate limiter and circuit breaker the DOI lookups use. Crossref keeps
one cursor for a whole scroll, so a repeated cursor is normal; a page past the total the first
page announced is not, and ends the window with an error. An invalid or expired cursor (404)
ends it too, unsaved: the next run asks for the window again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from scholarflow.paper.models import RawRecord
from scholarflow.settings import Settings
from scholarflow.stores.harvest_sources import HarvestSource
from tasks.harvest.cursor import CursorApi, CursorPaging, Page, body_start, parse_json
from tasks.harvest.http import HarvestHttp
from tasks.harvest.items import Harvest, Window
from tasks.harvest.windows import plan_windows


def _page(data: Any) -> Page | None:
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict) or "items" not in message:
        return None
    total = message.get("total-results")
    return Page(message.get("items") or [], message.get("next-cursor"), total)


def _error(body: bytes) -> str:
    """Crossref's own words (`Cursor specified but it is invalid`), or the start of the body."""
    data = parse_json(body)
    try:
        return str(data["message"][0]["message"])
    except (KeyError, IndexError, TypeError):
        return body_start(body)


CROSSREF = CursorApi(
    name="Crossref",
    format="crossref",
    id_field="DOI",
    since_filter="from-update-date",
    until_filter="until-update-date",
    size_param="rows",
    max_size=1000,
    read_page=_page,
    error=_error,
    cursor_repeats=True,
)


class CrossrefWorks:
    def __init__(self, source: HarvestSource, http: HarvestHttp, settings: Settings) -> None:
        self.source = source
        self.paging = CursorPaging(CROSSREF, source, http, settings)

    def windows(self, full: bool, until: datetime | None) -> list[Window]:
        return plan_windows(
            self.source.harvested_until,
            full=full,
            until=until,
            day_granularity=True,
            window_days=self.source.window_days,
        )

    def probe(self) -> str | None:
        return self.paging.probe()

    def records(self, harvest: Harvest) -> Iterator[RawRecord]:
        return self.paging.records(harvest)
